"""Byte-equality smoke cases for the primitives layer, run by BOTH backends.

The same functions run in CPython (PyNaCl backend) inside the pytest wrapper and in Pyodide (libsodium.js backend)
through ``run.mjs``; the wrapper asserts the results are equal. Inputs are fixed (seeds, nonces, salts), so every
output is deterministic except sealed boxes, which are checked across: each side opens the other's box.
Standard library and ``pycore.primitives`` only.
"""

from __future__ import annotations

import time

from pycore import primitives as p
from pycore.errors import VellumError

KEY = bytes(range(32))
NONCE = bytes(range(100, 124))
AAD = b"vellum/v1/test-aad"
MESSAGES = {"empty": b"", "one": b"\x00", "note": b"a short note", "1KiB": bytes(i % 251 for i in range(1024))}
SIGN_SEED = bytes(range(1, 33))
BOX_SEED = bytes(range(2, 34))
PEER_SEED = bytes(range(3, 35))
SEALED_PLAINTEXT = b"slot: label, account id, slot id, AK"
PASSPHRASE = b"correct horse battery staple"
ARGON_SALT = bytes(range(16))
ARGON_OPSLIMIT = 3
ARGON_MEMLIMIT = 64 * 1024 * 1024  # the product floor: 64 MiB, t=3
# A low-order X25519 point (Wycheproof/RFC 7748): any scalar times it is all zero, which must be refused.
LOW_ORDER_POINT = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


def _hex(value: bytes) -> str:
    return bytes(value).hex()


def compute() -> dict[str, str]:
    """Deterministic outputs, hex, keyed by case name."""
    out: dict[str, str] = {"backend": p.backend_name()}
    for name, message in MESSAGES.items():
        ciphertext = p.crypto_aead_xchacha20poly1305_ietf_encrypt(message, AAD, NONCE, KEY)
        out[f"aead/{name}"] = _hex(ciphertext)
        opened = p.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, AAD, NONCE, KEY)
        out[f"aead/{name}/roundtrip"] = str(opened == message)
    items = [(bytes([i]) * (i * 37), AAD + bytes([i]), bytes([i]) * 24, bytes([255 - i]) * 32) for i in range(12)]
    sealed = p.aead_encrypt_batch(items)
    out["aead-batch/encrypt"] = _hex(b"".join(sealed))
    out["aead-batch/equals-single"] = str(
        sealed == [p.crypto_aead_xchacha20poly1305_ietf_encrypt(*item) for item in items]
    )
    out["aead-batch/roundtrip"] = str(
        p.aead_decrypt_batch([(c, a, n, k) for c, (_, a, n, k) in zip(sealed, items, strict=True)])
        == [m for m, _, _, _ in items]
    )

    sign_pk, sign_sk = p.crypto_sign_seed_keypair(SIGN_SEED)
    out["ed25519/public"] = _hex(sign_pk)
    out["ed25519/secret"] = _hex(sign_sk)
    signature = p.crypto_sign_detached(b"vellum/v1/request " + bytes(range(64)), sign_sk)
    out["ed25519/signature"] = _hex(signature)
    p.crypto_sign_verify_detached(signature, b"vellum/v1/request " + bytes(range(64)), sign_pk)

    box_pk, box_sk = p.crypto_box_seed_keypair(BOX_SEED)
    peer_pk, peer_sk = p.crypto_box_seed_keypair(PEER_SEED)
    out["x25519/public"] = _hex(box_pk)
    out["x25519/secret"] = _hex(box_sk)
    out["x25519/scalarmult-base"] = _hex(p.crypto_scalarmult_base(box_sk))
    out["x25519/shared"] = _hex(p.crypto_scalarmult(box_sk, peer_pk))
    out["x25519/shared-symmetric"] = str(p.crypto_scalarmult(peer_sk, box_pk) == p.crypto_scalarmult(box_sk, peer_pk))
    out["sealed-box/roundtrip"] = str(p.crypto_box_seal_open(p.crypto_box_seal(b"x", box_pk), box_pk, box_sk) == b"x")

    started = time.perf_counter()
    argon = p.crypto_pwhash_argon2id(32, PASSPHRASE, ARGON_SALT, ARGON_OPSLIMIT, ARGON_MEMLIMIT)
    out["argon2id/64MiB-t3"] = _hex(argon)
    out["argon2id/ms"] = f"{(time.perf_counter() - started) * 1000:.0f}"  # reported, not compared
    out["argon2id/minimum"] = _hex(p.crypto_pwhash_argon2id(16, b"", ARGON_SALT, 1, 8192))

    for subkey_id in (0, 1, 2**63):
        out[f"kdf/{subkey_id}"] = _hex(p.crypto_kdf_derive_from_key(32, subkey_id, b"vellumv1", KEY))
    out["kdf/64"] = _hex(p.crypto_kdf_derive_from_key(64, 7, b"KDF test", KEY))
    out["generichash"] = _hex(p.crypto_generichash(b"vellum", 32, KEY))
    out["sha256"] = _hex(p.sha256(b"vellum"))
    return out


