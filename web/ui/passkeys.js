// Passkeys that unlock Vellum: WebAuthn with the PRF extension. The page makes the WebAuthn calls (the worker cannot);
// the authenticator evaluates a pseudo-random function over a per-passkey salt, and the 32-byte output goes straight
// to the worker (`keys.add_passkey`, `app.unlock_passkey`), which turns it into the passkey's slot key. The page keeps
// it only for the length of that call and overwrites it afterwards. The relay never sees it: only the credential id,
// the salt and the relying party id are public (they sit in the account bundle's factor list).
//
// No server verifies these assertions: the challenge is random and unused, because what unlocks the account is the
// PRF output, which only the authenticator holding the credential can produce for that salt.

import { base64urlToBytes, bytesToBase64url } from "./dom.js";

const PRF_OUTPUT_SIZE = 32;
const SALT_SIZE = 32;
const TIMEOUT_MS = 120_000;

export class PasskeyError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "PasskeyError";
    this.code = code;
  }
}

// "available": WebAuthn and PRF present; "unknown": WebAuthn present, PRF support cannot be told without trying;
// "missing": no WebAuthn, or the browser says it has no PRF.
export async function passkeySupport() {
  if (!window.isSecureContext || typeof window.PublicKeyCredential !== "function" || !navigator.credentials?.create) {
    return "missing";
  }
  if (typeof PublicKeyCredential.getClientCapabilities !== "function") return "unknown";
  try {
    const capabilities = await PublicKeyCredential.getClientCapabilities();
    if (capabilities["extension:prf"] === true) return "available";
    if (capabilities["extension:prf"] === false) return "missing";
  } catch {
    // fall through
  }
  return "unknown";
}

function random(size) {
  return crypto.getRandomValues(new Uint8Array(size));
}

function webauthnError(err) {
  if (err instanceof PasskeyError) return err;
  // NotAllowedError: the person cancelled, the prompt timed out, or there is no matching credential.
  if (err?.name === "NotAllowedError" || err?.name === "AbortError") {
    return new PasskeyError("passkey_cancelled", "The passkey was not used.");
  }
  if (err?.name === "InvalidStateError") return new PasskeyError("passkey_exists", "That passkey is already registered.");
  if (err?.name === "NotSupportedError" || err?.name === "SecurityError") {
    return new PasskeyError("passkey_unavailable", "This browser cannot use passkeys here.");
  }
  return new PasskeyError("passkey_unavailable", String(err?.message ?? err));
}

function prfFirst(credential) {
  const first = credential?.getClientExtensionResults?.().prf?.results?.first;
  if (!first) return null;
  const bytes = new Uint8Array(first instanceof ArrayBuffer ? first : first.buffer.slice(first.byteOffset, first.byteOffset + first.byteLength));
  return bytes.length === PRF_OUTPUT_SIZE ? bytes : null;
}

// A credential that turned out to be useless (no PRF, or never added to the account): tell the authenticator it is
// unknown, where browsers allow it, so it does not linger in the person's passkey list.
function forget(rpId, rawId) {
  if (typeof PublicKeyCredential.signalUnknownCredential !== "function") return;
  PublicKeyCredential.signalUnknownCredential({ rpId, credentialId: bytesToBase64url(new Uint8Array(rawId)) }).catch(() => undefined);
}

export function forgetPasskey({ rp_id: rpId, credential_id: credentialId }) {
  forget(rpId, base64urlToBytes(credentialId));
}

