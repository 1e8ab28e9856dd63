"""The sync engine: outbox, push with base revisions, change feed since a cursor, merge, quarantine, stale epochs.

Pure Python, no I/O of its own: the network, the local database and the device key come in through the small async
interfaces below, so the browser (fetch, IndexedDB, WebCrypto) and the CPython client (requests, SQLite, PyNaCl) run
this same engine. SPEC.md §"Sync".

Local state per record id (``LocalRecord``):

- ``base``: the newest revision accepted from the relay — also this device's high-water mark for the record
  (``envelope.HighWater``: anything older, or a different history, is refused);
- ``pending``: the outbox entry — the local edit, already sealed as revision ``base + 1`` under the write epoch, plus
  the version that edit started from (``merge_base``, the ancestor of a three-way merge);
- ``quarantine``: why the newest revision the relay served was refused (its reason code), while ``base`` stays the
  last good one.

Rules:

- A local edit seals first, then commits the record's outbox entry in one ``Store.commit`` (one IndexedDB transaction
  in the browser: a transaction must not stay open across an await of the network or of Python).
- ``sync`` pulls the change feed, then pushes the outbox; a push the relay refuses because another device won the
  revision is rebased on the winner when the feed brings it: a three-way merge (``pycore.merge``) when the edits do not
  overlap, otherwise the relay's version stays and the local edit becomes a new note, "Title (conflicted copy from
  <device>, <date>)". The edit never disappears.
- Delete vs. edit: the edit wins. A local delete that meets a remote edit is dropped (the edited note stays); a local
  edit that meets a remote delete resurrects the note with the edit, as the next revision after the tombstone.
- ``stale_epoch``: fetch the bundle chain, adopt it (``bundle.adopt_chain``), re-seal the outbox under the new write
  epoch, push again.
- Key-only updates (the same revision and content, re-wrapped under a newer epoch) are adopted only after the served
  wrapped key has opened the content; a garbage or older re-wrap is ignored and the content is never touched.
- Records derived from notes (index shards) are never merged: the relay's version wins and the owner rebuilds them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from typing import Any

from pycore.account import Unlocked
from pycore.bundle import UnlockedBundle, adopt_chain
from pycore.envelope import (
    NO_PREVIOUS,
    HighWater,
    OpenedRecord,
    PlainRecord,
    RecordType,
    SealedRecord,
    new_record_id,
    open_records,
    seal_records,
)
from pycore.errors import FormatError, NetworkError, StaleEpoch, SyncError, VellumError
from pycore.merge import conflicted_copy, resolve
from pycore.notes import Note, decode_note, encode_note
from pycore.sync.types import (
    Batch,
    LocalRecord,
    OutboxEntry,
    PushItem,
    PushStatus,
    Quarantine,
    Store,
    Transport,
)

DEFAULT_PUSH_BATCH = 100
DEFAULT_PULL_LIMIT = 500
DEFAULT_MAX_ROUNDS = 8
OUTBOX_PAGE = 500
MAX_SENT = 8  # unanswered pushes remembered per outbox entry

# Reason codes stored with a quarantined record (besides the pycore error codes of a record that failed to open).
REASON_BLOCKED = "blocked_by_quarantine"


# --- results ----------------------------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    pulled: int = 0
    pushed: int = 0
    merged: int = 0
    conflicted_copies: list[bytes] = field(default_factory=list)  # ids of new "conflicted copy" notes
    resurrected: int = 0  # local edits that brought back a note deleted elsewhere
    deletes_dropped: int = 0  # local deletes dropped because the note was edited elsewhere
    quarantined: list[bytes] = field(default_factory=list)
    keys_adopted: int = 0
    keys_refused: int = 0
    rejected: dict[bytes, str] = field(default_factory=dict)  # record id -> relay code, left in the outbox
    unresolved: int = 0  # outbox entries still conflicting after the last round
    bundle_version: int = 0
    rounds: int = 0


@dataclass(frozen=True)
class NoteView:
    record_id: bytes
    note: Note
    pending: bool  # edited here and not yet accepted by the relay
    quarantine: str | None  # reason the relay's newest revision was refused, if it was


# --- the engine -------------------------------------------------------------------------------------------------------


@dataclass
class _Step:
    """One record's state while a batch is being decided."""

    local: LocalRecord
    reseal: PlainRecord | None = None  # a new local edit to seal and queue (a merge or a resurrection)
    reseal_base: SealedRecord | None = None
    copies: list[PlainRecord] = field(default_factory=list)  # new conflicted-copy notes to seal and queue
    changed: bool = False


