"""Who can unlock the account: the passphrase, the recovery kit, remembered devices and passkeys. One builder each."""

from __future__ import annotations

from dataclasses import dataclass

from pycore import kdf, primitives, recovery
from pycore.account import Unlocked, passphrase_factor, recovery_factor
from pycore.bundle import (
    FactorSpec,
    UnlockedBundle,
    new_factor_spec,
    next_version,
)
from pycore.errors import (
    BundleError,
)
from pycore.factors import (
    DeviceWrapper,
    new_device_factor,
    passkey_keys,
)
from pycore.lifecycle.backend import LifecycleBackend
from pycore.lifecycle.confirm import Confirmation
from pycore.lifecycle.follow import Build, holder_after, publish
from pycore.public.bundle_public import (
    DeviceMeta,
    FactorEntry,
    FactorType,
    PasskeyMeta,
    PassphraseMeta,
    PublicBundle,
)

# --- passphrase and recovery kit ------------------------------------------------------------------------------------


async def change_passphrase(
    backend: LifecycleBackend,
    unlocked: Unlocked,
    confirmation: Confirmation,
    new_passphrase: str,
    *,
    params: kdf.Argon2idParams | None = None,
    passphrase_may_be_known: bool = False,
) -> Unlocked:
    """Re-seal the passphrase slot under the new passphrase (new salt, new slot key, new login key) in one stepped-up
    request that replaces the login key at the same time. ``confirmation`` is the current passphrase, or the recovery
    phrase when it was forgotten. Other devices adopt the new version with the account key they hold.

    With ``passphrase_may_be_known`` the account key, the write epoch and the identity key rotate too, so whoever knew
    the old passphrase (and captured the old bundle) reads nothing written afterwards and cannot sign a version; devices
    that unlocked with the old passphrase then have to unlock again (``UnlockAgain``), remembered devices and passkeys
    follow by themselves.

    The device keeps the new passphrase factor (its slot key pair and login key)."""
    old = unlocked.bundle.public.passphrase.meta
    if params is None:
        params = old.params if isinstance(old, PassphraseMeta) else kdf.DEFAULT_PARAMS
    spec, keys = passphrase_factor(new_passphrase, params)  # the one Argon2id for the new passphrase

    def build(current: UnlockedBundle) -> UnlockedBundle | None:
        if primitives.memcmp(current.public.passphrase.box_public, spec.box_public):
            return None  # our own change, already applied (its answer was lost)
        factors: list[FactorSpec | FactorEntry] = [spec]
        factors += [f for f in current.public.factors if f.type != FactorType.PASSPHRASE]
        return next_version(
            current, factors=factors, new_account_key=passphrase_may_be_known, new_identity=passphrase_may_be_known
        )

    async def send(expected: int, candidate: UnlockedBundle) -> None:
        await backend.replace_login_key(expected, candidate.public.encoded, keys.login.public, confirmation.step_up)

    _, new = await publish(backend, unlocked, confirmation, build, send)
    return Unlocked(new, spec.slot_id, keys.box, keys)


async def new_recovery_kit(
    backend: LifecycleBackend, unlocked: Unlocked, confirmation: Confirmation
) -> tuple[Unlocked, list[str]]:
    """A new recovery phrase (24 words, returned to show once) and recovery login key, in one stepped-up request. The
    account key rotates (with a new epoch) so the old phrase opens nothing current; every other factor is re-sealed."""
    entropy = recovery.new_entropy()
    spec, keys = recovery_factor(entropy)

    def build(current: UnlockedBundle) -> UnlockedBundle | None:
        listed = current.public.factors_of(FactorType.RECOVERY)
        if any(primitives.memcmp(f.box_public, spec.box_public) for f in listed):
            return None
        factors: list[FactorSpec | FactorEntry] = [f for f in current.public.factors if f.type != FactorType.RECOVERY]
        factors.append(spec)
        return next_version(current, factors=factors, new_account_key=True)

    async def send(expected: int, candidate: UnlockedBundle) -> None:
        await backend.replace_recovery_key(expected, candidate.public.encoded, keys.login.public, confirmation.step_up)

    unlocked, new = await publish(backend, unlocked, confirmation, build, send)
    fresh = Confirmation("recovery", spec.slot_id, keys)
    return holder_after(unlocked, new, confirmation, fresh), recovery.phrase_from_entropy(entropy)


# --- remembered devices and passkeys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PasskeyInfo:
    slot_id: bytes
    credential_id: bytes
    prf_salt: bytes
    rp_id: str
    name: str


@dataclass(frozen=True)
class RememberedDevice:
    slot_id: bytes
    device_id: bytes
    signing_public: bytes
    name: str


def passkeys(public: PublicBundle) -> list[PasskeyInfo]:
    """The passkeys that can unlock the account (what the WebAuthn ``get`` call needs: credential id, PRF salt)."""
    out = []
    for f in public.factors_of(FactorType.PASSKEY):
        assert isinstance(f.meta, PasskeyMeta)
        out.append(PasskeyInfo(f.slot_id, f.meta.credential_id, f.meta.prf_salt, f.meta.rp_id, f.meta.name))
    return out


def remembered_devices(public: PublicBundle) -> list[RememberedDevice]:
    out = []
    for f in public.factors_of(FactorType.DEVICE):
        assert isinstance(f.meta, DeviceMeta)
        out.append(RememberedDevice(f.slot_id, f.meta.device_id, f.meta.signing_public, f.meta.name))
    return out


