"""Unlock factors: passphrase, recovery phrase, passkey and device, each yielding an X25519 key pair for its slot.

The passphrase and recovery factors also yield an Ed25519 login key. Slot and login keys come from one factor secret
through libsodium's KDF with distinct subkey ids and a per-factor context, so they are independent (domain separation):
the relay, which holds the login public key, learns nothing about the slot key. A device factor is a random key pair
whose private bytes never leave the device unwrapped: an injected ``DeviceWrapper`` (a non-extractable WebCrypto AES-GCM
key in the browser) wraps them. SPEC.md §"Factors".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pycore import kdf, primitives
from pycore.errors import DecryptionError, FormatError, InvalidKey

SECRET_SIZE = 32
PRF_OUTPUT_SIZE = 32

# crypto_kdf contexts: exactly 8 bytes each.
PASSPHRASE_CONTEXT = b"VLpassph"
RECOVERY_CONTEXT = b"VLrecovr"
PASSKEY_CONTEXT = b"VLpasskf"
SLOT_SUBKEY_ID = 1
LOGIN_SUBKEY_ID = 2

DEVICE_FACTOR_LABEL = b"vellum/v1/device-factor"


@dataclass(frozen=True)
class BoxKeyPair:
    public: bytes
    secret: bytes = field(repr=False)

    @classmethod
    def from_seed(cls, seed: bytes) -> BoxKeyPair:
        public, secret = primitives.crypto_box_seed_keypair(seed)
        return cls(public, secret)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("key material cannot be pickled")


@dataclass(frozen=True)
class SigningKeyPair:
    public: bytes
    secret: bytes = field(repr=False)  # libsodium's 64-byte form (seed || public)

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKeyPair:
        public, secret = primitives.crypto_sign_seed_keypair(seed)
        return cls(public, secret)

    @property
    def seed(self) -> bytes:
        return self.secret[:32]

    def sign(self, message: bytes) -> bytes:
        return primitives.crypto_sign_detached(message, self.secret)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("key material cannot be pickled")


@dataclass(frozen=True)
class LoginFactorKeys:
    """Keys of a factor that can also log in: the passphrase or the recovery phrase."""

    box: BoxKeyPair
    login: SigningKeyPair


def _split(secret: bytes, context: bytes) -> LoginFactorKeys:
    slot_seed = primitives.crypto_kdf_derive_from_key(32, SLOT_SUBKEY_ID, context, secret)
    login_seed = primitives.crypto_kdf_derive_from_key(32, LOGIN_SUBKEY_ID, context, secret)
    return LoginFactorKeys(BoxKeyPair.from_seed(slot_seed), SigningKeyPair.from_seed(login_seed))


def passphrase_keys(passphrase: str, salt: bytes, params: kdf.Argon2idParams) -> LoginFactorKeys:
    """Argon2id (at least the floor) → 32-byte root → slot key pair + login key pair."""
    return _split(kdf.derive_root(passphrase, salt, params), PASSPHRASE_CONTEXT)


def recovery_keys(entropy: bytes) -> LoginFactorKeys:
    """The recovery phrase's 256-bit entropy is used raw (it is already uniformly random; no BIP39 PBKDF2 seed)."""
    if len(entropy) != SECRET_SIZE:
        raise InvalidKey("recovery entropy must be 32 bytes")
    return _split(entropy, RECOVERY_CONTEXT)


def passkey_keys(prf_output: bytes) -> BoxKeyPair:
    """32 bytes of WebAuthn PRF output (for the passkey's PRF salt) → the passkey's slot key pair."""
    if len(prf_output) != PRF_OUTPUT_SIZE:
        raise InvalidKey("a passkey's PRF output must be 32 bytes")
    return BoxKeyPair.from_seed(primitives.crypto_kdf_derive_from_key(32, SLOT_SUBKEY_ID, PASSKEY_CONTEXT, prf_output))


class DeviceWrapper(Protocol):
    """Wraps secret bytes under a key that never leaves this device (WebCrypto non-extractable AES-GCM in the
    browser). ``unwrap`` raises ``DecryptionError`` when the blob was not wrapped by this device."""

    async def wrap(self, secret: bytes, aad: bytes) -> bytes: ...

    async def unwrap(self, blob: bytes, aad: bytes) -> bytes: ...


async def new_device_factor(wrapper: DeviceWrapper, device_id: bytes) -> tuple[BoxKeyPair, bytes]:
    """A random device key pair and its private seed wrapped for local storage (never sent to the relay)."""
    seed = primitives.randombytes(SECRET_SIZE)
    blob = await wrapper.wrap(seed, DEVICE_FACTOR_LABEL + device_id)
    return BoxKeyPair.from_seed(seed), blob


async def open_device_factor(wrapper: DeviceWrapper, device_id: bytes, blob: bytes) -> BoxKeyPair:
    seed = await wrapper.unwrap(blob, DEVICE_FACTOR_LABEL + device_id)
    if len(seed) != SECRET_SIZE:
        raise FormatError("the wrapped device key has the wrong length")
    return BoxKeyPair.from_seed(seed)


class SoftwareDeviceWrapper:
    """A device wrapper for CPython clients and tests: XChaCha20-Poly1305 under a key kept in a local file.

    Unlike the browser's WebCrypto key, this key is extractable by whoever can read the file; the CPython client
    keeps it in a 0600 file in its data directory.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != primitives.AEAD_KEY_SIZE:
            raise InvalidKey("device wrapping keys are 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "SoftwareDeviceWrapper(<key>)"

    async def wrap(self, secret: bytes, aad: bytes) -> bytes:
        nonce = primitives.randombytes(primitives.AEAD_NONCE_SIZE)
        return nonce + primitives.crypto_aead_xchacha20poly1305_ietf_encrypt(secret, aad, nonce, self._key)

    async def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < primitives.AEAD_NONCE_SIZE + primitives.AEAD_TAG_SIZE:
            raise DecryptionError("the wrapped device key is truncated")
        n = primitives.AEAD_NONCE_SIZE
        return primitives.crypto_aead_xchacha20poly1305_ietf_decrypt(blob[n:], aad, blob[:n], self._key)
