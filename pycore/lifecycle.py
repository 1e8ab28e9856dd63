"""Key-lifecycle flows across devices: change the passphrase, recover, new recovery kit, remember this device,
passkeys, revoke a device, routine rotation — the protocol-level orchestration shared by the CPython client and the
browser worker.

Pure protocol, no I/O of its own: the relay comes in through ``LifecycleBackend`` (rotation's ``RotationBackend`` plus
the step-up endpoints), which ``pycore.client.relay_api.RelayApi`` implements over any async HTTP function (``requests``
in CPython, ``fetch`` in the browser). Every flow takes the device's ``account.Unlocked`` (the bundle in use and the
factor that opened it) and returns the new one only *after* the relay accepted the version; the caller then hands it to
its sync engine (``SyncEngine.adopt``). DESIGN §3 "Rotation", SPEC §6.4, §8, §9.3.

Rules every flow follows:

- **Step-up.** A version that changes a slot, the factor list, the identity key or a login key needs a ``Confirmation``:
  the passphrase (or recovery phrase) the person just typed, checked here against the bundle first (``wrong_passphrase``
  before any request), then by the relay against its login key. A stolen device, even one holding the account key,
  cannot make one.
- **Compare-and-swap first, then seal.** A flow that loses the race adopts the winner and re-plans on top of it (a
  routine rotation never swallows a revocation: ``rotation.covered``). Nothing is sealed under keys that are not in a
  won version; the sync engine re-seals its outbox when it meets ``stale_epoch``.
- **Adopt only what opens.** ``follow`` verifies the chain against the device's pin (``keyring_rollback``,
  ``keyring_fork``, ``bad_bundle``) and adopts the newest version only if it fully opens — with the account key held, or
  after an account-key rotation with the factor this device unlocked with. When that factor is gone, ``UnlockAgain``.
- **Removing a factor rotates the account key** (and so starts a new epoch) by default: the relay keeps every bundle
  version, so a removed passkey or a forgotten device key would still open its old slot and, with an unchanged account
  key, the current keyring.
- **Offline**, only a routine rotation can be requested: it is queued (``QueuedRotation``), nothing is sealed, and it is
  published when the relay is reachable again unless another device rotated in the meantime. Step-up flows need the
  relay (``NetworkError``, nothing changed locally).
- **Version 1 never destroys an epoch key**: every rotation keeps older epoch keys decrypt-only.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from pycore import kdf, primitives, recovery
from pycore.account import Unlocked, passphrase_factor, recovery_factor
from pycore.bundle import (
    FactorSpec,
    UnlockedBundle,
    new_factor_spec,
    next_version,
    open_bundle,
    open_with_account_key,
    verify_signature,
)
from pycore.bundle_public import (
    PROTOCOL_VERSION,
    DeviceMeta,
    FactorEntry,
    FactorType,
    PasskeyMeta,
    PassphraseMeta,
    PublicBundle,
    verify_chain,
)
from pycore.envelope import SealedRecord
from pycore.errors import (
    BundleError,
    DecryptionError,
    FormatError,
    KeyringFork,
    KeyringRollback,
    RotationError,
    StaleBundle,
    VellumError,
)
from pycore.factors import (
    DeviceWrapper,
    LoginFactorKeys,
    SigningKeyPair,
    new_device_factor,
    passkey_keys,
    passphrase_keys,
    recovery_keys,
)
from pycore.keyring import IntentKind, Keyring, RotationIntent
from pycore.rotation import DEFAULT_BATCH, Holder, Progress, Rotation, RotationBackend, RotationKind
from pycore.rotation import finish_intents as _finish_intents
from pycore.rotation import rotate as _rotate
from pycore.sync import NetworkError, RelayError

MAX_ATTEMPTS = 8
DAY_SECONDS = 86_400
DEFAULT_ROTATION_DAYS = 90

StepUpKind = Literal["login", "recovery"]


class UnlockAgain(VellumError):
    """The account keys changed and this device's unlock method is no longer part of the account."""

    code = "unlock_again"

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "The account keys changed and the way this device was unlocked is no longer part of the account. "
            "Unlock again with your current passphrase."
        )


# --- step-up --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepUpKey:
    """What signs a step-up statement (``wire.step_up_statement``): the login key (``"login"``, from the passphrase) or
    the recovery login key (``"recovery"``)."""

    kind: StepUpKind
    key: SigningKeyPair = field(repr=False)

    def sign(self, statement: bytes) -> bytes:
        return self.key.sign(statement)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("key material cannot be pickled")


