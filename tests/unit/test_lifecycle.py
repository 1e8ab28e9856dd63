"""Key-lifecycle flows (``pycore.lifecycle``) over the in-memory relay double with the relay's step-up rules, and the
relay API's pieces they rely on (stepped-up requests, the pinned-version re-read of the bundle chain)."""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from pycore import account, lifecycle, primitives
from pycore.account import Unlocked
from pycore.bundle import open_with_account_key
from pycore.client.signer import NaclSigner
from pycore.errors import (
    BundleError,
    DecryptionError,
    KeyringFork,
    KeyringRollback,
    RelayError,
    StaleBundle,
    UnlockAgain,
)
from pycore.factors import SigningKeyPair, SoftwareDeviceWrapper
from pycore.keyring import IntentKind
from pycore.lifecycle.confirm import Confirmation, StepUpKey
from pycore.lifecycle.revoke import _repair_base
from pycore.lifecycle.rotate import QueuedRotation
from pycore.public import bundle_public, wire
from pycore.public.bundle_public import BundleHeader, PublicBundle, encode_body, encode_bundle, signed_message
from pycore.public.codec import b64d, b64e
from pycore.rotation import Rotation, RotationKind
from pycore.sync.relay_api import HttpResponse, RelayApi, Session
from tests.support import crafted
from tests.support.memory import MemoryRelay, MemoryTransport

NOW = 1_800_000_000
PASSPHRASE = "lifecycle unit passphrase"
NEW_PASSPHRASE = "another lifecycle passphrase"


def run(coro: Awaitable[Any]) -> Any:
    async def wrapper() -> Any:
        return await coro

    return asyncio.run(wrapper())


@pytest.fixture(scope="module")
def created() -> account.NewAccount:
    return account.create_account(PASSPHRASE, now=NOW)


@dataclass
class World:
    new: account.NewAccount
    relay: MemoryRelay

    def device(self) -> tuple[MemoryTransport, Unlocked]:
        """A device unlocked with the passphrase (no Argon2id: the keys are the account's own)."""
        u = self.new.unlocked
        slot = u.public.passphrase.slot_id
        unlocked = Unlocked(u, slot, self.new.passphrase.box, self.new.passphrase)
        return self.relay.transport(primitives.randombytes(16)), unlocked

    def confirmation(self, unlocked: Unlocked) -> Confirmation:
        c = lifecycle.confirmation_of(unlocked)
        assert c is not None
        return c


@pytest.fixture
def world(created: account.NewAccount) -> World:
    relay = MemoryRelay(
        created.unlocked.public.encoded,
        login_public=created.passphrase.login.public,
        recovery_public=created.recovery.login.public,
    )
    return World(created, relay)


def forge(on: PublicBundle, identity: SigningKeyPair, *, write_epoch: int | None = None) -> bytes:
    h = on.header
    epoch = h.write_epoch if write_epoch is None else write_epoch
    header = BundleHeader(h.account_id, h.version + 1, on.hash, h.min_writer_version, epoch, identity.public)
    body = encode_body(header, on.factors, primitives.randombytes(160))
    return encode_bundle(body, identity.sign(signed_message(body)), None)


# --- pure pieces ----------------------------------------------------------------------------------------------------


def test_rotation_due_and_a_queued_rotation_round_trip(created: account.NewAccount) -> None:
    keyring = created.unlocked.keyring
    assert not lifecycle.rotation_due(keyring, NOW + 89 * 86_400)
    assert lifecycle.rotation_due(keyring, NOW + 90 * 86_400)
    assert lifecycle.rotation_due(keyring, NOW + 8 * 86_400, every_days=7)
    q = QueuedRotation(NOW, 3, rewrap=False)
    assert QueuedRotation.decode(q.encode()) == q
    with pytest.raises(Exception) as info:
        QueuedRotation.decode(b'{"base_epoch": "3"}')
    assert getattr(info.value, "code", "") == "bad_format"
    assert lifecycle.RotationProgress(5, 5, 0, 20).fraction == 0.5
    assert lifecycle.RotationProgress(0, 0, 0, 0).fraction == 1.0