async def _update_factors(
    backend: LifecycleBackend, unlocked: Unlocked, confirmation: Confirmation, build: Build
) -> Unlocked:
    async def send(expected: int, candidate: UnlockedBundle) -> None:
        await backend.update_factors(expected, candidate.public.encoded, confirmation.step_up)

    unlocked, new = await publish(backend, unlocked, confirmation, build, send)
    return holder_after(unlocked, new, confirmation)


async def remember_device(
    backend: LifecycleBackend,
    unlocked: Unlocked,
    confirmation: Confirmation,
    *,
    device_id: bytes,
    signing_public: bytes,
    name: str,
    wrapper: DeviceWrapper,
) -> tuple[Unlocked, bytes]:
    """Turn on "remember this device": a random slot key pair whose private half ``wrapper`` wraps on the device (a
    non-extractable WebCrypto key in the browser), and a slot for it (step-up ``update_factors``). Returns the wrapped
    blob to keep locally (never sent); with it and the wrapper, ``account.unlock_with_device`` opens the account. The
    device then holds this factor, so it follows later account-key rotations (say, "my passphrase may be known") by
    itself."""
    box, blob = await new_device_factor(wrapper, device_id)
    spec = new_factor_spec(FactorType.DEVICE, box.public, DeviceMeta(device_id, signing_public, name))

    def build(current: UnlockedBundle) -> UnlockedBundle | None:
        existing = current.public.device_factor(device_id)
        if existing is not None:
            if primitives.memcmp(existing.box_public, box.public):
                return None
            # An older key of this device (its blob lost): replace it.
            factors = [f for f in current.public.factors if f.slot_id != existing.slot_id]
            return next_version(current, factors=[*factors, spec], new_account_key=True)
        return next_version(current, factors=[*current.public.factors, spec])

    async def send(expected: int, candidate: UnlockedBundle) -> None:
        await backend.update_factors(expected, candidate.public.encoded, confirmation.step_up)

    unlocked, new = await publish(backend, unlocked, confirmation, build, send)
    entry = new.public.device_factor(device_id)
    if entry is None or not primitives.memcmp(entry.box_public, box.public):
        raise BundleError("This device could not be remembered.")
    # From now on this device follows the account with its own factor, which outlives passphrase changes.
    return Unlocked(new, entry.slot_id, box, unlocked.login), blob


def _remove(slot_id: bytes, kind: FactorType, rotate_account_key: bool) -> Build:
    def build(current: UnlockedBundle) -> UnlockedBundle | None:
        entry = current.public.factor(slot_id)
        if entry is None:
            return None
        if entry.type != kind:
            raise BundleError("That is not an unlock method of this kind.")
        factors = [f for f in current.public.factors if f.slot_id != slot_id]
        return next_version(current, factors=factors, new_account_key=rotate_account_key)

    return build


async def forget_device(
    backend: LifecycleBackend,
    unlocked: Unlocked,
    confirmation: Confirmation,
    device_id: bytes,
    *,
    rotate_account_key: bool = True,
) -> Unlocked:
    """Turn "remember this device" off (this device's or another's slot; step-up ``update_factors``). The caller deletes
    the local wrapped blob. By default the account key rotates, so the forgotten key opens nothing current even with
    the old bundle versions the relay keeps. The device keeps working with the factor just confirmed."""
    entry = unlocked.bundle.public.device_factor(device_id)
    if entry is None:
        return unlocked
    return await _update_factors(
        backend, unlocked, confirmation, _remove(entry.slot_id, FactorType.DEVICE, rotate_account_key)
    )


async def add_passkey(
    backend: LifecycleBackend,
    unlocked: Unlocked,
    confirmation: Confirmation,
    *,
    prf_output: bytes,
    credential_id: bytes,
    prf_salt: bytes,
    rp_id: str,
    name: str,
) -> tuple[Unlocked, bytes]:
    """Add a passkey: its WebAuthn PRF output (32 bytes, for ``prf_salt``) gives the slot key pair (step-up
    ``update_factors``). Returns the new slot id."""
    box = passkey_keys(prf_output)
    spec = new_factor_spec(FactorType.PASSKEY, box.public, PasskeyMeta(credential_id, prf_salt, rp_id, name))
    slot_id = spec.slot_id

    def build(current: UnlockedBundle) -> UnlockedBundle | None:
        nonlocal slot_id
        for p in current.public.factors_of(FactorType.PASSKEY):
            assert isinstance(p.meta, PasskeyMeta)
            if p.meta.credential_id == credential_id:
                if primitives.memcmp(p.box_public, box.public):
                    slot_id = p.slot_id
                    return None
                raise BundleError("This passkey is already an unlock method of the account.")
        return next_version(current, factors=[*current.public.factors, spec])

    return await _update_factors(backend, unlocked, confirmation, build), slot_id


async def remove_passkey(
    backend: LifecycleBackend,
    unlocked: Unlocked,
    confirmation: Confirmation,
    slot_id: bytes,
    *,
    rotate_account_key: bool = True,
) -> Unlocked:
    """Remove a passkey (step-up ``update_factors``); by default the account key rotates (see ``forget_device``)."""
    return await _update_factors(
        backend, unlocked, confirmation, _remove(slot_id, FactorType.PASSKEY, rotate_account_key)
    )


