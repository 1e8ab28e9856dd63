"""IndexedDB (``web/worker/idb-store.js``) as the sync engine's ``Store`` and the notebook's ``IndexStore``."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pycore.app.browser.ffi import JsException, js_bytes, to_js
from pycore.envelope import HASH_SIZE, RECORD_ID_SIZE, SealedRecord
from pycore.errors import FormatError, VellumError
from pycore.public.bundle_public import Pin
from pycore.sync.types import Batch, LocalRecord, OutboxEntry, Quarantine, StoreMeta

STORE_FORMAT_V1 = 1
META_CURSOR = "sync.cursor"
META_BUNDLE = "sync.bundle"
META_PIN = "sync.pin"
META_SETTINGS = "app.settings"

_OP_RECORD, _OP_META_PUT, _OP_META_DELETE, _OP_INDEX_PUT, _OP_CLEAR = 1, 2, 3, 4, 5
_KEEP, _SET, _DELETE = 0, 1, 2
_FLAG_BASE, _FLAG_OUTBOX, _FLAG_QUARANTINE = 1, 2, 4
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_SEALED_HEAD = struct.Struct(">16sQIH")  # record id, revision, epoch, wrapped-key length (then key, u32 + content)
_OUTBOX_HEAD = struct.Struct(">BQB")  # format, queued_at, number of sent hashes
_QUARANTINE_HEAD = struct.Struct(">BQQ")  # format, revision, at (then the reason, UTF-8)
_PIN = struct.Struct(">Q32s32s")


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


def _part(data: bytes, pos: int) -> tuple[int, int]:
    """(start, end) of the u32-length-prefixed part at ``pos``."""
    if pos + 4 > len(data):
        raise FormatError("the local database answered with truncated data")
    (size,) = _U32.unpack_from(data, pos)
    start = pos + 4
    if start + size > len(data):
        raise FormatError("the local database answered with truncated data")
    return start, start + size


def _read_local(record_id: bytes, data: bytes, pos: int) -> tuple[LocalRecord | None, int]:
    """One packed local entry (flags, then base / outbox / quarantine parts) from ``idb-store.js``."""
    if pos >= len(data):
        raise FormatError("the local database answered with truncated data")
    flags = data[pos]
    pos += 1
    base = pending = quarantine = None
    if flags & _FLAG_BASE:
        start, pos = _part(data, pos)
        base, end = _decode_sealed(data, start, pos)
        if end != pos:
            raise FormatError("a stored record has trailing bytes")
    if flags & _FLAG_OUTBOX:
        start, pos = _part(data, pos)
        pending = decode_outbox(data[start:pos])
    if flags & _FLAG_QUARANTINE:
        start, pos = _part(data, pos)
        quarantine = decode_quarantine(record_id, data[start:pos])
    for found in (base, pending):
        if found is not None and found.record_id != record_id:
            raise FormatError("a stored record sits under another id")
    if base is None and pending is None and quarantine is None:
        return None, pos
    return LocalRecord(record_id, base, pending, quarantine), pos


Part = bytes | Literal[False] | None


class _Ops:
    """The packed operations of one ``idb-store.js`` commit."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def clear(self) -> None:
        self.parts.append(bytes((_OP_CLEAR,)))

    def record(self, record_id: bytes, base: Part, outbox: Part, quarantine: Part) -> None:
        """Each of base / outbox / quarantine: bytes to set, ``None`` to delete, ``False`` to keep."""
        self.parts.append(bytes((_OP_RECORD,)) + record_id)
        for value in (base, outbox, quarantine):
            if isinstance(value, bytes):
                self.parts.append(bytes((_SET,)) + _U32.pack(len(value)) + value)
            else:
                self.parts.append(bytes((_DELETE if value is None else _KEEP,)))

    def meta(self, name: str, value: bytes | None) -> None:
        raw = name.encode("utf-8")
        if value is None:
            self.parts.append(bytes((_OP_META_DELETE,)) + _U16.pack(len(raw)) + raw)
        else:
            self.parts.append(bytes((_OP_META_PUT,)) + _U16.pack(len(raw)) + raw + _U32.pack(len(value)) + value)

    def index(self, number: int, blob: bytes) -> None:
        self.parts.append(bytes((_OP_INDEX_PUT,)) + _U16.pack(number) + _U32.pack(len(blob)) + blob)

    def finish(self) -> bytes:
        return b"".join(self.parts)


@dataclass(frozen=True)
class StoreCounts:
    generation: int
    outbox: int
    quarantine: int