NOT_COMPARED = ("backend", "argon2id/ms")


def seal_for_peer() -> str:
    """A sealed box to the fixed X25519 key: the other backend must open it."""
    box_pk, _ = p.crypto_box_seed_keypair(BOX_SEED)
    return _hex(p.crypto_box_seal(SEALED_PLAINTEXT, box_pk))


def open_from_peer(sealed_hex: str) -> str:
    box_pk, box_sk = p.crypto_box_seed_keypair(BOX_SEED)
    return _hex(p.crypto_box_seal_open(bytes.fromhex(sealed_hex), box_pk, box_sk))


def _error_of(call) -> str:  # type: ignore[no-untyped-def]
    try:
        call()
    except VellumError as exc:
        return type(exc).__name__
    except Exception as exc:  # a foreign exception type is a failure of the backend's mapping
        return f"FOREIGN {type(exc).__module__}.{type(exc).__name__}"
    return "no error"


def failures() -> dict[str, object]:
    """Each failure must surface as the same pycore error in both backends (never a JsException or CryptoError)."""
    ciphertext = p.crypto_aead_xchacha20poly1305_ietf_encrypt(b"note", AAD, NONCE, KEY)
    forged = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
    sign_pk, sign_sk = p.crypto_sign_seed_keypair(SIGN_SEED)
    signature = p.crypto_sign_detached(b"message", sign_sk)
    box_pk, box_sk = p.crypto_box_seed_keypair(BOX_SEED)
    sealed = bytearray(p.crypto_box_seal(b"slot", box_pk))
    sealed[40] ^= 1
    other_pk, other_sk = p.crypto_box_seed_keypair(PEER_SEED)
    batch = [(ciphertext, AAD, NONCE, KEY), (forged, AAD, NONCE, KEY), (b"short", AAD, NONCE, KEY)]
    return {
        "aead/forged-tag": _error_of(lambda: p.crypto_aead_xchacha20poly1305_ietf_decrypt(forged, AAD, NONCE, KEY)),
        "aead/wrong-aad": _error_of(lambda: p.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, b"x", NONCE, KEY)),
        "aead/wrong-key": _error_of(
            lambda: p.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, AAD, NONCE, bytes(32))
        ),
        "aead/short": _error_of(lambda: p.crypto_aead_xchacha20poly1305_ietf_decrypt(b"short", AAD, NONCE, KEY)),
        "aead/batch-with-failures": [None if r is None else _hex(r) for r in p.aead_decrypt_batch(batch)],
        "sign/bad-signature": _error_of(
            lambda: p.crypto_sign_verify_detached(bytes([signature[0] ^ 1]) + signature[1:], b"message", sign_pk)
        ),
        "sign/other-message": _error_of(lambda: p.crypto_sign_verify_detached(signature, b"messagE", sign_pk)),
        "sign/all-zero": _error_of(lambda: p.crypto_sign_verify_detached(bytes(64), b"message", sign_pk)),
        "sign/wrong-length": _error_of(lambda: p.crypto_sign_verify_detached(signature[:-1], b"message", sign_pk)),
        "x25519/low-order": _error_of(lambda: p.crypto_scalarmult(box_sk, LOW_ORDER_POINT)),
        "x25519/zero-point": _error_of(lambda: p.crypto_scalarmult(box_sk, bytes(32))),
        "sealed-box/damaged": _error_of(lambda: p.crypto_box_seal_open(bytes(sealed), box_pk, box_sk)),
        "sealed-box/wrong-key": _error_of(
            lambda: p.crypto_box_seal_open(p.crypto_box_seal(b"slot", box_pk), other_pk, other_sk)
        ),
        "sealed-box/short": _error_of(lambda: p.crypto_box_seal_open(bytes(47), box_pk, box_sk)),
        "argon2id/below-minimum": _error_of(lambda: p.crypto_pwhash_argon2id(32, b"pw", ARGON_SALT, 0, 8192)),
        "argon2id/huge-memory": _error_of(lambda: p.crypto_pwhash_argon2id(32, b"pw", ARGON_SALT, 1, 2**42)),
        "argon2id/short-salt": _error_of(lambda: p.crypto_pwhash_argon2id(32, b"pw", bytes(8), 3, 8192)),
        "key/wrong-size": _error_of(lambda: p.crypto_aead_xchacha20poly1305_ietf_encrypt(b"", b"", NONCE, bytes(31))),
    }