@dataclass(frozen=True)
class Confirmation:
    """The passphrase or recovery phrase a person just typed, checked against the bundle: its factor's slot id, its slot
    key pair (so the device can keep adopting versions with it) and its login key (for the step-up)."""

    kind: StepUpKind
    slot_id: bytes
    keys: LoginFactorKeys = field(repr=False)

    @property
    def step_up(self) -> StepUpKey:
        return StepUpKey(self.kind, self.keys.login)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("key material cannot be pickled")


def confirm_passphrase(public: PublicBundle, passphrase: str) -> Confirmation:
    """One Argon2id with the bundle's salt and parameters (never below the floor). ``wrong_passphrase`` if it is not the
    account's current passphrase — checked locally, before anything is sent."""
    entry = public.passphrase
    meta = entry.meta
    if not isinstance(meta, PassphraseMeta):
        raise BundleError("the passphrase factor has no parameters")
    keys = passphrase_keys(passphrase, meta.salt, meta.params)
    if not primitives.memcmp(keys.box.public, entry.box_public):
        raise DecryptionError("That passphrase is not right for this account.", code="wrong_passphrase")
    return Confirmation("login", entry.slot_id, keys)


def confirm_recovery(public: PublicBundle, words: Sequence[str] | str) -> Confirmation:
    """The recovery phrase (no Argon2id: its entropy is used raw). ``wrong_recovery_phrase`` if it is not the current
    kit's; ``unknown_word`` / ``bad_checksum`` / ``wrong_word_count`` if it is not a phrase at all."""
    keys = recovery_keys(recovery.entropy_from_phrase(words))
    found = public.factors_of(FactorType.RECOVERY)
    if not found or not primitives.memcmp(found[0].box_public, keys.box.public):
        raise DecryptionError(
            "This recovery phrase belongs to an older recovery kit or another account.", code="wrong_recovery_phrase"
        )
    return Confirmation("recovery", found[0].slot_id, keys)


def confirmation_of(unlocked: Unlocked) -> Confirmation | None:
    """The confirmation a device holds right after logging in with the passphrase or the recovery phrase (for example a
    recovery login followed at once by "choose a new passphrase"), or ``None``."""
    if unlocked.login is None:
        return None
    entry = unlocked.bundle.public.factor(unlocked.slot_id)
    if entry is None or not primitives.memcmp(entry.box_public, unlocked.login.box.public):
        return None
    if entry.type == FactorType.PASSPHRASE:
        return Confirmation("login", entry.slot_id, unlocked.login)
    if entry.type == FactorType.RECOVERY:
        return Confirmation("recovery", entry.slot_id, unlocked.login)
    return None


# --- the relay ------------------------------------------------------------------------------------------------------


class LifecycleBackend(RotationBackend, Protocol):
    """The relay's key endpoints as the lifecycle flows see them. Each call is one request that the relay applies
    atomically; a lost compare-and-swap raises ``StaleBundle``; a refused step-up raises the transport's error with
    code ``step_up_failed``; an unreachable relay ``pycore.sync.NetworkError``."""

    async def replace_login_key(
        self, expected_version: int, bundle: bytes, login_public: bytes, step_up: StepUpKey
    ) -> None:
        """The new passphrase factor and the new login key, together (step-up ``change_passphrase``)."""
        ...

    async def replace_recovery_key(
        self, expected_version: int, bundle: bytes, recovery_login_public: bytes, step_up: StepUpKey
    ) -> None:
        """The new recovery factor and the new recovery login key, together (step-up ``new_recovery_kit``)."""
        ...

    async def update_factors(self, expected_version: int, bundle: bytes, step_up: StepUpKey) -> None:
        """A version that adds, removes or re-seals a passkey or device slot (step-up ``update_factors``)."""
        ...

    async def revoke_device(self, device_id: bytes, expected_version: int, bundle: bytes, step_up: StepUpKey) -> None:
        """Revoke another device together with the version that drops it (step-up ``revoke_device``)."""
        ...

    async def count_below_epoch(self, epoch: int) -> int:
        """How many current records still have their newest wrapped key under an epoch older than ``epoch``."""
        ...