class SyncEngine:
    def __init__(
        self,
        store: Store,
        transport: Transport,
        unlocked: Unlocked,
        *,
        device_name: str,
        clock: Callable[[], float] = time.time,
        push_batch: int = DEFAULT_PUSH_BATCH,
        pull_limit: int = DEFAULT_PULL_LIMIT,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
    ) -> None:
        self.store = store
        self.transport = transport
        self.device_name = device_name
        self.clock = clock
        self.push_batch = push_batch
        self.pull_limit = pull_limit
        self.max_rounds = max_rounds
        self._unlocked = unlocked
        self._keys: dict[int, bytes] = unlocked.bundle.keyring.keys
        # Serialises every read-decide-commit step (local edits, pulled pages, push results). A store shared by
        # several processes (IndexedDB and the crypto workers of several tabs) supplies its own lock spanning them,
        # so another tab's commit can never land between this step's read and its commit.
        self._lock: AbstractAsyncContextManager[Any] = getattr(store, "exclusive", None) or asyncio.Lock()
        self._sync_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SyncEngine(device_name={self.device_name!r})"

    @property
    def unlocked(self) -> Unlocked:
        return self._unlocked

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # --- keys and bundle ----------------------------------------------------------------------------------------------

    async def adopt(self, bundle: UnlockedBundle) -> None:
        """Use a newer opened bundle version (say, after this device won a rotation: ``rotation.rotate``'s holder) and
        remember it locally. Queued edits keep their epoch until a push meets ``stale_epoch`` (or ``reseal_outbox``)."""
        current = self._unlocked.bundle
        if bundle.account_id != current.account_id:
            raise SyncError("that bundle belongs to another account")
        if bundle.version < current.version:
            raise SyncError("that bundle is older than the one in use")
        if bundle.version == current.version:
            return
        async with self._lock:
            await self.store.commit(Batch(bundle=bundle.public.encoded))
            self._unlocked = replace(self._unlocked, bundle=bundle)
            self._keys = bundle.keyring.keys

    async def adopt_unlocked(self, unlocked: Unlocked) -> None:
        """``adopt`` the bundle of ``unlocked`` and hold its factor from now on: after a passphrase change or a factor
        removal this device holds another unlock method, which it needs to adopt the next account-key rotation."""
        await self.adopt(unlocked.bundle)
        self.use_factor(unlocked)

    def use_factor(self, unlocked: Unlocked) -> None:
        """Keep the bundle version in use, but hold the unlock method of ``unlocked`` (same account) from now on."""
        if unlocked.bundle.account_id != self._unlocked.bundle.account_id:
            raise SyncError("that unlock method belongs to another account")
        self._unlocked = replace(unlocked, bundle=self._unlocked.bundle)

    async def refresh_bundle(self) -> bool:
        """Fetch and adopt the bundle versions the relay has after ours; True if a newer one was adopted.

        Rollback, fork, a bad signature or a version that does not fully open raise, and the current one stays."""
        current = self._unlocked
        chain = await self.transport.bundle_chain(current.bundle.version)
        newer = adopt_chain(current.bundle, chain, current.box, current.slot_id)
        if newer.version == current.bundle.version:
            return False
        await self.adopt(newer)
        return True

    # --- local edits --------------------------------------------------------------------------------------------------

    async def put(self, record_id: bytes, record_type: RecordType, payload: bytes) -> None:
        """Seal a local edit under the write epoch and queue it, in one commit."""
        async with self._lock:
            local = (await self.store.get([record_id])).get(record_id, LocalRecord(record_id))
            entry = self._seal_local(local, record_type, payload)
            await self.store.commit(Batch(outbox={record_id: entry}))

    def _seal_local(self, local: LocalRecord, record_type: RecordType, payload: bytes) -> OutboxEntry:
        base = local.base
        plain = PlainRecord(
            local.record_id,
            base.revision + 1 if base else 1,
            base.content_hash if base else NO_PREVIOUS,
            record_type,
            payload,
        )
        sealed = seal_records(self._unlocked.bundle.scope, self._unlocked.bundle.write_key, [plain])[0]
        if local.pending is not None:
            return OutboxEntry(sealed, local.pending.merge_base, self._now_ms(), local.pending.sent)
        return OutboxEntry(sealed, base, self._now_ms())

    async def save_note(self, title: str, body: str, record_id: bytes | None = None) -> bytes:
        """Create (no id) or replace a note locally; returns its record id. Works offline."""
        record_id = record_id or new_record_id()
        await self.put(record_id, RecordType.NOTE, encode_note(Note(title, body, self._now_ms())))
        return record_id

    async def delete(self, record_id: bytes) -> None:
        """Delete locally: a sealed tombstone queued like any edit (so a relay cannot forge or drop it silently)."""
        await self.put(record_id, RecordType.TOMBSTONE, b"")

    # --- reading ----------------------------------------------------------------------------------------------------

    def _open(self, sealed: Sequence[SealedRecord]) -> list[OpenedRecord | VellumError]:
        return open_records(self._unlocked.bundle.scope, self._keys, sealed)

    async def notes(self) -> list[NoteView]:
        """Every live note this device can open, local edits included, ordered by record id."""
        out: list[NoteView] = []
        after: bytes | None = None
        while True:
            page = await self.store.scan(after, OUTBOX_PAGE)
            if not page:
                return out
            after = page[-1].record_id
            shown = [(rec, rec.head) for rec in page if rec.head is not None]
            opened = self._open([head for _, head in shown if head is not None])
            for (rec, _), result in zip(shown, opened, strict=True):
                if isinstance(result, VellumError) or result.record_type != RecordType.NOTE:
                    continue
                try:
                    note = decode_note(result.payload)
                except FormatError:
                    continue
                reason = rec.quarantine.reason if rec.quarantine else None
                out.append(NoteView(rec.record_id, note, rec.pending is not None, reason))

    async def note(self, record_id: bytes) -> NoteView | None:
        local = (await self.store.get([record_id])).get(record_id)
        if local is None or local.head is None:
            return None
        result = self._open([local.head])[0]
        if isinstance(result, VellumError):
            raise result
        if result.record_type != RecordType.NOTE:
            return None
        reason = local.quarantine.reason if local.quarantine else None
        return NoteView(record_id, decode_note(result.payload), local.pending is not None, reason)

    # --- sync -------------------------------------------------------------------------------------------------------

    async def sync(self) -> SyncReport:
        """Pull, then push, until the outbox is empty (or ``max_rounds``). Safe to call at any time: offline it raises
        ``NetworkError``; every step already committed stays (pages with their cursor, accepted pushes), and nothing
        queued is ever dropped, so the next call resumes."""
        async with self._sync_lock:
            report = SyncReport()
            for _ in range(self.max_rounds):
                report.rounds += 1
                await self._pull_all(report)
                conflicts = await self._push_all(report)
                if conflicts:
                    await self._detach_blocked(conflicts, report)
                if not conflicts:
                    break
            else:
                report.unresolved = len(conflicts)
            report.bundle_version = self._unlocked.bundle.version
            return report

    async def _pull_all(self, report: SyncReport) -> None:
        meta = await self.store.meta()
        cursor = meta.cursor
        while True:
            page = await self.transport.pull(cursor, self.pull_limit)
            await self._apply_changes(page.changes, report, cursor=page.cursor)
            report.pulled += len(page.changes)
            cursor = page.cursor
            if not page.more or not page.changes:
                return

    async def _apply_changes(self, changes: Sequence[SealedRecord], report: SyncReport, *, cursor: str | None) -> None:
        # The feed holds each record's current state once; if a relay repeats one, the last occurrence counts.
        latest: dict[bytes, SealedRecord] = {}
        for change in changes:
            latest[change.record_id] = change
        if any(c.epoch not in self._keys for c in latest.values()):
            await self.refresh_bundle()
        async with self._lock:
            local = await self.store.get(list(latest))
            steps = {rid: _Step(local.get(rid, LocalRecord(rid))) for rid in latest}
            # What this device already holds byte for byte (the echo of its own push) needs no opening.
            served = [c for c in latest.values() if steps[c.record_id].local.base != c]
            for change, opened in zip(served, self._open(served), strict=True):
                self._apply_one(steps[change.record_id], change, opened, report)
            batch = self._finish(steps)
            if cursor is not None:
                batch.cursor = cursor
            if batch:
                await self.store.commit(batch)

    def _apply_one(
        self, step: _Step, change: SealedRecord, opened: OpenedRecord | VellumError, report: SyncReport
    ) -> None:
        local = step.local
        base, pending = local.base, local.pending
        # Our own edit, accepted by the relay (its answer may have been lost): it becomes the base.
        if pending is not None and change.revision == pending.record.revision:
            if change.content_hash == pending.record.content_hash:
                accepted = change if isinstance(opened, OpenedRecord) else pending.record
                self._set(step, base=accepted, pending=None, quarantine=None)
                return
            if change.content_hash in pending.sent and isinstance(opened, OpenedRecord):
                # An earlier version of this very edit was stored; what was typed since goes on top of it.
                ours = self._open([pending.record])[0]
                self._set(step, base=change, pending=None, quarantine=None)
                if isinstance(ours, OpenedRecord) and ours.payload != opened.payload:
                    self._requeue(step, change, ours.record_type, ours.payload, change)
                return
        if base is not None:
            try:
                newer = HighWater(base.revision, base.content_hash).check(change)
            except VellumError as exc:
                self._quarantine(step, change, exc.code, report)
                return
            if not newer:
                self._key_only_update(step, base, change, opened, report)
                return
        if isinstance(opened, VellumError):
            self._quarantine(step, change, opened.code, report)
            return
        if pending is None:
            self._set(step, base=change, quarantine=None)
            return
        self._rebase(step, change, opened, pending, report)

    def _key_only_update(
        self,
        step: _Step,
        base: SealedRecord,
        change: SealedRecord,
        opened: OpenedRecord | VellumError,
        report: SyncReport,
    ) -> None:
        """The same revision and content as our base: adopt the served wrapped key only if it is newer and it opened
        the content (``open_records`` above, done for the whole page: SPEC §7)."""
        if change.epoch == base.epoch and change.wrapped_key == base.wrapped_key:
            return
        if change.epoch > base.epoch and isinstance(opened, OpenedRecord):
            self._set(step, base=change)
            report.keys_adopted += 1
        else:
            report.keys_refused += 1

    def _rebase(
        self, step: _Step, change: SealedRecord, theirs: OpenedRecord, pending: OutboxEntry, report: SyncReport
    ) -> None:
        """Another device won the revision our local edit wanted: merge onto the winner, or keep both."""
        to_open = [pending.record] + ([pending.merge_base] if pending.merge_base is not None else [])
        opened = self._open(to_open)
        ours = opened[0]
        ancestor = opened[1] if len(opened) > 1 else None
        self._set(step, base=change, pending=None, quarantine=None)
        if isinstance(ours, VellumError):
            return  # our own sealed edit no longer opens (a damaged local store): nothing of it can be saved
        if ours.deleted:
            if not theirs.deleted:
                report.deletes_dropped += 1
            return
        if theirs.deleted:
            report.resurrected += 1
            self._requeue(step, change, ours.record_type, ours.payload, pending.merge_base)
            return
        if ours.record_type != RecordType.NOTE or theirs.record_type != RecordType.NOTE:
            return  # derived records (index shards) are rebuilt by their owner, never merged: the relay's wins
        try:
            our_note = decode_note(ours.payload)
        except FormatError:
            return
        try:
            their_note = decode_note(theirs.payload)
            base_note = None
            if isinstance(ancestor, OpenedRecord) and ancestor.record_type == RecordType.NOTE:
                base_note = decode_note(ancestor.payload)
        except FormatError:  # theirs (or the ancestor) does not decode: nothing to merge with, keep both
            self._conflicted_copy(step, conflicted_copy(our_note, self.device_name, self._now_ms()), report)
            return
        outcome = resolve(base_note, our_note, their_note, device_name=self.device_name, now_ms=self._now_ms())
        if outcome.copy is not None:
            self._conflicted_copy(step, outcome.copy, report)
            return
        assert outcome.merged is not None
        payload = encode_note(outcome.merged)
        if payload != theirs.payload:
            report.merged += 1
            self._requeue(step, change, RecordType.NOTE, payload, change)

    @staticmethod
    def _set(step: _Step, **changes: Any) -> None:
        step.local = replace(step.local, **changes)
        step.changed = True

    @staticmethod
    def _requeue(
        step: _Step, base: SealedRecord, record_type: RecordType, payload: bytes, merge_base: SealedRecord | None
    ) -> None:
        step.reseal = PlainRecord(step.local.record_id, base.revision + 1, base.content_hash, record_type, payload)
        step.reseal_base = merge_base
        step.changed = True

    @staticmethod
    def _conflicted_copy(step: _Step, copy: Note, report: SyncReport) -> None:
        copy_id = new_record_id()
        step.copies.append(PlainRecord(copy_id, 1, NO_PREVIOUS, RecordType.NOTE, encode_note(copy)))
        step.changed = True
        report.conflicted_copies.append(copy_id)

    def _quarantine(self, step: _Step, change: SealedRecord, reason: str, report: SyncReport) -> None:
        old = step.local.quarantine
        if old is not None and old.reason == reason and old.revision == change.revision:
            return
        self._set(step, quarantine=Quarantine(step.local.record_id, reason, change.revision, self._now_ms()))
        report.quarantined.append(step.local.record_id)

    def _finish(self, steps: Mapping[bytes, _Step]) -> Batch:
        """Seal every re-queued edit and conflicted copy (one batched call) and gather the batch to commit."""
        batch = Batch()
        plains: list[PlainRecord] = []
        merge_bases: list[SealedRecord | None] = []
        for rid, step in steps.items():
            if not step.changed:
                continue
            local = step.local
            if local.base is not None:
                batch.records[rid] = local.base
            batch.outbox[rid] = local.pending
            batch.quarantine[rid] = local.quarantine
            if step.reseal is not None:
                plains.append(step.reseal)
                merge_bases.append(step.reseal_base)
            for copy in step.copies:
                plains.append(copy)
                merge_bases.append(None)
        now = self._now_ms()
        bundle = self._unlocked.bundle
        for sealed, merge_base in zip(seal_records(bundle.scope, bundle.write_key, plains), merge_bases, strict=True):
            batch.outbox[sealed.record_id] = OutboxEntry(sealed, merge_base, now)
        return batch

    # --- push -------------------------------------------------------------------------------------------------------

    async def _push_all(self, report: SyncReport) -> dict[bytes, int]:
        """Push the outbox in batches; the ids that met a conflict (with the relay's revision, 0 if unknown)."""
        conflicts: dict[bytes, int] = {}
        stale_rounds = 0
        after: bytes | None = None
        while True:
            entries = await self.store.outbox(after, self.push_batch)
            if not entries:
                return conflicts
            after = entries[-1].record_id
            try:
                results = await self.transport.push([PushItem(e.record, e.base_revision) for e in entries])
            except NetworkError:
                await self._mark_sent(entries)
                raise
            if len(results) != len(entries):
                raise SyncError("The relay's answer did not match the records sent.")
            currents: list[SealedRecord] = []
            stale = False
            relay_epoch = 0
            async with self._lock:
                local = await self.store.get([e.record_id for e in entries])
                steps: dict[bytes, _Step] = {}
                for entry, result in zip(entries, results, strict=True):
                    rid = entry.record_id
                    if result.record_id != rid:
                        raise SyncError("The relay's answer did not match the records sent.")
                    if result.status == PushStatus.ACCEPTED:
                        steps[rid] = step = _Step(local.get(rid, LocalRecord(rid)))
                        self._accepted(step, entry.record)
                        report.pushed += 1
                        report.rejected.pop(rid, None)
                    elif result.status == PushStatus.CONFLICT:
                        conflicts[rid] = result.revision
                        if result.current is not None and result.current.record_id == rid:
                            currents.append(result.current)
                    elif result.status == PushStatus.STALE_EPOCH:
                        stale = True
                        relay_epoch = max(relay_epoch, result.write_epoch)
                    else:
                        report.rejected[rid] = result.code or "rejected"
                batch = self._finish(steps)
                if batch:
                    await self.store.commit(batch)
            if currents:
                await self._apply_changes(currents, report, cursor=None)
            if stale:
                stale_rounds += 1
                if stale_rounds > 2:
                    raise StaleEpoch("The relay keeps refusing this device's key epoch.")
                await self._stale_epoch(relay_epoch, {e.record.epoch for e in entries})
                after = None

    async def _mark_sent(self, entries: Sequence[OutboxEntry]) -> None:
        """A push got no answer: remember what was sent, in case the relay stored it."""
        async with self._lock:
            local = await self.store.get([e.record_id for e in entries])
            batch = Batch()
            for entry in entries:
                current = local.get(entry.record_id)
                pending = current.pending if current is not None else None
                c_hash = entry.record.content_hash
                if pending is not None and pending.base_revision == entry.base_revision and c_hash not in pending.sent:
                    batch.outbox[entry.record_id] = replace(pending, sent=(*pending.sent, c_hash)[-MAX_SENT:])
            if batch:
                await self.store.commit(batch)

    def _accepted(self, step: _Step, sent: SealedRecord) -> None:
        current = step.local.pending
        base = step.local.base
        if current is not None and current.record.content_hash == sent.content_hash:
            self._set(step, base=sent, pending=None, quarantine=None)
        elif current is not None and current.record.revision == sent.revision:
            # Edited again while the push was in flight: queue that newer edit on top of the accepted revision.
            opened = self._open([current.record])[0]
            self._set(step, base=sent, pending=None, quarantine=None)
            if isinstance(opened, OpenedRecord):
                self._requeue(step, sent, opened.record_type, opened.payload, sent)
        elif base is None or sent.revision > base.revision:
            self._set(step, base=sent, quarantine=None)

    async def _stale_epoch(self, relay_epoch: int, sent: set[int]) -> None:
        """A push met ``stale_epoch``: adopt the newer bundle (unless a pulled page already did), then re-seal the
        outbox under the write epoch. ``relay_epoch`` is the relay's write epoch when it said (0 if not)."""
        ours = self._unlocked.bundle.write_key.epoch
        if relay_epoch > ours or (relay_epoch == 0 and sent == {ours}):
            await self.refresh_bundle()
            ours = self._unlocked.bundle.write_key.epoch
            if ours < relay_epoch or (relay_epoch == 0 and sent == {ours}):
                raise StaleEpoch("The relay expects a newer key epoch but did not serve the account keys for it.")
        await self.reseal_outbox()

    async def reseal_outbox(self) -> int:
        """Re-seal every queued edit under the current write epoch (after a rotation); the number re-sealed."""
        count = 0
        after: bytes | None = None
        while True:
            async with self._lock:
                entries = await self.store.outbox(after, OUTBOX_PAGE)
                if not entries:
                    return count
                after = entries[-1].record_id
                bundle = self._unlocked.bundle
                stale = [e for e in entries if e.record.epoch != bundle.write_key.epoch]
                plains: list[PlainRecord] = []
                kept: list[OutboxEntry] = []
                for entry, opened in zip(stale, self._open([e.record for e in stale]), strict=True):
                    if isinstance(opened, OpenedRecord):
                        plains.append(
                            PlainRecord(
                                opened.record_id, opened.revision, opened.prev_hash, opened.record_type, opened.payload
                            )
                        )
                        kept.append(entry)
                batch = Batch()
                for entry, sealed in zip(kept, seal_records(bundle.scope, bundle.write_key, plains), strict=True):
                    batch.outbox[entry.record_id] = replace(entry, record=sealed)
                if batch:
                    await self.store.commit(batch)
                count += len(kept)

    async def _detach_blocked(self, conflicts: Mapping[bytes, int], report: SyncReport) -> None:
        """A local edit whose record is quarantined (the relay's newer revision was refused) can never be pushed on
        top of it: save it as a conflicted copy instead, and keep the record at its last good revision."""
        async with self._lock:
            local = await self.store.get(list(conflicts))
            steps: dict[bytes, _Step] = {}
            for rid, rec in local.items():
                pending, quarantine = rec.pending, rec.quarantine
                base_revision = rec.base.revision if rec.base is not None else 0
                if pending is None or quarantine is None or pending.base_revision != base_revision:
                    continue
                if quarantine.revision <= base_revision:
                    continue
                step = steps[rid] = _Step(rec)
                opened = self._open([pending.record])[0]
                self._set(step, pending=None)
                if isinstance(opened, OpenedRecord) and opened.record_type == RecordType.NOTE:
                    try:
                        self._conflicted_copy(step, decode_note(opened.payload), report)
                    except FormatError:
                        pass
            batch = self._finish(steps)
            if batch:
                await self.store.commit(batch)
