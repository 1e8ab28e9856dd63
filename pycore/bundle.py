"""The account bundle, client side: create version 1, open a version with a factor, derive the next version.

A device never adopts a version it cannot fully open: the slot must open with the factor it holds, the keyring must
decrypt, its identity seed must give the header's identity key, and its active epoch must be the header's write epoch.
The public format and the decrypt-free checks (signature, chain, pin) live in ``bundle_public``.
SPEC.md §"Account bundle".
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pycore import primitives
from pycore.envelope import EpochKey, RecordScope
from pycore.errors import BundleError, DecryptionError, VellumError
from pycore.factors import BoxKeyPair, SigningKeyPair
from pycore.keyring import EpochEntry, EpochStatus, Keyring, open_keyring, seal_keyring
from pycore.public.bundle_public import (
    PROTOCOL_VERSION,
    BundleHeader,
    FactorEntry,
    FactorMeta,
    FactorType,
    Pin,
    PublicBundle,
    encode_body,
    encode_bundle,
    handover_message,
    parse_bundle,
    signed_message,
    verify_chain,
)
from pycore.slots import new_slot_id, open_slot, seal_slot

ACCOUNT_ID_SIZE = 16
ACCOUNT_KEY_SIZE = 32


@dataclass(frozen=True)
class FactorSpec:
    """A factor to list in a bundle: its slot gets sealed when the version is built."""

    slot_id: bytes
    type: FactorType
    box_public: bytes
    meta: FactorMeta


@dataclass(frozen=True)
class UnlockedBundle:
    """An opened bundle version: what an unlocked device holds in memory."""

    public: PublicBundle
    account_key: bytes = field(repr=False)
    keyring: Keyring = field(repr=False)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("key material cannot be pickled")

    @property
    def account_id(self) -> bytes:
        return self.public.account_id

    @property
    def version(self) -> int:
        return self.public.version

    @property
    def identity(self) -> SigningKeyPair:
        return SigningKeyPair.from_seed(self.keyring.identity_seed)

    @property
    def scope(self) -> RecordScope:
        return RecordScope(self.account_id, self.keyring.collection_id)

    @property
    def write_key(self) -> EpochKey:
        active = self.keyring.active
        return EpochKey(active.epoch, active.key)

    @property
    def pin(self) -> Pin:
        return Pin.of(self.public)


def verify_signature(signature: bytes, message: bytes, public_key: bytes) -> None:
    primitives.crypto_sign_verify_detached(signature, message, public_key)


def _build(
    *,
    account_id: bytes,
    version: int,
    prev_hash: bytes,
    min_writer_version: int,
    factors: Sequence[FactorSpec | FactorEntry],
    account_key: bytes,
    keyring: Keyring,
    identity: SigningKeyPair,
    previous_identity: SigningKeyPair | None,
) -> UnlockedBundle:
    entries = []
    for f in factors:
        if isinstance(f, FactorEntry):
            entries.append(f)
        else:
            slot = seal_slot(account_id, f.slot_id, account_key, f.box_public)
            entries.append(FactorEntry(f.slot_id, f.type, f.box_public, f.meta, slot))
    if identity.seed != keyring.identity_seed:
        raise BundleError("the keyring must hold the signing identity")
    header = BundleHeader(
        account_id=account_id,
        version=version,
        prev_hash=prev_hash,
        min_writer_version=min_writer_version,
        write_epoch=keyring.active.epoch,
        identity_public=identity.public,
    )
    body = encode_body(header, entries, seal_keyring(account_key, account_id, version, keyring))
    handover = None
    if previous_identity is not None and previous_identity.public != identity.public:
        handover = previous_identity.sign(handover_message(body))
    encoded = encode_bundle(body, identity.sign(signed_message(body)), handover)
    return UnlockedBundle(parse_bundle(encoded), account_key, keyring)


def create_bundle(factors: Sequence[FactorSpec], *, now: int, account_id: bytes | None = None) -> UnlockedBundle:
    """Version 1 of a new account: random account id, account key, identity key, collection id and epoch-1 key."""
    keyring = Keyring(
        identity_seed=primitives.randombytes(32),
        collection_id=primitives.randombytes(16),
        epochs=(EpochEntry(1, EpochStatus.ACTIVE, primitives.randombytes(32), now),),
        last_rotation_at=now,
    )
    return _build(
        account_id=account_id or primitives.randombytes(ACCOUNT_ID_SIZE),
        version=1,
        prev_hash=bytes(32),
        min_writer_version=PROTOCOL_VERSION,
        factors=factors,
        account_key=primitives.randombytes(ACCOUNT_KEY_SIZE),
        keyring=keyring,
        identity=SigningKeyPair.from_seed(keyring.identity_seed),
        previous_identity=None,
    )


def open_bundle(public: PublicBundle, slot_id: bytes, box: BoxKeyPair) -> UnlockedBundle:
    """Open a version with one factor's key pair, checking that every part of it opens and agrees."""
    entry = public.factor(slot_id)
    if entry is None:
        raise DecryptionError("This unlock method is no longer part of the account.")
    if not primitives.memcmp(entry.box_public, box.public):
        raise DecryptionError("This unlock method does not match the account's records.")
    account_key = open_slot(public.account_id, slot_id, entry.slot, box)
    return open_with_account_key(public, account_key)


