// WebCrypto device keys, used inside the crypto worker only (pycore/app/browser/ calls these through Pyodide).
//
// Each device has two keys that never leave the browser: a non-extractable AES-256-GCM key that wraps secrets kept on
// this device ("remember this device" wraps the device factor's X25519 seed with it), and a non-extractable Ed25519
// key that signs the device's requests and co-signs logins. Both are CryptoKey objects stored as such in IndexedDB
// (structured clone keeps them non-extractable), next to the device id and the raw Ed25519 public key. Nothing here
// exports a private key, and there is no fallback: a browser without WebCrypto Ed25519 cannot hold a Vellum device.
//
// Bytes go in and come out as Uint8Array. Failures throw: a DOMException "OperationError" from unwrap means the blob
// was not wrapped by this device (or was altered); pycore maps it to DecryptionError.

import * as idb from "./idb.js";

export const STORE = "device-keys";
const RECORD_KEY = "device";
const AES_GCM_IV_SIZE = 12;
const AES_KEY_BITS = 256;
const DEVICE_ID_SIZE = 16;
const ED25519_PUBLIC_KEY_SIZE = 32;

let current = null; // the loaded record, cached: every sign() would otherwise read IndexedDB

function describe(record, created) {
  return {
    deviceId: new Uint8Array(record.deviceId),
    signPublic: new Uint8Array(record.signPublic),
    createdAt: record.createdAt,
    created,
  };
}

function isDeviceRecord(record) {
  return (
    record &&
    record.deviceId instanceof Uint8Array && record.deviceId.length === DEVICE_ID_SIZE &&
    record.signPublic instanceof Uint8Array && record.signPublic.length === ED25519_PUBLIC_KEY_SIZE &&
    record.wrapKey instanceof CryptoKey && record.signKey instanceof CryptoKey
  );
}

async function loadRecord() {
  if (current) return current;
  const record = await idb.get(STORE, RECORD_KEY);
  if (record === undefined) return undefined;
  if (!isDeviceRecord(record)) throw new DOMException("the stored device keys are damaged", "DataError");
  current = record;
  return current;
}

async function requireKeys() {
  const record = await loadRecord();
  if (!record) throw new DOMException("this device has no keys yet (device.init first)", "InvalidStateError");
  return record;
}

// The device's public description, or undefined when this browser profile has no device keys yet.
export async function load() {
  const record = await loadRecord();
  return record ? describe(record, false) : undefined; // undefined arrives in Python as None
}

// Create the device keys unless they exist. Two workers racing (two tabs) keep the first record written.
export async function create(deviceId) {
  if (!(deviceId instanceof Uint8Array) || deviceId.length !== DEVICE_ID_SIZE) {
    throw new TypeError(`a device id is ${DEVICE_ID_SIZE} bytes`);
  }
  const existing = await loadRecord();
  if (existing) return describe(existing, false);
  // Keys first, then one IndexedDB transaction (awaiting WebCrypto inside it would end the transaction).
  const wrapKey = await crypto.subtle.generateKey({ name: "AES-GCM", length: AES_KEY_BITS }, false, [
    "encrypt",
    "decrypt",
  ]);
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const signPublic = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const record = {
    deviceId: new Uint8Array(deviceId),
    wrapKey,
    signKey: pair.privateKey,
    signPublic,
    createdAt: Date.now(),
  };
  const added = await idb.add(STORE, RECORD_KEY, record);
  current = null;
  const stored = await loadRecord();
  if (!stored) throw new DOMException("the device keys were not stored", "UnknownError");
  return describe(stored, added);
}

// Delete this device's keys (sign-out on a shared computer, or after the device was revoked).
export async function forget() {
  current = null;
  await idb.remove(STORE, RECORD_KEY);
}

// AES-256-GCM with a random 96-bit IV: blob = iv | ciphertext+tag.
export async function wrap(secret, aad) {
  const { wrapKey } = await requireKeys();
  const iv = crypto.getRandomValues(new Uint8Array(AES_GCM_IV_SIZE));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad, tagLength: 128 }, wrapKey, secret);
  const blob = new Uint8Array(AES_GCM_IV_SIZE + sealed.byteLength);
  blob.set(iv, 0);
  blob.set(new Uint8Array(sealed), AES_GCM_IV_SIZE);
  return blob;
}

export async function unwrap(blob, aad) {
  const { wrapKey } = await requireKeys();
  if (!(blob instanceof Uint8Array) || blob.length < AES_GCM_IV_SIZE + 16) {
    throw new DOMException("the wrapped blob is truncated", "OperationError");
  }
  const iv = blob.subarray(0, AES_GCM_IV_SIZE);
  const opened = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv, additionalData: aad, tagLength: 128 },
    wrapKey,
    blob.subarray(AES_GCM_IV_SIZE),
  );
  return new Uint8Array(opened);
}

// Ed25519 over the exact message bytes: a 64-byte signature any libsodium / PyNaCl verifies.
export async function sign(message) {
  const { signKey } = await requireKeys();
  return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, signKey, message));
}
