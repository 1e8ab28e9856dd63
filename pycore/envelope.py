"""Records, format v1: content sealed under a fresh per-revision record key, and that key wrapped under an epoch key.

Two layers, so a key rotation re-wraps 48 bytes per record and never rewrites (or conflicts with) content:

- content = ``u8 format | u8 suite | u8 flags | u64 revision | prev_hash[32] | nonce[24] |
  AEAD(record key, PADME(plaintext))``
  with associated data binding the label, account, collection, record id and the whole header (revision, previous
  revision's content hash, deleted flag);
- wrapped key = ``u8 format | u32 epoch | u64 revision | nonce[24] | AEAD(epoch key, record key)`` with associated data
  binding the label, account, collection, record id, its header and the hash of the content it opens.

The record type (note, index shard...) lives inside the ciphertext. A delete is a sealed tombstone: a relay cannot forge
one. ``HighWater`` refuses an older revision (rollback) or a different history (fork). SPEC.md §"Records".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

from pycore import padding, primitives
from pycore.errors import (
    DecryptionError,
    FormatError,
    RecordFork,
    RecordRollback,
    UnknownKey,
    UnsupportedVersion,
    VellumError,
)
from pycore.public import limits
from pycore.public.codec import Reader, Writer, length_prefixed

RECORD_FORMAT_V1 = 1
SUITE_V1 = 1
CONTENT_LABEL = b"vellum/v1/record-content"
WRAP_LABEL = b"vellum/v1/record-key"

RECORD_ID_SIZE = limits.RECORD_ID_SIZE
RECORD_KEY_SIZE = 32
HASH_SIZE = 32
NONCE_SIZE = primitives.AEAD_NONCE_SIZE
CONTENT_HEADER_SIZE = 1 + 1 + 1 + 8 + HASH_SIZE
WRAP_HEADER_SIZE = 1 + 4 + 8
WRAPPED_KEY_SIZE = WRAP_HEADER_SIZE + NONCE_SIZE + RECORD_KEY_SIZE + primitives.AEAD_TAG_SIZE
MAX_CONTENT_SIZE = 16 * 1024 * 1024
FLAG_DELETED = 0x01
NO_PREVIOUS = bytes(HASH_SIZE)


class RecordType(IntEnum):
    TOMBSTONE = 0
    NOTE = 1
    INDEX_SHARD = 2


@dataclass(frozen=True)
class RecordScope:
    """Where records live: every record's associated data binds both ids."""

    account_id: bytes
    collection_id: bytes


@dataclass(frozen=True)
class EpochKey:
    epoch: int
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class PlainRecord:
    """What a device seals: the next revision of one record."""

    record_id: bytes
    revision: int
    prev_hash: bytes
    record_type: RecordType
    payload: bytes = field(repr=False)

    @property
    def deleted(self) -> bool:
        return self.record_type == RecordType.TOMBSTONE


@dataclass(frozen=True)
class SealedRecord:
    """What the relay stores and serves (with revision and epoch also as plaintext numbers)."""

    record_id: bytes
    revision: int
    epoch: int
    wrapped_key: bytes
    content: bytes = field(repr=False)

    @property
    def content_hash(self) -> bytes:
        return content_hash(self.content)


@dataclass(frozen=True)
class OpenedRecord:
    record_id: bytes
    revision: int
    epoch: int
    record_type: RecordType
    payload: bytes = field(repr=False)
    prev_hash: bytes
    content_hash: bytes

    @property
    def deleted(self) -> bool:
        return self.record_type == RecordType.TOMBSTONE


@dataclass(frozen=True)
class HighWater:
    """The newest (revision, content hash) a device has accepted for one record."""

    revision: int
    content_hash: bytes

    def check(self, record: OpenedRecord | SealedRecord) -> bool:
        """Raise on rollback or fork; return True when ``record`` is newer than the mark, False when it is the same."""
        c_hash = record.content_hash
        if record.revision < self.revision:
            raise RecordRollback(
                "The server sent an older version of this note than this device has seen; the newer one is kept."
            )
        if record.revision == self.revision:
            if not primitives.memcmp(c_hash, self.content_hash):
                raise RecordFork("The server sent a conflicting history for this note; the last good version is kept.")
            return False
        if record.revision == self.revision + 1:
            prev = record.prev_hash if isinstance(record, OpenedRecord) else parse_content(record.content)[1]
            if not primitives.memcmp(prev, self.content_hash):
                raise RecordFork("The server sent a conflicting history for this note; the last good version is kept.")
        return True