// A new passkey for this account, with its PRF output for a fresh salt:
// {credential_id, prf_salt, rp_id, prf_output: Uint8Array} — the caller hands prf_output to the worker, then wipes it.
export async function createPasskey({ username, displayName }) {
  const rpId = window.location.hostname;
  const salt = random(SALT_SIZE);
  let credential;
  try {
    credential = await navigator.credentials.create({
      publicKey: {
        rp: { name: "Vellum", id: rpId },
        user: { id: random(16), name: username, displayName: displayName || username },
        challenge: random(32),
        pubKeyCredParams: [
          { type: "public-key", alg: -8 }, // Ed25519
          { type: "public-key", alg: -7 }, // ES256
          { type: "public-key", alg: -257 }, // RS256
        ],
        authenticatorSelection: { residentKey: "preferred", userVerification: "required" },
        timeout: TIMEOUT_MS,
        extensions: { prf: { eval: { first: salt } } },
      },
    });
  } catch (err) {
    throw webauthnError(err);
  }
  if (!credential) throw new PasskeyError("passkey_cancelled", "No passkey was made.");
  const prf = credential.getClientExtensionResults?.().prf;
  if (prf?.enabled === false) {
    forget(rpId, credential.rawId);
    throw new PasskeyError("passkey_unsupported", "The authenticator has no PRF extension.");
  }
  const credentialId = new Uint8Array(credential.rawId);
  // Some authenticators enable PRF at creation but evaluate it only in an assertion: ask once more.
  let output = prfFirst(credential);
  if (!output) {
    output = await evaluate({ rpId, credentials: [{ id: credentialId, salt }] }).then((r) => r.output);
  }
  return { credential_id: bytesToBase64url(credentialId), prf_salt: bytesToBase64url(salt), rp_id: rpId, prf_output: output };
}

// An assertion with the PRF extension for one of `credentials` ([{id: Uint8Array, salt: Uint8Array}]):
// {credentialId (base64url), output: Uint8Array}.
async function evaluate({ rpId, credentials }) {
  const allowCredentials = credentials.map(({ id }) => ({ type: "public-key", id }));
  const prf =
    credentials.length === 1
      ? { eval: { first: credentials[0].salt } }
      : { evalByCredential: Object.fromEntries(credentials.map(({ id, salt }) => [bytesToBase64url(id), { first: salt }])) };
  let assertion;
  try {
    assertion = await navigator.credentials.get({
      publicKey: { challenge: random(32), rpId, allowCredentials, userVerification: "required", timeout: TIMEOUT_MS, extensions: { prf } },
    });
  } catch (err) {
    throw webauthnError(err);
  }
  if (!assertion) throw new PasskeyError("passkey_cancelled", "No passkey was used.");
  const output = prfFirst(assertion);
  if (!output) throw new PasskeyError("passkey_unsupported", "The authenticator returned no PRF output.");
  return { credentialId: bytesToBase64url(new Uint8Array(assertion.rawId)), output };
}

// The PRF output of a passkey made a moment ago ({credential_id, prf_salt, rp_id}), asked for again (a retry after a
// wrong passphrase, without making another credential).
export async function passkeyOutput({ credential_id: credentialId, prf_salt: salt, rp_id: rpId }) {
  const { output } = await evaluate({ rpId, credentials: [{ id: base64urlToBytes(credentialId), salt: base64urlToBytes(salt) }] });
  return output;
}

// Unlock: one prompt for any of the account's passkeys (public metadata from `app.passkey_options`). Returns
// {slot_id, prf_output: Uint8Array}.
export async function assertPasskey(passkeys) {
  const usable = passkeys.filter((p) => !p.rp_id || p.rp_id === window.location.hostname);
  if (!usable.length) {
    throw new PasskeyError("passkey_unavailable", "None of this account's passkeys belongs to this address.");
  }
  const { credentialId, output } = await evaluate({
    rpId: window.location.hostname,
    credentials: usable.map((p) => ({ id: base64urlToBytes(p.credential_id), salt: base64urlToBytes(p.prf_salt) })),
  });
  const match = usable.find((p) => p.credential_id === credentialId);
  if (!match) {
    output.fill(0);
    throw new PasskeyError("passkey_unavailable", "That passkey does not unlock this account.");
  }
  return { slot_id: match.slot_id, prf_output: output };
}

// Hand a PRF output to the worker as base64url and overwrite the bytes afterwards, whatever happens.
export async function withPrfOutput(output, use) {
  try {
    return await use(bytesToBase64url(output));
  } finally {
    output.fill(0);
  }
}
