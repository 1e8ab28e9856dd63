"""The keyring: the secret half of the account bundle, sealed under a key derived from the account key (AK).

It holds the account identity key's seed, the collection id, one collection key per epoch with its status (active for
writing, or decrypt-only: version 1 never destroys an epoch key), and the rotation state (intents that any device can
resume, since progress is read from the relay's per-record epochs). SPEC.md §"Keyring".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum

from pycore import primitives
from pycore.errors import BundleError, FormatError, UnsupportedVersion
from pycore.public.codec import Reader, Writer, length_prefixed

KEYRING_FORMAT_V1 = 1
KEYRING_LABEL = b"vellum/v1/keyring"
KEYRING_CONTEXT = b"VLkeyrng"
KEYRING_SUBKEY_ID = 1
EPOCH_KEY_SIZE = 32
COLLECTION_ID_SIZE = 16
MAX_EPOCHS = 4096
MAX_INTENTS = 64


class EpochStatus(IntEnum):
    ACTIVE = 1
    DECRYPT_ONLY = 2


class IntentKind(IntEnum):
    REWRAP = 1  # key-only re-wrap of older records to the target epoch
    REENCRYPT = 2  # full re-encryption of content (after a revocation)


@dataclass(frozen=True)
class EpochEntry:
    epoch: int
    status: EpochStatus
    key: bytes = field(repr=False)
    created_at: int


@dataclass(frozen=True)
class RotationIntent:
    kind: IntentKind
    target_epoch: int
    requested_at: int


@dataclass(frozen=True)
class Keyring:
    identity_seed: bytes = field(repr=False)
    collection_id: bytes
    epochs: tuple[EpochEntry, ...]
    intents: tuple[RotationIntent, ...] = ()
    last_rotation_at: int = 0

    def __post_init__(self) -> None:
        active = [e for e in self.epochs if e.status == EpochStatus.ACTIVE]
        if len(active) != 1:
            raise BundleError("a keyring has exactly one active epoch")
        numbers = [e.epoch for e in self.epochs]
        if numbers != sorted(set(numbers)) or numbers[0] < 1:
            raise BundleError("keyring epochs must be unique and increasing")
        if active[0].epoch != numbers[-1]:
            raise BundleError("the active epoch is the newest one")

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("key material cannot be pickled")

    @property
    def active(self) -> EpochEntry:
        return self.epochs[-1]

    @property
    def keys(self) -> dict[int, bytes]:
        return {e.epoch: e.key for e in self.epochs}

    def with_new_epoch(self, now: int, intents: tuple[RotationIntent, ...] = ()) -> Keyring:
        """A new active epoch with a fresh random key; every older key stays, decrypt-only."""
        old = tuple(replace(e, status=EpochStatus.DECRYPT_ONLY) for e in self.epochs)
        new = EpochEntry(self.active.epoch + 1, EpochStatus.ACTIVE, primitives.randombytes(EPOCH_KEY_SIZE), now)
        return replace(self, epochs=(*old, new), intents=self.intents + intents, last_rotation_at=now)

    def without_intents(self, kinds: set[IntentKind], up_to_epoch: int) -> Keyring:
        kept = tuple(i for i in self.intents if not (i.kind in kinds and i.target_epoch <= up_to_epoch))
        return replace(self, intents=kept)


def encode_keyring(k: Keyring) -> bytes:
    w = Writer().u8(KEYRING_FORMAT_V1).fixed(k.identity_seed, 32).fixed(k.collection_id, COLLECTION_ID_SIZE)
    w.u16(len(k.epochs))
    for e in k.epochs:
        w.u32(e.epoch).u8(int(e.status)).fixed(e.key, EPOCH_KEY_SIZE).u64(e.created_at)
    w.u8(len(k.intents))
    for i in k.intents:
        w.u8(int(i.kind)).u32(i.target_epoch).u64(i.requested_at)
    w.u64(k.last_rotation_at)
    return w.finish()


def decode_keyring(data: bytes) -> Keyring:
    r = Reader(data)
    if r.u8() != KEYRING_FORMAT_V1:
        raise UnsupportedVersion("the keyring uses an unknown format version")
    identity_seed = r.fixed(32)
    collection_id = r.fixed(COLLECTION_ID_SIZE)
    count = r.u16()
    if not 1 <= count <= MAX_EPOCHS:
        raise FormatError("bad epoch count")
    epochs = []
    for _ in range(count):
        epoch, raw_status = r.u32(), r.u8()
        try:
            status = EpochStatus(raw_status)
        except ValueError:
            raise FormatError("unknown epoch status") from None
        epochs.append(EpochEntry(epoch, status, r.fixed(EPOCH_KEY_SIZE), r.u64()))
    intents = []
    n_intents = r.u8()
    if n_intents > MAX_INTENTS:
        raise FormatError("too many rotation intents")
    for _ in range(n_intents):
        try:
            kind = IntentKind(r.u8())
        except ValueError:
            raise FormatError("unknown rotation intent") from None
        intents.append(RotationIntent(kind, r.u32(), r.u64()))
    last_rotation_at = r.u64()
    r.done()
    return Keyring(identity_seed, collection_id, tuple(epochs), tuple(intents), last_rotation_at)


def keyring_key(account_key: bytes) -> bytes:
    return primitives.crypto_kdf_derive_from_key(32, KEYRING_SUBKEY_ID, KEYRING_CONTEXT, account_key)


def _aad(account_id: bytes, version: int) -> bytes:
    return length_prefixed(KEYRING_LABEL, account_id, version.to_bytes(8, "big"))


def seal_keyring(account_key: bytes, account_id: bytes, version: int, keyring: Keyring) -> bytes:
    """``nonce[24] | AEAD(keyring key, keyring)``, bound to the account and the bundle version it belongs to."""
    nonce = primitives.randombytes(primitives.AEAD_NONCE_SIZE)
    ct = primitives.crypto_aead_xchacha20poly1305_ietf_encrypt(
        encode_keyring(keyring), _aad(account_id, version), nonce, keyring_key(account_key)
    )
    return nonce + ct


def open_keyring(account_key: bytes, account_id: bytes, version: int, sealed: bytes) -> Keyring:
    n = primitives.AEAD_NONCE_SIZE
    if len(sealed) < n + primitives.AEAD_TAG_SIZE:
        raise FormatError("the keyring is truncated")
    plaintext = primitives.crypto_aead_xchacha20poly1305_ietf_decrypt(
        sealed[n:], _aad(account_id, version), sealed[:n], keyring_key(account_key)
    )
    return decode_keyring(plaintext)
