"""IndexedDB (``web/worker/idb-store.js``) as the sync engine's ``Store`` and the notebook's ``IndexStore``, and the
one codec of what it stores.

Where the format lives: here, and only here. Per record id IndexedDB keeps up to three opaque byte strings (the base
record, the outbox entry, the quarantine note), plus named meta values and the index shards; their byte layouts are
defined below. ``idb-store.js`` stores and returns them untouched: it knows the shape of its own object stores and
derives its two index keys from that shape ("this id has an outbox entry / a quarantine note"), nothing more. The
bridge carries plain values, not a second packed format: lists, ``bytes``, ``None`` (nothing / delete) and ``False``
(keep), which Pyodide converts in one call each way (``to_js`` / ``to_py``). So nothing is packed on one side of the
bridge and unpacked on the other, and the unit tests' stand-in (tests/support/fake_idb.py) is a dictionary with the
same calls that runs this codec for real.

Why Python owns the format rather than JavaScript: the values are pycore's types (``SealedRecord``, ``OutboxEntry``,
``Quarantine``, ``Pin``), made and read only here; JavaScript never needs to look inside one, and Python's codec runs
under CPython in every unit test. The stored bytes are the same as before this split, so existing databases open as
they are (no schema upgrade).

Value formats (big-endian; ``STORE_FORMAT_V1`` where a value carries a format byte):
  sealed record  record id (16), revision u64, epoch u32, wrapped-key size u16, wrapped key, content size u32, content
  outbox entry   format u8, queued_at u64 (ms), number of sent hashes u8, the hashes (32 bytes each), the sealed
                 record, then the sealed merge base if there is one
  quarantine     format u8, revision u64, at u64 (ms), the reason (UTF-8, to the end)
  pin            bundle version u64, bundle hash (32), identity public key (32)
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pycore.app.browser.ffi import JsException, to_js
from pycore.envelope import HASH_SIZE, RECORD_ID_SIZE, SealedRecord
from pycore.errors import FormatError, StorageError
from pycore.public.bundle_public import Pin, parse_bundle
from pycore.sync.types import Batch, LocalRecord, OutboxEntry, Quarantine, StoreMeta

STORE_FORMAT_V1 = 1
META_CURSOR = "sync.cursor"
META_BUNDLE = "sync.bundle"
META_PIN = "sync.pin"
META_SETTINGS = "app.settings"

_U32 = struct.Struct(">I")
_SEALED_HEAD = struct.Struct(">16sQIH")  # record id, revision, epoch, wrapped-key size (then key, u32 + content)
_OUTBOX_HEAD = struct.Struct(">BQB")  # format, queued_at, number of sent hashes
_QUARANTINE_HEAD = struct.Struct(">BQQ")  # format, revision, at (then the reason, UTF-8)
_PIN = struct.Struct(">Q32s32s")

# --- the codec --------------------------------------------------------------------------------------------------------


def encode_sealed(record: SealedRecord) -> bytes:
    return b"".join(
        (
            _SEALED_HEAD.pack(record.record_id, record.revision, record.epoch, len(record.wrapped_key)),
            record.wrapped_key,
            _U32.pack(len(record.content)),
            record.content,
        )
    )


def _decode_sealed(data: bytes, pos: int, end: int) -> tuple[SealedRecord, int]:
    if pos + _SEALED_HEAD.size > end:
        raise FormatError("a stored record is truncated")
    record_id, revision, epoch, wk_size = _SEALED_HEAD.unpack_from(data, pos)
    pos += _SEALED_HEAD.size
    wrapped_key = data[pos : pos + wk_size]
    pos += wk_size
    if pos + 4 > end:
        raise FormatError("a stored record is truncated")
    (size,) = _U32.unpack_from(data, pos)
    pos += 4
    if pos + size > end:
        raise FormatError("a stored record is truncated")
    return SealedRecord(record_id, revision, epoch, wrapped_key, data[pos : pos + size]), pos + size


def decode_sealed(data: bytes) -> SealedRecord:
    record, end = _decode_sealed(data, 0, len(data))
    if end != len(data):
        raise FormatError("a stored record has trailing bytes")
    return record


def encode_outbox(entry: OutboxEntry) -> bytes:
    parts = [_OUTBOX_HEAD.pack(STORE_FORMAT_V1, entry.queued_at, len(entry.sent)), *entry.sent]
    parts.append(encode_sealed(entry.record))
    if entry.merge_base is not None:
        parts.append(encode_sealed(entry.merge_base))
    return b"".join(parts)


def decode_outbox(data: bytes) -> OutboxEntry:
    end = len(data)
    if end < _OUTBOX_HEAD.size:
        raise FormatError("a stored outbox entry is truncated")
    version, queued_at, sent_count = _OUTBOX_HEAD.unpack_from(data, 0)
    if version != STORE_FORMAT_V1:
        raise FormatError("a stored outbox entry has an unknown format")
    pos = _OUTBOX_HEAD.size
    sent = tuple(data[pos + i * HASH_SIZE : pos + (i + 1) * HASH_SIZE] for i in range(sent_count))
    pos += sent_count * HASH_SIZE
    record, pos = _decode_sealed(data, pos, end)
    merge_base = None
    if pos < end:
        merge_base, pos = _decode_sealed(data, pos, end)
    if pos != end or any(len(h) != HASH_SIZE for h in sent):
        raise FormatError("a stored outbox entry is malformed")
    return OutboxEntry(record, merge_base, queued_at, sent)


def encode_quarantine(q: Quarantine) -> bytes:
    return _QUARANTINE_HEAD.pack(STORE_FORMAT_V1, q.revision, q.at) + q.reason.encode("utf-8")


def decode_quarantine(record_id: bytes, data: bytes) -> Quarantine:
    if len(data) < _QUARANTINE_HEAD.size:
        raise FormatError("a stored quarantine note is truncated")
    version, revision, at = _QUARANTINE_HEAD.unpack_from(data, 0)
    if version != STORE_FORMAT_V1:
        raise FormatError("a stored quarantine note has an unknown format")
    try:
        reason = data[_QUARANTINE_HEAD.size :].decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("a stored quarantine note is malformed") from None
    return Quarantine(record_id, reason, revision, at)


def encode_pin(pin: Pin) -> bytes:
    return _PIN.pack(pin.version, pin.hash, pin.identity_public)


def decode_pin(data: bytes) -> Pin:
    if len(data) != _PIN.size:
        raise FormatError("the stored bundle pin is malformed")
    version, digest, identity = _PIN.unpack(data)
    return Pin(version, digest, identity)


# --- the bridge's plain values ----------------------------------------------------------------------------------------

# One part of a record in a commit: bytes to set, None to delete, False to keep what is stored.
Part = bytes | Literal[False] | None
T = TypeVar("T")


def _part(changes: Mapping[bytes, T | None], record_id: bytes, encode: Callable[[T], bytes]) -> Part:
    """What a commit does to one part of a record, from a ``Batch`` map of new values (``None``: remove it)."""
    if record_id not in changes:
        return False
    value = changes[record_id]
    return None if value is None else encode(value)


def _answer(value: Any) -> Any:
    """A list answer as Python values: a JsProxy converts in one call; stand-ins already answer in Python."""
    to_py = getattr(value, "to_py", None)
    return to_py() if to_py is not None else value


def _malformed() -> FormatError:
    return FormatError("the local database answered with unexpected data")


def _blob(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise _malformed()


def _items(value: Any, size: int) -> list[list[Any]]:
    """An answer that is a list of ``size``-item lists."""
    items = _answer(value)
    if not isinstance(items, list) or any(not isinstance(i, list | tuple) or len(i) != size for i in items):
        raise _malformed()
    return [list(i) for i in items]


def _local(record_id: bytes, parts: Sequence[Any]) -> LocalRecord | None:
    """One stored entry's [base, outbox entry, quarantine note] as the engine's ``LocalRecord``."""
    raw_base, raw_outbox, raw_quarantine = (_blob(p) for p in parts)
    base = decode_sealed(raw_base) if raw_base is not None else None
    pending = decode_outbox(raw_outbox) if raw_outbox is not None else None
    quarantine = decode_quarantine(record_id, raw_quarantine) if raw_quarantine is not None else None
    for found in (base, pending):
        if found is not None and found.record_id != record_id:
            raise FormatError("a stored record sits under another id")
    if base is None and pending is None and quarantine is None:
        return None
    return LocalRecord(record_id, base, pending, quarantine)


@dataclass(frozen=True)
class StoreCounts:
    generation: int
    outbox: int
    quarantine: int


class StoreLock:
    """The store lock: an async lock held across every tab's crypto worker (Web Locks), with an in-worker lock in front
    of it. Lock order: ``pycore.app.runtime``.

    The sync engine reads local records, decides, then commits; each tab's worker runs its own engine over the same
    IndexedDB, so without this another tab's save could land between that read and that commit and be replaced.

    Re-entrant within one asyncio task: an app command holds it across a whole read-decide-commit (a save that merges,
    a key change that re-seals) and the engine steps it calls take it again; another task (the background reconcile,
    a sync started meanwhile) waits."""

    def __init__(self, js: Any) -> None:
        self._js = js
        self._local = asyncio.Lock()
        self._release: Any = None
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            self._depth += 1
            return
        await self._local.acquire()
        try:
            self._release = await self._js.acquireStoreLock()
        except BaseException:
            self._local.release()
            raise
        self._owner, self._depth = task, 1

    async def __aexit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        self._owner = None
        release, self._release = self._release, None
        try:
            if release is not None:
                release()
        finally:
            self._local.release()


class IdbStore:
    """The sync engine's ``Store`` and the notebook's ``IndexStore`` over ``web/worker/idb-store.js``, plus the
    app's local settings. One bridge crossing per call, whatever the batch size; one IndexedDB transaction per
    ``commit``.

    Every value is sealed or public before it gets here (records, outbox entries and index shards are ciphertext;
    quarantine notes hold a reason code; settings hold ids, names and the wrapped device key) — nothing readable about
    a note and no key in the clear. ``generation`` counts commits of records, so a worker can notice another tab's.
    """

    def __init__(self, js: Any) -> None:
        self._js = js
        self.exclusive = StoreLock(js)  # the sync engine's read-decide-commit lock, shared by every tab's worker
        self.last = StoreCounts(0, 0, 0)
        self.seen_generation = 0
        self.foreign_writes = False  # another tab committed records since this worker last looked
        self.touched: set[bytes] = set()  # ids this worker committed since the app last took them

    def __repr__(self) -> str:
        return "IdbStore()"

    async def _call(self, name: str, *args: Any) -> Any:
        try:
            return await getattr(self._js, name)(*(to_js(arg) for arg in args))
        except JsException as exc:
            raise StorageError(f"The local database failed ({getattr(exc, 'name', 'Error')}).") from None

    async def _commit(
        self,
        *,
        clear: bool = False,
        records: Sequence[list[Any]] = (),
        meta: Sequence[list[Any]] = (),
        index: Sequence[list[Any]] = (),
    ) -> StoreCounts:
        answer = await self._call("commit", clear, list(records), list(meta), list(index))
        counts = StoreCounts(int(answer.generation), int(answer.outbox), int(answer.quarantine))
        if records:
            if counts.generation != self.seen_generation + 1:
                self.foreign_writes = True
            self.seen_generation = counts.generation
        self.last = counts
        return counts

    # --- sync.Store ---------------------------------------------------------------------------------------------------

    async def load_meta(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for name, value in _items(await self._call("loadMeta"), 2):
            blob = _blob(value)
            if not isinstance(name, str) or blob is None:
                raise _malformed()
            out[name] = blob
        return out

    async def meta(self) -> StoreMeta:
        values = await self.load_meta()
        cursor = values.get(META_CURSOR)
        return StoreMeta(cursor.decode("ascii") if cursor is not None else None, values.get(META_BUNDLE))

    async def get(self, record_ids: Sequence[bytes]) -> dict[bytes, LocalRecord]:
        ids = list(dict.fromkeys(record_ids))
        if not ids:
            return {}
        if any(len(rid) != RECORD_ID_SIZE for rid in ids):
            raise FormatError("record ids are 16 bytes")
        found = _answer(await self._call("get", ids))
        if not isinstance(found, list) or len(found) != len(ids):
            raise _malformed()
        out: dict[bytes, LocalRecord] = {}
        for rid, parts in zip(ids, found, strict=True):
            if parts is None:
                continue
            if not isinstance(parts, list | tuple) or len(parts) != 3:
                raise _malformed()
            local = _local(rid, parts)
            if local is not None:
                out[rid] = local
        return out

    async def scan(self, after: bytes | None, limit: int) -> list[LocalRecord]:
        out: list[LocalRecord] = []
        for raw_id, *parts in _items(await self._call("scan", after, limit), 4):
            rid = _blob(raw_id)
            if rid is None or len(rid) != RECORD_ID_SIZE:
                raise _malformed()
            local = _local(rid, parts)
            if local is not None:
                out.append(local)
        return out

    async def outbox(self, after: bytes | None, limit: int) -> list[OutboxEntry]:
        entries = _answer(await self._call("outbox", after, limit))
        if not isinstance(entries, list):
            raise _malformed()
        out: list[OutboxEntry] = []
        for value in entries:
            blob = _blob(value)
            if blob is None:
                raise _malformed()
            out.append(decode_outbox(blob))
        return out

    async def commit(self, batch: Batch, *, settings: bytes | None = None, clear: bool = False) -> None:
        ids = list(dict.fromkeys([*batch.records, *batch.outbox, *batch.quarantine]))
        records: list[list[Any]] = [
            [
                rid,
                _part(batch.records, rid, encode_sealed),
                _part(batch.outbox, rid, encode_outbox),
                _part(batch.quarantine, rid, encode_quarantine),
            ]
            for rid in ids
        ]
        meta: list[list[Any]] = []
        if batch.cursor is not None:
            meta.append([META_CURSOR, batch.cursor.encode("ascii")])
        if batch.bundle is not None:
            meta.append([META_BUNDLE, batch.bundle])
            meta.append([META_PIN, encode_pin(Pin.of(parse_bundle(batch.bundle)))])
        if settings is not None:
            meta.append([META_SETTINGS, settings])
        if clear:
            self.seen_generation = 0
            self.foreign_writes = False
            self.touched.clear()
        await self._commit(clear=clear, records=records, meta=meta)
        self.touched.update(ids)

    def take_touched(self) -> set[bytes]:
        """The record ids this worker committed since the last call (what a sync changed, say)."""
        out, self.touched = self.touched, set()
        return out

    # --- notebook.IndexStore ------------------------------------------------------------------------------------------

    async def load_index(self) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        for number, value in _items(await self._call("loadIndex"), 2):
            blob = _blob(value)
            if not isinstance(number, int) or blob is None:
                raise _malformed()
            out[number] = blob
        return out

    async def save_index(self, shards: Mapping[int, bytes]) -> None:
        await self._commit(index=[[number, blob] for number, blob in sorted(shards.items())])

    # --- the rest -----------------------------------------------------------------------------------------------------

    async def save_settings(self, settings: bytes) -> None:
        await self._commit(meta=[[META_SETTINGS, settings]])

    async def clear(self) -> None:
        """Forget the account's local data (records, outbox, index, settings); the device keys stay."""
        await self.commit(Batch(), clear=True)

    async def counts(self) -> StoreCounts:
        answer = await self._call("counts")
        counts = StoreCounts(int(answer.generation), int(answer.outbox), int(answer.quarantine))
        if counts.generation != self.seen_generation:
            self.foreign_writes = True
            self.seen_generation = counts.generation
        self.last = counts
        return counts
