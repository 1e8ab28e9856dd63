"""The primitives layer: the only code in pycore that reaches a crypto library.

Functions are named after the libsodium calls they stand for. Every length is checked here, before a backend sees the
bytes, and every backend failure comes back as a pycore error (``DecryptionError``, ``SignatureError``, ``InvalidKey``).
Two backends implement the same small surface (``_backend.Backend``): PyNaCl on CPython and libsodium.js under Pyodide,
chosen automatically; both must give identical bytes, which one shared test suite checks.

BLAKE2b (generic hash and the ``crypto_kdf`` construction), SHA-256 and randomness come from Python's standard library
in both worlds: ``hashlib.blake2b`` with salt and personalisation *is* libsodium's
``crypto_kdf_blake2b_derive_from_key``, and ``secrets`` draws from the OS (``crypto.getRandomValues`` in the browser),
which is also much faster under Pyodide than libsodium.js's byte-at-a-time ``randombytes_buf``.
"""

from __future__ import annotations

import hashlib
import secrets
import sys
from collections.abc import Callable, Sequence

from pycore.errors import DecryptionError, InvalidKey, KdfParamsError

from ._backend import Backend

AEAD_KEY_SIZE = 32
AEAD_NONCE_SIZE = 24
AEAD_TAG_SIZE = 16
KDF_KEY_SIZE = 32
KDF_CONTEXT_SIZE = 8
KDF_SUBKEY_MIN = 16
KDF_SUBKEY_MAX = 64
BOX_PUBLIC_KEY_SIZE = 32
BOX_SECRET_KEY_SIZE = 32
BOX_SEED_SIZE = 32
SEAL_OVERHEAD = 48
SCALARMULT_SIZE = 32
SIGN_PUBLIC_KEY_SIZE = 32
SIGN_SECRET_KEY_SIZE = 64
SIGN_SEED_SIZE = 32
SIGNATURE_SIZE = 64
PWHASH_SALT_SIZE = 16
PWHASH_OUT_MIN = 16
GENERICHASH_SIZE = 32
SHA256_SIZE = 32

AeadItem = tuple[bytes, bytes, bytes, bytes]
"""(message or ciphertext, associated data, nonce, key) — one element of a batch call."""


def _load_backend() -> Backend:
    if sys.platform == "emscripten":
        from . import _sodiumjs

        return _sodiumjs.SodiumJsBackend()
    from . import _nacl

    return _nacl.NaclBackend()


_backend: Backend = _load_backend()


def backend_name() -> str:
    return _backend.name


def _check(name: str, value: bytes, size: int) -> None:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidKey(f"{name} must be bytes")
    if len(value) != size:
        raise InvalidKey(f"{name} must be {size} bytes, got {len(value)}")


# --- randomness -------------------------------------------------------------------------------------------------------

_random: Callable[[int], bytes] = secrets.token_bytes


def randombytes(size: int) -> bytes:
    """Random bytes from the operating system (or the browser's ``getRandomValues``)."""
    if size < 0:
        raise ValueError("size must not be negative")
    return _random(size)


# --- hashing ----------------------------------------------------------------------------------------------------------


def crypto_generichash(message: bytes, size: int = GENERICHASH_SIZE, key: bytes = b"") -> bytes:
    """BLAKE2b, as libsodium's ``crypto_generichash``."""
    return hashlib.blake2b(message, digest_size=size, key=key).digest()


def sha256(message: bytes) -> bytes:
    return hashlib.sha256(message).digest()


def crypto_kdf_derive_from_key(subkey_size: int, subkey_id: int, context: bytes, key: bytes) -> bytes:
    """libsodium's ``crypto_kdf_derive_from_key``: BLAKE2b, the subkey id as salt and the context as personalisation.

    Proved equal to libsodium's published outputs by ``tests/vectors/libsodium-kdf.json``.
    """
    _check("KDF key", key, KDF_KEY_SIZE)
    if len(context) != KDF_CONTEXT_SIZE:
        raise InvalidKey(f"KDF context must be {KDF_CONTEXT_SIZE} bytes")
    if not KDF_SUBKEY_MIN <= subkey_size <= KDF_SUBKEY_MAX:
        raise InvalidKey(f"KDF subkey size must be {KDF_SUBKEY_MIN}..{KDF_SUBKEY_MAX} bytes")
    if not 0 <= subkey_id < 2**64:
        raise InvalidKey("KDF subkey id must fit in 64 bits")
    salt = subkey_id.to_bytes(8, "little") + bytes(8)
    person = bytes(context) + bytes(8)
    return hashlib.blake2b(b"", digest_size=subkey_size, key=bytes(key), salt=salt, person=person).digest()


# --- authenticated encryption -----------------------------------------------------------------------------------------


