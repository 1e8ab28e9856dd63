"""The sealed note index: titles, snippets and timestamps in a few encrypted shards, so a list needs no note opened.

Derived data, kept on the device only (never synced, never merged). Each note id maps to one of ``SHARD_COUNT``
shards by a keyed hash, so shard membership says nothing about ids to whoever reads the device's storage. Every change
re-seals that one shard, and a shard that fails to open or disagrees with the records is rebuilt from the notes.
Unlocking opens ``SHARD_COUNT`` small ciphertexts — one batched AEAD call — instead of every note.
Format v1, SPEC.md §"Note index".
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pycore import padding, primitives
from pycore.envelope import RecordType
from pycore.errors import DecryptionError, FormatError, UnsupportedVersion, VellumError
from pycore.public.codec import Reader, Writer, length_prefixed

INDEX_FORMAT_V1 = 1
INDEX_LABEL = b"vellum/v1/index-shard"
INDEX_CONTEXT = b"VLindexk"
INDEX_SUBKEY_ID = 1
SHARD_KEY_SUBKEY_ID = 2
SHARD_COUNT = 64
SNIPPET_LENGTH = 160
MAX_SHARD_ENTRIES = 1 << 20
FLAG_CONFLICTED = 0x01
HEADER_SIZE = 1 + 2 + 8


@dataclass(frozen=True)
class IndexEntry:
    record_id: bytes
    revision: int
    content_hash: bytes
    updated_at: int
    title: str = field(repr=False)
    snippet: str = field(repr=False)
    flags: int = 0


@dataclass(frozen=True)
class IndexKeys:
    """The sealing key and the keyed-hash key for shard assignment, both derived from the account key."""

    seal: bytes = field(repr=False)
    assign: bytes = field(repr=False)

    @classmethod
    def from_account_key(cls, account_key: bytes) -> IndexKeys:
        return cls(
            primitives.crypto_kdf_derive_from_key(32, INDEX_SUBKEY_ID, INDEX_CONTEXT, account_key),
            primitives.crypto_kdf_derive_from_key(32, SHARD_KEY_SUBKEY_ID, INDEX_CONTEXT, account_key),
        )

    def shard_of(self, record_id: bytes) -> int:
        return int.from_bytes(primitives.crypto_generichash(record_id, 8, self.assign), "big") % SHARD_COUNT


def snippet_of(body: str) -> str:
    """The first words of a body, whitespace folded, for the list."""
    return " ".join(body.split())[:SNIPPET_LENGTH]


def _encode_entries(entries: Sequence[IndexEntry]) -> bytes:
    w = Writer().u32(len(entries))
    for e in sorted(entries, key=lambda e: e.record_id):
        w.fixed(e.record_id, 16).u64(e.revision).fixed(e.content_hash, 32).u64(e.updated_at)
        w.var16(e.title.encode("utf-8")).var16(e.snippet.encode("utf-8")).u8(e.flags)
    return w.finish()


_ENTRY_HEAD = struct.Struct(">16sQ32sQH")  # record id, revision, content hash, updated at, title length


def _decode_entries(data: bytes) -> list[IndexEntry]:
    # The unlock path decodes every entry of every shard, so this reads with struct directly instead of Reader calls
    # (about twice as fast under Pyodide); every length is still checked.
    if len(data) < 4:
        raise FormatError("index shard is truncated")
    (count,) = struct.unpack_from(">I", data)
    if count > MAX_SHARD_ENTRIES:
        raise FormatError("too many index entries")
    out = []
    pos, end = 4, len(data)
    head, u16 = _ENTRY_HEAD, struct.Struct(">H")
    try:
        for _ in range(count):
            rid, revision, c_hash, updated, title_size = head.unpack_from(data, pos)
            pos += head.size
            title = data[pos : pos + title_size].decode("utf-8")
            pos += title_size
            (snippet_size,) = u16.unpack_from(data, pos)
            pos += 2
            snippet = data[pos : pos + snippet_size].decode("utf-8")
            pos += snippet_size
            if pos >= end:
                raise FormatError("index shard is truncated")
            out.append(IndexEntry(rid, revision, c_hash, updated, title, snippet, data[pos]))
            pos += 1
    except struct.error:
        raise FormatError("index shard is truncated") from None
    except UnicodeDecodeError:
        raise FormatError("index text is not UTF-8") from None
    if pos != end:
        raise FormatError("unexpected trailing bytes")
    return out


def _aad(account_id: bytes, collection_id: bytes, header: bytes) -> bytes:
    return length_prefixed(INDEX_LABEL, account_id, collection_id, header)


def seal_shards(
    keys: IndexKeys,
    account_id: bytes,
    collection_id: bytes,
    shards: Mapping[int, Sequence[IndexEntry]],
    generation: int,
) -> dict[int, bytes]:
    """Seal the given shards (one batched AEAD call). ``generation`` grows with every write so an old shard blob put
    back in storage is recognised as older."""
    items, headers, numbers = [], [], []
    nonces = primitives.randombytes(len(shards) * primitives.AEAD_NONCE_SIZE)
    for n, (number, entries) in enumerate(sorted(shards.items())):
        if not 0 <= number < SHARD_COUNT:
            raise FormatError("no such index shard")
        header = Writer().u8(INDEX_FORMAT_V1).u16(number).u64(generation).finish()
        nonce = nonces[n * primitives.AEAD_NONCE_SIZE : (n + 1) * primitives.AEAD_NONCE_SIZE]
        plaintext = padding.pad(int(RecordType.INDEX_SHARD), _encode_entries(entries))
        items.append((plaintext, _aad(account_id, collection_id, header), nonce, keys.seal))
        headers.append(header + nonce)
        numbers.append(number)
    sealed = primitives.aead_encrypt_batch(items)
    return {number: prefix + ct for number, prefix, ct in zip(numbers, headers, sealed, strict=True)}


def open_shards(
    keys: IndexKeys, account_id: bytes, collection_id: bytes, blobs: Mapping[int, bytes]
) -> dict[int, list[IndexEntry] | VellumError]:
    """Open shards (one batched AEAD call); a shard that fails gives its error, to be rebuilt from the notes."""
    results: dict[int, list[IndexEntry] | VellumError] = {}
    pending = []
    for number, blob in blobs.items():
        try:
            r = Reader(blob)
            if r.u8() != INDEX_FORMAT_V1:
                raise UnsupportedVersion("unknown index format")
            if r.u16() != number:
                raise FormatError("the index shard is stored under another number")
            r.u64()
            nonce = r.fixed(primitives.AEAD_NONCE_SIZE)
            ct = r.rest()
            pending.append((number, (ct, _aad(account_id, collection_id, blob[:HEADER_SIZE]), nonce, keys.seal)))
        except VellumError as exc:
            results[number] = exc
    for (number, _), plaintext in zip(pending, primitives.aead_decrypt_batch([p for _, p in pending]), strict=True):
        if plaintext is None:
            results[number] = DecryptionError("an index shard did not open; it will be rebuilt")
            continue
        try:
            record_type, payload = padding.unpad(plaintext)
            if record_type != RecordType.INDEX_SHARD:
                raise FormatError("not an index shard")
            entries = _decode_entries(payload)
            if any(keys.shard_of(e.record_id) != number for e in entries):
                raise FormatError("an index entry sits in the wrong shard")
            results[number] = entries
        except VellumError as exc:
            results[number] = exc
    return results


def shard_generation(blob: bytes) -> int:
    r = Reader(blob[:HEADER_SIZE])
    r.u8()
    r.u16()
    return r.u64()


def group(keys: IndexKeys, entries: Iterable[IndexEntry]) -> dict[int, list[IndexEntry]]:
    """Entries by shard number (every shard present, empty ones included)."""
    shards: dict[int, list[IndexEntry]] = {n: [] for n in range(SHARD_COUNT)}
    for e in entries:
        shards[keys.shard_of(e.record_id)].append(e)
    return shards
