"""Revoking a device: the relay refuses it, and a version with new account, epoch and identity keys. SPEC §9.3."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pycore import primitives
from pycore.account import Unlocked
from pycore.bundle import (
    UnlockedBundle,
    next_version,
    verify_signature,
)
from pycore.errors import (
    BundleError,
    KeyringFork,
    KeyringRollback,
    RotationError,
    StaleBundle,
)
from pycore.keyring import IntentKind, RotationIntent
from pycore.lifecycle.backend import LifecycleBackend, SteppedUp
from pycore.lifecycle.confirm import Confirmation
from pycore.lifecycle.follow import adopt, holder_after
from pycore.public.bundle_public import (
    PROTOCOL_VERSION,
    FactorEntry,
    PublicBundle,
    verify_chain,
)
from pycore.rotation import MAX_ATTEMPTS, Holder, Rotation, RotationKind
from pycore.rotation import rotate as _rotate


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
    stepped = SteppedUp(backend, confirmation.step_up)
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
            return holder_after(unlocked, candidate, confirmation)
        try:
            holder = await _rotate(stepped, Holder(unlocked.bundle, unlocked.box, unlocked.slot_id), rotation, now=now)
        except (KeyringRollback, KeyringFork):
            raise
        except BundleError:
            continue  # a version that does not open arrived meanwhile: start over from the chain
        return holder_after(unlocked, holder.bundle, confirmation)
    raise RotationError("Another device keeps changing the account keys; try again in a moment.")