def test_confirmation_checks_locally_before_anything_is_sent(world: World) -> None:
    transport, unlocked = world.device()
    with pytest.raises(DecryptionError) as wrong:
        lifecycle.confirm_passphrase(unlocked.bundle.public, "not it")
    assert wrong.value.code == "wrong_passphrase"
    with pytest.raises(DecryptionError) as old_kit:
        lifecycle.confirm_recovery(unlocked.bundle.public, account.recovery.phrase_from_entropy(bytes(32)))
    assert old_kit.value.code == "wrong_recovery_phrase"
    rec = lifecycle.confirm_recovery(unlocked.bundle.public, world.new.recovery_phrase)
    assert rec.kind == "recovery" and rec.step_up.kind == "recovery"
    assert transport.requests == 0
    with pytest.raises(TypeError):
        pickle.dumps(rec)


# --- passphrase, recovery kit ---------------------------------------------------------------------------------------


def test_change_passphrase_and_the_other_device_follows_with_its_account_key(world: World) -> None:
    a, ua = world.device()
    b, ub = world.device()
    new = run(lifecycle.change_passphrase(a, ua, world.confirmation(ua), NEW_PASSPHRASE))
    assert new.bundle.version == 2 and new.bundle.account_key == ua.bundle.account_key
    assert new.login is not None and world.relay.login_public == new.login.login.public
    assert lifecycle.confirmation_of(new) is not None  # the device now holds the new passphrase factor
    followed = run(lifecycle.follow(b, ub))
    assert followed.bundle.version == 2 and followed.bundle.write_key == ub.bundle.write_key
    assert lifecycle.confirm_passphrase(followed.bundle.public, NEW_PASSPHRASE).slot_id == new.slot_id
    # The old login key no longer steps anything up.
    added = crafted.with_passkey(
        followed.bundle, primitives.randombytes(32), credential_id=b"c", prf_salt=bytes(32), rp_id="x", name="k"
    )
    with pytest.raises(RelayError) as refused:
        run(b.update_factors(2, added.public.encoded, world.confirmation(ub).step_up))
    assert refused.value.code == "step_up_failed"


def test_passphrase_may_be_known_makes_passphrase_devices_unlock_again(world: World) -> None:
    a, ua = world.device()
    b, ub = world.device()
    new = run(
        lifecycle.change_passphrase(a, ua, world.confirmation(ua), NEW_PASSPHRASE, passphrase_may_be_known=True)
    )
    assert new.bundle.account_key != ua.bundle.account_key and new.bundle.write_key.epoch == 2
    assert new.bundle.public.header.identity_public != ua.bundle.public.header.identity_public
    with pytest.raises(UnlockAgain):
        run(lifecycle.follow(b, ub))
    public = run(lifecycle.newest_public(b, ub))
    again = run(lifecycle.follow(b, ub, lifecycle.confirm_passphrase(public, NEW_PASSPHRASE)))
    assert again.bundle.account_key == new.bundle.account_key


def test_a_lost_race_is_re_planned_on_top_of_the_winner(world: World) -> None:
    a, ua = world.device()
    b, ub = world.device()
    inner = a.replace_login_key
    raced: list[int] = []

    async def racing(*args: Any) -> None:
        if not raced:
            raced.append(1)
            await lifecycle.rotate_keys(b, ub, now=NOW + 1)  # the other device wins version 2
        await inner(*args)

    a.replace_login_key = racing  # type: ignore[method-assign]
    new = run(lifecycle.change_passphrase(a, ua, world.confirmation(ua), NEW_PASSPHRASE))
    assert new.bundle.version == 3 and new.bundle.write_key.epoch == 2  # on top of the routine rotation
    chain = world.relay.bundles
    verify = primitives.crypto_sign_verify_detached
    verified = bundle_public.verify_chain(None, chain, verify, account_id=world.relay.account_id)
    assert [v.version for v in verified] == [1, 2, 3]