def bench(count: int = 1000, size: int = 1024, rounds: int = 5) -> dict[str, float]:
    """AEAD throughput through the backend: one batch call vs one call per record (best of ``rounds``)."""
    records = [(p.randombytes(size), b"aad/" + i.to_bytes(4, "big"), p.randombytes(24), KEY) for i in range(count)]

    def best(fn) -> float:  # type: ignore[no-untyped-def]
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return min(times)

    sealed = p.aead_encrypt_batch(records)
    opened_items = [(c, a, n, k) for c, (_, a, n, k) in zip(sealed, records, strict=True)]
    if p.aead_decrypt_batch(opened_items) != [m for m, _, _, _ in records]:
        raise AssertionError("batch round trip failed")
    enc_batch = best(lambda: p.aead_encrypt_batch(records))
    dec_batch = best(lambda: p.aead_decrypt_batch(opened_items))
    dec_single = best(lambda: [p.crypto_aead_xchacha20poly1305_ietf_decrypt(*item) for item in opened_items])
    return {
        "count": count,
        "size": size,
        "encrypt_batch_ms": enc_batch * 1000,
        "decrypt_batch_ms": dec_batch * 1000,
        "decrypt_single_calls_ms": dec_single * 1000,
        "encrypt_batch_records_per_s": count / enc_batch,
        "decrypt_batch_records_per_s": count / dec_batch,
        "decrypt_single_calls_records_per_s": count / dec_single,
    }


def run_conformance(root: str) -> dict[str, object]:
    """The shared conformance suites (tests/conformance), with vectors read from under ``root`` (the repository).

    Under Pyodide ``root`` is the folder ``run.mjs`` copied the suites and vector files into. Each suite's outcome is
    reported (summary or error), so both backends can be compared suite by suite.
    """
    import json
    from pathlib import Path

    base = Path(root)
    outcome: dict[str, object] = {}
    try:
        from tests.conformance import primitives_suite as ps

        fetched = base / ".cache" / "vectors"
        vectors = {name: json.loads((fetched / rel).read_text()) for name, rel in ps.VECTOR_FILES.items()}
        vectors.update({name: json.loads((base / rel).read_text()) for name, rel in ps.COMMITTED_VECTOR_FILES.items()})
        outcome["primitives_suite"] = {"ok": True, "result": ps.run_all(vectors)}
    except Exception as exc:
        outcome["primitives_suite"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    case_files = sorted((base / "tests" / "vectors").glob("*/*.json"))
    if case_files:
        try:
            from tests.conformance import vectors_suite as vs

            cases = [json.loads(path.read_text()) for path in case_files]
            outcome["vectors_suite"] = {"ok": True, "result": vs.run_all(cases)}
        except Exception as exc:
            outcome["vectors_suite"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return outcome
