"""Routine rotation: a new write epoch, queued offline, and the background re-wrap or re-encryption. SPEC §6.4."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from pycore.account import Unlocked
from pycore.errors import (
    FormatError,
    NetworkError,
)
from pycore.keyring import Keyring, RotationIntent
from pycore.lifecycle.backend import LifecycleBackend
from pycore.lifecycle.follow import follow, holder_after
from pycore.rotation import DEFAULT_BATCH, Holder, Progress, Rotation, RotationBackend, RotationKind
from pycore.rotation import finish_intents as _finish_intents
from pycore.rotation import rotate as _rotate

DAY_SECONDS = 86_400
DEFAULT_ROTATION_DAYS = 90



def rotation_due(keyring: Keyring, now: int, every_days: int = DEFAULT_ROTATION_DAYS) -> bool:
    """Whether a routine rotation is due: ``every_days`` since the last one (any kind: new epoch) or since creation."""
    if every_days <= 0:
        return True
    return now - keyring.last_rotation_at >= every_days * DAY_SECONDS


async def rotate_keys(backend: RotationBackend, unlocked: Unlocked, *, now: int, rewrap: bool = True) -> Unlocked:
    """A routine rotation: a new write epoch (older keys stay decrypt-only) and, with ``rewrap``, a re-wrap intent that
    ``finish_rotation`` works through in the background. No step-up: factors and slots do not change. A newer epoch
    published meanwhile by another device covers it."""
    holder = await _rotate(
        backend,
        Holder(unlocked.bundle, unlocked.box, unlocked.slot_id),
        Rotation(RotationKind.ROUTINE, rewrap=rewrap),
        now=now,
    )
    return holder_after(unlocked, holder.bundle, None)


@dataclass(frozen=True)
class QueuedRotation:
    """A routine rotation requested while the relay was unreachable: only the request is kept (nothing is sealed under
    an epoch that is not in a won version). ``base_epoch``: the write epoch when it was requested."""

    requested_at: int
    base_epoch: int
    rewrap: bool = True

    def encode(self) -> bytes:
        data = {"base_epoch": self.base_epoch, "requested_at": self.requested_at, "rewrap": self.rewrap}
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("ascii")

    @classmethod
    def decode(cls, data: bytes) -> QueuedRotation:
        try:
            obj = json.loads(data.decode("ascii"))
            base_epoch, requested_at, rewrap = obj["base_epoch"], obj["requested_at"], obj["rewrap"]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            raise FormatError("bad queued rotation") from None
        if not (isinstance(base_epoch, int) and isinstance(requested_at, int) and isinstance(rewrap, bool)):
            raise FormatError("bad queued rotation")
        return cls(requested_at, base_epoch, rewrap)


async def request_rotation(
    backend: RotationBackend, unlocked: Unlocked, *, now: int, rewrap: bool = True
) -> tuple[Unlocked, QueuedRotation | None]:
    """``rotate_keys``, or — when the relay cannot be reached — the request to keep and run later (``run_queued``)."""
    try:
        return await rotate_keys(backend, unlocked, now=now, rewrap=rewrap), None
    except NetworkError:
        return unlocked, QueuedRotation(now, unlocked.bundle.keyring.active.epoch, rewrap)


async def run_queued(backend: RotationBackend, unlocked: Unlocked, queued: QueuedRotation, *, now: int) -> Unlocked:
    """Publish a queued rotation, unless the relay's chain already has a newer epoch than when it was requested (another
    device rotated, or this request's own publication was applied and its answer lost)."""
    unlocked = await follow(backend, unlocked)
    if unlocked.bundle.keyring.active.epoch > queued.base_epoch:
        return unlocked
    return await rotate_keys(backend, unlocked, now=now, rewrap=queued.rewrap)


@dataclass(frozen=True)
class RotationProgress:
    """``done``: records re-wrapped or re-encrypted so far in this run; ``superseded``: edited meanwhile (so already
    under the new epoch); ``failed``: could not be opened (left for a device that can); ``total``: records below the
    write epoch when the run started (read from the relay)."""

    done: int
    superseded: int
    failed: int
    total: int

    @property
    def fraction(self) -> float:
        if self.total <= 0:
            return 1.0
        return min(1.0, (self.done + self.superseded + self.failed) / self.total)


@dataclass(frozen=True)
class RotationStatus:
    write_epoch: int
    intents: tuple[RotationIntent, ...]
    remaining: int  # records whose newest wrapped key is below the write epoch (at the relay)
    last_rotation_at: int

    @property
    def pending(self) -> bool:
        return bool(self.intents)


async def rotation_status(backend: LifecycleBackend, unlocked: Unlocked) -> RotationStatus:
    keyring = unlocked.bundle.keyring
    epoch = keyring.active.epoch
    return RotationStatus(epoch, keyring.intents, await backend.count_below_epoch(epoch), keyring.last_rotation_at)


async def finish_rotation(
    backend: LifecycleBackend,
    unlocked: Unlocked,
    *,
    batch: int = DEFAULT_BATCH,
    on_progress: Callable[[RotationProgress], None] | None = None,
) -> tuple[Unlocked, RotationProgress]:
    """Work through the rotation intents the keyring records (a re-wrap after a routine rotation, a re-encryption after
    a revocation), from wherever any device left off — progress is the relay's per-record epochs — then publish the
    version that clears them (``rotation.finish_intents``). Safe to interrupt at any point and to run on several
    devices at once."""
    keyring = unlocked.bundle.keyring
    total = await backend.count_below_epoch(keyring.active.epoch) if keyring.intents else 0

    def report(p: Progress) -> None:
        if on_progress is not None:
            on_progress(RotationProgress(p.done, p.superseded, len(p.failed), total))

    holder, progress = await _finish_intents(
        backend, Holder(unlocked.bundle, unlocked.box, unlocked.slot_id), batch=batch, on_progress=report
    )
    result = RotationProgress(progress.done, progress.superseded, len(progress.failed), total)
    return holder_after(unlocked, holder.bundle, None), result
