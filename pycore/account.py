"""Account-level flows on top of the bundle: create, unlock with each factor, and the factor changes a person makes.

Every function here is pure protocol: it returns the new bundle version (and any new login public key) for the caller
to publish with the matching relay endpoint, which asks for a step-up whenever slots or factors change. SPEC.md
§"Factors" and §"Rotation".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pycore import kdf, recovery
from pycore.bundle import FactorSpec, UnlockedBundle, create_bundle, new_factor_spec, next_version, open_bundle
from pycore.errors import BundleError, DecryptionError
from pycore.factors import (
    BoxKeyPair,
    DeviceWrapper,
    LoginFactorKeys,
    open_device_factor,
    passkey_keys,
    passphrase_keys,
    recovery_keys,
)
from pycore.public.bundle_public import (
    DeviceMeta,
    FactorEntry,
    FactorType,
    PasskeyMeta,
    PassphraseMeta,
    PublicBundle,
    RecoveryMeta,
)


@dataclass(frozen=True)
class NewAccount:
    unlocked: UnlockedBundle
    passphrase: LoginFactorKeys = field(repr=False)
    recovery: LoginFactorKeys = field(repr=False)
    recovery_entropy: bytes = field(repr=False)

    @property
    def recovery_phrase(self) -> list[str]:
        return recovery.phrase_from_entropy(self.recovery_entropy)


@dataclass(frozen=True)
class Unlocked:
    """An opened bundle plus the factor that opened it (kept so later versions can be adopted without asking)."""

    bundle: UnlockedBundle
    slot_id: bytes
    box: BoxKeyPair = field(repr=False)
    login: LoginFactorKeys | None = field(default=None, repr=False)


def passphrase_factor(passphrase: str, params: kdf.Argon2idParams) -> tuple[FactorSpec, LoginFactorKeys]:
    salt = kdf.new_salt()
    keys = passphrase_keys(passphrase, salt, params)
    return new_factor_spec(FactorType.PASSPHRASE, keys.box.public, PassphraseMeta(salt, params)), keys


def recovery_factor(entropy: bytes) -> tuple[FactorSpec, LoginFactorKeys]:
    keys = recovery_keys(entropy)
    return new_factor_spec(FactorType.RECOVERY, keys.box.public, RecoveryMeta()), keys


def create_account(passphrase: str, *, now: int, params: kdf.Argon2idParams = kdf.DEFAULT_PARAMS) -> NewAccount:
    """A new account: passphrase and recovery-phrase factors, bundle version 1."""
    pass_spec, pass_keys = passphrase_factor(passphrase, params)
    entropy = recovery.new_entropy()
    rec_spec, rec_keys = recovery_factor(entropy)
    return NewAccount(create_bundle([pass_spec, rec_spec], now=now), pass_keys, rec_keys, entropy)


# --- unlocking --------------------------------------------------------------------------------------------------------


def unlock_with_passphrase(public: PublicBundle, passphrase: str) -> Unlocked:
    entry = public.passphrase
    assert isinstance(entry.meta, PassphraseMeta)
    keys = passphrase_keys(passphrase, entry.meta.salt, entry.meta.params)
    if keys.box.public != entry.box_public:
        raise DecryptionError("That passphrase is not right for this account.", code="wrong_passphrase")
    return Unlocked(open_bundle(public, entry.slot_id, keys.box), entry.slot_id, keys.box, keys)


def unlock_with_recovery(public: PublicBundle, words: Sequence[str] | str) -> Unlocked:
    keys = recovery_keys(recovery.entropy_from_phrase(words))
    found = public.factors_of(FactorType.RECOVERY)
    if not found or found[0].box_public != keys.box.public:
        raise DecryptionError(
            "This recovery phrase belongs to an older recovery kit or another account.", code="wrong_recovery_phrase"
        )
    return Unlocked(open_bundle(public, found[0].slot_id, keys.box), found[0].slot_id, keys.box, keys)


def unlock_with_passkey(public: PublicBundle, slot_id: bytes, prf_output: bytes) -> Unlocked:
    box = passkey_keys(prf_output)
    return Unlocked(open_bundle(public, slot_id, box), slot_id, box)


async def unlock_with_device(public: PublicBundle, device_id: bytes, wrapper: DeviceWrapper, blob: bytes) -> Unlocked:
    entry = public.device_factor(device_id)
    if entry is None:
        raise DecryptionError("This device is no longer remembered by the account; use your passphrase.")
    box = await open_device_factor(wrapper, device_id, blob)
    return Unlocked(open_bundle(public, entry.slot_id, box), entry.slot_id, box)


# --- factor changes (each needs a step-up at the relay) ---------------------------------------------------------------


def _without(entries: Sequence[FactorEntry], kind: FactorType) -> list[FactorEntry]:
    return [f for f in entries if f.type != kind]


def change_passphrase(
    current: UnlockedBundle,
    new_passphrase: str,
    *,
    params: kdf.Argon2idParams | None = None,
    passphrase_may_be_known: bool = False,
) -> tuple[UnlockedBundle, LoginFactorKeys]:
    """Re-seal the passphrase slot under the new passphrase (new salt, new login key). With
    ``passphrase_may_be_known`` the account key, epoch and identity key rotate too, so whoever knew the old passphrase
    and captured the old bundle reads nothing written afterwards."""
    old = current.public.passphrase
    assert isinstance(old.meta, PassphraseMeta)
    spec, keys = passphrase_factor(new_passphrase, params or old.meta.params)
    factors: list[FactorSpec | FactorEntry] = [spec, *_without(current.public.factors, FactorType.PASSPHRASE)]
    new = next_version(
        current,
        factors=factors,
        new_account_key=passphrase_may_be_known,
        new_identity=passphrase_may_be_known,
    )
    return new, keys


def new_recovery_kit(current: UnlockedBundle) -> tuple[UnlockedBundle, bytes, LoginFactorKeys]:
    """A new recovery phrase. The account key rotates (with a new epoch), so the old phrase opens nothing current."""
    entropy = recovery.new_entropy()
    spec, keys = recovery_factor(entropy)
    factors: list[FactorSpec | FactorEntry] = [*_without(current.public.factors, FactorType.RECOVERY), spec]
    return next_version(current, factors=factors, new_account_key=True), entropy, keys


def add_device_factor(
    current: UnlockedBundle, device_id: bytes, signing_public: bytes, name: str, box_public: bytes
) -> UnlockedBundle:
    """Turn on "remember this device": a slot sealed to the device's wrapped key pair."""
    if current.public.device_factor(device_id) is not None:
        raise BundleError("this device is already remembered")
    spec = new_factor_spec(FactorType.DEVICE, box_public, DeviceMeta(device_id, signing_public, name))
    return next_version(current, factors=[*current.public.factors, spec])


def add_passkey(
    current: UnlockedBundle, prf_output: bytes, *, credential_id: bytes, prf_salt: bytes, rp_id: str, name: str
) -> UnlockedBundle:
    box = passkey_keys(prf_output)
    spec = new_factor_spec(FactorType.PASSKEY, box.public, PasskeyMeta(credential_id, prf_salt, rp_id, name))
    return next_version(current, factors=[*current.public.factors, spec])


def remove_factor(current: UnlockedBundle, slot_id: bytes) -> UnlockedBundle:
    """Drop a passkey or a remembered device's slot (the passphrase and recovery factors cannot be removed here)."""
    entry = current.public.factor(slot_id)
    if entry is None:
        raise BundleError("no such unlock method")
    if entry.type in (FactorType.PASSPHRASE, FactorType.RECOVERY):
        raise BundleError("the passphrase and recovery phrase cannot be removed")
    return next_version(current, factors=[f for f in current.public.factors if f.slot_id != slot_id])
