// The account's ciphertext in IndexedDB, for the crypto worker only (pycore/app/browser/'s IdbStore calls this module
// through Pyodide as `vellum_idb`).
//
// Everything stored here was sealed (or is public) before it arrived: records, outbox entries and quarantine notes are
// opaque byte strings that Python encoded, the note index is sealed shards, settings hold no key in the clear. This
// module never sees plaintext and cannot read what it stores.
//
// Bytes cross the Python/JavaScript bridge once per call: a whole sync batch goes in as ONE Uint8Array of packed
// operations and is committed in ONE IndexedDB transaction (all of it or nothing); reads come back packed the same way.
// Nothing inside a transaction awaits anything but IndexedDB itself (awaiting fetch, WebCrypto or Python ends it).
// Durability is the browser's default (relaxed in Chromium since 121, as in Firefox and Safari): a committed save
// survives a crash of the tab or the browser; a power cut within a few seconds of it may lose it.
//
// Packed formats (big-endian; ids are 16 bytes; a "part" is u32 length + bytes):
//   commit ops:  0x01 record: id, then base, outbox, quarantine, each u8 action (0 keep | 1 set + part | 2 delete)
//                0x02 meta put: u16 name length + UTF-8 name, part      0x03 meta delete: u16 name length + name
//                0x04 index put: u16 shard number, part                 0x05 clear the account's data (first op only)
//   local entry: u8 flags (1 base | 2 outbox | 4 quarantine), then a part for each flag set, in that order
//   get -> one local entry per id asked, in order; scan -> id + local entry each; outbox -> a part each;
//   loadMeta -> u16 name length + name + part each; loadIndex -> u16 shard number + part each.

import { completed, openDatabase, promised } from "./idb.js";

const ID_SIZE = 16;
const LOCAL = "local";
const META = "meta";
const INDEX = "index";
const GENERATION = "generation"; // meta: a counter every commit of records bumps, so other tabs can tell
const FLAG_BASE = 1;
const FLAG_OUTBOX = 2;
const FLAG_QUARANTINE = 4;
const PARTS = [
  ["b", FLAG_BASE],
  ["o", FLAG_OUTBOX],
  ["q", FLAG_QUARANTINE],
];
const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

// --- packing ---------------------------------------------------------------------------------------------------------

class Reader {
  constructor(bytes) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("expected a Uint8Array");
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  get done() {
    return this.pos >= this.bytes.length;
  }

  #need(size) {
    if (this.pos + size > this.bytes.length) throw new RangeError("packed data is truncated");
  }

  u8() {
    this.#need(1);
    return this.bytes[this.pos++];
  }

  u16() {
    this.#need(2);
    const value = this.view.getUint16(this.pos);
    this.pos += 2;
    return value;
  }

  u32() {
    this.#need(4);
    const value = this.view.getUint32(this.pos);
    this.pos += 4;
    return value;
  }

  // A copy, never a view: IndexedDB would otherwise store the whole underlying buffer.
  take(size) {
    this.#need(size);
    const out = this.bytes.slice(this.pos, this.pos + size);
    this.pos += size;
    return out;
  }

  part() {
    return this.take(this.u32());
  }

  name() {
    return utf8.decode(this.take(this.u16()));
  }
}

class Writer {
  constructor() {
    this.chunks = [];
    this.size = 0;
  }

  #push(chunk) {
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  u8(value) {
    this.#push(Uint8Array.of(value));
  }

  u16(value) {
    this.#push(Uint8Array.of(value >>> 8, value & 0xff));
  }

  u32(value) {
    this.#push(Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff));
  }

