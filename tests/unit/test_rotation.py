"""Rotation: win the compare-and-swap first, re-plan on a loss, resume after a crash anywhere, never lose a record."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from pycore import account, bundle, envelope, rotation
from pycore.errors import BundleError, DecryptionError, NetworkError, VellumError
from pycore.factors import BoxKeyPair, SigningKeyPair
from pycore.keyring import EpochStatus
from pycore.public import bundle_public
from pycore.public.bundle_public import DeviceMeta, FactorType
from tests.support import crafted
from tests.support.memory import MemoryRelay

NOW = 1_800_000_000
PASSPHRASE = "rotation test passphrase"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def base_account() -> account.NewAccount:
    return account.create_account(PASSPHRASE, now=NOW)


def seeded(
    new: account.NewAccount, count: int = 120, *, before: account.NewAccount | None = None
) -> tuple[MemoryRelay, dict[bytes, bytes]]:
    """A relay holding ``new``'s bundle version (after ``before``'s, when it is not the first) and ``count`` notes."""
    u = new.unlocked
    relay = MemoryRelay((before or new).unlocked.public.encoded)
    if before is not None:
        relay.put_bundle(u.public.encoded)
    payloads = {}
    plain = []
    for i in range(count):
        rid = envelope.new_record_id()
        payloads[rid] = json.dumps({"title": f"note {i}", "body": "x" * (i % 50)}).encode()
        plain.append(envelope.PlainRecord(rid, 1, envelope.NO_PREVIOUS, envelope.RecordType.NOTE, payloads[rid]))
    for s in envelope.seal_records(u.scope, u.write_key, plain):
        relay.serve(s)
    return relay, payloads


def holder_for(new: account.NewAccount, public: bundle_public.PublicBundle | None = None) -> rotation.Holder:
    unlocked = account.unlock_with_recovery(public or new.unlocked.public, new.recovery_phrase)
    return rotation.Holder(unlocked.bundle, unlocked.box, unlocked.slot_id)


def assert_all_open(relay: MemoryRelay, holder: rotation.Holder, payloads: dict[bytes, bytes]) -> None:
    records = list(relay.records.values())
    assert {r.record_id for r in records} == set(payloads)
    opened = envelope.open_records(holder.bundle.scope, holder.bundle.keyring.keys, records)
    for r in opened:
        assert not isinstance(r, VellumError), r
        assert r.payload == payloads[r.record_id]


def test_routine_rotation_rewraps_everything_and_keeps_old_keys(base_account: account.NewAccount) -> None:
    relay, payloads = seeded(base_account)
    holder = holder_for(base_account)
    routine = rotation.Rotation(rotation.RotationKind.ROUTINE)
    holder = run(rotation.rotate(relay.transport(), holder, routine, now=NOW + 1))
    assert relay.current.version == 2 and relay.write_epoch == 2
    assert holder.bundle.keyring.intents, "the re-wrap intent is recorded in the keyring"
    holder, progress = run(rotation.finish_intents(relay.transport(), holder, batch=50))
    assert progress.done == len(payloads) and not progress.failed
    assert not holder.bundle.keyring.intents and relay.current.version == 3
    assert all(r.epoch == 2 for r in relay.records.values())
    statuses = {e.epoch: e.status for e in holder.bundle.keyring.epochs}
    assert statuses == {1: EpochStatus.DECRYPT_ONLY, 2: EpochStatus.ACTIVE}
    assert_all_open(relay, holder, payloads)
    assert all((1, 2) in relay.rows[rid].wrapped for rid in payloads), "each re-wrap was a key-only update"
    assert all(r.revision == 1 for r in relay.records.values()), "a re-wrap never creates a content revision"


@pytest.mark.parametrize("fail_after", range(0, 12))
def test_crash_at_any_point_then_another_device_finishes(base_account: account.NewAccount, fail_after: int) -> None:
    relay, payloads = seeded(base_account, count=90)
    device_a = holder_for(base_account)
    backend = relay.transport()
    backend.fail_after = fail_after
    try:
        routine = rotation.Rotation(rotation.RotationKind.ROUTINE)
        device_a = run(rotation.rotate(backend, device_a, routine, now=NOW + 1))
        run(rotation.finish_intents(backend, device_a, batch=20))
    except NetworkError:
        pass
    # Device B unlocks whatever version won and finishes what the keyring says is left.
    device_b = holder_for(base_account, relay.current)
    device_b, _ = run(rotation.finish_intents(relay.transport(), device_b, batch=20))
    assert not device_b.bundle.keyring.intents
    assert_all_open(relay, device_b, payloads)
    # Nothing was ever sealed under an epoch that is not in the relay's chain.
    chain_epochs = {bundle_public.parse_bundle(b).header.write_epoch for b in relay.bundles}
    assert {r.epoch for r in relay.records.values()} <= chain_epochs


def test_two_devices_rotating_at_once_end_with_one_chain(base_account: account.NewAccount) -> None:
    relay, payloads = seeded(base_account, count=40)
    a, b = holder_for(base_account), holder_for(base_account)
    routine = rotation.Rotation(rotation.RotationKind.ROUTINE)
    a = run(rotation.rotate(relay.transport(), a, routine, now=NOW + 1))
    b = run(rotation.rotate(relay.transport(), b, routine, now=NOW + 2))
    # B lost the race, adopted A's version, and found its purpose already covered: one new version, not two.
    assert relay.current.version == 2
    assert b.bundle.public.hash == a.bundle.public.hash
    b, _ = run(rotation.finish_intents(relay.transport(), b))
    # A's own clean-up now loses and adopts B's; nothing left to do.
    a, _ = run(rotation.finish_intents(relay.transport(), a))
    assert a.bundle.public.hash == relay.current.hash == b.bundle.public.hash
    assert_all_open(relay, a, payloads)


def _with_device(base: account.NewAccount) -> tuple[account.NewAccount, BoxKeyPair, bytes]:
    device_box = BoxKeyPair.from_seed(b"\x07" * 32)
    device_id = b"D" * 16
    signing = SigningKeyPair.from_seed(b"\x08" * 32)
    v2 = crafted.with_device(base.unlocked, device_id, signing.public, "Old laptop", device_box.public)
    return account.NewAccount(v2, base.passphrase, base.recovery, base.recovery_entropy), device_box, device_id


def test_routine_rotation_never_swallows_a_revocation(base_account: account.NewAccount) -> None:
    new, _, device_id = _with_device(base_account)
    relay, payloads = seeded(new, count=30, before=base_account)
    owner, other = holder_for(new, new.unlocked.public), holder_for(new, new.unlocked.public)
    routine = rotation.Rotation(rotation.RotationKind.ROUTINE)
    other = run(rotation.rotate(relay.transport(), other, routine, now=NOW + 1))
    revoke = rotation.Rotation(rotation.RotationKind.REVOKE_DEVICE, device_id=device_id)
    owner = run(rotation.rotate(relay.transport(), owner, revoke, now=NOW + 2))
    # The routine version won first; the revocation re-planned on top of it instead of counting as done.
    assert [bundle_public.parse_bundle(b).version for b in relay.bundles] == [1, 2, 3, 4]
    assert relay.current.device_factor(device_id) is None and device_id in relay.revoked
    assert owner.bundle.public.hash == relay.current.hash
    owner, _ = run(rotation.finish_intents(relay.transport(), owner))
    assert_all_open(relay, owner, payloads)


def test_revocation_locks_out_the_revoked_device_and_the_old_identity(base_account: account.NewAccount) -> None:
    new, device_box, device_id = _with_device(base_account)
    relay, payloads = seeded(new, count=20, before=base_account)
    entry = new.unlocked.public.device_factor(device_id)
    assert entry is not None and isinstance(entry.meta, DeviceMeta)
    owner = holder_for(new, new.unlocked.public)
    old = owner.bundle
    revoke = rotation.Rotation(rotation.RotationKind.REVOKE_DEVICE, device_id=device_id, reencrypt=True)
    owner = run(rotation.rotate(relay.transport(), owner, revoke, now=NOW + 1))
    revoked_version = relay.current
    # The old account key opens nothing of the new version; the revoked device's slot is gone.
    with pytest.raises(BundleError):
        bundle.open_with_account_key(revoked_version, old.account_key)
    with pytest.raises(DecryptionError):
        bundle.open_bundle(revoked_version, entry.slot_id, device_box)
    # Every remaining factor still opens it without having been present.
    assert account.unlock_with_passphrase(revoked_version, PASSPHRASE).bundle.account_key == owner.bundle.account_key
    assert account.unlock_with_recovery(revoked_version, new.recovery_phrase).bundle.version == revoked_version.version
    assert {f.type for f in revoked_version.factors} == {FactorType.PASSPHRASE, FactorType.RECOVERY}
    # A version signed by the identity key the revocation replaced is refused.
    forged = bundle.next_version(old, keyring=old.keyring.with_new_epoch(NOW + 5))
    with pytest.raises(BundleError):
        bundle_public.verify_chain(
            owner.bundle.pin, [forged.public.encoded], bundle.verify_signature, account_id=old.account_id
        )
    # Re-encryption: every record gets a new revision under the new epoch; the old keys cannot open them.
    owner, progress = run(rotation.finish_intents(relay.transport(), owner))
    assert progress.done == len(payloads)
    assert all(r.revision == 2 and r.epoch == owner.bundle.keyring.active.epoch for r in relay.records.values())
    assert_all_open(relay, owner, payloads)
    stale_view = envelope.open_records(old.scope, old.keyring.keys, list(relay.records.values()))
    assert all(isinstance(r, VellumError) for r in stale_view)


def test_rewrap_superseded_by_a_newer_rotation_resumes_at_the_newest_epoch(base_account: account.NewAccount) -> None:
    relay, payloads = seeded(base_account, count=60)
    a = holder_for(base_account)
    routine = rotation.Rotation(rotation.RotationKind.ROUTINE)
    a = run(rotation.rotate(relay.transport(), a, routine, now=NOW + 1))
    run(rotation.rotate(relay.transport(), holder_for(base_account, relay.current), routine, now=NOW + 2))
    assert relay.write_epoch == 3
    # A still believes epoch 2 is current: its key-only updates are superseded, then it adopts and finishes at 3.
    a, _ = run(rotation.finish_intents(relay.transport(), a, batch=25))
    assert all(r.epoch == 3 for r in relay.records.values())
    assert a.bundle.keyring.active.epoch == 3 and not a.bundle.keyring.intents
    assert_all_open(relay, a, payloads)


def test_a_rotation_with_a_garbage_record_keeps_its_intent(base_account: account.NewAccount) -> None:
    relay, payloads = seeded(base_account, count=10)
    victim = next(iter(relay.records.values()))
    garbage = bytearray(victim.content)
    garbage[-3] ^= 1
    relay.serve(
        envelope.SealedRecord(victim.record_id, victim.revision, victim.epoch, victim.wrapped_key, bytes(garbage))
    )
    routine = rotation.Rotation(rotation.RotationKind.ROUTINE)
    holder = run(rotation.rotate(relay.transport(), holder_for(base_account), routine, now=NOW))
    holder, progress = run(rotation.finish_intents(relay.transport(), holder))
    assert progress.failed == [victim.record_id] and progress.done == len(payloads) - 1
    assert holder.bundle.keyring.intents, "the intent stays until every record is done"
    assert relay.records[victim.record_id].content == bytes(garbage), "a record that did not open is left untouched"
