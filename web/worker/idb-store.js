// The account's ciphertext in IndexedDB, for the crypto worker only (pycore/app/browser/idb.py's IdbStore calls this
// module through Pyodide as `vellum_idb`).
//
// Everything stored here was sealed (or is public) before it arrived: records, outbox entries and quarantine notes are
// opaque byte strings, the note index is sealed shards, settings hold no key in the clear. This module never sees
// plaintext and cannot read what it stores: it is an object store with a batched commit, not a codec. The byte
// formats of the values are pycore/app/browser/idb.py's alone (its docstring says why the line is drawn there).
//
// What it keeps, in the object stores of idb.js's SCHEMA:
//   local: one entry per record id (the 16-byte binary key): {b, o, q} = base, outbox entry, quarantine note, each a
//          Uint8Array, present only when set; po / pq = the id again while o / q is set (keys of the sparse indexes
//          "outbox" and "quarantine", derived here from the entry, never handed in)
//   meta:  named Uint8Arrays (sync cursor, bundle and pin, the app's settings) and GENERATION (a number, kept here)
//   index: the sealed note-index shards, by shard number
//
// Arguments and answers are plain values Pyodide converts in one step each way (to_js / to_py): Uint8Array for bytes,
// arrays for lists, numbers, strings, `undefined` for "nothing". Answers never hold null (Pyodide turns it into
// jsnull, not None). A whole sync batch is ONE commit call applied in ONE IndexedDB transaction: all of it or nothing.
// Nothing inside a transaction awaits anything but IndexedDB itself (awaiting fetch, WebCrypto or Python ends it).
// Durability is the browser's default (relaxed in Chromium since 121, as in Firefox and Safari): a committed save
// survives a crash of the tab or the browser; a power cut within a few seconds of it may lose it.

import { completed, openDatabase, promised } from "./idb.js";

const ID_SIZE = 16;
const LOCAL = "local";
const META = "meta";
const INDEX = "index";
const GENERATION = "generation"; // meta: a counter every commit of records bumps, so other tabs can tell
const PARTS = ["b", "o", "q"]; // base, outbox entry, quarantine note: the order of a record's parts everywhere here

function checkId(id) {
  if (!(id instanceof Uint8Array) || id.length !== ID_SIZE) throw new TypeError(`a record id is ${ID_SIZE} bytes`);
  return id;
}

// A Uint8Array that owns its whole buffer: IndexedDB would otherwise store all of the buffer a view looks into.
function own(bytes) {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}

// A part of a commit: a Uint8Array to set, false to keep what is stored, undefined (or null) to delete it.
function action(value, what) {
  if (value instanceof Uint8Array) return own(value);
  if (value === false || value === undefined || value === null) return value ?? undefined;
  throw new TypeError(`${what} must be bytes, false (keep) or nothing (delete)`);
}

function afterRange(after) {
  return after ? IDBKeyRange.lowerBound(checkId(after).slice(), true) : undefined;
}

// A stored entry's parts as an answer: [base, outbox, quarantine], undefined where there is none.
function partsOf(entry) {
  return PARTS.map((field) => entry?.[field] ?? undefined);
}

function merged(id, current, actions) {
  const next = {};
  PARTS.forEach((field, i) => {
    const value = actions[i] === false ? current?.[field] : actions[i];
    if (value) next[field] = value;
  });
  if (!next.b && !next.o && !next.q) return null;
  // The sparse indexes list the ids that have an outbox entry or a quarantine note.
  if (next.o) next.po = id;
  if (next.q) next.pq = id;
  return next;
}

// The sync engine's cross-tab lock: resolves, once granted, with the function that releases it. Every tab's crypto
// worker runs its own engine over this one database; holding this between reading records and committing a decision
// keeps another tab's commit from landing in between (pycore/app/browser/idb.py's StoreLock).
const STORE_LOCK = "vellum-store";

export function acquireStoreLock() {
  if (!globalThis.navigator?.locks?.request) return Promise.resolve(() => {});
  return new Promise((granted) => {
    navigator.locks.request(STORE_LOCK, () => new Promise((release) => granted(release)));
  });
}

// --- writes ----------------------------------------------------------------------------------------------------------

