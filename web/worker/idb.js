// A tiny promise wrapper over IndexedDB: one database, named object stores, one transaction per call.
// The schema lives here (SCHEMA); web/worker/idb-store.js adds the account's ciphertext stores and their batched commit.
//
// Each helper opens its transaction, issues its requests and resolves when the transaction COMPLETES (not when a
// request succeeds), so a resolved write is durable and an aborted one left nothing behind. Callers must finish any
// slow work (encryption, fetch) before calling: awaiting something else inside a transaction ends it.

export const DB_NAME = "vellum";
export const DB_VERSION = 2;
// Object stores and their indexes. Version 1 had "device-keys" only; an upgrade creates what is missing.
//   device-keys: the WebCrypto device keys (web/worker/webcrypto.js)
//   local:       one entry per record id (binary key): {b, o, q} = base, outbox entry, quarantine (sealed, opaque);
//                the sparse indexes "outbox" and "quarantine" list the ids that have one (keyPaths "po" and "pq")
//   meta:        sync cursor, account bundle and pin, the app's settings (opaque bytes; never a key in the clear)
//   index:       the sealed note-index shards, by shard number
export const SCHEMA = Object.freeze({
  "device-keys": [],
  local: [
    ["outbox", "po"],
    ["quarantine", "pq"],
  ],
  meta: [],
  index: [],
});
export const STORES = Object.freeze(Object.keys(SCHEMA));

let opening = null;

export function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export function completed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    // No onerror here: a request's error bubbles to the transaction even when handled, and an unhandled one aborts.
    tx.onabort = () => reject(tx.error ?? new DOMException("transaction aborted", "AbortError"));
  });
}

export function openDatabase() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        for (const [name, indexes] of Object.entries(SCHEMA)) {
          const store = db.objectStoreNames.contains(name)
            ? request.transaction.objectStore(name)
            : db.createObjectStore(name);
          for (const [index, keyPath] of indexes) {
            if (!store.indexNames.contains(index)) store.createIndex(index, keyPath, { unique: false });
          }
        }
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab upgrading the schema: let it, and reopen on next use.
        db.onversionchange = () => {
          db.close();
          opening = null;
        };
        resolve(db);
      };
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new DOMException("IndexedDB upgrade blocked by another tab", "InvalidStateError"));
    });
    opening.catch(() => {
      opening = null;
    });
  }
  return opening;
}

export async function get(store, key) {
  const db = await openDatabase();
  const tx = db.transaction(store, "readonly");
  const [value] = await Promise.all([promised(tx.objectStore(store).get(key)), completed(tx)]);
  return value;
}

export async function put(store, key, value) {
  const db = await openDatabase();
  const tx = db.transaction(store, "readwrite");
  tx.objectStore(store).put(value, key);
  await completed(tx);
}

// Insert only: resolves false (and writes nothing) when the key already exists, so two tabs racing to create the
// same record keep exactly one.
export async function add(store, key, value) {
  const db = await openDatabase();
  const tx = db.transaction(store, "readwrite");
  const request = tx.objectStore(store).add(value, key);
  const written = new Promise((resolve, reject) => {
    request.onsuccess = () => resolve();
    request.onerror = (event) => {
      if (request.error?.name === "ConstraintError") event.preventDefault(); // keep the transaction alive
      reject(request.error);
    };
  });
  const [wrote, committed] = await Promise.allSettled([written, completed(tx)]);
  if (wrote.status === "rejected" && wrote.reason?.name === "ConstraintError" && committed.status === "fulfilled") {
    return false;
  }
  if (committed.status === "rejected") throw committed.reason;
  if (wrote.status === "rejected") throw wrote.reason;
  return true;
}

export async function remove(store, key) {
  const db = await openDatabase();
  const tx = db.transaction(store, "readwrite");
  tx.objectStore(store).delete(key);
  await completed(tx);
}
