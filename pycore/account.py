"""An account on top of the bundle: create it, and unlock it with each factor (``Unlocked``: the opened bundle and the
factor that opened it). Every later change of who can unlock it is a builder of ``pycore.lifecycle``, published with
the step-up the relay asks for. SPEC.md §"Factors".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pycore import kdf, recovery
from pycore.bundle import FactorSpec, UnlockedBundle, create_bundle, new_factor_spec, open_bundle
from pycore.errors import DecryptionError, WrongPassphrase, WrongRecoveryPhrase
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
    FactorType,
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
        raise WrongPassphrase("That passphrase is not right for this account.")
    return Unlocked(open_bundle(public, entry.slot_id, keys.box), entry.slot_id, keys.box, keys)


def unlock_with_recovery(public: PublicBundle, words: Sequence[str] | str) -> Unlocked:
    keys = recovery_keys(recovery.entropy_from_phrase(words))
    found = public.factors_of(FactorType.RECOVERY)
    if not found or found[0].box_public != keys.box.public:
        raise WrongRecoveryPhrase("This recovery phrase belongs to an older recovery kit or another account.")
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