class _SteppedUp:
    """Rotation's backend with an explicit step-up key: a revocation goes to the relay's revoke endpoint, any other
    version to ``update_factors`` (or, without a key, to the plain compare-and-swap)."""

    def __init__(self, backend: LifecycleBackend, step_up: StepUpKey | None) -> None:
        self.backend = backend
        self.step_up = step_up

    async def bundle_chain(self, since_version: int) -> list[bytes]:
        return await self.backend.bundle_chain(since_version)

    async def publish_bundle(self, expected_version: int, bundle: bytes, rotation: Rotation | None) -> None:
        if rotation is not None and rotation.device_id is not None:
            if self.step_up is None:
                raise RotationError("Revoking a device needs your passphrase.", code="step_up_required")
            try:
                await self.backend.revoke_device(rotation.device_id, expected_version, bundle, self.step_up)
            except RelayError as exc:
                if exc.code != "already_revoked":
                    raise
                # The device is already refused (it left by itself, or another device revoked it): the version with
                # the new keys still has to go in, as a stepped-up factor update (``stale_bundle`` if it was already).
                await self.backend.update_factors(expected_version, bundle, self.step_up)
        elif self.step_up is not None:
            await self.backend.update_factors(expected_version, bundle, self.step_up)
        else:
            await self.backend.publish_bundle(expected_version, bundle, rotation)

    async def records_below_epoch(self, epoch: int, after: bytes | None, limit: int) -> list[SealedRecord]:
        return await self.backend.records_below_epoch(epoch, after, limit)

    async def put_key_updates(self, updates: Sequence[SealedRecord]) -> list[bool]:
        return await self.backend.put_key_updates(updates)

    async def put_records(self, records: Sequence[tuple[int, SealedRecord]]) -> list[bool]:
        return await self.backend.put_records(records)


# --- following the chain --------------------------------------------------------------------------------------------


def _same_box(entry: FactorEntry | None, unlocked: Unlocked) -> bool:
    return entry is not None and primitives.memcmp(entry.box_public, unlocked.box.public)


def adopt(unlocked: Unlocked, chain: Sequence[bytes], also: Confirmation | None = None) -> Unlocked:
    """Adopt the newest version in ``chain`` (the relay's answer for versions after ours; it may repeat ours).

    The chain is verified against this device's pin: an older version is ``keyring_rollback``, another bundle at the
    pinned version ``keyring_fork``, a broken signature, hash or identity handover ``bad_bundle``. The newest version is
    opened with the account key held (routine rotations, passphrase changes, new passkeys) or, after an account-key
    rotation, with the factor this device unlocked with (or ``also``, a factor just confirmed). A version that does not
    fully open is ``bad_bundle``, and the one in use stays; if none of this device's factors is listed any more,
    ``UnlockAgain``."""
    current = unlocked.bundle
    newer = verify_chain(current.pin, chain, verify_signature, account_id=current.account_id)
    if not newer:
        return unlocked
    latest = newer[-1]
    try:
        return _holder_after(unlocked, open_with_account_key(latest, current.account_key), also)
    except BundleError:
        pass
    candidates: list[Unlocked] = [unlocked]
    if also is not None:
        candidates.append(Unlocked(current, also.slot_id, also.keys.box, also.keys))
    listed = [c for c in candidates if _same_box(latest.factor(c.slot_id), c)]
    if not listed:
        raise UnlockAgain()
    holder = listed[0]
    try:
        opened = open_bundle(latest, holder.slot_id, holder.box)
    except DecryptionError:
        raise BundleError("The account keys could not be fully opened; the last good version is kept.") from None
    return replace(holder, bundle=opened)


async def follow(backend: RotationBackend, unlocked: Unlocked, also: Confirmation | None = None) -> Unlocked:
    """Fetch the versions after ours and adopt the newest (``adopt``). Call it before confirming a passphrase for a
    step-up flow, so the confirmation is checked against the current salt and factors."""
    return adopt(unlocked, await backend.bundle_chain(unlocked.bundle.version), also)


async def newest_public(backend: RotationBackend, unlocked: Unlocked) -> PublicBundle:
    """The newest version the relay serves, verified against this device's pin but not opened: what to confirm a
    passphrase against when ``follow`` raised ``UnlockAgain`` (then ``follow(backend, unlocked, confirmation)``)."""
    chain = await backend.bundle_chain(unlocked.bundle.version)
    newer = verify_chain(unlocked.bundle.pin, chain, verify_signature, account_id=unlocked.bundle.account_id)
    return newer[-1] if newer else unlocked.bundle.public


