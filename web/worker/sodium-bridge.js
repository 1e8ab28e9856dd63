// The libsodium.js side of pycore's second primitives backend (pycore/primitives/_sodiumjs.py).
//
// The host (the crypto worker, or tests/pyodide/run.mjs under Node) does this before pycore is imported:
//
//   import sodium from "./vendor/libsodium/libsodium-wrappers.mjs";
//   import { createSodiumBridge } from "./sodium-bridge.js";
//   const url = (path) => new URL(path, location).href;
//   const pyodide = await loadPyodide({
//     indexURL: url("/vendor/pyodide/"),
//     lockFileURL: url("/vendor/pyodide/pyodide-lock.json"),
//     stdLibURL: url("/vendor/pyodide/python_stdlib.zip"),
//   });
//   await pyodide.loadPackage("micropip");   // and check that the returned list names micropip
//   await sodium.ready;
//   pyodide.registerJsModule("vellum_sodium", createSodiumBridge(sodium));
//   // then micropip.install(absolute URLs of asset-manifest.json's "python_wheels", deps=False)
//
// The URLs must be absolute in a browser: Pyodide resolves the lock's "../wheels/micropip-...whl" against the lock
// file's URL, and a relative one fails with "Invalid base URL" (loadPackage then resolves to [] and only logs).
//
// Byte arguments arrive as Uint8Array (Python passes `pyodide.ffi.to_js(b)`), results go back as Uint8Array (Python
// calls `.to_bytes()`). A failed open or a refused key throws, and Python maps the JsException to pycore's own error.
// Lengths are checked in Python before anything reaches this file.
//
// Crossing the Python/JS bridge costs about 29 µs, more than the AEAD itself for a small note, so the batch helpers
// take ONE packed buffer and return ONE buffer, applying one libsodium call per item in between. Layout, little-endian:
//
//   request:   u32 count | count × (u32 dataLength, u32 aadLength) | count × (data, aad, nonce[24], key[32])
//   encrypt →  count ciphertexts, each dataLength + 16 bytes, concatenated
//   decrypt →  count status bytes (1 opened, 0 failed) | the plaintexts of the opened items, concatenated
//
// Randomness is not offered: libsodium.js calls getRandomValues once per byte, and Python's `secrets` is faster.

const NONCE_SIZE = 24;
const KEY_SIZE = 32;
const TAG_SIZE = 16;

