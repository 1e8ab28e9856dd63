"""The sync engine's small interfaces and values: the local ``Store`` and its ``Batch``, the relay ``Transport``,
the device ``Signer``, push results and change pages. SPEC.md §"Sync".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from pycore.envelope import (
    SealedRecord,
)

# --- interfaces -------------------------------------------------------------------------------------------------------


class Signer(Protocol):
    """The device's Ed25519 request key (WebCrypto non-extractable in the browser, PyNaCl in CPython)."""

    @property
    def public_key(self) -> bytes: ...

    async def sign(self, message: bytes) -> bytes: ...


class PushStatus(StrEnum):
    ACCEPTED = "accepted"
    CONFLICT = "conflict"  # the relay's current revision is not the base revision: another device won
    STALE_EPOCH = "stale_epoch"  # sealed under an epoch that is no longer the write epoch
    REJECTED = "rejected"  # refused for another reason (``code``); stays in the outbox


@dataclass(frozen=True)
class PushItem:
    record: SealedRecord
    base_revision: int  # the relay's revision this edit builds on (0 for a new record) = record.revision - 1


@dataclass(frozen=True)
class PushResult:
    record_id: bytes
    status: PushStatus
    revision: int = 0  # accepted: the stored revision; conflict: the relay's current revision (when it says)
    write_epoch: int = 0  # stale_epoch: the relay's write epoch (when it says)
    current: SealedRecord | None = None  # conflict: the relay's current version (when it sends it)
    code: str = ""  # rejected: the relay's error code


@dataclass(frozen=True)
class ChangePage:
    changes: tuple[SealedRecord, ...]  # the current state of each record changed since the cursor, in feed order
    cursor: str  # opaque; pass it back to get what changed after this page
    more: bool


class Transport(Protocol):
    """The relay, as the engine sees it. Every call is one signed request (or a few pages of them). Failures raise
    ``NetworkError`` (unreachable) or ``RelayError`` (refused, with the relay's code)."""

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        """One result per item, in order; each item is a compare-and-swap on its record's revision."""
        ...

    async def pull(self, cursor: str | None, limit: int) -> ChangePage:
        """Records changed after ``cursor`` (``None``: from the start), at most ``limit``."""
        ...

    async def put_key_updates(self, updates: Sequence[SealedRecord]) -> list[bool]:
        """Key-only updates (the record's current revision, its key re-wrapped under the write epoch): per record True
        when stored, False when superseded (a newer revision, or not the write epoch). Same as
        ``rotation.RotationBackend``, which a full transport also implements (``publish_bundle``, ``put_records``)."""
        ...

    async def bundle_chain(self, since_version: int) -> list[bytes]:
        """Every bundle version after ``since_version``, oldest first (encoded)."""
        ...

    async def records_below_epoch(self, epoch: int, after: bytes | None, limit: int) -> list[SealedRecord]:
        """Current records whose key is wrapped under an epoch older than ``epoch``, by record id after ``after``."""
        ...


@dataclass(frozen=True)
class OutboxEntry:
    record: SealedRecord  # the local head, revision = base revision + 1
    merge_base: SealedRecord | None  # the version this edit started from (None: a new record)
    queued_at: int  # ms
    # Content hashes of earlier versions of this edit whose push got no answer: the relay may have stored one of them,
    # and then it is this device's own ancestor, not another device's edit (no merge, no conflicted copy).
    sent: tuple[bytes, ...] = ()

    @property
    def record_id(self) -> bytes:
        return self.record.record_id

    @property
    def base_revision(self) -> int:
        return self.record.revision - 1


@dataclass(frozen=True)
class Quarantine:
    """Why the relay's newest revision of a record was refused; ``LocalRecord.base`` stays the last good one."""

    record_id: bytes
    reason: str  # a pycore error code: decryption_failed, unknown_key, record_rollback, record_fork, bad_format...
    revision: int  # the refused revision
    at: int  # ms


@dataclass(frozen=True)
class LocalRecord:
    record_id: bytes
    base: SealedRecord | None = None
    pending: OutboxEntry | None = None
    quarantine: Quarantine | None = None

    @property
    def head(self) -> SealedRecord | None:
        """What this device shows: the local edit if there is one, else the last accepted revision."""
        return self.pending.record if self.pending is not None else self.base


@dataclass
class Batch:
    """Everything one step changes, applied atomically by ``Store.commit`` (all of it or nothing).

    ``outbox`` and ``quarantine`` map a record id to its new entry, or to ``None`` to remove it.
    ``cursor`` and ``bundle`` (the newest adopted bundle version, encoded) are left alone when ``None``.
    """

    records: dict[bytes, SealedRecord] = field(default_factory=dict)
    outbox: dict[bytes, OutboxEntry | None] = field(default_factory=dict)
    quarantine: dict[bytes, Quarantine | None] = field(default_factory=dict)
    cursor: str | None = None
    bundle: bytes | None = None

    def __bool__(self) -> bool:
        return bool(self.records or self.outbox or self.quarantine or self.cursor is not None or self.bundle)


@dataclass(frozen=True)
class StoreMeta:
    cursor: str | None
    bundle: bytes | None


class Store(Protocol):
    """Local ciphertext storage. Reads may span several calls; every write is one atomic ``commit``."""

    async def meta(self) -> StoreMeta: ...

    async def get(self, record_ids: Sequence[bytes]) -> dict[bytes, LocalRecord]:
        """The local state of each id that has any (missing ids are left out)."""
        ...

    async def scan(self, after: bytes | None, limit: int) -> list[LocalRecord]:
        """Every local record, ordered by id, after ``after``."""
        ...

    async def outbox(self, after: bytes | None, limit: int) -> list[OutboxEntry]:
        """Outbox entries ordered by record id, after ``after``."""
        ...

    async def commit(self, batch: Batch) -> None: ...