async def confirm(
    backend: RotationBackend,
    unlocked: Unlocked,
    *,
    passphrase: str | None = None,
    recovery_phrase: Sequence[str] | str | None = None,
) -> tuple[Unlocked, Confirmation]:
    """The start of every step-up flow: fetch the chain, check the passphrase (one Argon2id) or recovery phrase against
    the newest version, and adopt that version with it (so a device that unlocked with a passphrase changed elsewhere
    follows too). If the newest version does not open, the current one stays (``revoke_device`` repairs that);
    rollback and fork raise."""
    chain = await backend.bundle_chain(unlocked.bundle.version)
    newer = verify_chain(unlocked.bundle.pin, chain, verify_signature, account_id=unlocked.bundle.account_id)
    public = newer[-1] if newer else unlocked.bundle.public
    if passphrase is not None:
        confirmation = confirm_passphrase(public, passphrase)
    elif recovery_phrase is not None:
        confirmation = confirm_recovery(public, recovery_phrase)
    else:
        raise DecryptionError("Confirm with your passphrase or recovery phrase.", code="step_up_required")
    try:
        unlocked = adopt(unlocked, chain, confirmation)
    except (KeyringRollback, KeyringFork):
        raise
    except BundleError:
        pass
    return unlocked, confirmation


def _holder_after(unlocked: Unlocked, new: UnlockedBundle, *confirmations: Confirmation | None) -> Unlocked:
    """``new`` with the factor this device keeps: the one it unlocked with if it is still listed, else the first one
    just confirmed that is listed, else (none listed, but ``new`` is open) the old one, so that the next account-key
    rotation by another device asks to unlock again."""
    if _same_box(new.public.factor(unlocked.slot_id), unlocked):
        return replace(unlocked, bundle=new)
    for c in confirmations:
        if c is None:
            continue
        entry = new.public.factor(c.slot_id)
        if entry is not None and primitives.memcmp(entry.box_public, c.keys.box.public):
            return Unlocked(new, c.slot_id, c.keys.box, c.keys)
    return replace(unlocked, bundle=new)


Build = Callable[[UnlockedBundle], UnlockedBundle | None]
"""The next version on top of the current one, or ``None`` when the current one already does what was asked."""
Send = Callable[[int, UnlockedBundle], Awaitable[None]]


async def _publish(
    backend: RotationBackend, unlocked: Unlocked, confirmation: Confirmation | None, build: Build, send: Send
) -> tuple[Unlocked, UnlockedBundle]:
    """Compare-and-swap ``build(current)``; on a lost race adopt the winner and build again on top of it."""
    for _ in range(MAX_ATTEMPTS):
        candidate = build(unlocked.bundle)
        if candidate is None:
            return unlocked, unlocked.bundle
        try:
            await send(unlocked.bundle.version, candidate)
        except StaleBundle:
            unlocked = await follow(backend, unlocked, confirmation)
            continue
        return unlocked, candidate
    raise RotationError("Another device keeps changing the account keys; try again in a moment.")


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

    _, new = await _publish(backend, unlocked, confirmation, build, send)
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

    unlocked, new = await _publish(backend, unlocked, confirmation, build, send)
    fresh = Confirmation("recovery", spec.slot_id, keys)
    return _holder_after(unlocked, new, confirmation, fresh), recovery.phrase_from_entropy(entropy)


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

    unlocked, new = await _publish(backend, unlocked, confirmation, build, send)
    return _holder_after(unlocked, new, confirmation)


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

    unlocked, new = await _publish(backend, unlocked, confirmation, build, send)
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


# --- revocation -----------------------------------------------------------------------------------------------------


