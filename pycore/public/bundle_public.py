"""The public part of the account bundle: format, parsing and the decrypt-free verifier.

The relay imports this module (with ``wire``) and nothing else from pycore, so it must never import anything that can
decrypt. Signature checks therefore take a ``verify(signature, message, public_key)`` callable: the relay passes its own
PyNaCl verifier, clients pass ``primitives.crypto_sign_verify_detached``.

Layout (SPEC.md §"Account bundle"): ``u8 format | var32 body | 64-byte identity signature | u8 has_handover | [64-byte
signature by the previous identity key]``. The body holds the header, the public factor list with each factor's slot,
and the keyring ciphertext. The bundle hash is BLAKE2b-256 of the whole encoding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from pycore.errors import BundleError, FormatError, KdfParamsError, KeyringFork, KeyringRollback, UnsupportedVersion
from pycore.public import limits
from pycore.public.codec import Reader, Writer
from pycore.public.kdf_params import SALT_SIZE, Argon2idParams, check_params

BUNDLE_FORMAT_V1 = 1
SUITE_V1 = 1
PROTOCOL_VERSION = 1  # this code's writer version, compared with a bundle's minimum writer version

BUNDLE_SIGN_LABEL = b"vellum/v1/bundle"
BUNDLE_HANDOVER_LABEL = b"vellum/v1/bundle-handover"

ACCOUNT_ID_SIZE = limits.ACCOUNT_ID_SIZE
SLOT_ID_SIZE = limits.SLOT_ID_SIZE
DEVICE_ID_SIZE = limits.DEVICE_ID_SIZE
HASH_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
PRF_SALT_SIZE = 32

MAX_FACTORS = 64
MAX_SLOT_SIZE = 256
MAX_META_SIZE = 2048
MAX_KEYRING_SIZE = 1 << 20
MAX_BUNDLE_SIZE = 2 << 20

Verify = Callable[[bytes, bytes, bytes], None]
"""verify(signature, message, public_key): returns quietly or raises."""


class FactorType(IntEnum):
    PASSPHRASE = 1
    RECOVERY = 2
    PASSKEY = 3
    DEVICE = 4


@dataclass(frozen=True)
class PassphraseMeta:
    salt: bytes
    params: Argon2idParams


@dataclass(frozen=True)
class RecoveryMeta:
    pass


@dataclass(frozen=True)
class PasskeyMeta:
    credential_id: bytes
    prf_salt: bytes
    rp_id: str
    name: str


@dataclass(frozen=True)
class DeviceMeta:
    device_id: bytes
    signing_public: bytes
    name: str


FactorMeta = PassphraseMeta | RecoveryMeta | PasskeyMeta | DeviceMeta


@dataclass(frozen=True)
class FactorEntry:
    """One unlock method: its public key, typed public metadata, and its slot (the account key sealed to it)."""

    slot_id: bytes
    type: FactorType
    box_public: bytes
    meta: FactorMeta
    slot: bytes


@dataclass(frozen=True)
class BundleHeader:
    account_id: bytes
    version: int
    prev_hash: bytes
    min_writer_version: int
    write_epoch: int
    identity_public: bytes


@dataclass(frozen=True)
class PublicBundle:
    header: BundleHeader
    factors: tuple[FactorEntry, ...]
    keyring: bytes = field(repr=False)
    body: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    handover: bytes | None = field(repr=False)
    encoded: bytes = field(repr=False)
    hash: bytes

    @property
    def version(self) -> int:
        return self.header.version

    @property
    def account_id(self) -> bytes:
        return self.header.account_id

    def factor(self, slot_id: bytes) -> FactorEntry | None:
        for entry in self.factors:
            if entry.slot_id == slot_id:
                return entry
        return None

    def factors_of(self, kind: FactorType) -> list[FactorEntry]:
        return [f for f in self.factors if f.type == kind]

    @property
    def passphrase(self) -> FactorEntry:
        found = self.factors_of(FactorType.PASSPHRASE)
        if len(found) != 1:
            raise BundleError("the bundle has no passphrase factor")
        return found[0]

    def device_factor(self, device_id: bytes) -> FactorEntry | None:
        for entry in self.factors_of(FactorType.DEVICE):
            assert isinstance(entry.meta, DeviceMeta)
            if entry.meta.device_id == device_id:
                return entry
        return None


@dataclass(frozen=True)
class Pin:
    """What a device remembers of the newest bundle it adopted: refuse anything older or different."""

    version: int
    hash: bytes
    identity_public: bytes

    @classmethod
    def of(cls, bundle: PublicBundle) -> Pin:
        return cls(bundle.version, bundle.hash, bundle.header.identity_public)


# --- encoding ---------------------------------------------------------------------------------------------------------


def _encode_meta(kind: FactorType, meta: FactorMeta) -> bytes:
    w = Writer()
    if kind == FactorType.PASSPHRASE and isinstance(meta, PassphraseMeta):
        w.fixed(meta.salt, SALT_SIZE).u32(meta.params.opslimit).u32(meta.params.memlimit_kib)
    elif kind == FactorType.RECOVERY and isinstance(meta, RecoveryMeta):
        pass
    elif kind == FactorType.PASSKEY and isinstance(meta, PasskeyMeta):
        w.var16(meta.credential_id).fixed(meta.prf_salt, PRF_SALT_SIZE).text(meta.rp_id).text(meta.name)
    elif kind == FactorType.DEVICE and isinstance(meta, DeviceMeta):
        w.fixed(meta.device_id, DEVICE_ID_SIZE).fixed(meta.signing_public, PUBLIC_KEY_SIZE).text(meta.name)
    else:
        raise FormatError("factor metadata does not match its type")
    return w.finish()


def _decode_meta(kind: FactorType, raw: bytes) -> FactorMeta:
    r = Reader(raw)
    meta: FactorMeta
    if kind == FactorType.PASSPHRASE:
        salt = r.fixed(SALT_SIZE)
        opslimit, memlimit_kib = r.u32(), r.u32()
        check_params(opslimit, memlimit_kib)
        meta = PassphraseMeta(salt, Argon2idParams(opslimit, memlimit_kib))
    elif kind == FactorType.RECOVERY:
        meta = RecoveryMeta()
    elif kind == FactorType.PASSKEY:
        meta = PasskeyMeta(r.var16(1024), r.fixed(PRF_SALT_SIZE), r.text(256), r.text(256))
    else:
        meta = DeviceMeta(r.fixed(DEVICE_ID_SIZE), r.fixed(PUBLIC_KEY_SIZE), r.text(256))
    r.done()
    return meta


def encode_body(header: BundleHeader, factors: Sequence[FactorEntry], keyring: bytes) -> bytes:
    w = Writer()
    w.u8(BUNDLE_FORMAT_V1).u8(SUITE_V1)
    w.fixed(header.account_id, ACCOUNT_ID_SIZE).u64(header.version).fixed(header.prev_hash, HASH_SIZE)
    w.u16(header.min_writer_version).u32(header.write_epoch).fixed(header.identity_public, PUBLIC_KEY_SIZE)
    w.u16(len(factors))
    for f in factors:
        w.fixed(f.slot_id, SLOT_ID_SIZE).u8(int(f.type)).fixed(f.box_public, PUBLIC_KEY_SIZE)
        w.var16(_encode_meta(f.type, f.meta)).var16(f.slot)
    w.var32(keyring)
    return w.finish()


def encode_bundle(body: bytes, signature: bytes, handover: bytes | None) -> bytes:
    w = Writer().u8(BUNDLE_FORMAT_V1).var32(body).fixed(signature, SIGNATURE_SIZE)
    if handover is None:
        w.u8(0)
    else:
        w.u8(1).fixed(handover, SIGNATURE_SIZE)
    return w.finish()


def signed_message(body: bytes) -> bytes:
    return BUNDLE_SIGN_LABEL + body


def handover_message(body: bytes) -> bytes:
    return BUNDLE_HANDOVER_LABEL + body


def bundle_hash(encoded: bytes) -> bytes:
    return hashlib.blake2b(encoded, digest_size=HASH_SIZE).digest()


# --- parsing ----------------------------------------------------------------------------------------------------------


def parse_bundle(data: bytes) -> PublicBundle:
    """Parse and structurally check a bundle. Signatures are *not* checked here: see ``verify_successor``."""
    if not isinstance(data, bytes) or len(data) > MAX_BUNDLE_SIZE:
        raise FormatError("the account bundle is missing or too large")
    try:
        outer = Reader(data)
        if outer.u8() != BUNDLE_FORMAT_V1:
            raise UnsupportedVersion("the account bundle uses an unknown format version")
        body = outer.var32(MAX_BUNDLE_SIZE)
        signature = outer.fixed(SIGNATURE_SIZE)
        flag = outer.u8()
        if flag not in (0, 1):
            raise FormatError("bad handover flag")
        handover = outer.fixed(SIGNATURE_SIZE) if flag else None
        outer.done()

        r = Reader(body)
        if r.u8() != BUNDLE_FORMAT_V1:
            raise UnsupportedVersion("the account bundle body uses an unknown format version")
        if r.u8() != SUITE_V1:
            raise UnsupportedVersion("the account bundle uses an unknown crypto suite")
        header = BundleHeader(
            account_id=r.fixed(ACCOUNT_ID_SIZE),
            version=r.u64(),
            prev_hash=r.fixed(HASH_SIZE),
            min_writer_version=r.u16(),
            write_epoch=r.u32(),
            identity_public=r.fixed(PUBLIC_KEY_SIZE),
        )
        count = r.u16()
        if count > MAX_FACTORS:
            raise FormatError("too many factors")
        factors = []
        for _ in range(count):
            slot_id = r.fixed(SLOT_ID_SIZE)
            try:
                kind = FactorType(r.u8())
            except ValueError:
                raise UnsupportedVersion("the account bundle has an unknown factor type") from None
            box_public = r.fixed(PUBLIC_KEY_SIZE)
            meta = _decode_meta(kind, r.var16(MAX_META_SIZE))
            slot = r.var16(MAX_SLOT_SIZE)
            factors.append(FactorEntry(slot_id, kind, box_public, meta, slot))
        keyring = r.var32(MAX_KEYRING_SIZE)
        r.done()
    except KdfParamsError as exc:
        # Kept as its own code: a relay offering weak passphrase parameters is a downgrade attempt, not a typo.
        raise KdfParamsError(f"The account's passphrase parameters are refused: {exc.message}") from None
    bundle = PublicBundle(
        header=header,
        factors=tuple(factors),
        keyring=keyring,
        body=body,
        signature=signature,
        handover=handover,
        encoded=bytes(data),
        hash=bundle_hash(bytes(data)),
    )
    _check_structure(bundle)
    return bundle


def _check_structure(b: PublicBundle) -> None:
    h = b.header
    if h.version < 1:
        raise BundleError("bundle versions start at 1")
    if h.version == 1 and h.prev_hash != bytes(HASH_SIZE):
        raise BundleError("the first bundle version has no predecessor")
    if h.min_writer_version < 1:
        raise BundleError("bad minimum writer version")
    slot_ids = [f.slot_id for f in b.factors]
    if len(set(slot_ids)) != len(slot_ids):
        raise BundleError("two factors share a slot id")
    if len(b.factors_of(FactorType.PASSPHRASE)) != 1:
        raise BundleError("a bundle has exactly one passphrase factor")
    if len(b.factors_of(FactorType.RECOVERY)) > 1:
        raise BundleError("a bundle has at most one recovery factor")
    device_ids = [f.meta.device_id for f in b.factors if isinstance(f.meta, DeviceMeta)]
    if len(set(device_ids)) != len(device_ids):
        raise BundleError("two device factors share a device id")


# --- verification -----------------------------------------------------------------------------------------------------


def _verify(verify: Verify, signature: bytes, message: bytes, public_key: bytes, what: str) -> None:
    try:
        verify(signature, message, public_key)
    except Exception:
        raise BundleError(f"the account bundle's {what} does not verify") from None


def verify_first(bundle: PublicBundle, verify: Verify) -> None:
    """Version 1: self-signed by the identity key it introduces (trust on first use; the recovery kit's fingerprint
    lets a person check it)."""
    if bundle.version != 1:
        raise BundleError("expected the first bundle version")
    if bundle.handover is not None:
        raise BundleError("the first bundle version cannot hand over an identity")
    _verify(verify, bundle.signature, signed_message(bundle.body), bundle.header.identity_public, "signature")


def verify_successor(prev: PublicBundle | Pin, new: PublicBundle, verify: Verify, *, account_id: bytes) -> None:
    """Check that ``new`` is exactly the next version after ``prev``: same account, version + 1, previous hash, signed
    by its identity key, and — when the identity key changes — also signed by the previous identity key."""
    prev_version = prev.version
    prev_hash = prev.hash
    prev_identity = prev.identity_public if isinstance(prev, Pin) else prev.header.identity_public
    h = new.header
    if h.account_id != account_id:
        raise BundleError("the bundle belongs to another account")
    if h.version != prev_version + 1:
        raise BundleError(f"expected bundle version {prev_version + 1}, got {h.version}")
    if h.prev_hash != prev_hash:
        raise BundleError("the bundle does not extend the previous version")
    if isinstance(prev, PublicBundle):
        # One version may start at most one new epoch: a device holding the account key could otherwise jump to the
        # last epoch number and leave no room for any later rotation or revocation.
        if not prev.header.write_epoch <= h.write_epoch <= prev.header.write_epoch + 1:
            raise BundleError("the write epoch must stay or grow by one")
        if h.min_writer_version < prev.header.min_writer_version:
            raise BundleError("the minimum writer version went backwards")
    if h.min_writer_version > PROTOCOL_VERSION:
        # Beyond any writer this code knows: it would lock every client out of the account.
        raise BundleError("the bundle asks for a newer Vellum than exists")
    _verify(verify, new.signature, signed_message(new.body), h.identity_public, "signature")
    if h.identity_public != prev_identity:
        if new.handover is None:
            raise BundleError("a new identity key must be introduced by the previous one")
        _verify(verify, new.handover, handover_message(new.body), prev_identity, "identity handover")
    elif new.handover is not None:
        raise BundleError("unexpected identity handover")


def check_against_pin(pin: Pin, bundle: PublicBundle) -> bool:
    """``keyring_rollback`` for an older version, ``keyring_fork`` for a different one at the pinned version.

    Returns True when ``bundle`` is the pinned version itself (nothing new), False when it is newer.
    """
    if bundle.version < pin.version:
        raise KeyringRollback(
            "The server sent older account keys than this device has already seen. Nothing was changed; "
            "try again later or contact the server's operator."
        )
    if bundle.version == pin.version:
        if bundle.hash != pin.hash:
            raise KeyringFork(
                "The server sent account keys that conflict with what this device has already seen. "
                "Nothing was changed."
            )
        return True
    return False


def verify_chain(pin: Pin | None, chain: Sequence[bytes], verify: Verify, *, account_id: bytes) -> list[PublicBundle]:
    """Verify the versions the relay served since ``pin`` (oldest first) and return the new ones, newest last.

    A device with no pin (a brand-new device) accepts version 1 on first use and verifies every step from there.
    """
    parsed = [parse_bundle(raw) for raw in chain]
    out: list[PublicBundle] = []
    prev: PublicBundle | Pin | None = pin
    for b in parsed:
        if b.account_id != account_id:
            raise BundleError("the bundle belongs to another account")
        if isinstance(prev, Pin):
            if check_against_pin(prev, b):
                continue
        if prev is None:
            verify_first(b, verify)
        else:
            verify_successor(prev, b, verify, account_id=account_id)
        out.append(b)
        prev = b
    return out


@dataclass(frozen=True)
class FactorDiff:
    added: tuple[bytes, ...]
    removed: tuple[bytes, ...]
    changed: tuple[bytes, ...]  # same slot id, different public key, metadata or sealed slot
    identity_changed: bool

    @property
    def requires_step_up(self) -> bool:
        """A change of the account key, a slot, the factor list or the identity key needs a fresh passphrase proof."""
        return bool(self.added or self.removed or self.changed or self.identity_changed)

    def removed_devices(self, old: PublicBundle) -> list[bytes]:
        out = []
        for slot_id in self.removed:
            entry = old.factor(slot_id)
            if entry is not None and isinstance(entry.meta, DeviceMeta):
                out.append(entry.meta.device_id)
        return out


def factor_changes(old: PublicBundle, new: PublicBundle) -> FactorDiff:
    before = {f.slot_id: f for f in old.factors}
    after = {f.slot_id: f for f in new.factors}
    return FactorDiff(
        added=tuple(s for s in after if s not in before),
        removed=tuple(s for s in before if s not in after),
        changed=tuple(s for s in after if s in before and after[s] != before[s]),
        identity_changed=old.header.identity_public != new.header.identity_public,
    )