def test_new_recovery_kit_rotates_the_account_key(world: World) -> None:
    a, ua = world.device()
    new, words = run(lifecycle.new_recovery_kit(a, ua, world.confirmation(ua)))
    assert len(words) == 24 and new.bundle.account_key != ua.bundle.account_key
    assert world.relay.recovery_public != world.new.recovery.login.public
    with pytest.raises(DecryptionError):
        lifecycle.confirm_recovery(new.bundle.public, world.new.recovery_phrase)
    assert lifecycle.confirm_recovery(new.bundle.public, words).kind == "recovery"
    # Recovered with the old phrase on an old version: that account key opens nothing current.
    with pytest.raises(BundleError):
        open_with_account_key(new.bundle.public, world.new.unlocked.account_key)


# --- factors --------------------------------------------------------------------------------------------------------


def test_step_up_is_enforced_for_factor_changes(world: World) -> None:
    a, ua = world.device()
    guess = StepUpKey("login", SigningKeyPair.from_seed(primitives.randombytes(32)))
    added = crafted.with_passkey(
        ua.bundle, primitives.randombytes(32), credential_id=b"c", prf_salt=bytes(32), rp_id="localhost", name="k"
    )
    with pytest.raises(RelayError) as required:
        run(a.publish_bundle(1, added.public.encoded, None))
    assert required.value.code == "step_up_required"
    with pytest.raises(RelayError) as failed:
        run(a.update_factors(1, added.public.encoded, guess))
    assert failed.value.code == "step_up_failed"
    run(lifecycle.rotate_keys(a, ua, now=NOW))  # a routine rotation needs none
    assert len(world.relay.bundles) == 2


def test_remember_device_then_follow_a_key_rotation_with_the_device_factor(world: World) -> None:
    a, ua = world.device()
    b, ub = world.device()
    assert b.device_id is not None
    wrapper = SoftwareDeviceWrapper(primitives.randombytes(32))
    remembered, blob = run(
        lifecycle.remember_device(
            b, ub, world.confirmation(ub), device_id=b.device_id, signing_public=bytes(32), name="b", wrapper=wrapper
        )
    )
    entry = remembered.bundle.public.device_factor(b.device_id)
    assert entry is not None and remembered.slot_id == entry.slot_id
    assert [d.device_id for d in lifecycle.remembered_devices(remembered.bundle.public)] == [b.device_id]
    ua = run(lifecycle.follow(a, ua))
    run(lifecycle.change_passphrase(a, ua, world.confirmation(ua), NEW_PASSPHRASE, passphrase_may_be_known=True))
    followed = run(lifecycle.follow(b, remembered))  # no passphrase needed
    assert followed.bundle.version == 3
    opened = run(account.unlock_with_device(followed.bundle.public, b.device_id, wrapper, blob))
    assert opened.bundle.account_key == followed.bundle.account_key
    # Off: the slot is dropped, the account key rotates, and this device keeps the passphrase it just confirmed.
    c = lifecycle.confirm_passphrase(followed.bundle.public, NEW_PASSPHRASE)
    off = run(lifecycle.forget_device(b, followed, c, b.device_id))
    assert off.bundle.public.device_factor(b.device_id) is None and off.slot_id == c.slot_id
    assert off.bundle.account_key != followed.bundle.account_key


def test_passkeys_add_list_remove(world: World) -> None:
    a, ua = world.device()
    prf = primitives.randombytes(32)
    c = world.confirmation(ua)
    added, slot_id = run(
        lifecycle.add_passkey(a, ua, c, prf_output=prf, credential_id=b"cred", prf_salt=bytes(32), rp_id="x", name="k")
    )
    again, same = run(
        lifecycle.add_passkey(
            a, added, c, prf_output=prf, credential_id=b"cred", prf_salt=bytes(32), rp_id="x", name="k"
        )
    )
    assert same == slot_id and again.bundle.version == added.bundle.version  # idempotent
    assert [p.credential_id for p in lifecycle.passkeys(added.bundle.public)] == [b"cred"]
    via = account.unlock_with_passkey(added.bundle.public, slot_id, prf)
    removed = run(lifecycle.remove_passkey(a, Unlocked(via.bundle, slot_id, via.box), c, slot_id))
    assert lifecycle.passkeys(removed.bundle.public) == [] and removed.slot_id == c.slot_id
    assert removed.bundle.account_key != added.bundle.account_key
    with pytest.raises(BundleError):
        run(lifecycle.remove_passkey(a, removed, c, removed.bundle.public.passphrase.slot_id))