def _repair_base(good: UnlockedBundle, head: PublicBundle, now: int, rotation: Rotation) -> UnlockedBundle:
    """The revocation built on a newest version that does not open (a stolen device holding the account key published a
    keyring nobody else can open). Possible only when that version kept the identity key and every factor's public
    part — which the relay enforces, since changing them needs a step-up — and so it can be superseded by a version
    with a new account key, epoch and identity key, re-sealed to every remaining factor."""
    if not primitives.memcmp(head.header.identity_public, good.identity.public):
        raise BundleError("The account's newest keys cannot be opened or repaired; the last good version is kept.")

    def public_parts(entries: Sequence[FactorEntry]) -> list[tuple[bytes, int, bytes, object]]:
        return sorted(((f.slot_id, int(f.type), f.box_public, f.meta) for f in entries), key=lambda t: t[0])

    if public_parts(head.factors) != public_parts(good.public.factors):
        raise BundleError("The account's newest keys cannot be opened or repaired; the last good version is kept.")
    if head.header.min_writer_version > PROTOCOL_VERSION:
        raise BundleError("This account was upgraded by a newer Vellum; update this app.")
    assert rotation.device_id is not None
    keyring = good.keyring.with_new_epoch(now)
    target = max(keyring.active.epoch, head.header.write_epoch + 1)
    intents = (RotationIntent(IntentKind.REENCRYPT, target, now),) if rotation.reencrypt else ()
    keyring = replace(
        keyring,
        epochs=(*keyring.epochs[:-1], replace(keyring.active, epoch=target)),
        intents=keyring.intents + intents,
    )
    base = UnlockedBundle(head, good.account_key, good.keyring)
    revoked = head.device_factor(rotation.device_id)
    factors = [f for f in head.factors if revoked is None or f.slot_id != revoked.slot_id]
    return next_version(base, factors=factors, keyring=keyring, new_account_key=True, new_identity=True)


async def revoke_device(
    backend: LifecycleBackend,
    unlocked: Unlocked,
    confirmation: Confirmation,
    device_id: bytes,
    *,
    now: int,
    reencrypt: bool = False,
) -> Unlocked:
    """Revoke another device: the relay refuses it from the next request on, and — in the same transaction — a version
    with a new account key, a new write epoch and a new identity key (introduced by the old one), with the device's
    slot dropped and every remaining factor re-sealed (``rotation.rotate`` with ``REVOKE_DEVICE``). Notes written
    afterwards are unreadable with the revoked device's keys. With ``reencrypt`` a re-encrypt intent is recorded:
    ``finish_rotation`` then re-encrypts every older record under fresh record keys (any device can run or resume it).

    A version another device published first is adopted and the revocation re-planned on top of it (a routine rotation
    never covers a revocation). If the newest version does not open at all (a stolen device that holds the account key
    published a garbage keyring), the revocation is built on it directly, which is the remedy."""
    rotation = Rotation(RotationKind.REVOKE_DEVICE, device_id=device_id, reencrypt=reencrypt)
    stepped = _SteppedUp(backend, confirmation.step_up)
    for _ in range(MAX_ATTEMPTS):
        chain = await backend.bundle_chain(unlocked.bundle.version)
        try:
            unlocked = adopt(unlocked, chain, confirmation)
        except (KeyringRollback, KeyringFork):
            raise
        except BundleError:
            # The newest version does not open: build the revocation on it directly (the remedy), if it can be.
            head = verify_chain(unlocked.bundle.pin, chain, verify_signature, account_id=unlocked.bundle.account_id)[-1]
            candidate = _repair_base(unlocked.bundle, head, now, rotation)
            try:
                await stepped.publish_bundle(head.version, candidate.public.encoded, rotation)
            except StaleBundle:
                continue
            return _holder_after(unlocked, candidate, confirmation)
        try:
            holder = await _rotate(stepped, Holder(unlocked.bundle, unlocked.box, unlocked.slot_id), rotation, now=now)
        except (KeyringRollback, KeyringFork):
            raise
        except BundleError:
            continue  # a version that does not open arrived meanwhile: start over from the chain
        return _holder_after(unlocked, holder.bundle, confirmation)
    raise RotationError("Another device keeps changing the account keys; try again in a moment.")


# --- routine rotation -----------------------------------------------------------------------------------------------


def rotation_due(keyring: Keyring, now: int, every_days: int = DEFAULT_ROTATION_DAYS) -> bool:
    """Whether a routine rotation is due: ``every_days`` since the last one (any kind: new epoch) or since creation."""
    if every_days <= 0:
        return True
    return now - keyring.last_rotation_at >= every_days * DAY_SECONDS


async def rotate_keys(backend: RotationBackend, unlocked: Unlocked, *, now: int, rewrap: bool = True) -> Unlocked:
    """A routine rotation: a new write epoch (older keys stay decrypt-only) and, with ``rewrap``, a re-wrap intent that
    ``finish_rotation`` works through in the background. No step-up: factors and slots do not change. A newer epoch
    published meanwhile by another device covers it."""
    holder = await _rotate(
        backend,
        Holder(unlocked.bundle, unlocked.box, unlocked.slot_id),
        Rotation(RotationKind.ROUTINE, rewrap=rewrap),
        now=now,
    )
    return _holder_after(unlocked, holder.bundle, None)


