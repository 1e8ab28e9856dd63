// Will the notes still be here tomorrow? Persistent storage, a marker that notices when the browser evicted the
// local data, the platform features Vellum needs, and the transport's security.
//
// The marker lives in two places that a browser clears separately under storage pressure: a localStorage flag and a
// record in a small IndexedDB database of the page's own ("vellum-ui"). If the flag says this device held an account
// but the IndexedDB record (or the worker's account) is gone, the data was evicted: say so, and how many changes had
// not reached the relay yet. Neither place holds anything secret: a username and a count.

const FLAG = "vellum.device";
const PENDING = "vellum.pending";
const DB_NAME = "vellum-ui";
const STORE = "marker";
const KEY = "account";

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, action) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

function readFlag() {
  try {
    const value = JSON.parse(localStorage.getItem(FLAG) ?? "null");
    return value && typeof value.username === "string" ? value : null;
  } catch {
    return null;
  }
}

export function knownAccount() {
  return readFlag();
}

export async function markAccount(username) {
  const record = { username, since: Date.now() };
  try {
    localStorage.setItem(FLAG, JSON.stringify(record));
  } catch {
    // private mode or quota: the IndexedDB record alone still helps
  }
  try {
    await withStore("readwrite", (store) => store.put(record, KEY));
  } catch (err) {
    console.warn("eviction marker not written:", err);
  }
}

export function forgetAccountMarker() {
  localStorage.removeItem(FLAG);
  localStorage.removeItem(PENDING);
  return withStore("readwrite", (store) => store.delete(KEY)).catch(() => undefined);
}

export function rememberPending(count) {
  try {
    localStorage.setItem(PENDING, String(Math.max(0, Math.floor(count || 0))));
  } catch {
    // not critical
  }
}

// {lost: false} or {lost: true, username, pending}: call once the worker told whether it holds an account.
export async function checkEviction(workerHasAccount) {
  const flag = readFlag();
  if (!flag) return { lost: false };
  let record = null;
  try {
    record = await withStore("readonly", (store) => store.get(KEY));
  } catch {
    record = null;
  }
  if (record && workerHasAccount) return { lost: false };
  return { lost: true, username: flag.username, pending: Number(localStorage.getItem(PENDING) ?? 0) || 0 };
}

// --- persistent storage ------------------------------------------------------------------------------------------

export async function persistenceState() {
  if (!navigator.storage?.persisted) return "unsupported";
  try {
    return (await navigator.storage.persisted()) ? "persisted" : "refused";
  } catch {
    return "unsupported";
  }
}

export async function requestPersistence() {
  if (!navigator.storage?.persist) return "unsupported";
  try {
    return (await navigator.storage.persist()) ? "persisted" : "refused";
  } catch {
    return "refused";
  }
}

// --- platform features -------------------------------------------------------------------------------------------

async function hasEd25519() {
  try {
    await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    return true;
  } catch {
    return false;
  }
}

async function hasWebAuthnPrf() {
  if (!window.PublicKeyCredential) return false;
  if (typeof PublicKeyCredential.getClientCapabilities !== "function") return null; // cannot tell without trying
  try {
    const capabilities = await PublicKeyCredential.getClientCapabilities();
    return capabilities["extension:prf"] === true;
  } catch {
    return null;
  }
}

// true / false / null (unknown). `moduleWorker` comes from the engine: it booted, or it could not start.
export async function detectFeatures({ moduleWorker }) {
  const [ed25519, webauthnPrf] = await Promise.all([hasEd25519(), hasWebAuthnPrf()]);
  return {
    module_worker: moduleWorker,
    ed25519,
    webauthn_prf: webauthnPrf,
    persistent_storage: Boolean(navigator.storage?.persist),
    web_locks: Boolean(navigator.locks?.request),
    broadcast_channel: typeof BroadcastChannel === "function",
    service_worker: "serviceWorker" in navigator,
  };
}

export const FEATURE_TEXT = {
  module_worker: ["Encryption engine (module workers)", "This browser cannot run Vellum's encryption engine. Use a current Chrome, Edge, Firefox or Safari."],
  ed25519: ["Device keys (Ed25519 in WebCrypto)", "This browser cannot keep a non-extractable device key. Update it to sign in from this device."],
  webauthn_prf: ["Passkeys with PRF", "Passkey unlock is not available in this browser; your passphrase still works."],
  persistent_storage: ["Persistent storage", "This browser cannot promise to keep local data: sync often."],
  web_locks: ["Web Locks", "Several open tabs may each try to sync; keep one Vellum tab open."],
  broadcast_channel: ["Tab messaging", "Other open Vellum tabs will not follow changes or locking; keep one tab open."],
  service_worker: ["Offline start (service workers)", "Vellum will not start without a network connection in this browser."],
};

// Plain HTTP is only acceptable on this machine (development); anywhere else the code itself could be swapped.
export function insecureTransport(location = window.location) {
  if (location.protocol !== "http:") return false;
  return !["localhost", "127.0.0.1", "[::1]"].includes(location.hostname) && !location.hostname.endsWith(".localhost");
}