# --- revocation -----------------------------------------------------------------------------------------------------


def test_revocation_locks_the_device_out_and_is_one_version(world: World) -> None:
    a, ua = world.device()
    b, ub = world.device()
    assert b.device_id is not None
    new = run(lifecycle.revoke_device(a, ua, world.confirmation(ua), b.device_id, now=NOW, reencrypt=True))
    assert new.bundle.version == 2 and new.bundle.account_key != ua.bundle.account_key
    assert new.bundle.public.header.identity_public != ua.bundle.public.header.identity_public
    assert [i.kind for i in new.bundle.keyring.intents] == [IntentKind.REENCRYPT]
    with pytest.raises(RelayError) as revoked:
        run(lifecycle.follow(b, ub))
    assert revoked.value.code == "device_revoked"
    status = run(lifecycle.rotation_status(a, new))
    assert status.pending and status.remaining == 0
    done, progress = run(lifecycle.finish_rotation(a, new))
    assert not done.bundle.keyring.intents and progress.total == 0


def test_a_garbage_head_is_never_adopted_and_a_revocation_repairs_it(world: World) -> None:
    a, ua = world.device()
    thief, ut = world.device()
    assert thief.device_id is not None
    # The thief (account key, identity seed, a device session, no passphrase) cannot jump the write epoch ahead (that
    # would leave no epoch for later rotations) ...
    with pytest.raises(RelayError) as jump:
        run(thief.publish_bundle(1, forge(ut.bundle.public, ut.bundle.identity, write_epoch=7), None))
    assert jump.value.code == "bad_bundle"
    # ... but it can publish a keyring nobody can open: the relay cannot tell, and no factor changed.
    run(thief.publish_bundle(1, forge(ut.bundle.public, ut.bundle.identity, write_epoch=2), None))
    with pytest.raises(BundleError) as bad:
        run(lifecycle.follow(a, ua))
    assert bad.value.code == "bad_bundle"
    repaired = run(lifecycle.revoke_device(a, ua, world.confirmation(ua), thief.device_id, now=NOW))
    assert repaired.bundle.version == 3 and repaired.bundle.write_key.epoch == 3
    assert [e.epoch for e in repaired.bundle.keyring.epochs] == [1, 3]
    _, other = world.device()
    followed = run(lifecycle.follow(world.relay.transport(), other))
    assert followed.bundle.public.hash == repaired.bundle.public.hash
    with pytest.raises(RelayError):
        run(lifecycle.follow(thief, ut))


def test_a_garbage_head_with_another_identity_cannot_be_repaired(world: World) -> None:
    _, ua = world.device()
    other = SigningKeyPair.from_seed(primitives.randombytes(32))
    head = bundle_public.parse_bundle(forge(ua.bundle.public, other))
    rotation = Rotation(RotationKind.REVOKE_DEVICE, device_id=bytes(16))
    with pytest.raises(BundleError):
        _repair_base(ua.bundle, head, NOW, rotation)


# --- routine rotation -----------------------------------------------------------------------------------------------


def test_offline_only_the_request_is_queued_and_a_newer_epoch_covers_it(world: World) -> None:
    a, ua = world.device()
    b, ub = world.device()
    a.offline = True
    same, queued = run(lifecycle.request_rotation(a, ua, now=NOW))
    assert queued is not None and same is ua and len(world.relay.bundles) == 1
    a.offline = False
    rotated = run(lifecycle.run_queued(a, ua, queued, now=NOW))
    assert rotated.bundle.write_key.epoch == 2 and len(world.relay.bundles) == 2
    # Queued again on the old state, but b rotates first: covered, nothing more is published.
    run(lifecycle.rotate_keys(b, run(lifecycle.follow(b, ub)), now=NOW))
    covered = run(lifecycle.run_queued(a, rotated, QueuedRotation(NOW, 2), now=NOW))
    assert covered.bundle.write_key.epoch == 3 and len(world.relay.bundles) == 3