def content_hash(content: bytes) -> bytes:
    return hashlib.blake2b(content, digest_size=HASH_SIZE).digest()


def new_record_id() -> bytes:
    return primitives.randombytes(RECORD_ID_SIZE)


def _content_header(revision: int, prev_hash: bytes, deleted: bool) -> bytes:
    return (
        Writer()
        .u8(RECORD_FORMAT_V1)
        .u8(SUITE_V1)
        .u8(FLAG_DELETED if deleted else 0)
        .u64(revision)
        .fixed(prev_hash, HASH_SIZE)
        .finish()
    )


def _wrap_header(epoch: int, revision: int) -> bytes:
    return Writer().u8(RECORD_FORMAT_V1).u32(epoch).u64(revision).finish()


def content_aad(scope: RecordScope, record_id: bytes, header: bytes) -> bytes:
    return length_prefixed(CONTENT_LABEL, scope.account_id, scope.collection_id, record_id, header)


def wrap_aad(scope: RecordScope, record_id: bytes, header: bytes, c_hash: bytes) -> bytes:
    return length_prefixed(WRAP_LABEL, scope.account_id, scope.collection_id, record_id, header, c_hash)


def parse_content(content: bytes) -> tuple[int, bytes, bool, bytes, bytes]:
    """(revision, prev_hash, deleted, nonce, ciphertext) — format checks only, nothing is decrypted."""
    if len(content) > MAX_CONTENT_SIZE:
        raise FormatError("record content is too large")
    r = Reader(content)
    if r.u8() != RECORD_FORMAT_V1:
        raise UnsupportedVersion("this note was written in an unknown format")
    if r.u8() != SUITE_V1:
        raise UnsupportedVersion("this note uses an unknown crypto suite")
    flags = r.u8()
    if flags & ~FLAG_DELETED:
        raise FormatError("unknown record flags")
    revision = r.u64()
    prev_hash = r.fixed(HASH_SIZE)
    nonce = r.fixed(NONCE_SIZE)
    ciphertext = r.rest()
    if len(ciphertext) < primitives.AEAD_TAG_SIZE + padding.HEADER_SIZE:
        raise FormatError("record content is truncated")
    return revision, prev_hash, bool(flags & FLAG_DELETED), nonce, ciphertext


def parse_wrapped_key(wrapped: bytes) -> tuple[int, int, bytes, bytes]:
    """(epoch, revision, nonce, ciphertext)."""
    if len(wrapped) != WRAPPED_KEY_SIZE:
        raise FormatError("wrapped record key has the wrong length")
    r = Reader(wrapped)
    if r.u8() != RECORD_FORMAT_V1:
        raise UnsupportedVersion("this note's key was written in an unknown format")
    epoch, revision = r.u32(), r.u64()
    return epoch, revision, r.fixed(NONCE_SIZE), r.rest()


# --- sealing ----------------------------------------------------------------------------------------------------------