// Apply one batch in one transaction; resolves when it is durable. Any failure aborts the transaction, including a
// bad argument found after earlier writes were placed, and then nothing at all is written.
//   clear:   true: forget the account's data (local, meta, index; not the device keys) before the rest
//   records: [[id, base, outbox, quarantine], ...], each part as in action() above
//   meta:    [[name, Uint8Array to set | undefined to delete], ...]
//   index:   [[shard number, Uint8Array], ...]
// Answers {generation, outbox, quarantine}: the store's change counter and the counts after this commit.
export async function commit(clear, records = [], meta = [], index = []) {
  const db = await openDatabase();
  const tx = db.transaction([LOCAL, META, INDEX], "readwrite");
  const done = completed(tx);
  const answer = { generation: 0, outbox: 0, quarantine: 0 };
  try {
    const local = tx.objectStore(LOCAL);
    const metaStore = tx.objectStore(META);
    const shards = tx.objectStore(INDEX);
    if (clear === true) {
      local.clear();
      metaStore.clear();
      shards.clear();
    }
    for (const [name, value] of meta) {
      if (typeof name !== "string" || name === GENERATION) throw new TypeError("a meta name is a string");
      const next = action(value, `meta ${name}`);
      if (next === false) throw new TypeError(`meta ${name}: nothing to keep`);
      if (next === undefined) metaStore.delete(name);
      else metaStore.put(next, name);
    }
    for (const [number, blob] of index) {
      if (!Number.isInteger(number) || number < 0 || !(blob instanceof Uint8Array)) {
        throw new TypeError("an index shard is a number and bytes");
      }
      shards.put(own(blob), number);
    }
    // Counting is placed after the last write, so it sees them (requests run in the order they are placed).
    const finish = () => {
      const generation = metaStore.get(GENERATION);
      generation.onsuccess = () => {
        const current = typeof generation.result === "number" ? generation.result : 0;
        answer.generation = records.length ? current + 1 : current;
        if (records.length) metaStore.put(answer.generation, GENERATION);
      };
      local.index("outbox").count().onsuccess = (event) => {
        answer.outbox = event.target.result;
      };
      local.index("quarantine").count().onsuccess = (event) => {
        answer.quarantine = event.target.result;
      };
    };
    let waiting = records.length;
    if (waiting === 0) finish();
    for (const [rawId, ...parts] of records) {
      const id = own(checkId(rawId));
      if (parts.length !== PARTS.length) throw new TypeError("a record is [id, base, outbox, quarantine]");
      const actions = parts.map((part, i) => action(part, `part ${PARTS[i]}`));
      const read = local.get(id);
      read.onsuccess = () => {
        const next = merged(id, read.result, actions);
        if (next) local.put(next, id);
        else local.delete(id);
        waiting -= 1;
        if (waiting === 0) finish();
      };
    }
  } catch (err) {
    done.catch(() => {}); // the abort below rejects it; the caller gets `err`
    tx.abort();
    throw err;
  }
  await done;
  return answer;
}

// --- reads -----------------------------------------------------------------------------------------------------------

// For each id asked (16-byte Uint8Arrays), in order: its [base, outbox, quarantine], or undefined when none is stored.
export async function get(ids) {
  const asked = Array.from(ids, checkId);
  const db = await openDatabase();
  const tx = db.transaction(LOCAL, "readonly");
  const local = tx.objectStore(LOCAL);
  const [found] = await Promise.all([Promise.all(asked.map((id) => promised(local.get(id)))), completed(tx)]);
  return found.map((entry) => (entry ? partsOf(entry) : undefined));
}

// Every local entry with an id after `after` (nothing: from the start), in id order, at most `limit`:
// [[id, base, outbox, quarantine], ...].
export async function scan(after, limit) {
  const db = await openDatabase();
  const tx = db.transaction(LOCAL, "readonly");
  const local = tx.objectStore(LOCAL);
  const range = afterRange(after);
  const [keys, values] = await Promise.all([
    promised(local.getAllKeys(range, limit)),
    promised(local.getAll(range, limit)),
    completed(tx),
  ]);
  return keys.map((key, i) => [new Uint8Array(key), ...partsOf(values[i])]);
}

// The outbox entries of the ids after `after`, in id order, at most `limit`: [outbox entry, ...].
export async function outbox(after, limit) {
  const db = await openDatabase();
  const tx = db.transaction(LOCAL, "readonly");
  const [values] = await Promise.all([
    promised(tx.objectStore(LOCAL).index("outbox").getAll(afterRange(after), limit)),
    completed(tx),
  ]);
  return values.map((value) => value.o);
}

// Every entry of a key-value object store whose key has type `keyType`: [[key, Uint8Array], ...] in key order.
async function entries(name, keyType) {
  const db = await openDatabase();
  const tx = db.transaction(name, "readonly");
  const store = tx.objectStore(name);
  const [keys, values] = await Promise.all([promised(store.getAllKeys()), promised(store.getAll()), completed(tx)]);
  const out = [];
  keys.forEach((key, i) => {
    if (typeof key === keyType && values[i] instanceof Uint8Array) out.push([key, values[i]]);
  });
  return out;
}

// Every named value of meta: [[name, Uint8Array], ...] (GENERATION is this module's own number and left out).
export function loadMeta() {
  return entries(META, "string");
}

// Every index shard: [[shard number, Uint8Array], ...] in shard order.
export function loadIndex() {
  return entries(INDEX, "number");
}

// {generation, outbox, quarantine, records}: cheap, for the sync status and to notice another tab's writes.
export async function counts() {
  const db = await openDatabase();
  const tx = db.transaction([LOCAL, META], "readonly");
  const local = tx.objectStore(LOCAL);
  const [generation, outboxCount, quarantineCount, records] = await Promise.all([
    promised(tx.objectStore(META).get(GENERATION)),
    promised(local.index("outbox").count()),
    promised(local.index("quarantine").count()),
    promised(local.count()),
    completed(tx),
  ]);
  return {
    generation: typeof generation === "number" ? generation : 0,
    outbox: outboxCount,
    quarantine: quarantineCount,
    records,
  };
}