def test_adopt_refuses_rollback_and_fork(world: World) -> None:
    a, ua = world.device()
    v2 = run(lifecycle.rotate_keys(a, ua, now=NOW))
    v3 = run(lifecycle.rotate_keys(a, v2, now=NOW))
    with pytest.raises(KeyringRollback):
        lifecycle.adopt(v3, [v2.bundle.public.encoded])
    with pytest.raises(KeyringFork):
        lifecycle.adopt(v3, [forge(v2.bundle.public, v2.bundle.identity)])
    assert lifecycle.adopt(v2, [v2.bundle.public.encoded, v3.bundle.public.encoded]).bundle.version == 3


# --- the relay API's side -------------------------------------------------------------------------------------------


class FakeHttp:
    def __init__(self, answer: Callable[[str, str, Mapping[str, str], bytes], tuple[int, Any]]) -> None:
        self.answer = answer
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    async def __call__(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        self.seen.append((method, url, dict(headers)))
        status, obj = self.answer(method, url, headers, body)
        return HttpResponse(status, {}, json.dumps(obj).encode())


def api_with(http: FakeHttp) -> RelayApi:
    session = Session(primitives.randombytes(16), primitives.randombytes(16), NaclSigner.generate())
    return RelayApi(http, "http://relay", "http://relay", session=session)


def test_bundle_chain_rereads_the_pinned_version_and_spots_a_rolled_back_relay() -> None:
    current = {"version": 5}

    def answer(method: str, url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        return 200, {"current_version": current["version"], "write_epoch": 1, "bundles": [b64e(b"x")], "more": False}

    http = FakeHttp(answer)
    api = api_with(http)
    assert run(api.bundle_chain(5)) == [b"x"]
    assert http.seen[-1][1].endswith("since=4")
    assert run(api.bundle_chain(0)) == [b"x"] and http.seen[-1][1].endswith("since=0")
    current["version"] = 4
    with pytest.raises(KeyringRollback):
        run(api.bundle_chain(5))


def test_a_stepped_up_request_signs_a_fetched_challenge_and_retries_once_with_a_fresh_one() -> None:
    first, fresh = primitives.randombytes(32), primitives.randombytes(32)
    key = SigningKeyPair.from_seed(primitives.randombytes(32))
    proofs: list[bytes] = []

    def answer(method: str, url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        if url.endswith("/step-up/challenge"):
            return 200, {"challenge": b64e(first), "expires_at": 0}
        kind, challenge, signature = headers[wire.HEADER_STEP_UP].split(".")
        assert kind == "recovery"
        statement = wire.step_up_statement(
            "http://relay", "change_passphrase", api.session.account_id, api.session.device_id, b64d(challenge), body
        )
        primitives.crypto_sign_verify_detached(b64d(signature), statement, key.public)
        proofs.append(b64d(challenge))
        if len(proofs) == 1:
            return 403, {"code": "step_up_failed", "detail": "expired", "challenge": b64e(fresh)}
        return 200, {"version": 2}

    http = FakeHttp(answer)
    api = api_with(http)
    assert api.session is not None
    run(api.replace_login_key(1, b"bundle", bytes(32), StepUpKey("recovery", key)))
    assert proofs == [first, fresh]

    def stale(method: str, url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        if url.endswith("/step-up/challenge"):
            return 200, {"challenge": b64e(first), "expires_at": 0}
        return 409, {"code": "stale_bundle", "detail": "", "current_version": 3}

    api.http = FakeHttp(stale)
    with pytest.raises(StaleBundle):
        run(api.update_factors(1, b"bundle", StepUpKey("login", key)))


def test_memory_relay_refuses_a_revoked_device(world: World) -> None:
    a, ua = world.device()
    b, _ = world.device()
    assert b.device_id is not None
    run(lifecycle.revoke_device(a, ua, world.confirmation(ua), b.device_id, now=NOW))
    with pytest.raises(RelayError):
        run(b.bundle_chain(0))
    assert b.device_id in world.relay.revoked