  raw(bytes) {
    this.#push(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  }

  part(bytes) {
    const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    this.u32(b.length);
    this.#push(b);
  }

  finish() {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

function writeEntry(w, entry) {
  let flags = 0;
  for (const [field, flag] of PARTS) if (entry?.[field]) flags |= flag;
  w.u8(flags);
  for (const [field] of PARTS) if (entry?.[field]) w.part(entry[field]);
}

function checkId(id) {
  if (!(id instanceof Uint8Array) || id.length !== ID_SIZE) throw new TypeError(`a record id is ${ID_SIZE} bytes`);
  return id;
}

function afterRange(after) {
  return after ? IDBKeyRange.lowerBound(checkId(after).slice(), true) : undefined;
}

// --- writes ----------------------------------------------------------------------------------------------------------

function parseOps(ops) {
  const r = new Reader(ops);
  const parsed = { clear: false, records: [], metaPut: [], metaDelete: [], index: [] };
  let first = true;
  while (!r.done) {
    const kind = r.u8();
    if (kind === 0x01) {
      const id = r.take(ID_SIZE);
      const actions = {};
      for (const [field] of PARTS) {
        const action = r.u8();
        if (action === 1) actions[field] = r.part();
        else if (action === 2) actions[field] = null;
        else if (action !== 0) throw new RangeError("unknown record action");
      }
      parsed.records.push([id, actions]);
    } else if (kind === 0x02) {
      parsed.metaPut.push([r.name(), r.part()]);
    } else if (kind === 0x03) {
      parsed.metaDelete.push(r.name());
    } else if (kind === 0x04) {
      parsed.index.push([r.u16(), r.part()]);
    } else if (kind === 0x05 && first) {
      parsed.clear = true;
    } else {
      throw new RangeError(`unknown operation ${kind}`);
    }
    first = false;
  }
  return parsed;
}

function merged(id, current, actions) {
  const next = {};
  for (const [field] of PARTS) {
    const value = field in actions ? actions[field] : current?.[field];
    if (value) next[field] = value;
  }
  if (!next.b && !next.o && !next.q) return null;
  // The sparse indexes list the ids that have an outbox entry or a quarantine note.
  if (next.o) next.po = id;
  if (next.q) next.pq = id;
  return next;
}

// The sync engine's cross-tab lock: resolves, once granted, with the function that releases it. Every tab's crypto
// worker runs its own engine over this one database; holding this between reading records and committing a decision
// keeps another tab's commit from landing in between (pycore.browser.StoreLock).
const STORE_LOCK = "vellum-store";

export function acquireStoreLock() {
  if (!globalThis.navigator?.locks?.request) return Promise.resolve(() => {});
  return new Promise((granted) => {
    navigator.locks.request(STORE_LOCK, () => new Promise((release) => granted(release)));
  });
}

// Apply a packed batch in one transaction. Resolves when it is durable; an error aborts it and nothing is written.
// Answers {generation, outbox, quarantine}: the store's change counter and the counts after this commit.
export async function commit(ops) {
  const { clear, records, metaPut, metaDelete, index } = parseOps(ops);
  const db = await openDatabase();
  const tx = db.transaction([LOCAL, META, INDEX], "readwrite");
  const done = completed(tx);
  const local = tx.objectStore(LOCAL);
  const meta = tx.objectStore(META);
  const shards = tx.objectStore(INDEX);
  const answer = { generation: 0, outbox: 0, quarantine: 0 };
  if (clear) {
    local.clear();
    meta.clear();
    shards.clear();
  }
  for (const [name, value] of metaPut) meta.put(value, name);
  for (const name of metaDelete) meta.delete(name);
  for (const [number, blob] of index) shards.put(blob, number);

  // Counting is placed after the last write, so it sees them (requests run in the order they are placed).
  const finish = () => {
    const generation = meta.get(GENERATION);
    generation.onsuccess = () => {
      const current = typeof generation.result === "number" ? generation.result : 0;
      answer.generation = records.length ? current + 1 : current;
      if (records.length) meta.put(answer.generation, GENERATION);
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
  for (const [id, actions] of records) {
    const read = local.get(id);
    read.onsuccess = () => {
      const next = merged(id, read.result, actions);
      if (next) local.put(next, id);
      else local.delete(id);
      waiting -= 1;
      if (waiting === 0) finish();
    };
  }
  await done;
  return answer;
}

// --- reads -----------------------------------------------------------------------------------------------------------

// The local entries of the ids asked (n x 16 bytes), in the same order; an id with nothing stored has flags 0.
export async function get(ids) {
  if (!(ids instanceof Uint8Array) || ids.length % ID_SIZE !== 0) throw new TypeError("ids are 16 bytes each");
  const db = await openDatabase();
  const tx = db.transaction(LOCAL, "readonly");
  const local = tx.objectStore(LOCAL);
  const count = ids.length / ID_SIZE;
  const found = new Array(count);
  for (let i = 0; i < count; i += 1) {
    const request = local.get(ids.subarray(i * ID_SIZE, (i + 1) * ID_SIZE));
    request.onsuccess = () => {
      found[i] = request.result;
    };
  }
  await completed(tx);
  const w = new Writer();
  for (const entry of found) writeEntry(w, entry);
  return w.finish();
}

// Every local entry with an id after `after` (null: from the start), in id order, at most `limit`.
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
  const w = new Writer();
  for (let i = 0; i < keys.length; i += 1) {
    w.raw(new Uint8Array(keys[i]));
    writeEntry(w, values[i]);
  }
  return w.finish();
}

// Outbox entries by record id after `after`, at most `limit`.
export async function outbox(after, limit) {
  const db = await openDatabase();
  const tx = db.transaction(LOCAL, "readonly");
  const [values] = await Promise.all([
    promised(tx.objectStore(LOCAL).index("outbox").getAll(afterRange(after), limit)),
    completed(tx),
  ]);
  const w = new Writer();
  for (const value of values) w.part(value.o);
  return w.finish();
}

export async function loadMeta() {
  const db = await openDatabase();
  const tx = db.transaction(META, "readonly");
  const store = tx.objectStore(META);
  const [keys, values] = await Promise.all([promised(store.getAllKeys()), promised(store.getAll()), completed(tx)]);
  const w = new Writer();
  for (let i = 0; i < keys.length; i += 1) {
    if (typeof keys[i] !== "string" || !(values[i] instanceof Uint8Array)) continue;
    const name = utf8Encoder.encode(keys[i]);
    w.u16(name.length);
    w.raw(name);
    w.part(values[i]);
  }
  return w.finish();
}

export async function loadIndex() {
  const db = await openDatabase();
  const tx = db.transaction(INDEX, "readonly");
  const store = tx.objectStore(INDEX);
  const [keys, values] = await Promise.all([promised(store.getAllKeys()), promised(store.getAll()), completed(tx)]);
  const w = new Writer();
  for (let i = 0; i < keys.length; i += 1) {
    if (typeof keys[i] !== "number" || !(values[i] instanceof Uint8Array)) continue;
    w.u16(keys[i]);
    w.part(values[i]);
  }
  return w.finish();
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
