"""Records: round trips, PADME, and tamper evidence — any single bit flip gives a typed error, never wrong plaintext."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycore import envelope, padding
from pycore.envelope import EpochKey, PlainRecord, RecordScope, RecordType, SealedRecord
from pycore.errors import DecryptionError, FormatError, RecordFork, RecordRollback, UnknownKey, VellumError

SCOPE = RecordScope(b"A" * 16, b"C" * 16)
KEY = EpochKey(1, b"K" * 32)
KEYS = {1: KEY.key}


def seal(payload: bytes, revision: int = 1, prev: bytes = envelope.NO_PREVIOUS, rid: bytes = b"R" * 16) -> SealedRecord:
    return envelope.seal_record(SCOPE, KEY, PlainRecord(rid, revision, prev, RecordType.NOTE, payload))


@given(st.binary(max_size=5000), st.integers(min_value=1, max_value=2**40))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip(payload: bytes, revision: int) -> None:
    prev = envelope.NO_PREVIOUS if revision == 1 else b"p" * 32
    sealed = seal(payload, revision, prev)
    opened = envelope.open_record(SCOPE, KEYS, sealed)
    assert (opened.payload, opened.revision, opened.prev_hash) == (payload, revision, prev)
    assert opened.record_type == RecordType.NOTE and not opened.deleted


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_any_single_bit_flip_is_detected(data: st.DataObject) -> None:
    sealed = seal(b"the quick brown fox " * 7)
    target = data.draw(st.sampled_from(["content", "wrapped_key"]))
    blob = bytearray(getattr(sealed, target))
    index = data.draw(st.integers(0, len(blob) * 8 - 1))
    blob[index // 8] ^= 1 << (index % 8)
    tampered = SealedRecord(
        sealed.record_id,
        sealed.revision,
        sealed.epoch,
        bytes(blob) if target == "wrapped_key" else sealed.wrapped_key,
        bytes(blob) if target == "content" else sealed.content,
    )
    result = envelope.open_records(SCOPE, KEYS, [tampered])[0]
    assert isinstance(result, VellumError), "a tampered record must never open"


def test_unique_keys_and_nonces_per_revision() -> None:
    sealed = envelope.seal_records(
        SCOPE, KEY, [PlainRecord(bytes([i]) * 16, 1, envelope.NO_PREVIOUS, RecordType.NOTE, b"same") for i in range(50)]
    )
    nonces = {s.content[43:67] for s in sealed} | {s.wrapped_key[13:37] for s in sealed}
    assert len(nonces) == 100
    assert len({s.content for s in sealed}) == 50


def test_batch_isolates_bad_records() -> None:
    good, other = seal(b"good"), seal(b"other", rid=b"S" * 16)
    bad = SealedRecord(other.record_id, 1, 1, good.wrapped_key, other.content)
    unknown = SealedRecord(
        good.record_id, 1, 9, good.wrapped_key[:1] + (9).to_bytes(4, "big") + good.wrapped_key[5:], good.content
    )
    results = envelope.open_records(SCOPE, KEYS, [good, bad, unknown, other])
    assert results[0].payload == b"good" and results[3].payload == b"other"  # type: ignore[union-attr]
    assert isinstance(results[1], DecryptionError)
    assert isinstance(results[2], UnknownKey)


def test_tombstone_and_high_water() -> None:
    r1 = seal(b"v1")
    r2 = seal(b"v2", 2, r1.content_hash)
    tomb = envelope.seal_record(SCOPE, KEY, PlainRecord(r1.record_id, 3, r2.content_hash, RecordType.TOMBSTONE, b""))
    opened = envelope.open_record(SCOPE, KEYS, tomb)
    assert opened.deleted and opened.payload == b""
    mark = envelope.HighWater(2, r2.content_hash)
    assert mark.check(tomb) is True
    assert mark.check(r2) is False
    with pytest.raises(RecordRollback):
        mark.check(r1)
    with pytest.raises(RecordFork):
        mark.check(seal(b"other v2", 2, r1.content_hash))
    with pytest.raises(RecordFork):
        envelope.HighWater(1, r1.content_hash).check(seal(b"v2", 2, b"x" * 32))


def test_rewrap_needs_the_content_to_open() -> None:
    r1 = seal(b"v1")
    broken = SealedRecord(r1.record_id, 1, 1, r1.wrapped_key, r1.content[:-1] + bytes([r1.content[-1] ^ 1]))
    new = EpochKey(2, b"N" * 32)
    results = envelope.rewrap_records(SCOPE, KEYS, new, [r1, broken])
    assert isinstance(results[0], SealedRecord) and isinstance(results[1], DecryptionError)
    assert envelope.open_record(SCOPE, {2: new.key}, results[0]).payload == b"v1"
    # A relay offering a wrapped key that does not open the content is refused.
    offered = SealedRecord(r1.record_id, r1.revision, 2, b"\x01" + b"\x00" * 76, r1.content)
    with pytest.raises(VellumError):
        envelope.open_record(SCOPE, {1: KEY.key, 2: new.key}, offered)


@given(st.integers(min_value=0, max_value=10**7))
def test_padme_bounds(length: int) -> None:
    padded = padding.padme(length)
    assert padded >= length
    assert padded - length <= max(1, length * 0.12)


@given(st.binary(max_size=3000), st.integers(0, 255))
def test_pad_round_trip(payload: bytes, record_type: int) -> None:
    assert padding.unpad(padding.pad(record_type, payload)) == (record_type, payload)


def test_unpad_rejects_non_zero_padding() -> None:
    padded = bytearray(padding.pad(1, b"x" * 100))
    padded[-1] = 1
    with pytest.raises(FormatError):
        padding.unpad(bytes(padded))