def crypto_aead_xchacha20poly1305_ietf_encrypt(message: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    """XChaCha20-Poly1305-IETF; associated data is required (pass ``b""`` only on purpose)."""
    _check("AEAD key", key, AEAD_KEY_SIZE)
    _check("AEAD nonce", nonce, AEAD_NONCE_SIZE)
    return _backend.aead_encrypt(bytes(message), bytes(aad), bytes(nonce), bytes(key))


def crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    _check("AEAD key", key, AEAD_KEY_SIZE)
    _check("AEAD nonce", nonce, AEAD_NONCE_SIZE)
    if len(ciphertext) < AEAD_TAG_SIZE:
        raise DecryptionError("ciphertext is shorter than its tag")
    return _backend.aead_decrypt(bytes(ciphertext), bytes(aad), bytes(nonce), bytes(key))


def _check_batch(items: Sequence[AeadItem], *, decrypt: bool) -> list[AeadItem]:
    # Hot path (thousands of records per unlock under Pyodide): plain length checks, a copy only for non-bytes.
    out: list[AeadItem] = []
    append = out.append
    for data, aad, nonce, key in items:
        if len(key) != AEAD_KEY_SIZE or len(nonce) != AEAD_NONCE_SIZE:
            _check("AEAD key", key, AEAD_KEY_SIZE)
            _check("AEAD nonce", nonce, AEAD_NONCE_SIZE)
        if decrypt and len(data) < AEAD_TAG_SIZE:
            data = b""  # too short to hold a tag: the backend reports it as a failure like any other
        if type(data) is bytes and type(aad) is bytes and type(nonce) is bytes and type(key) is bytes:
            append((data, aad, nonce, key))
        else:
            append((bytes(data), bytes(aad), bytes(nonce), bytes(key)))
    return out


def aead_encrypt_batch(items: Sequence[AeadItem]) -> list[bytes]:
    """Encrypt many messages with one crossing into the backend (one bridge crossing under Pyodide)."""
    if not items:
        return []
    return _backend.aead_encrypt_batch(_check_batch(items, decrypt=False))


def aead_decrypt_batch(items: Sequence[AeadItem]) -> list[bytes | None]:
    """Decrypt many ciphertexts with one crossing; an item that fails to open is ``None`` (callers raise per item)."""
    if not items:
        return []
    return _backend.aead_decrypt_batch(_check_batch(items, decrypt=True))


# --- passphrase hashing -----------------------------------------------------------------------------------------------


def crypto_pwhash_argon2id(size: int, passphrase: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    """Argon2id v1.3 (libsodium's ``crypto_pwhash`` with ``ALG_ARGON2ID13``); ``memlimit`` is in **bytes**."""
    _check("Argon2id salt", salt, PWHASH_SALT_SIZE)
    if size < PWHASH_OUT_MIN:
        raise KdfParamsError(f"Argon2id output must be at least {PWHASH_OUT_MIN} bytes")
    if opslimit < 1 or memlimit < 8192:
        raise KdfParamsError("Argon2id parameters are below libsodium's minimum")
    return _backend.argon2id(size, bytes(passphrase), bytes(salt), opslimit, memlimit)


# --- X25519 -----------------------------------------------------------------------------------------------------------


def crypto_box_seed_keypair(seed: bytes) -> tuple[bytes, bytes]:
    """(public key, secret key) from a 32-byte seed, as libsodium's ``crypto_box_seed_keypair``."""
    _check("X25519 seed", seed, BOX_SEED_SIZE)
    return _backend.box_seed_keypair(bytes(seed))


def crypto_scalarmult_base(secret_key: bytes) -> bytes:
    _check("X25519 secret key", secret_key, BOX_SECRET_KEY_SIZE)
    return _backend.scalarmult_base(bytes(secret_key))


def crypto_scalarmult(secret_key: bytes, public_key: bytes) -> bytes:
    """X25519; an all-zero result (a low-order public key) is refused with ``InvalidKey``."""
    _check("X25519 secret key", secret_key, BOX_SECRET_KEY_SIZE)
    _check("X25519 public key", public_key, BOX_PUBLIC_KEY_SIZE)
    return _backend.scalarmult(bytes(secret_key), bytes(public_key))


def crypto_box_seal(message: bytes, public_key: bytes) -> bytes:
    _check("X25519 public key", public_key, BOX_PUBLIC_KEY_SIZE)
    return _backend.box_seal(bytes(message), bytes(public_key))


def crypto_box_seal_open(ciphertext: bytes, public_key: bytes, secret_key: bytes) -> bytes:
    _check("X25519 public key", public_key, BOX_PUBLIC_KEY_SIZE)
    _check("X25519 secret key", secret_key, BOX_SECRET_KEY_SIZE)
    if len(ciphertext) < SEAL_OVERHEAD:
        raise DecryptionError("sealed box is shorter than its overhead")
    return _backend.box_seal_open(bytes(ciphertext), bytes(public_key), bytes(secret_key))


# --- Ed25519 ----------------------------------------------------------------------------------------------------------


def crypto_sign_seed_keypair(seed: bytes) -> tuple[bytes, bytes]:
    """(public key, 64-byte secret key) from a 32-byte seed."""
    _check("Ed25519 seed", seed, SIGN_SEED_SIZE)
    return _backend.sign_seed_keypair(bytes(seed))


def crypto_sign_detached(message: bytes, secret_key: bytes) -> bytes:
    _check("Ed25519 secret key", secret_key, SIGN_SECRET_KEY_SIZE)
    return _backend.sign_detached(bytes(message), bytes(secret_key))


def crypto_sign_verify_detached(signature: bytes, message: bytes, public_key: bytes) -> None:
    """Return quietly when the signature is valid, else raise ``SignatureError`` (never a bool to forget to check)."""
    from pycore.errors import SignatureError

    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError("signature has the wrong length")
    _check("Ed25519 public key", public_key, SIGN_PUBLIC_KEY_SIZE)
    _backend.sign_verify_detached(bytes(signature), bytes(message), bytes(public_key))


def memcmp(a: bytes, b: bytes) -> bool:
    """Constant-time comparison for secrets and MACs."""
    import hmac

    return hmac.compare_digest(a, b)