def seal_records(scope: RecordScope, epoch_key: EpochKey, records: Sequence[PlainRecord]) -> list[SealedRecord]:
    """Seal a batch: a fresh record key and fresh random nonces per record, two batched AEAD calls in all."""
    if not records:
        return []
    randomness = primitives.randombytes(len(records) * (RECORD_KEY_SIZE + 2 * NONCE_SIZE))
    content_items = []
    headers = []
    keys_nonces = []
    for i, rec in enumerate(records):
        if len(rec.record_id) != RECORD_ID_SIZE:
            raise FormatError("record ids are 16 bytes")
        if rec.revision < 1:
            raise FormatError("revisions start at 1")
        if rec.revision == 1 and rec.prev_hash != NO_PREVIOUS:
            raise FormatError("the first revision has no predecessor")
        base = i * (RECORD_KEY_SIZE + 2 * NONCE_SIZE)
        record_key = randomness[base : base + RECORD_KEY_SIZE]
        content_nonce = randomness[base + RECORD_KEY_SIZE : base + RECORD_KEY_SIZE + NONCE_SIZE]
        wrap_nonce = randomness[base + RECORD_KEY_SIZE + NONCE_SIZE : base + RECORD_KEY_SIZE + 2 * NONCE_SIZE]
        header = _content_header(rec.revision, rec.prev_hash, rec.deleted)
        headers.append(header)
        keys_nonces.append((record_key, content_nonce, wrap_nonce))
        plaintext = padding.pad(int(rec.record_type), rec.payload)
        content_items.append((plaintext, content_aad(scope, rec.record_id, header), content_nonce, record_key))
    ciphertexts = primitives.aead_encrypt_batch(content_items)

    contents = []
    wrap_items = []
    for rec, header, ct, (record_key, content_nonce, wrap_nonce) in zip(
        records, headers, ciphertexts, keys_nonces, strict=True
    ):
        content = header + content_nonce + ct
        contents.append(content)
        w_header = _wrap_header(epoch_key.epoch, rec.revision)
        wrap_items.append(
            (record_key, wrap_aad(scope, rec.record_id, w_header, content_hash(content)), wrap_nonce, epoch_key.key)
        )
    wrapped = primitives.aead_encrypt_batch(wrap_items)
    return [
        SealedRecord(
            rec.record_id, rec.revision, epoch_key.epoch, _wrap_header(epoch_key.epoch, rec.revision) + item[2] + w, c
        )
        for rec, c, w, item in zip(records, contents, wrapped, wrap_items, strict=True)
    ]


def seal_record(scope: RecordScope, epoch_key: EpochKey, record: PlainRecord) -> SealedRecord:
    return seal_records(scope, epoch_key, [record])[0]


# --- opening ----------------------------------------------------------------------------------------------------------


class _Unwrapped(NamedTuple):
    """One record's key and its content header, parsed once for the whole batch."""

    record_key: bytes
    content: tuple[int, bytes, bool, bytes, bytes]  # parse_content's result
    content_hash: bytes


def _unwrap_batch(
    scope: RecordScope, keys: Mapping[int, bytes], sealed: Sequence[SealedRecord]
) -> list[_Unwrapped | VellumError]:
    """Record keys for a batch (or the error for each record that cannot give one)."""
    results: list[_Unwrapped | VellumError] = []
    pending: list[tuple[int, tuple[bytes, bytes, bytes, bytes], tuple[int, bytes, bool, bytes, bytes], bytes]] = []
    for i, rec in enumerate(sealed):
        try:
            if len(rec.record_id) != RECORD_ID_SIZE:
                raise FormatError("record ids are 16 bytes")
            epoch, revision, nonce, ct = parse_wrapped_key(rec.wrapped_key)
            parsed = parse_content(rec.content)
            if revision != rec.revision or parsed[0] != rec.revision or epoch != rec.epoch:
                raise FormatError("the note's metadata does not match its sealed header")
            key = keys.get(epoch)
            if key is None:
                raise UnknownKey(f"This note is sealed under key epoch {epoch}, which this device does not have yet.")
            c_hash = content_hash(rec.content)
            aad = wrap_aad(scope, rec.record_id, rec.wrapped_key[:WRAP_HEADER_SIZE], c_hash)
            pending.append((i, (ct, aad, nonce, key), parsed, c_hash))
            results.append(DecryptionError())
        except VellumError as exc:
            results.append(exc)
    opened = primitives.aead_decrypt_batch([item for _, item, _, _ in pending])
    for (i, _, parsed, c_hash), record_key in zip(pending, opened, strict=True):
        if record_key is not None:
            results[i] = _Unwrapped(record_key, parsed, c_hash)
    return results


