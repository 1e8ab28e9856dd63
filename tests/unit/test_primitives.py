"""The primitives layer: the shared conformance suite (Wycheproof, RFC, libsodium vectors) and Hypothesis properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycore import primitives
from pycore.errors import DecryptionError, InvalidKey, SignatureError
from tests.conformance import primitives_suite as suite

EXPECTED = suite.EXPECTED_SUMMARIES

# The machine is small and shared: no per-example deadline, a modest number of examples.
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the shared suite -------------------------------------------------------------------------------------------------


def test_backend_is_pynacl_on_cpython() -> None:
    assert primitives.backend_name() == "pynacl"


def test_xchacha20poly1305_wycheproof(vectors: dict[str, Any]) -> None:
    assert suite.check_xchacha20poly1305_wycheproof(vectors["xchacha20_poly1305"]) == EXPECTED["xchacha20_poly1305"]


def test_x25519_wycheproof(vectors: dict[str, Any]) -> None:
    assert suite.check_x25519_wycheproof(vectors["x25519"]) == EXPECTED["x25519"]


def test_ed25519_wycheproof(vectors: dict[str, Any]) -> None:
    assert suite.check_ed25519_wycheproof(vectors["ed25519"]) == EXPECTED["ed25519"]


def test_libsodium_kdf_vectors(committed_vectors: dict[str, Any]) -> None:
    assert suite.check_kdf_vectors(committed_vectors["libsodium_kdf"]) == EXPECTED["libsodium_kdf"]


@pytest.mark.parametrize(
    "name",
    [
        "aead_bit_flips",
        "aead_batch",
        "x25519_rfc7748",
        "ed25519_rfc8032",
        "seed_keypairs",
        "sealed_boxes",
        "length_refusals",
    ],
)
def test_vector_free_checks(name: str) -> None:
    assert getattr(suite, f"check_{name}")() == EXPECTED[name]


def test_run_all_matches_expected_summaries(vectors: dict[str, Any], committed_vectors: dict[str, Any]) -> None:
    """The entry point the Pyodide harness calls gives exactly the pinned summaries (Argon2id included, ~1-2 s)."""
    assert suite.run_all({**vectors, **committed_vectors}) == EXPECTED


def test_suite_reports_a_wrong_vector_as_assertion_error(vectors: dict[str, Any]) -> None:
    """A corrupted expectation must fail loudly, naming the case: the suite is not vacuous."""
    data = vectors["xchacha20_poly1305"]
    first = data["testGroups"][0]["tests"][0]
    tampered_test = {**first, "ct": ("00" if first["ct"][:2] != "00" else "01") + first["ct"][2:]}
    tampered = {**data, "testGroups": [{**data["testGroups"][0], "tests": [tampered_test]}], "numberOfTests": 1}
    with pytest.raises(AssertionError, match=f"tcId {first['tcId']}"):
        suite.check_xchacha20poly1305_wycheproof(tampered)


# --- AEAD properties --------------------------------------------------------------------------------------------------

keys = st.binary(min_size=primitives.AEAD_KEY_SIZE, max_size=primitives.AEAD_KEY_SIZE)
nonces = st.binary(min_size=primitives.AEAD_NONCE_SIZE, max_size=primitives.AEAD_NONCE_SIZE)
messages = st.binary(max_size=512)
aads = st.binary(max_size=64)
encrypt = primitives.crypto_aead_xchacha20poly1305_ietf_encrypt
decrypt = primitives.crypto_aead_xchacha20poly1305_ietf_decrypt


@PROPERTY
@given(message=messages, aad=aads, nonce=nonces, key=keys)
def test_aead_round_trip(message: bytes, aad: bytes, nonce: bytes, key: bytes) -> None:
    sealed = encrypt(message, aad, nonce, key)
    assert len(sealed) == len(message) + primitives.AEAD_TAG_SIZE
    assert decrypt(sealed, aad, nonce, key) == message


@PROPERTY
@given(message=messages, aad=aads, nonce=nonces, key=keys, data=st.data())
def test_aead_any_single_bit_flip_is_refused(
    message: bytes, aad: bytes, nonce: bytes, key: bytes, data: st.DataObject
) -> None:
    sealed = encrypt(message, aad, nonce, key)
    parts = {"ciphertext": sealed, "aad": aad, "nonce": nonce}
    target = data.draw(st.sampled_from([name for name, value in parts.items() if value]), label="target")
    bit = data.draw(st.integers(0, len(parts[target]) * 8 - 1), label="bit")
    flipped = bytearray(parts[target])
    flipped[bit // 8] ^= 1 << (bit % 8)
    parts[target] = bytes(flipped)
    with pytest.raises(DecryptionError):
        decrypt(parts["ciphertext"], parts["aad"], parts["nonce"], key)


@PROPERTY
@given(size=st.integers(0, 80).filter(lambda n: n != primitives.AEAD_KEY_SIZE), nonce=nonces)
def test_aead_wrong_key_size_is_invalid_key(size: int, nonce: bytes) -> None:
    with pytest.raises(InvalidKey):
        encrypt(b"m", b"", nonce, bytes(size))
    with pytest.raises(InvalidKey):
        decrypt(bytes(32), b"", nonce, bytes(size))
    with pytest.raises(InvalidKey):
        primitives.aead_decrypt_batch([(bytes(32), b"", nonce, bytes(size))])


@PROPERTY
@given(size=st.integers(0, 80).filter(lambda n: n != primitives.AEAD_NONCE_SIZE), key=keys)
def test_aead_wrong_nonce_size_is_invalid_key(size: int, key: bytes) -> None:
    with pytest.raises(InvalidKey):
        encrypt(b"m", b"", bytes(size), key)
    with pytest.raises(InvalidKey):
        decrypt(bytes(32), b"", bytes(size), key)
    with pytest.raises(InvalidKey):
        primitives.aead_encrypt_batch([(b"m", b"", bytes(size), key)])


@PROPERTY
@given(size=st.integers(0, primitives.AEAD_TAG_SIZE - 1), nonce=nonces, key=keys)
def test_aead_ciphertext_shorter_than_tag(size: int, nonce: bytes, key: bytes) -> None:
    with pytest.raises(DecryptionError):
        decrypt(bytes(size), b"", nonce, key)
    assert primitives.aead_decrypt_batch([(bytes(size), b"", nonce, key)]) == [None]


items = st.lists(st.tuples(messages, aads, nonces, keys), min_size=1, max_size=8)


@PROPERTY
@given(batch=items)
def test_batch_equals_single_calls(batch: list[primitives.AeadItem]) -> None:
    sealed = primitives.aead_encrypt_batch(batch)
    assert sealed == [encrypt(*item) for item in batch]
    opened = primitives.aead_decrypt_batch([(c, a, n, k) for c, (_m, a, n, k) in zip(sealed, batch, strict=True)])
    assert opened == [m for m, _a, _n, _k in batch]


@PROPERTY
@given(batch=items, data=st.data())
def test_batch_tampered_item_is_none_only_at_its_position(
    batch: list[primitives.AeadItem], data: st.DataObject
) -> None:
    sealed = primitives.aead_encrypt_batch(batch)
    to_open = [(c, a, n, k) for c, (_m, a, n, k) in zip(sealed, batch, strict=True)]
    position = data.draw(st.integers(0, len(to_open) - 1), label="position")
    c, a, n, k = to_open[position]
    bit = data.draw(st.integers(0, len(c) * 8 - 1), label="bit")
    flipped = bytearray(c)
    flipped[bit // 8] ^= 1 << (bit % 8)
    to_open[position] = (bytes(flipped), a, n, k)
    expected: list[bytes | None] = [m for m, _a, _n, _k in batch]
    expected[position] = None
    assert primitives.aead_decrypt_batch(to_open) == expected


# --- sealed boxes, signatures, X25519 ---------------------------------------------------------------------------------

seeds = st.binary(min_size=32, max_size=32)


@PROPERTY
@given(seed=seeds, other=seeds, message=messages)
def test_sealed_box_round_trip_and_wrong_key(seed: bytes, other: bytes, message: bytes) -> None:
    public, secret = primitives.crypto_box_seed_keypair(seed)
    box = primitives.crypto_box_seal(message, public)
    assert primitives.crypto_box_seal_open(box, public, secret) == message
    other_public, other_secret = primitives.crypto_box_seed_keypair(other)
    if other_public != public:
        with pytest.raises(DecryptionError):
            primitives.crypto_box_seal_open(box, other_public, other_secret)


@PROPERTY
@given(seed=seeds, message=messages, data=st.data())
def test_signature_verifies_and_any_message_bit_flip_is_refused(
    seed: bytes, message: bytes, data: st.DataObject
) -> None:
    public, secret = primitives.crypto_sign_seed_keypair(seed)
    signature = primitives.crypto_sign_detached(message, secret)
    primitives.crypto_sign_verify_detached(signature, message, public)
    if message:
        bit = data.draw(st.integers(0, len(message) * 8 - 1), label="bit")
        changed = bytearray(message)
        changed[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(SignatureError):
            primitives.crypto_sign_verify_detached(signature, bytes(changed), public)


@PROPERTY
@given(alice=seeds, bob=seeds)
def test_x25519_agreement_is_symmetric(alice: bytes, bob: bytes) -> None:
    alice_public, alice_secret = primitives.crypto_box_seed_keypair(alice)
    bob_public, bob_secret = primitives.crypto_box_seed_keypair(bob)
    assert primitives.crypto_scalarmult(alice_secret, bob_public) == primitives.crypto_scalarmult(
        bob_secret, alice_public
    )


def test_x25519_low_order_point_is_invalid_key() -> None:
    _public, secret = primitives.crypto_box_seed_keypair(bytes(32))
    for low_order in (bytes(32), (1).to_bytes(32, "little")):
        with pytest.raises(InvalidKey):
            primitives.crypto_scalarmult(secret, low_order)