@dataclass(frozen=True)
class QueuedRotation:
    """A routine rotation requested while the relay was unreachable: only the request is kept (nothing is sealed under
    an epoch that is not in a won version). ``base_epoch``: the write epoch when it was requested."""

    requested_at: int
    base_epoch: int
    rewrap: bool = True

    def encode(self) -> bytes:
        data = {"base_epoch": self.base_epoch, "requested_at": self.requested_at, "rewrap": self.rewrap}
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("ascii")

    @classmethod
    def decode(cls, data: bytes) -> QueuedRotation:
        try:
            obj = json.loads(data.decode("ascii"))
            base_epoch, requested_at, rewrap = obj["base_epoch"], obj["requested_at"], obj["rewrap"]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            raise FormatError("bad queued rotation") from None
        if not (isinstance(base_epoch, int) and isinstance(requested_at, int) and isinstance(rewrap, bool)):
            raise FormatError("bad queued rotation")
        return cls(requested_at, base_epoch, rewrap)


async def request_rotation(
    backend: RotationBackend, unlocked: Unlocked, *, now: int, rewrap: bool = True
) -> tuple[Unlocked, QueuedRotation | None]:
    """``rotate_keys``, or — when the relay cannot be reached — the request to keep and run later (``run_queued``)."""
    try:
        return await rotate_keys(backend, unlocked, now=now, rewrap=rewrap), None
    except NetworkError:
        return unlocked, QueuedRotation(now, unlocked.bundle.keyring.active.epoch, rewrap)


async def run_queued(backend: RotationBackend, unlocked: Unlocked, queued: QueuedRotation, *, now: int) -> Unlocked:
    """Publish a queued rotation, unless the relay's chain already has a newer epoch than when it was requested (another
    device rotated, or this request's own publication was applied and its answer lost)."""
    unlocked = await follow(backend, unlocked)
    if unlocked.bundle.keyring.active.epoch > queued.base_epoch:
        return unlocked
    return await rotate_keys(backend, unlocked, now=now, rewrap=queued.rewrap)


@dataclass(frozen=True)
class RotationProgress:
    """``done``: records re-wrapped or re-encrypted so far in this run; ``superseded``: edited meanwhile (so already
    under the new epoch); ``failed``: could not be opened (left for a device that can); ``total``: records below the
    write epoch when the run started (read from the relay)."""

    done: int
    superseded: int
    failed: int
    total: int

    @property
    def fraction(self) -> float:
        if self.total <= 0:
            return 1.0
        return min(1.0, (self.done + self.superseded + self.failed) / self.total)


@dataclass(frozen=True)
class RotationStatus:
    write_epoch: int
    intents: tuple[RotationIntent, ...]
    remaining: int  # records whose newest wrapped key is below the write epoch (at the relay)
    last_rotation_at: int

    @property
    def pending(self) -> bool:
        return bool(self.intents)


async def rotation_status(backend: LifecycleBackend, unlocked: Unlocked) -> RotationStatus:
    keyring = unlocked.bundle.keyring
    epoch = keyring.active.epoch
    return RotationStatus(epoch, keyring.intents, await backend.count_below_epoch(epoch), keyring.last_rotation_at)


async def finish_rotation(
    backend: LifecycleBackend,
    unlocked: Unlocked,
    *,
    batch: int = DEFAULT_BATCH,
    on_progress: Callable[[RotationProgress], None] | None = None,
) -> tuple[Unlocked, RotationProgress]:
    """Work through the rotation intents the keyring records (a re-wrap after a routine rotation, a re-encryption after
    a revocation), from wherever any device left off — progress is the relay's per-record epochs — then publish the
    version that clears them (``rotation.finish_intents``). Safe to interrupt at any point and to run on several
    devices at once."""
    keyring = unlocked.bundle.keyring
    total = await backend.count_below_epoch(keyring.active.epoch) if keyring.intents else 0

    def report(p: Progress) -> None:
        if on_progress is not None:
            on_progress(RotationProgress(p.done, p.superseded, len(p.failed), total))

    holder, progress = await _finish_intents(
        backend, Holder(unlocked.bundle, unlocked.box, unlocked.slot_id), batch=batch, on_progress=report
    )
    result = RotationProgress(progress.done, progress.superseded, len(progress.failed), total)
    return _holder_after(unlocked, holder.bundle, None), result
