"""Key rotation: win the bundle compare-and-swap first, then seal under the new keys.

- Routine: a new epoch for new writes, then (optionally) a key-only re-wrap of older records, resumable, never
  conflicting with edits.
- Revocation: a new account key, epoch and identity key in one version, re-sealed to every remaining factor; optionally
  a background re-encryption of content.

Nothing is sealed under an epoch that is not in a won bundle version. A rotation that loses the race adopts the winner
and re-plans on top of it unless the winner already covers it (a routine rotation never swallows a revocation). The
intent is recorded in the keyring and progress is read from the relay's per-record epochs, so any device can resume or
finish the work after a crash at any point; every step is idempotent per record. Version 1 never destroys an epoch key.
SPEC.md §"Rotation".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from pycore.bundle import UnlockedBundle, adopt_chain, next_version
from pycore.envelope import PlainRecord, SealedRecord, open_records, rewrap_records, seal_records
from pycore.errors import RotationError, StaleBundle, VellumError
from pycore.factors import BoxKeyPair
from pycore.keyring import IntentKind, RotationIntent

MAX_ATTEMPTS = 8
DEFAULT_BATCH = 500


class RotationKind(Enum):
    ROUTINE = "routine"
    REVOKE_DEVICE = "revoke_device"


@dataclass(frozen=True)
class Rotation:
    kind: RotationKind
    device_id: bytes | None = None  # the device to revoke
    rewrap: bool = True  # routine: re-wrap older records' keys to the new epoch
    reencrypt: bool = False  # revocation: re-encrypt content under fresh record keys

    def __post_init__(self) -> None:
        if (self.kind == RotationKind.REVOKE_DEVICE) != (self.device_id is not None):
            raise RotationError("a revocation names exactly one device")


class RotationBackend(Protocol):
    """What rotation needs from the relay (the sync transport implements it)."""

    async def bundle_chain(self, since_version: int) -> list[bytes]:
        """Every bundle version after ``since_version``, oldest first."""
        ...

    async def publish_bundle(self, expected_version: int, bundle: bytes, rotation: Rotation | None) -> None:
        """Compare-and-swap the bundle (a revocation also revokes the device, atomically). ``StaleBundle`` if lost."""
        ...

    async def records_below_epoch(self, epoch: int, after: bytes | None, limit: int) -> list[SealedRecord]:
        """Current revisions whose newest wrapped key is below ``epoch``, ordered by record id, after ``after``."""
        ...

    async def put_key_updates(self, updates: Sequence[SealedRecord]) -> list[bool]:
        """Key-only updates; per record True when stored, False when superseded (newer revision or epoch)."""
        ...

    async def put_records(self, records: Sequence[tuple[int, SealedRecord]]) -> list[bool]:
        """(base revision, record) writes; per record True when stored, False on conflict."""
        ...


@dataclass(frozen=True)
class Holder:
    """What an unlocked device holds: the bundle in use and the factor that opened it."""

    bundle: UnlockedBundle
    box: BoxKeyPair | None = field(default=None, repr=False)
    slot_id: bytes | None = None


@dataclass
class Progress:
    done: int = 0
    superseded: int = 0
    failed: list[bytes] = field(default_factory=list)  # record ids that could not be opened (quarantined elsewhere)


def covered(rotation: Rotation, start: UnlockedBundle, current: UnlockedBundle) -> bool:
    """Whether ``current`` (perhaps another device's winning version) already achieves ``rotation`` since ``start``."""
    if rotation.kind == RotationKind.ROUTINE:
        return current.keyring.active.epoch > start.keyring.active.epoch
    assert rotation.device_id is not None
    return (
        current.public.device_factor(rotation.device_id) is None
        and current.account_key != start.account_key
        and current.public.header.identity_public != start.public.header.identity_public
        and current.keyring.active.epoch > start.keyring.active.epoch
    )


def plan(rotation: Rotation, current: UnlockedBundle, now: int) -> UnlockedBundle:
    """The candidate next version for ``rotation`` on top of ``current`` (unpublished: nothing is sealed under it)."""
    if rotation.kind == RotationKind.ROUTINE:
        target = current.keyring.active.epoch + 1
        intents = (RotationIntent(IntentKind.REWRAP, target, now),) if rotation.rewrap else ()
        return next_version(current, keyring=current.keyring.with_new_epoch(now, intents))
    assert rotation.device_id is not None
    entry = current.public.device_factor(rotation.device_id)
    factors = [f for f in current.public.factors if entry is None or f.slot_id != entry.slot_id]
    target = current.keyring.active.epoch + 1
    intents = (RotationIntent(IntentKind.REENCRYPT, target, now),) if rotation.reencrypt else ()
    return next_version(
        current,
        factors=factors,
        keyring=current.keyring.with_new_epoch(now, intents),
        new_account_key=True,
        new_identity=True,
    )


async def _adopt(backend: RotationBackend, holder: Holder) -> Holder:
    chain = await backend.bundle_chain(holder.bundle.version)
    return Holder(adopt_chain(holder.bundle, chain, holder.box, holder.slot_id), holder.box, holder.slot_id)


async def rotate(
    backend: RotationBackend, holder: Holder, rotation: Rotation, *, now: int, start: UnlockedBundle | None = None
) -> Holder:
    """Publish the rotation's bundle version, re-planning on top of any winner until it is covered."""
    start = start or holder.bundle
    for _ in range(MAX_ATTEMPTS):
        if covered(rotation, start, holder.bundle):
            return holder
        candidate = plan(rotation, holder.bundle, now)
        try:
            await backend.publish_bundle(holder.bundle.version, candidate.public.encoded, rotation)
        except StaleBundle:
            holder = await _adopt(backend, holder)
            continue
        return Holder(candidate, holder.box, holder.slot_id)
    raise RotationError("Another device keeps changing the account keys; try the rotation again later.")


async def _each_page(
    backend: RotationBackend,
    current: UnlockedBundle,
    batch: int,
    on_progress: Callable[[Progress], None] | None,
    step: Callable[[list[SealedRecord], Progress], Awaitable[list[bool]]],
) -> Progress:
    """Page through every record below the write epoch (by id, so records that fail are passed, not retried forever)
    and apply ``step`` to each page; ``step`` answers, per record it sent, whether the relay stored it."""
    progress = Progress()
    after: bytes | None = None
    while True:
        page = await backend.records_below_epoch(current.write_key.epoch, after, batch)
        if not page:
            return progress
        after = page[-1].record_id
        stored = await step(page, progress)
        progress.done += sum(stored)
        progress.superseded += len(stored) - sum(stored)
        if on_progress:
            on_progress(progress)


async def rewrap_all(
    backend: RotationBackend,
    current: UnlockedBundle,
    *,
    batch: int = DEFAULT_BATCH,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Key-only re-wrap of every record below the write epoch to the write epoch. Idempotent and resumable."""

    async def step(page: list[SealedRecord], progress: Progress) -> list[bool]:
        results = rewrap_records(current.scope, current.keyring.keys, current.write_key, page)
        progress.failed += [rec.record_id for rec, r in zip(page, results, strict=True) if isinstance(r, VellumError)]
        updates = [r for r in results if isinstance(r, SealedRecord)]
        return await backend.put_key_updates(updates) if updates else []

    return await _each_page(backend, current, batch, on_progress, step)


async def reencrypt_all(
    backend: RotationBackend,
    current: UnlockedBundle,
    *,
    batch: int = DEFAULT_BATCH,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Re-encrypt every record below the write epoch as a new revision under fresh record keys. A record edited in
    the meantime conflicts and is skipped: its newer revision is already sealed under the write epoch."""

    async def step(page: list[SealedRecord], progress: Progress) -> list[bool]:
        plain = []
        for rec, o in zip(page, open_records(current.scope, current.keyring.keys, page), strict=True):
            if isinstance(o, VellumError):
                progress.failed.append(rec.record_id)
                continue
            plain.append(PlainRecord(o.record_id, o.revision + 1, o.content_hash, o.record_type, o.payload))
        sealed = seal_records(current.scope, current.write_key, plain)
        return await backend.put_records([(s.revision - 1, s) for s in sealed]) if sealed else []

    return await _each_page(backend, current, batch, on_progress, step)


async def finish_intents(
    backend: RotationBackend,
    holder: Holder,
    *,
    batch: int = DEFAULT_BATCH,
    on_progress: Callable[[Progress], None] | None = None,
) -> tuple[Holder, Progress]:
    """Run whatever rotation work the keyring records (from any device), then publish a version that clears it."""
    total = Progress()
    for _ in range(MAX_ATTEMPTS):
        intents = holder.bundle.keyring.intents
        if not intents:
            return holder, total
        kinds = {i.kind for i in intents}
        step = reencrypt_all if IntentKind.REENCRYPT in kinds else rewrap_all
        p = await step(backend, holder.bundle, batch=batch, on_progress=on_progress)
        total.done += p.done
        total.superseded += p.superseded
        total.failed += p.failed
        if p.failed:
            # Records that do not open stay where they are (quarantined); the intent stays so a device that can
            # open them (after a sync) finishes the job.
            return holder, total
        cleared = holder.bundle.keyring.without_intents(kinds, holder.bundle.keyring.active.epoch)
        candidate = next_version(holder.bundle, keyring=cleared)
        try:
            await backend.publish_bundle(holder.bundle.version, candidate.public.encoded, None)
        except StaleBundle:
            holder = await _adopt(backend, holder)
            continue
        return Holder(candidate, holder.box, holder.slot_id), total
    raise RotationError("Another device keeps changing the account keys; the rotation will resume later.")
