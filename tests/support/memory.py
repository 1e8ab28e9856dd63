"""In-memory doubles: a ``Store`` in dictionaries and an in-process relay that applies the relay's rules.

``MemoryRelay`` holds one account: the bundle chain (compare-and-swap on version + 1, checked like the relay checks it),
records with a revision compare-and-swap (``conflict``, with the relay's revision; the current record itself only when
``send_current_on_conflict``), the write-epoch check (``stale_epoch``: one stale record refuses the whole batch, as the
relay does), wrapped keys per (revision, epoch), key-only updates only for the current revision and the write epoch
(``superseded``), and a change feed ordered by a sequence number that moves on every change. Each device talks to it
through its own ``MemoryTransport`` (the engine's ``Transport`` and rotation's ``RotationBackend``), which can be
switched offline, made to lose answers, or made to fail after some requests (a device that crashes or loses the
network half-way through a rotation). The sync, rotation and lifecycle tests and the test-only worker commands all use
this one. For tests and demos only: the real relay is ``backend/``.

Given the account's login and recovery login public keys, it also plays the relay's key endpoints
(``pycore.lifecycle.LifecycleBackend``): a version that changes factors needs a step-up by one of those keys, the
passphrase and recovery factors change only together with their login key, and a revocation needs a new epoch and
identity key and refuses the revoked device from then on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from pycore import primitives
from pycore.envelope import SealedRecord, parse_content, parse_wrapped_key
from pycore.errors import BundleError, NetworkError, RelayError, StaleBundle, VellumError
from pycore.lifecycle.confirm import StepUpKey
from pycore.public.bundle_public import (
    FactorType,
    PublicBundle,
    factor_changes,
    parse_bundle,
    verify_first,
    verify_successor,
)
from pycore.sync.types import (
    Batch,
    ChangePage,
    LocalRecord,
    OutboxEntry,
    PushItem,
    PushResult,
    PushStatus,
    Quarantine,
    StoreMeta,
)


class MemoryStore:
    """The engine's ``Store`` in dictionaries: ``commit`` applies a whole batch or (on error) nothing. While
    ``failing``, every commit fails once the batch is applied to its copies, before they replace what is kept (the
    store contract's planted failure, tests/support/store_contract.py)."""

    def __init__(self) -> None:
        self.records: dict[bytes, SealedRecord] = {}
        self.outbox_entries: dict[bytes, OutboxEntry] = {}
        self.quarantined: dict[bytes, Quarantine] = {}
        self.cursor: str | None = None
        self.bundle: bytes | None = None
        self.commits = 0
        self.failing = False

    async def meta(self) -> StoreMeta:
        return StoreMeta(self.cursor, self.bundle)

    def _local(self, rid: bytes) -> LocalRecord | None:
        if rid not in self.records and rid not in self.outbox_entries and rid not in self.quarantined:
            return None
        return LocalRecord(rid, self.records.get(rid), self.outbox_entries.get(rid), self.quarantined.get(rid))

    async def get(self, record_ids: Sequence[bytes]) -> dict[bytes, LocalRecord]:
        out = {}
        for rid in record_ids:
            local = self._local(rid)
            if local is not None:
                out[rid] = local
        return out

    async def scan(self, after: bytes | None, limit: int) -> list[LocalRecord]:
        ids = sorted(set(self.records) | set(self.outbox_entries) | set(self.quarantined))
        out = []
        for rid in ids:
            if after is not None and rid <= after:
                continue
            local = self._local(rid)
            if local is not None:
                out.append(local)
            if len(out) >= limit:
                break
        return out

    async def outbox(self, after: bytes | None, limit: int) -> list[OutboxEntry]:
        ids = sorted(rid for rid in self.outbox_entries if after is None or rid > after)
        return [self.outbox_entries[rid] for rid in ids[:limit]]

    async def commit(self, batch: Batch) -> None:
        records = dict(self.records)
        outbox = dict(self.outbox_entries)
        quarantined = dict(self.quarantined)
        records.update(batch.records)
        for rid, entry in batch.outbox.items():
            if entry is None:
                outbox.pop(rid, None)
            else:
                outbox[rid] = entry
        for rid, q in batch.quarantine.items():
            if q is None:
                quarantined.pop(rid, None)
            else:
                quarantined[rid] = q
        if self.failing:
            raise OSError("a planted commit failure")
        self.records, self.outbox_entries, self.quarantined = records, outbox, quarantined
        if batch.cursor is not None:
            self.cursor = batch.cursor
        if batch.bundle is not None:
            self.bundle = batch.bundle
        self.commits += 1


@dataclass
class _Row:
    record: SealedRecord
    seq: int
    wrapped: dict[tuple[int, int], bytes] = field(default_factory=dict)


class MemoryRelay:
    """One account's relay state, shared by every ``MemoryTransport`` made from it."""

    def __init__(
        self,
        first_bundle: bytes,
        *,
        send_current_on_conflict: bool = False,
        login_public: bytes | None = None,
        recovery_public: bytes | None = None,
    ) -> None:
        first = parse_bundle(first_bundle)
        verify_first(first, primitives.crypto_sign_verify_detached)
        self.account_id = first.account_id
        self.bundles: list[bytes] = [first_bundle]
        self.write_epoch = first.header.write_epoch
        self.rows: dict[bytes, _Row] = {}
        self.seq = 0
        self.send_current_on_conflict = send_current_on_conflict
        self.login_public = login_public  # None: step-up is not enforced (sync-only tests)
        self.recovery_public = recovery_public
        self.revoked: set[bytes] = set()

    def transport(self, device_id: bytes | None = None) -> MemoryTransport:
        return MemoryTransport(self, device_id)

    @property
    def current(self) -> PublicBundle:
        """The newest bundle version."""
        return parse_bundle(self.bundles[-1])

    @property
    def records(self) -> Mapping[bytes, SealedRecord]:
        """The current record of each id (a snapshot; ``serve`` changes what the relay holds)."""
        return {rid: row.record for rid, row in self.rows.items()}

    # --- bundle ---------------------------------------------------------------------------------------------------

    def put_bundle(self, encoded: bytes) -> None:
        """Compare-and-swap the next bundle version (``bad_bundle`` unless it is exactly the next one)."""
        new = parse_bundle(encoded)
        prev = parse_bundle(self.bundles[-1])
        try:
            verify_successor(prev, new, primitives.crypto_sign_verify_detached, account_id=self.account_id)
        except BundleError as exc:
            raise RelayError(exc.message, code="bad_bundle", status=409) from None
        self.bundles.append(encoded)
        self.write_epoch = new.header.write_epoch

    # --- key endpoints (only enforced with login keys) -----------------------------------------------------------

    @property
    def enforces_step_up(self) -> bool:
        return self.login_public is not None

    def check_step_up(self, step_up: StepUpKey | None) -> None:
        """Stands in for the relay's step-up check: a signature by the login or recovery login key it holds."""
        if not self.enforces_step_up:
            return
        if step_up is None:
            raise RelayError("Confirm with your passphrase.", code="step_up_required", status=403)
        expected = self.login_public if step_up.kind == "login" else self.recovery_public
        probe = b"vellum/memory/step-up" + primitives.randombytes(16)
        try:
            if expected is None:
                raise VellumError()
            primitives.crypto_sign_verify_detached(step_up.sign(probe), probe, expected)
        except VellumError:
            raise RelayError("The step-up proof is refused.", code="step_up_failed", status=403) from None

    def check_update(self, expected_version: int, encoded: bytes, via: str, step_up: StepUpKey | None) -> PublicBundle:
        """The relay's order: stale first, then the chain, then which factors may change here, then the step-up."""
        if len(self.bundles) != expected_version:
            raise StaleBundle()
        new = parse_bundle(encoded)
        prev = parse_bundle(self.bundles[-1])
        try:
            verify_successor(prev, new, primitives.crypto_sign_verify_detached, account_id=self.account_id)
        except BundleError as exc:
            raise RelayError(exc.message, code="bad_bundle", status=400) from None
        if self.enforces_step_up:
            for kind, endpoint in ((FactorType.PASSPHRASE, "change_passphrase"), (FactorType.RECOVERY, "recovery")):
                before = sorted((f.slot_id, f.box_public) for f in prev.factors_of(kind))
                after = sorted((f.slot_id, f.box_public) for f in new.factors_of(kind))
                if before != after and via != endpoint:
                    raise RelayError("That factor changes only with its login key.", code="bad_bundle", status=400)
            if via != "update_factors" or factor_changes(prev, new).requires_step_up:
                self.check_step_up(step_up)
        return new

    # --- records --------------------------------------------------------------------------------------------------

    def _store(self, rid: bytes, record: SealedRecord) -> None:
        self.seq += 1
        row = self.rows.get(rid)
        wrapped = dict(row.wrapped) if row is not None else {}
        wrapped[(record.revision, record.epoch)] = record.wrapped_key
        self.rows[rid] = _Row(record, self.seq, wrapped)

    def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        if len({item.record.record_id for item in items}) != len(items):
            raise RelayError("A record appears twice in one push.", code="bad_request", status=400)
        if any(item.record.epoch != self.write_epoch for item in items):
            # Like the relay: one record under another epoch refuses the whole batch (nothing is stored).
            return [
                PushResult(item.record.record_id, PushStatus.STALE_EPOCH, write_epoch=self.write_epoch)
                for item in items
            ]
        results = []
        for item in items:
            rec = item.record
            rid = rec.record_id
            row = self.rows.get(rid)
            current = row.record.revision if row is not None else 0
            try:
                c_revision = parse_content(rec.content)[0]
                w_epoch, w_revision, _, _ = parse_wrapped_key(rec.wrapped_key)
            except VellumError:
                results.append(PushResult(rid, PushStatus.REJECTED, code="bad_request"))
                continue
            if rec.revision != item.base_revision + 1 or c_revision != rec.revision or w_revision != rec.revision:
                results.append(PushResult(rid, PushStatus.REJECTED, code="bad_request"))
            elif w_epoch != rec.epoch:
                results.append(PushResult(rid, PushStatus.REJECTED, code="bad_request"))
            elif current != item.base_revision:
                sent = row.record if row is not None and self.send_current_on_conflict else None
                results.append(PushResult(rid, PushStatus.CONFLICT, revision=current, current=sent))
            else:
                self._store(rid, rec)
                results.append(PushResult(rid, PushStatus.ACCEPTED, revision=rec.revision))
        return results

    def pull(self, cursor: str | None, limit: int) -> ChangePage:
        since = int(cursor) if cursor else 0
        rows = sorted((r for r in self.rows.values() if r.seq > since), key=lambda r: r.seq)
        page = rows[:limit]
        next_cursor = str(page[-1].seq) if page else str(since)
        return ChangePage(tuple(r.record for r in page), next_cursor, len(rows) > limit)

    def put_key_updates(self, updates: Sequence[SealedRecord]) -> list[bool]:
        """Only the wrapped key is taken from each update; the stored content is never touched."""
        results = []
        for u in updates:
            row = self.rows.get(u.record_id)
            if row is None or row.record.revision != u.revision or u.epoch != self.write_epoch:
                results.append(False)
                continue
            self._store(u.record_id, replace(row.record, epoch=u.epoch, wrapped_key=u.wrapped_key))
            results.append(True)
        return results

    def records_below_epoch(self, epoch: int, after: bytes | None, limit: int) -> list[SealedRecord]:
        ids = sorted(rid for rid, r in self.rows.items() if r.record.epoch < epoch and (after is None or rid > after))
        return [self.rows[rid].record for rid in ids[:limit]]

    # --- what a misbehaving relay might do (tests) ----------------------------------------------------------------

    def serve(self, record: SealedRecord) -> None:
        """Put any record in the feed as the current state, bypassing every rule."""
        self._store(record.record_id, record)


class MemoryTransport:
    """One device's connection to a ``MemoryRelay``. ``offline`` raises ``NetworkError``; ``lose_answers`` applies a
    push and then raises as if the answer were lost; with ``fail_after`` set, the requests after that many raise
    ``NetworkError`` before they reach the relay."""

    def __init__(self, relay: MemoryRelay, device_id: bytes | None = None) -> None:
        self.relay = relay
        self.device_id = device_id
        self.offline = False
        self.lose_answers = False
        self.fail_after: int | None = None
        self.requests = 0

    def _call(self) -> None:
        self.requests += 1
        if self.offline or (self.fail_after is not None and self.requests > self.fail_after):
            raise NetworkError()
        if self.device_id is not None and self.device_id in self.relay.revoked:
            raise RelayError("This device was removed from the account.", code="device_revoked", status=403)

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        self._call()
        results = self.relay.push(items)
        if self.lose_answers:
            raise NetworkError()
        return results

    async def pull(self, cursor: str | None, limit: int) -> ChangePage:
        self._call()
        return self.relay.pull(cursor, limit)

    async def put_key_updates(self, updates: Sequence[SealedRecord]) -> list[bool]:
        self._call()
        return self.relay.put_key_updates(updates)

    async def bundle_chain(self, since_version: int) -> list[bytes]:
        self._call()
        return list(self.relay.bundles[since_version:])

    async def records_below_epoch(self, epoch: int, after: bytes | None, limit: int) -> list[SealedRecord]:
        self._call()
        return self.relay.records_below_epoch(epoch, after, limit)

    # --- the rest of rotation.RotationBackend ----------------------------------------------------------------------

    async def publish_bundle(self, expected_version: int, bundle: bytes, rotation: object | None) -> None:
        self._call()
        device_id = getattr(rotation, "device_id", None)
        if isinstance(device_id, bytes):
            await self._revoke(device_id, expected_version, bundle, None)
            return
        if len(self.relay.bundles) != expected_version:
            raise StaleBundle()
        if self.relay.enforces_step_up:
            self.relay.check_update(expected_version, bundle, "update_factors", None)
        self.relay.put_bundle(bundle)

    # --- pycore.lifecycle.LifecycleBackend ------------------------------------------------------------------------

    async def replace_login_key(
        self, expected_version: int, bundle: bytes, login_public: bytes, step_up: StepUpKey
    ) -> None:
        self._call()
        self.relay.check_update(expected_version, bundle, "change_passphrase", step_up)
        self.relay.put_bundle(bundle)
        if self.relay.enforces_step_up:
            self.relay.login_public = login_public

    async def replace_recovery_key(
        self, expected_version: int, bundle: bytes, recovery_login_public: bytes, step_up: StepUpKey
    ) -> None:
        self._call()
        self.relay.check_update(expected_version, bundle, "recovery", step_up)
        self.relay.put_bundle(bundle)
        if self.relay.enforces_step_up:
            self.relay.recovery_public = recovery_login_public

    async def update_factors(self, expected_version: int, bundle: bytes, step_up: StepUpKey) -> None:
        self._call()
        self.relay.check_update(expected_version, bundle, "update_factors", step_up)
        self.relay.put_bundle(bundle)

    async def revoke_device(self, device_id: bytes, expected_version: int, bundle: bytes, step_up: StepUpKey) -> None:
        self._call()
        await self._revoke(device_id, expected_version, bundle, step_up)

    async def _revoke(self, device_id: bytes, expected_version: int, bundle: bytes, step_up: StepUpKey | None) -> None:
        new = self.relay.check_update(expected_version, bundle, "revoke_device", step_up)
        prev = parse_bundle(self.relay.bundles[-1])
        if new.device_factor(device_id) is not None:
            raise RelayError("The new version still holds the revoked device.", code="bad_bundle", status=400)
        same_identity = new.header.identity_public == prev.header.identity_public
        if new.header.write_epoch <= prev.header.write_epoch or same_identity:
            raise RelayError("A revocation needs a new epoch and identity key.", code="bad_bundle", status=400)
        self.relay.put_bundle(bundle)
        self.relay.revoked.add(device_id)

    async def count_below_epoch(self, epoch: int) -> int:
        self._call()
        return sum(1 for r in self.relay.rows.values() if r.record.epoch < epoch)

    async def put_records(self, records: Sequence[tuple[int, SealedRecord]]) -> list[bool]:
        self._call()
        results = self.relay.push([PushItem(r, base) for base, r in records])
        if any(r.status == PushStatus.STALE_EPOCH for r in results):
            raise StaleBundle("stale_epoch")
        return [r.status == PushStatus.ACCEPTED for r in results]
