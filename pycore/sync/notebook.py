"""The notebook: what the app asks for — a list, a note, save, delete, search, export — on top of the sync engine.

The list comes from the sealed index (``pycore.index``): unlocking opens its shards (one batched AEAD call) instead of
every note, and ``reconcile`` brings it up to date with the local records by comparing (revision, content hash) and
opening only what changed. Search opens bodies once and keeps them in memory (the worker's memory, wiped when the
worker is terminated on lock). Nothing readable is ever written to storage: the index is stored sealed, drafts are
sealed records in the outbox.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pycore import index
from pycore.envelope import OpenedRecord, RecordType, SealedRecord, new_record_id, open_records
from pycore.errors import FormatError, VellumError
from pycore.export import ExportedNote, read_export, write_export
from pycore.kdf import DEFAULT_PARAMS, Argon2idParams
from pycore.notes import CONFLICT_MARK, Note, decode_note, encode_note
from pycore.sync.engine import SyncEngine, SyncReport
from pycore.sync.types import LocalRecord

SCAN_PAGE = 1000


class IndexStore(Protocol):
    """Where the sealed index shards live on the device (an IndexedDB store, a SQLite table)."""

    async def load_index(self) -> dict[int, bytes]: ...

    async def save_index(self, shards: Mapping[int, bytes]) -> None: ...


@dataclass(frozen=True)
class ListItem:
    record_id: bytes
    title: str = field(repr=False)
    snippet: str = field(repr=False)
    updated_at: int
    conflicted: bool
    pending: bool = False
    quarantine: str | None = None


def _flags_of(rec: LocalRecord) -> tuple[bool, str | None]:
    return rec.pending is not None, rec.quarantine.reason if rec.quarantine else None


def _searchable(title: str, body: str) -> str:
    return f"{title}\n{body}".casefold()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Notebook:
    def __init__(self, engine: SyncEngine, index_store: IndexStore) -> None:
        self.engine = engine
        self.index_store = index_store
        self._entries: dict[bytes, index.IndexEntry] = {}
        self._flags: dict[bytes, tuple[bool, str | None]] = {}  # record id -> (pending, quarantine reason)
        # record id -> (content hash, title and body case-folded): the search cache
        self._bodies: dict[bytes, tuple[bytes, str]] = {}
        self._shards: dict[bytes, int] = {}  # record id -> shard number, for the index keys of ``_shard_key``
        self._shard_key = b""
        self._not_notes: set[tuple[bytes, bytes]] = set()  # (id, content hash) of heads that are not listed
        self._generation = 0
        self._loaded = False

    def __repr__(self) -> str:
        return f"Notebook({len(self._entries)} notes)"

    @property
    def _keys(self) -> index.IndexKeys:
        return index.IndexKeys.from_account_key(self.engine.unlocked.bundle.account_key)

    def _shard_of(self, keys: index.IndexKeys, record_id: bytes) -> int:
        """``keys.shard_of`` (a keyed BLAKE2b), remembered: a save must not hash every note to find one shard."""
        if keys.assign != self._shard_key:
            self._shards, self._shard_key = {}, keys.assign
        number = self._shards.get(record_id)
        if number is None:
            number = self._shards[record_id] = keys.shard_of(record_id)
        return number

    @property
    def _scope_ids(self) -> tuple[bytes, bytes]:
        scope = self.engine.unlocked.bundle.scope
        return scope.account_id, scope.collection_id

    # --- the index ----------------------------------------------------------------------------------------------------

    async def load(self) -> list[ListItem]:
        """Open the sealed index: the list as it was at the last write, without opening any note. Shards that fail
        to open are rebuilt by the next ``reconcile``."""
        blobs = await self.index_store.load_index()
        keys = self._keys
        opened = index.open_shards(keys, *self._scope_ids, blobs)
        self._entries = {}
        self._shards, self._shard_key = {}, keys.assign
        for number, result in opened.items():
            if isinstance(result, VellumError):
                continue
            self._generation = max(self._generation, index.shard_generation(blobs[number]))
            for entry in result:
                self._entries[entry.record_id] = entry
                self._shards[entry.record_id] = number  # open_shards checked each entry's shard
        self._loaded = True
        return self.items()

    async def reconcile(self) -> int:
        """Bring the index up to date with the local records; returns how many entries changed."""
        if not self._loaded:
            await self.load()
        seen: set[bytes] = set()
        stale: list[SealedRecord] = []
        after: bytes | None = None
        while True:
            page = await self.engine.store.scan(after, SCAN_PAGE)
            if not page:
                break
            after = page[-1].record_id
            for rec in page:
                if rec.head is not None:
                    seen.add(rec.record_id)
                self._check(rec, stale)
        changed: set[bytes] = {rid for rid in self._entries if rid not in seen}
        for rid in changed:
            del self._entries[rid]
        return await self._apply(stale, changed)

    async def refresh(self, record_ids: Iterable[bytes]) -> int:
        """``reconcile`` for these records only (say, what a sync just changed); returns how many entries changed."""
        if not self._loaded:
            await self.load()
        ids = list(dict.fromkeys(record_ids))
        stale: list[SealedRecord] = []
        changed: set[bytes] = set()
        for start in range(0, len(ids), SCAN_PAGE):
            chunk = ids[start : start + SCAN_PAGE]
            local = await self.engine.store.get(chunk)
            for rid in chunk:
                rec = local.get(rid)
                if rec is None or rec.head is None:
                    self._flags.pop(rid, None)
                    if self._entries.pop(rid, None) is not None:
                        changed.add(rid)
                    continue
                self._check(rec, stale)
        return await self._apply(stale, changed)

    def _check(self, rec: LocalRecord, stale: list[SealedRecord]) -> None:
        """Note the record's flags; queue its head when the index does not hold that exact version."""
        head = rec.head
        if head is None:
            return
        self._flags[rec.record_id] = _flags_of(rec)
        entry = self._entries.get(rec.record_id)
        if entry is None:
            if (rec.record_id, head.content_hash) not in self._not_notes:
                stale.append(head)
        elif entry.revision != head.revision or entry.content_hash != head.content_hash:
            stale.append(head)

    async def _apply(self, heads: list[SealedRecord], changed: set[bytes]) -> int:
        """Open the stale heads (one batch), update their entries, and re-seal the shards that changed."""
        for head, opened in zip(heads, self._open(heads), strict=True):
            note = self._note_of(opened)
            if note is None:
                # A tombstone or a record that does not open: not in the list (the quarantine flag says why).
                self._not_notes.add((head.record_id, head.content_hash))
                if self._entries.pop(head.record_id, None) is not None:
                    changed.add(head.record_id)
                continue
            changed.add(head.record_id)
            self._remember(head, note)
        if changed:
            keys = self._keys
            await self._save_shards({self._shard_of(keys, rid) for rid in changed})
        return len(changed)

    def _open(self, sealed: Sequence[SealedRecord]) -> list[OpenedRecord | VellumError]:
        bundle = self.engine.unlocked.bundle
        return open_records(bundle.scope, bundle.keyring.keys, sealed)

    @staticmethod
    def _note_of(opened: OpenedRecord | VellumError) -> Note | None:
        if isinstance(opened, VellumError) or opened.record_type != RecordType.NOTE:
            return None
        try:
            return decode_note(opened.payload)
        except FormatError:
            return None

    def _remember(self, head: SealedRecord, note: Note) -> None:
        self._entries[head.record_id] = index.IndexEntry(
            head.record_id,
            head.revision,
            head.content_hash,
            note.updated_at,
            note.title,
            index.snippet_of(note.body),
            index.FLAG_CONFLICTED if CONFLICT_MARK in note.title else 0,
        )
        self._bodies[head.record_id] = (head.content_hash, _searchable(note.title, note.body))

    async def _save_shards(self, numbers: set[int]) -> None:
        keys = self._keys
        grouped: dict[int, list[index.IndexEntry]] = {n: [] for n in numbers}
        for entry in self._entries.values():
            found = grouped.get(self._shard_of(keys, entry.record_id))
            if found is not None:
                found.append(entry)
        self._generation += 1
        sealed = index.seal_shards(keys, *self._scope_ids, grouped, self._generation)
        await self.index_store.save_index(sealed)

    async def reseal_index(self) -> None:
        """Seal every shard again (after the account key changed, the index keys did too)."""
        await self._save_shards(set(range(index.SHARD_COUNT)))

    def items(self) -> list[ListItem]:
        """The list, newest first."""
        out = []
        for e in self._entries.values():
            pending, reason = self._flags.get(e.record_id, (False, None))
            out.append(
                ListItem(
                    e.record_id,
                    e.title,
                    e.snippet,
                    e.updated_at,
                    bool(e.flags & index.FLAG_CONFLICTED),
                    pending,
                    reason,
                )
            )
        out.sort(key=lambda i: (-i.updated_at, i.record_id))
        return out

    # --- notes --------------------------------------------------------------------------------------------------------

    async def get(self, record_id: bytes) -> Note | None:
        view = await self.engine.note(record_id)
        return view.note if view is not None else None

    async def save(self, title: str, body: str, record_id: bytes | None = None) -> bytes:
        """Seal and queue (offline too), then update the index shard of that one note."""
        record_id = await self.engine.save_note(title, body, record_id)
        await self._refresh_one(record_id)
        return record_id

    async def delete(self, record_id: bytes) -> None:
        await self.engine.delete(record_id)
        await self._refresh_one(record_id)

    async def _refresh_one(self, record_id: bytes) -> None:
        local = (await self.engine.store.get([record_id])).get(record_id)
        head = local.head if local is not None else None
        if local is not None:
            self._flags[record_id] = _flags_of(local)
        note = self._note_of(self._open([head])[0]) if head is not None else None
        if head is None or note is None:
            self._entries.pop(record_id, None)
            self._bodies.pop(record_id, None)
        else:
            self._remember(head, note)
        await self._save_shards({self._shard_of(self._keys, record_id)})

    async def sync(self) -> SyncReport:
        report = await self.engine.sync()
        await self.reconcile()
        return report

    # --- search -------------------------------------------------------------------------------------------------------

    async def search(self, query: str) -> list[bytes]:
        """Ids of notes whose title or body contains every word of ``query`` (case-insensitive), newest first.

        The first search opens the bodies it has not seen (a batch per page of records); later ones only changed notes.
        """
        words = query.casefold().split()
        if not words:
            return [i.record_id for i in self.items()]
        missing = [rid for rid, e in self._entries.items() if self._bodies.get(rid, (b"",))[0] != e.content_hash]
        if missing:
            await self._load_bodies(missing)
        hits = []
        for e in self._entries.values():
            cached = self._bodies.get(e.record_id)
            text = cached[1] if cached is not None and cached[0] == e.content_hash else e.title.casefold()
            if all(w in text for w in words):
                hits.append(e)
        hits.sort(key=lambda e: (-e.updated_at, e.record_id))
        return [e.record_id for e in hits]

    async def _load_bodies(self, record_ids: list[bytes]) -> None:
        for start in range(0, len(record_ids), SCAN_PAGE):
            chunk = record_ids[start : start + SCAN_PAGE]
            local = await self.engine.store.get(chunk)
            heads = [rec.head for rec in local.values() if rec.head is not None]
            for head, opened in zip(heads, self._open(heads), strict=True):
                note = self._note_of(opened)
                if note is not None:
                    self._bodies[head.record_id] = (head.content_hash, _searchable(note.title, note.body))

    # --- export and import --------------------------------------------------------------------------------------------

    async def _all_notes(self) -> list[ExportedNote]:
        out = []
        for view in await self.engine.notes():
            out.append(ExportedNote(_b64(view.record_id), view.note.title, view.note.body, view.note.updated_at))
        return out

    async def export_encrypted(self, passphrase: str, *, now: int, params: Argon2idParams = DEFAULT_PARAMS) -> bytes:
        return write_export(await self._all_notes(), passphrase, now=now, params=params)

    async def export_plaintext(self) -> str:
        """Markdown, one section per note. The caller warns the person first: this file is readable by anyone."""
        parts = []
        for n in sorted(await self._all_notes(), key=lambda n: -n.updated_at):
            parts.append(f"# {n.title or 'Untitled'}\n\n{n.body.rstrip()}\n")
        return "\n".join(parts)

    async def import_encrypted(self, data: bytes, passphrase: str) -> int:
        """Verify the whole file first, then add every note as a new note (nothing existing is overwritten)."""
        info = read_export(data, passphrase)
        for n in info.notes:
            await self.engine.put(new_record_id(), RecordType.NOTE, encode_note(Note(n.title, n.body, n.updated_at)))
        await self.reconcile()
        return len(info.notes)