def open_records(
    scope: RecordScope, keys: Mapping[int, bytes], sealed: Sequence[SealedRecord]
) -> list[OpenedRecord | VellumError]:
    """Open a batch. Each element is the opened record or the pycore error for that record — one bad record never
    stops the others (the caller quarantines it)."""
    unwrapped = _unwrap_batch(scope, keys, sealed)
    results: list[OpenedRecord | VellumError] = []
    pending: list[tuple[int, tuple[bytes, bytes, bytes, bytes]]] = []
    for i, (rec, u) in enumerate(zip(sealed, unwrapped, strict=True)):
        if isinstance(u, VellumError):
            results.append(u)
            continue
        _, _, _, nonce, ct = u.content
        pending.append(
            (i, (ct, content_aad(scope, rec.record_id, rec.content[:CONTENT_HEADER_SIZE]), nonce, u.record_key))
        )
        results.append(DecryptionError())
    plaintexts = primitives.aead_decrypt_batch([item for _, item in pending])
    for (i, _), plaintext in zip(pending, plaintexts, strict=True):
        if plaintext is None:
            continue
        rec, u = sealed[i], unwrapped[i]
        assert isinstance(u, _Unwrapped)
        try:
            revision, prev_hash, deleted, _, _ = u.content
            raw_type, payload = padding.unpad(plaintext)
            try:
                record_type = RecordType(raw_type)
            except ValueError:
                raise UnsupportedVersion("this note has an unknown record type") from None
            if deleted != (record_type == RecordType.TOMBSTONE):
                raise FormatError("the deleted flag does not match the sealed record type")
            results[i] = OpenedRecord(
                rec.record_id, revision, rec.epoch, record_type, payload, prev_hash, u.content_hash
            )
        except VellumError as exc:
            results[i] = exc
    return results


def open_record(scope: RecordScope, keys: Mapping[int, bytes], sealed: SealedRecord) -> OpenedRecord:
    result = open_records(scope, keys, [sealed])[0]
    if isinstance(result, VellumError):
        raise result
    return result


# --- key-only updates -------------------------------------------------------------------------------------------------


def rewrap_records(
    scope: RecordScope, keys: Mapping[int, bytes], new_key: EpochKey, sealed: Sequence[SealedRecord]
) -> list[SealedRecord | VellumError]:
    """Wrap each record's key under ``new_key`` — only after that key has opened the record's content."""
    unwrapped = _unwrap_batch(scope, keys, sealed)
    checks: list[tuple[int, tuple[bytes, bytes, bytes, bytes]]] = []
    results: list[SealedRecord | VellumError] = []
    for i, (rec, u) in enumerate(zip(sealed, unwrapped, strict=True)):
        if isinstance(u, VellumError):
            results.append(u)
            continue
        _, _, _, nonce, ct = u.content
        aad = content_aad(scope, rec.record_id, rec.content[:CONTENT_HEADER_SIZE])
        checks.append((i, (ct, aad, nonce, u.record_key)))
        results.append(DecryptionError())
    opened = primitives.aead_decrypt_batch([item for _, item in checks])
    wrap_items = []
    targets = []
    nonces = primitives.randombytes(len(checks) * NONCE_SIZE)
    for n, ((i, _), plaintext) in enumerate(zip(checks, opened, strict=True)):
        if plaintext is None:
            continue
        rec = sealed[i]
        header = _wrap_header(new_key.epoch, rec.revision)
        nonce = nonces[n * NONCE_SIZE : (n + 1) * NONCE_SIZE]
        u = unwrapped[i]
        assert isinstance(u, _Unwrapped)
        wrap_items.append((u.record_key, wrap_aad(scope, rec.record_id, header, u.content_hash), nonce, new_key.key))
        targets.append((i, header + nonce))
    for (i, prefix), ct in zip(targets, primitives.aead_encrypt_batch(wrap_items), strict=True):
        rec = sealed[i]
        results[i] = SealedRecord(rec.record_id, rec.revision, new_key.epoch, prefix + ct, rec.content)
    return results