// Offsets of each item inside a packed batch, after checking the layout adds up to the buffer's length exactly.
function readLayout(packed) {
  if (!(packed instanceof Uint8Array)) throw new TypeError("batch must be a Uint8Array");
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const count = view.getUint32(0, true);
  if (4 + 8 * count > packed.byteLength) throw new RangeError("batch header is longer than the batch");
  const dataLength = new Uint32Array(count);
  const aadLength = new Uint32Array(count);
  const start = new Float64Array(count);
  let offset = 4 + 8 * count;
  for (let i = 0; i < count; i++) {
    dataLength[i] = view.getUint32(4 + 8 * i, true);
    aadLength[i] = view.getUint32(8 + 8 * i, true);
    start[i] = offset;
    offset += dataLength[i] + aadLength[i] + NONCE_SIZE + KEY_SIZE;
  }
  if (offset !== packed.byteLength) throw new RangeError(`batch is ${packed.byteLength} bytes, layout says ${offset}`);
  return { count, dataLength, aadLength, start };
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

// The batch loops call libsodium's exported C functions on ONE heap copy of the batch instead of going through the
// wrappers (which allocate, copy in and copy out every argument of every call): about a third faster at 1 KiB, and
// the heap is wiped afterwards (the wrappers free plaintexts and keys without zeroing them). The C signatures are
// libsodium's; each unsigned long long length is passed as two 32-bit halves (Emscripten's i64 legalisation), exactly
// as libsodium-wrappers itself calls them.
function withHeap(raw, packed, outSize, body) {
  const inPtr = raw._malloc(packed.length || 1);
  const outPtr = raw._malloc(outSize || 1);
  if (!inPtr || !outPtr) {
    raw._free(inPtr);
    raw._free(outPtr);
    throw new RangeError("libsodium heap exhausted by the batch");
  }
  try {
    raw.HEAPU8.set(packed, inPtr); // read HEAPU8 after _malloc: a growing heap replaces the view
    return body(inPtr, outPtr);
  } finally {
    raw.HEAPU8.fill(0, inPtr, inPtr + packed.length);
    raw.HEAPU8.fill(0, outPtr, outPtr + outSize);
    raw._free(inPtr);
    raw._free(outPtr);
  }
}

export function createSodiumBridge(sodium) {
  if (typeof sodium?.crypto_pwhash !== "function") {
    throw new Error("libsodium-wrappers-sumo is required (the small build has no crypto_pwhash)");
  }
  const encrypt = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt;
  const decrypt = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt;
  const raw = sodium.libsodium; // the Emscripten module under the wrappers (used by the batch loops only)
  if (typeof raw?._crypto_aead_xchacha20poly1305_ietf_decrypt !== "function") {
    throw new Error("libsodium-wrappers does not expose its raw module (pinned 0.8.4 does)");
  }

  return {
    name: "libsodium.js",
    version: sodium.sodium_version_string(),

    // One libsodium call each, named as in libsodium; keypairs come back as one buffer: public || secret.
    crypto_aead_xchacha20poly1305_ietf_encrypt: (message, aad, nonce, key) => encrypt(message, aad, null, nonce, key),
    crypto_aead_xchacha20poly1305_ietf_decrypt: (ciphertext, aad, nonce, key) =>
      decrypt(null, ciphertext, aad, nonce, key),
    crypto_pwhash_argon2id: (size, passphrase, salt, opslimit, memlimit) =>
      sodium.crypto_pwhash(size, passphrase, salt, opslimit, memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13),
    crypto_box_seed_keypair: (seed) => {
      const pair = sodium.crypto_box_seed_keypair(seed);
      return concat(pair.publicKey, pair.privateKey);
    },
    crypto_scalarmult_base: (secretKey) => sodium.crypto_scalarmult_base(secretKey),
    crypto_scalarmult: (secretKey, publicKey) => sodium.crypto_scalarmult(secretKey, publicKey),
    crypto_box_seal: (message, publicKey) => sodium.crypto_box_seal(message, publicKey),
    crypto_box_seal_open: (ciphertext, publicKey, secretKey) =>
      sodium.crypto_box_seal_open(ciphertext, publicKey, secretKey),
    crypto_sign_seed_keypair: (seed) => {
      const pair = sodium.crypto_sign_seed_keypair(seed);
      return concat(pair.publicKey, pair.privateKey);
    },
    crypto_sign_detached: (message, secretKey) => sodium.crypto_sign_detached(message, secretKey),
    // libsodium.js answers false (not an exception) for a bad signature; Python raises SignatureError on false.
    crypto_sign_verify_detached: (signature, message, publicKey) =>
      sodium.crypto_sign_verify_detached(signature, message, publicKey),

    aeadEncryptBatch(packed) {
      const { count, dataLength, aadLength, start } = readLayout(packed);
      let total = 0;
      for (let i = 0; i < count; i++) total += dataLength[i] + TAG_SIZE;
      return withHeap(raw, packed, total, (inPtr, outPtr) => {
        let out = outPtr;
        for (let i = 0; i < count; i++) {
          const m = inPtr + start[i];
          const ad = m + dataLength[i];
          const npub = ad + aadLength[i];
          const k = npub + NONCE_SIZE;
          const rc = raw._crypto_aead_xchacha20poly1305_ietf_encrypt(
            out, 0, m, dataLength[i], 0, ad, aadLength[i], 0, 0, npub, k);
          if (rc !== 0) throw new Error("crypto_aead_xchacha20poly1305_ietf_encrypt failed");
          out += dataLength[i] + TAG_SIZE;
        }
        return raw.HEAPU8.slice(outPtr, outPtr + total);
      });
    },

    aeadDecryptBatch(packed) {
      const { count, dataLength, aadLength, start } = readLayout(packed);
      let room = count;
      for (let i = 0; i < count; i++) room += Math.max(0, dataLength[i] - TAG_SIZE);
      return withHeap(raw, packed, room, (inPtr, outPtr) => {
        const status = new Uint8Array(count); // 0 = did not open: forged, damaged, or shorter than a tag
        let used = count;
        for (let i = 0; i < count; i++) {
          if (dataLength[i] < TAG_SIZE) continue;
          const c = inPtr + start[i];
          const ad = c + dataLength[i];
          const npub = ad + aadLength[i];
          const k = npub + NONCE_SIZE;
          const rc = raw._crypto_aead_xchacha20poly1305_ietf_decrypt(
            outPtr + used, 0, 0, c, dataLength[i], 0, ad, aadLength[i], 0, npub, k);
          if (rc === 0) {
            status[i] = 1;
            used += dataLength[i] - TAG_SIZE;
          }
        }
        const out = raw.HEAPU8.slice(outPtr, outPtr + used);
        out.set(status, 0);
        return out;
      });
    },
  };
}