def open_with_account_key(public: PublicBundle, account_key: bytes) -> UnlockedBundle:
    try:
        keyring = open_keyring(account_key, public.account_id, public.version, public.keyring)
    except VellumError as exc:
        raise BundleError("The account keys could not be fully opened; the last good version is kept.") from exc
    if SigningKeyPair.from_seed(keyring.identity_seed).public != public.header.identity_public:
        raise BundleError("The account keys do not match the account's identity; the last good version is kept.")
    if keyring.active.epoch != public.header.write_epoch:
        raise BundleError("The account keys do not match the bundle's write epoch; the last good version is kept.")
    if public.header.min_writer_version > PROTOCOL_VERSION:
        raise BundleError("This account was upgraded by a newer Vellum; update this app to keep writing.")
    return UnlockedBundle(public, account_key, keyring)


def next_version(
    current: UnlockedBundle,
    *,
    factors: Sequence[FactorSpec | FactorEntry] | None = None,
    keyring: Keyring | None = None,
    new_account_key: bool = False,
    new_identity: bool = False,
    now: int | None = None,
) -> UnlockedBundle:
    """Version + 1. Factors kept as ``FactorEntry`` keep their slot bytes unless the account key changes, in which case
    every remaining factor is re-sealed to its public key (no factor needs to be present). A new identity key is
    introduced with a handover signature by the previous one. Rotating the account key always starts a new epoch."""
    keyring = keyring or current.keyring
    account_key = current.account_key
    factor_list: list[FactorSpec | FactorEntry] = list(factors if factors is not None else current.public.factors)
    if new_account_key:
        account_key = primitives.randombytes(ACCOUNT_KEY_SIZE)
        if keyring.active.epoch == current.keyring.active.epoch:
            # The new epoch counts as a rotation (it resets the rotation schedule): stamp it with the current time.
            keyring = keyring.with_new_epoch(now if now is not None else int(time.time()))
        factor_list = [
            FactorSpec(f.slot_id, f.type, f.box_public, f.meta) if isinstance(f, FactorEntry) else f
            for f in factor_list
        ]
    previous_identity = current.identity
    identity = previous_identity
    if new_identity:
        keyring = replace(keyring, identity_seed=primitives.randombytes(32))
        identity = SigningKeyPair.from_seed(keyring.identity_seed)
    return _build(
        account_id=current.account_id,
        version=current.version + 1,
        prev_hash=current.public.hash,
        min_writer_version=current.public.header.min_writer_version,
        factors=factor_list,
        account_key=account_key,
        keyring=keyring,
        identity=identity,
        previous_identity=previous_identity,
    )


def adopt_chain(
    current: UnlockedBundle, chain: Sequence[bytes], box: BoxKeyPair | None = None, slot_id: bytes | None = None
) -> UnlockedBundle:
    """Adopt the newest version the relay served after ``current`` (rollback, fork and signatures checked).

    While the account key is unchanged (a routine rotation, a passphrase change, a new passkey) the account key in
    memory opens it; after an account-key rotation the factor this device unlocked with must open its slot. Anything
    that does not fully open raises, and ``current`` stays the version in use.
    """
    newer = verify_chain(current.pin, chain, verify_signature, account_id=current.account_id)
    if not newer:
        return current
    latest = newer[-1]
    try:
        return open_with_account_key(latest, current.account_key)
    except BundleError:
        if box is None or slot_id is None:
            raise
    return open_bundle(latest, slot_id, box)


def new_factor_spec(kind: FactorType, box_public: bytes, meta: FactorMeta) -> FactorSpec:
    return FactorSpec(new_slot_id(), kind, box_public, meta)


def fingerprint(identity_public: bytes) -> str:
    """The fingerprint printed on the recovery kit: 160 bits of BLAKE2b of the identity key, base32 in groups."""
    digest = primitives.crypto_generichash(b"vellum/v1/fingerprint" + identity_public, 20)
    text = base64.b32encode(digest).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))