class StoreLock:
    """An async lock held across every tab's crypto worker (Web Locks), with an in-worker lock in front of it.

    The sync engine reads local records, decides, then commits; each tab's worker runs its own engine over the same
    IndexedDB, so without this another tab's save could land between that read and that commit and be replaced."""

    def __init__(self, js: Any) -> None:
        self._js = js
        self._local = asyncio.Lock()
        self._release: Any = None

    async def __aenter__(self) -> None:
        await self._local.acquire()
        try:
            self._release = await self._js.acquireStoreLock()
        except BaseException:
            self._local.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
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
            return await getattr(self._js, name)(*args)
        except JsException as exc:
            raise VellumError(
                f"The local database failed ({getattr(exc, 'name', 'Error')}).", code="storage_error"
            ) from None

    async def _commit_ops(self, ops: _Ops, *, records: bool) -> StoreCounts:
        answer = await self._call("commit", to_js(ops.finish()))
        counts = StoreCounts(int(answer.generation), int(answer.outbox), int(answer.quarantine))
        if records:
            if counts.generation != self.seen_generation + 1:
                self.foreign_writes = True
            self.seen_generation = counts.generation
        self.last = counts
        return counts

    # --- sync.Store ---------------------------------------------------------------------------------------------------

    async def load_meta(self) -> dict[str, bytes]:
        data = js_bytes(await self._call("loadMeta"))
        out: dict[str, bytes] = {}
        pos = 0
        while pos < len(data):
            if pos + 2 > len(data):
                raise FormatError("the local database answered with truncated data")
            (size,) = _U16.unpack_from(data, pos)
            name = data[pos + 2 : pos + 2 + size].decode("utf-8", "replace")
            start, pos = _part(data, pos + 2 + size)
            out[name] = data[start:pos]
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
        data = js_bytes(await self._call("get", to_js(b"".join(ids))))
        out: dict[bytes, LocalRecord] = {}
        pos = 0
        for rid in ids:
            local, pos = _read_local(rid, data, pos)
            if local is not None:
                out[rid] = local
        if pos != len(data):
            raise FormatError("the local database answered with unexpected data")
        return out

    async def scan(self, after: bytes | None, limit: int) -> list[LocalRecord]:
        data = js_bytes(await self._call("scan", to_js(after) if after is not None else None, limit))
        out: list[LocalRecord] = []
        pos = 0
        while pos < len(data):
            rid = data[pos : pos + RECORD_ID_SIZE]
            local, pos = _read_local(rid, data, pos + RECORD_ID_SIZE)
            if local is not None:
                out.append(local)
        return out

    async def outbox(self, after: bytes | None, limit: int) -> list[OutboxEntry]:
        data = js_bytes(await self._call("outbox", to_js(after) if after is not None else None, limit))
        out: list[OutboxEntry] = []
        pos = 0
        while pos < len(data):
            start, pos = _part(data, pos)
            out.append(decode_outbox(data[start:pos]))
        return out

    async def commit(self, batch: Batch, *, settings: bytes | None = None, clear: bool = False) -> None:
        ops = _Ops()
        if clear:
            ops.clear()
        ids = list(dict.fromkeys([*batch.records, *batch.outbox, *batch.quarantine]))
        for rid in ids:
            base = batch.records.get(rid)
            entry = batch.outbox.get(rid, False)
            q = batch.quarantine.get(rid, False)
            ops.record(
                rid,
                encode_sealed(base) if base is not None else False,
                encode_outbox(entry) if isinstance(entry, OutboxEntry) else (None if entry is None else False),
                encode_quarantine(q) if isinstance(q, Quarantine) else (None if q is None else False),
            )
        if batch.cursor is not None:
            ops.meta(META_CURSOR, batch.cursor.encode("ascii"))
        if batch.bundle is not None:
            from pycore.public.bundle_public import parse_bundle

            ops.meta(META_BUNDLE, batch.bundle)
            ops.meta(META_PIN, encode_pin(Pin.of(parse_bundle(batch.bundle))))
        if settings is not None:
            ops.meta(META_SETTINGS, settings)
        if clear:
            self.seen_generation = 0
            self.foreign_writes = False
            self.touched.clear()
        await self._commit_ops(ops, records=bool(ids))
        self.touched.update(ids)

    def take_touched(self) -> set[bytes]:
        """The record ids this worker committed since the last call (what a sync changed, say)."""
        out, self.touched = self.touched, set()
        return out

    # --- notebook.IndexStore ------------------------------------------------------------------------------------------

    async def load_index(self) -> dict[int, bytes]:
        data = js_bytes(await self._call("loadIndex"))
        out: dict[int, bytes] = {}
        pos = 0
        while pos < len(data):
            if pos + 2 > len(data):
                raise FormatError("the local database answered with truncated data")
            (number,) = _U16.unpack_from(data, pos)
            start, pos = _part(data, pos + 2)
            out[number] = data[start:pos]
        return out

    async def save_index(self, shards: Mapping[int, bytes]) -> None:
        ops = _Ops()
        for number, blob in sorted(shards.items()):
            ops.index(number, blob)
        await self._commit_ops(ops, records=False)

    # --- the rest -----------------------------------------------------------------------------------------------------

    async def save_settings(self, settings: bytes) -> None:
        ops = _Ops()
        ops.meta(META_SETTINGS, settings)
        await self._commit_ops(ops, records=False)

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


