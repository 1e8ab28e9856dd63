"""The sealed note index and the export file."""

from __future__ import annotations

import collections

import pytest

from pycore import export, index, primitives
from pycore.errors import DecryptionError, FormatError, VellumError

KEYS = index.IndexKeys.from_account_key(b"k" * 32)
ACC, COL = b"a" * 16, b"c" * 16


def entries(n: int) -> list[index.IndexEntry]:
    return [
        index.IndexEntry(primitives.randombytes(16), 1, b"h" * 32, i, f"Title {i}", index.snippet_of("body " * 50))
        for i in range(n)
    ]


def test_shards_round_trip_and_spread() -> None:
    items = entries(6400)
    shards = index.group(KEYS, items)
    assert set(shards) == set(range(index.SHARD_COUNT))
    sizes = collections.Counter({n: len(v) for n, v in shards.items()})
    assert min(sizes.values()) > 50 and max(sizes.values()) < 150, "the keyed hash spreads ids evenly"
    blobs = index.seal_shards(KEYS, ACC, COL, shards, 3)
    opened = index.open_shards(KEYS, ACC, COL, blobs)
    got = sorted((e for v in opened.values() if isinstance(v, list) for e in v), key=lambda e: e.record_id)
    assert got == sorted(items, key=lambda e: e.record_id)
    assert all(index.shard_generation(b) == 3 for b in blobs.values())


def test_a_bad_shard_is_reported_alone_for_rebuild() -> None:
    shards = index.group(KEYS, entries(200))
    blobs = index.seal_shards(KEYS, ACC, COL, shards, 1)
    blobs[5] = blobs[5][:-1] + bytes([blobs[5][-1] ^ 1])
    blobs[6] = blobs[7]
    opened = index.open_shards(KEYS, ACC, COL, blobs)
    assert isinstance(opened[5], DecryptionError)
    assert isinstance(opened[6], FormatError)
    assert sum(isinstance(v, VellumError) for v in opened.values()) == 2
    other_keys = index.IndexKeys.from_account_key(b"o" * 32)
    assert all(isinstance(v, VellumError) for v in index.open_shards(other_keys, ACC, COL, blobs).values())


def test_snippet_folds_whitespace_and_is_short() -> None:
    assert index.snippet_of("  a\n\n b\tc ") == "a b c"
    assert len(index.snippet_of("word " * 1000)) == index.SNIPPET_LENGTH


def test_export_round_trip_many_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "CHUNK_SIZE", 300)
    notes = [export.ExportedNote(f"id{i}", f"T{i}", "body ✓ " * 20, i) for i in range(30)]
    data = export.write_export(notes, "export pass", now=5)
    info = export.read_export(data, "export pass")
    assert info.notes == notes and info.created_at == 5
    # Dropping the last chunk and marking nothing else: detected.
    r = export.HEADER_SIZE
    count = int.from_bytes(data[r - 4 : r], "big")
    assert count > 3
    fewer = data[: r - 4] + (count - 1).to_bytes(4, "big") + data[r:]
    with pytest.raises(VellumError):
        export.read_export(fewer, "export pass")

