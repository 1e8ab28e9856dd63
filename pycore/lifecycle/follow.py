"""Following the account's bundle chain: adopt the newest version that fully opens, confirm a step-up against it, and
the compare-and-swap-then-rebuild loop every flow publishes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from pycore import primitives
from pycore.account import Unlocked
from pycore.bundle import (
    UnlockedBundle,
    open_bundle,
    open_with_account_key,
    verify_signature,
)
from pycore.errors import (
    BundleError,
    DecryptionError,
    KeyringFork,
    KeyringRollback,
    RotationError,
    StaleBundle,
    StepUpRequired,
    UnlockAgain,
)
from pycore.lifecycle.confirm import Confirmation, confirm_passphrase, confirm_recovery
from pycore.public.bundle_public import (
    FactorEntry,
    PublicBundle,
    verify_chain,
)
from pycore.rotation import MAX_ATTEMPTS, RotationBackend


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
        return holder_after(unlocked, open_with_account_key(latest, current.account_key), also)
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
        raise StepUpRequired("Confirm with your passphrase or recovery phrase.")
    try:
        unlocked = adopt(unlocked, chain, confirmation)
    except (KeyringRollback, KeyringFork):
        raise
    except BundleError:
        pass
    return unlocked, confirmation


def holder_after(unlocked: Unlocked, new: UnlockedBundle, *confirmations: Confirmation | None) -> Unlocked:
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


async def publish(
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


