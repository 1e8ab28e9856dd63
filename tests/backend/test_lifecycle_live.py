"""The key lifecycle across devices against a real ``vellum serve`` (2 workers, SQLite), with the CPython client:
change the passphrase (also "it may be known"), recover after forgetting it, a new recovery kit, remember this device,
passkeys, revoke a device (with re-encryption), routine rotation and its schedule, a device offline during rotations,
a rotation queued offline, two devices rotating at once, a re-wrap of 2,000 notes interrupted half-way and finished
by another device, a thief holding a remembered device and the account key, and a relay serving rolled-back or forged
bundle versions."""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pycore import account, lifecycle, primitives
from pycore.bundle import UnlockedBundle, next_version, open_with_account_key
from pycore.client.client import Client
from pycore.envelope import OpenedRecord, SealedRecord, open_records
from pycore.errors import (
    BundleError,
    DecryptionError,
    KeyringFork,
    KeyringRollback,
    NetworkError,
    RelayError,
    UnlockAgain,
    VellumError,
)
from pycore.factors import SigningKeyPair
from pycore.lifecycle.backend import SteppedUp
from pycore.lifecycle.confirm import StepUpKey
from pycore.public import bundle_public
from pycore.public.bundle_public import (
    BundleHeader,
    FactorType,
    PublicBundle,
    encode_body,
    encode_bundle,
    signed_message,
)
from pycore.sync.relay_api import HttpResponse
from tests.backend.live import LiveRelay
from tests.support import crafted

PASSPHRASE = "correct horse battery staple"
NEW_PASSPHRASE = "a new passphrase nobody has seen"
DEAD_RELAY = "http://127.0.0.1:9"
T = TypeVar("T")
Notes = dict[bytes, tuple[str, str]]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def username() -> str:
    return "life-" + secrets.token_hex(6)


async def register(live: LiveRelay, name: str, device: str = "laptop", **options: Any) -> Client:
    return await Client.register(live.base_url, name, PASSPHRASE, origin=live.origin, device_name=device, **options)


async def login(live: LiveRelay, name: str, device: str, passphrase: str = PASSPHRASE, **options: Any) -> Client:
    return await Client.login(live.base_url, name, passphrase, origin=live.origin, device_name=device, **options)


async def seed(client: Client, count: int, size: int = 64) -> Notes:
    notes: Notes = {}
    for i in range(count):
        title, body = f"note {i}", f"{i} " + secrets.token_hex(size // 2)
        notes[await client.save_note(title, body)] = (title, body)
    await client.sync()
    return notes


async def texts(client: Client) -> Notes:
    return {v.record_id: (v.note.title, v.note.body) for v in await client.notes()}


def close(*clients: Client) -> None:
    for c in clients:
        c.close()


class Recorder:
    """Wraps a client's HTTP function: records (method, path, status, code) of every exchange."""

    def __init__(self, client: Client) -> None:
        self.inner = client.api.http
        self.calls: list[tuple[str, str, int, str]] = []
        client.api.http = self

    async def __call__(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        response = await self.inner(method, url, headers, body)
        code = ""
        if response.status >= 400:
            code = str(json.loads(response.body).get("code"))
        self.calls.append((method, url.split("/api/v1", 1)[1].split("?")[0], response.status, code))
        return response

    def to(self, method: str, path: str) -> list[tuple[str, str, int, str]]:
        return [c for c in self.calls if c[0] == method and c[1] == path]


def keys_fail(old: UnlockedBundle, record: SealedRecord) -> bool:
    """Whether the account keys ``old`` (say, a revoked device's) cannot open ``record``."""
    return not isinstance(open_records(old.scope, old.keyring.keys, [record])[0], OpenedRecord)


def relay_db(live: LiveRelay) -> sqlite3.Connection:
    return sqlite3.connect(live.data_dir / "vellum.sqlite3", timeout=10, isolation_level=None)


def record_from_db(live: LiveRelay, account_id: bytes, record_id: bytes) -> SealedRecord:
    db = relay_db(live)
    row = db.execute(
        "SELECT revision, key_epoch, wrapped_key, content FROM records WHERE account_id = ? AND record_id = ?",
        (account_id, record_id),
    ).fetchone()
    db.close()
    return SealedRecord(record_id, int(row[0]), int(row[1]), bytes(row[2]), bytes(row[3]))


def forge(on: PublicBundle, identity: SigningKeyPair, keyring: bytes | None = None) -> bytes:
    """A version after ``on`` with the same factors and epoch, signed by ``identity``, with any keyring bytes."""
    h = on.header
    header = BundleHeader(h.account_id, h.version + 1, on.hash, h.min_writer_version, h.write_epoch, identity.public)
    body = encode_body(header, on.factors, keyring if keyring is not None else primitives.randombytes(160))
    return encode_bundle(body, identity.sign(signed_message(body)), None)


# --- passphrase ---------------------------------------------------------------------------------------------------


def test_change_passphrase_is_one_stepped_up_request_and_other_devices_keep_working(
    live_relay: LiveRelay, tmp_path: Path
) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        phone = await login(live_relay, name, "phone")
        desk = await login(live_relay, name, "desk", data_dir=tmp_path / "desk")
        notes = await seed(laptop, 12)
        await phone.sync()
        await desk.sync()
        desk.close()
        before = laptop.unlocked.bundle
        calls = Recorder(laptop)
        with pytest.raises(DecryptionError) as wrong:
            await laptop.change_passphrase(NEW_PASSPHRASE, current_passphrase="not my passphrase")
        assert wrong.value.code == "wrong_passphrase"
        assert not calls.to("POST", "/account/passphrase")  # refused here, nothing sent

        await laptop.change_passphrase(NEW_PASSPHRASE, current_passphrase=PASSPHRASE)
        changed = calls.to("POST", "/account/passphrase")
        assert [c[2] for c in changed] == [200]  # one request, stepped up from the start
        assert len(calls.to("POST", "/step-up/challenge")) == 1
        after = laptop.unlocked.bundle
        assert after.version == before.version + 1
        assert after.account_key == before.account_key and after.write_key == before.write_key
        assert after.public.header.identity_public == before.public.header.identity_public

        # The phone adopts the new version with the account key it holds, and keeps writing.
        rid = await phone.save_note("after the change", "written on the phone")
        await phone.sync()
        assert phone.unlocked.bundle.version == after.version
        notes[rid] = ("after the change", "written on the phone")
        await laptop.sync()
        assert await texts(laptop) == notes == await texts(phone)

        with pytest.raises(RelayError) as old:
            await login(live_relay, name, "old passphrase", PASSPHRASE)
        assert old.value.code == "login_failed"
        tablet = await login(live_relay, name, "tablet", NEW_PASSPHRASE)
        await tablet.sync()
        assert await texts(tablet) == notes
        # A device that was off during the change opens with the new passphrase: its stored bundle has the old salt,
        # so it fetches the newer versions (with its own request key), checks them against its pin and opens those.
        desk = await Client.open(tmp_path / "desk", NEW_PASSPHRASE)
        await desk.sync()
        assert await texts(desk) == notes
        close(laptop, phone, tablet, desk)

    run(go())


def test_passphrase_may_be_known_rotates_account_key_epoch_and_identity(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        phone = await login(live_relay, name, "phone")
        tablet = await login(live_relay, name, "tablet")
        await tablet.remember_device(True, current_passphrase=PASSPHRASE)
        notes = await seed(laptop, 8)
        await phone.sync()
        await tablet.sync()
        old = laptop.unlocked.bundle

        await laptop.change_passphrase(NEW_PASSPHRASE, current_passphrase=PASSPHRASE, passphrase_may_be_known=True)
        new = laptop.unlocked.bundle
        assert new.account_key != old.account_key
        assert new.public.header.identity_public != old.public.header.identity_public
        assert new.write_key.epoch == old.write_key.epoch + 1
        assert set(new.keyring.keys) == {1, 2}  # the old epoch key stays, decrypt-only

        # The remembered tablet follows by itself (its slot was re-sealed to the new account key) ...
        await tablet.sync()
        assert tablet.unlocked.bundle.version == new.version
        # ... the phone, unlocked with the old passphrase, has to unlock again with the new one.
        with pytest.raises(UnlockAgain):
            await phone.sync()
        await phone.unlock_again(NEW_PASSPHRASE)
        await phone.sync()
        assert phone.unlocked.bundle.version == new.version

        rid = await laptop.save_note("written afterwards", "not for the old keys")
        await laptop.sync()
        record = await laptop.api.get_record(rid)
        assert record is not None and record.epoch == new.write_key.epoch
        # Whoever knew the old passphrase and kept the old bundle: the old account key opens neither the new keyring
        # nor the new note.
        assert keys_fail(old, record)
        with pytest.raises(BundleError):
            open_with_account_key(new.public, old.account_key)
        notes[rid] = ("written afterwards", "not for the old keys")
        await phone.sync()
        await tablet.sync()
        assert await texts(phone) == notes == await texts(tablet)
        close(laptop, phone, tablet)

    run(go())


# --- recovery -----------------------------------------------------------------------------------------------------


def test_forgotten_passphrase_recovered_on_a_brand_new_device(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        notes = await seed(laptop, 150, size=200)
        words = laptop.recovery_phrase
        assert words is not None
        # A brand-new device, the passphrase forgotten: username + 24 words.
        spare = await Client.login(
            live_relay.base_url, name, recovery_phrase=" ".join(words), origin=live_relay.origin, device_name="spare"
        )
        await spare.change_passphrase(NEW_PASSPHRASE, recovery_phrase=words)  # stepped up by the recovery login key
        await spare.sync()
        assert await texts(spare) == notes  # every note

        with pytest.raises(RelayError) as old:
            await login(live_relay, name, "old", PASSPHRASE)
        assert old.value.code == "login_failed"
        fresh = await login(live_relay, name, "fresh", NEW_PASSPHRASE)
        await fresh.sync()
        assert await texts(fresh) == notes
        # The laptop, still unlocked, keeps working; the recovery phrase still works too.
        rid = await laptop.save_note("still here", "laptop")
        await laptop.sync()
        assert laptop.unlocked.bundle.version == spare.unlocked.bundle.version
        notes[rid] = ("still here", "laptop")
        again = await Client.login(live_relay.base_url, name, recovery_phrase=words, origin=live_relay.origin)
        await again.sync()
        assert await texts(again) == notes
        close(laptop, spare, fresh, again)

    run(go())


def test_new_recovery_kit_rotates_the_account_key(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        phone = await login(live_relay, name, "phone")
        notes = await seed(laptop, 6)
        old_words = laptop.recovery_phrase
        assert old_words is not None
        first = laptop.unlocked.bundle

        words = await laptop.new_recovery_kit(current_passphrase=PASSPHRASE)
        new = laptop.unlocked.bundle
        assert words != old_words and len(words) == 24 and laptop.recovery_phrase == words
        assert new.account_key != first.account_key and new.write_key.epoch == first.write_key.epoch + 1

        # The old phrase: refused by the relay, and it opens nothing current.
        with pytest.raises(RelayError) as refused:
            await Client.login(live_relay.base_url, name, recovery_phrase=old_words, origin=live_relay.origin)
        assert refused.value.code == "login_failed"
        with pytest.raises(DecryptionError) as stale:
            account.unlock_with_recovery(new.public, old_words)
        assert stale.value.code == "wrong_recovery_phrase"
        opened_old = account.unlock_with_recovery(first.public, old_words)  # its slot in the old version ...
        with pytest.raises(BundleError):  # ... gives the old account key, which opens nothing current
            open_with_account_key(new.public, opened_old.bundle.account_key)

        await phone.sync()  # the phone follows with its passphrase slot (re-sealed)
        assert phone.unlocked.bundle.version == new.version
        spare = await Client.login(live_relay.base_url, name, recovery_phrase=words, origin=live_relay.origin)
        await spare.sync()
        assert await texts(spare) == notes
        close(laptop, phone, spare)

    run(go())


# --- remember this device, passkeys ---------------------------------------------------------------------------------


def test_remember_this_device_and_passkeys(live_relay: LiveRelay, tmp_path: Path) -> None:
    async def go() -> None:
        name = username()
        data = tmp_path / "laptop"
        laptop = await register(live_relay, name, data_dir=data)
        phone = await login(live_relay, name, "phone")
        notes = await seed(laptop, 5)
        calls = Recorder(laptop)
        await laptop.remember_device(True, current_passphrase=PASSPHRASE)
        assert [c[2] for c in calls.to("PUT", "/bundle")] == [200]  # one stepped-up update_factors
        assert laptop.remembered and (data / "device-wrap.key").stat().st_mode & 0o077 == 0
        laptop.close()

        remembered = await Client.open(data)  # no passphrase: the remembered device key
        assert remembered.unlocked.bundle.public.factor(remembered.unlocked.slot_id) is not None
        assert await texts(remembered) == notes
        prf = secrets.token_bytes(32)  # what the authenticator's PRF would give for this passkey's salt
        with pytest.raises(DecryptionError):
            await remembered.add_passkey(prf, current_passphrase="wrong", name="YubiKey")
        slot_id = await remembered.add_passkey(prf, current_passphrase=PASSPHRASE, name="YubiKey")
        assert [(p.slot_id, p.name, p.rp_id) for p in remembered.passkeys()] == [(slot_id, "YubiKey", "localhost")]
        remembered.close()

        with pytest.raises(DecryptionError):
            await Client.open(data, passkey=(slot_id, secrets.token_bytes(32)))
        via_passkey = await Client.open(data, passkey=(slot_id, prf))
        with_passkey = via_passkey.unlocked.bundle
        await via_passkey.sync()
        assert await texts(via_passkey) == notes

        # Removing the passkey rotates the account key: its slot in older versions opens nothing current.
        await via_passkey.remove_passkey(slot_id, current_passphrase=PASSPHRASE)
        current = via_passkey.unlocked.bundle
        assert via_passkey.passkeys() == [] and current.account_key != with_passkey.account_key
        old_slot = account.unlock_with_passkey(with_passkey.public, slot_id, prf)
        with pytest.raises(BundleError):
            open_with_account_key(current.public, old_slot.bundle.account_key)

        # Remember off: the slot is gone (and the key rotated again), the local blob deleted.
        await via_passkey.remember_device(False, current_passphrase=PASSPHRASE)
        assert not via_passkey.remembered and current.public.device_factor(via_passkey.device_id) is not None
        assert via_passkey.unlocked.bundle.public.device_factor(via_passkey.device_id) is None
        await via_passkey.sync()
        via_passkey.close()
        with pytest.raises(VellumError) as forgotten:
            await Client.open(data)
        assert forgotten.value.code == "not_remembered"
        back = await Client.open(data, PASSPHRASE)
        assert await texts(back) == notes
        await phone.sync()  # the phone followed every change (two account-key rotations) with its passphrase slot
        assert phone.unlocked.bundle.version == back.unlocked.bundle.version
        assert await texts(phone) == notes
        close(back, phone)

    run(go())


# --- revocation ---------------------------------------------------------------------------------------------------


def test_revoke_a_device_with_reencryption(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        phone = await login(live_relay, name, "phone")
        tablet = await login(live_relay, name, "tablet")
        await tablet.remember_device(True, current_passphrase=PASSPHRASE)
        notes = await seed(laptop, 30)
        await tablet.sync()
        await phone.sync()
        revoked_keys = tablet.unlocked.bundle
        before = laptop.unlocked.bundle
        assert before.public.device_factor(tablet.device_id) is not None

        seen: list[lifecycle.RotationProgress] = []
        progress = await laptop.revoke_device(
            tablet.device_id, current_passphrase=PASSPHRASE, reencrypt=True, on_progress=seen.append
        )
        after = laptop.unlocked.bundle
        # One version: new account key, epoch and identity key; the tablet's slot gone, every other one re-sealed.
        chain = await laptop.api.bundle_chain(before.version)
        revocation = bundle_public.parse_bundle(chain[1])
        assert revocation.version == before.version + 1 and revocation.header.write_epoch == 2
        assert revocation.device_factor(tablet.device_id) is None
        assert after.version == before.version + 2  # and one more that clears the finished re-encrypt intent
        assert after.account_key != before.account_key and after.write_key.epoch > before.write_key.epoch
        assert after.public.header.identity_public != before.public.header.identity_public
        assert after.public.device_factor(tablet.device_id) is None
        assert {f.type for f in after.public.factors} == {FactorType.PASSPHRASE, FactorType.RECOVERY}
        assert progress is not None and progress.total == 30 and progress.done == 30 and not progress.failed
        assert seen and seen[-1].fraction == 1.0 and not after.keyring.intents
        assert await laptop.api.count_below_epoch(after.write_key.epoch) == 0

        # The relay refuses the tablet at once, everywhere.
        with pytest.raises(RelayError) as refused:
            await tablet.sync()
        assert refused.value.code == "device_revoked"
        listed = {d["name"]: d for d in await laptop.devices()}
        assert listed["tablet"]["revoked_at"] is not None and listed["phone"]["revoked_at"] is None

        # Notes written afterwards (and the re-encrypted old ones) do not open with the tablet's keys.
        rid = await laptop.save_note("after the revocation", "the tablet must not read this")
        await laptop.sync()
        served = await laptop.api.get_record(rid)
        assert served is not None and keys_fail(revoked_keys, served)
        assert keys_fail(revoked_keys, record_from_db(live_relay, laptop.account_id, rid))
        for old_id in list(notes)[:5]:
            assert keys_fail(revoked_keys, record_from_db(live_relay, laptop.account_id, old_id))
        with pytest.raises(BundleError):
            open_with_account_key(after.public, revoked_keys.account_key)

        # The remaining devices and the recovery phrase still unlock and read everything.
        notes[rid] = ("after the revocation", "the tablet must not read this")
        await phone.sync()
        assert await texts(phone) == notes
        assert laptop.recovery_phrase is not None
        spare = await Client.login(
            live_relay.base_url, name, recovery_phrase=laptop.recovery_phrase, origin=live_relay.origin
        )
        await spare.sync()
        assert await texts(spare) == notes
        close(laptop, phone, tablet, spare)

    run(go())


def test_a_device_that_left_by_itself_is_still_rotated_out(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        phone = await login(live_relay, name, "phone")
        notes = await seed(laptop, 3)
        await phone.sync()
        old = phone.unlocked.bundle
        await phone.leave()  # no step-up: a device may always revoke itself
        with pytest.raises(RelayError) as gone:
            await phone.sync()
        assert gone.value.code == "device_revoked"
        # Its keys are still out there: revoking it anyway rotates the account key, epoch and identity key.
        await laptop.revoke_device(phone.device_id, current_passphrase=PASSPHRASE)
        new = laptop.unlocked.bundle
        assert new.account_key != old.account_key and new.write_key.epoch == 2
        assert new.public.header.identity_public != old.public.header.identity_public
        rid = await laptop.save_note("after", "unreadable for the phone")
        await laptop.sync()
        served = await laptop.api.get_record(rid)
        assert served is not None and keys_fail(old, served)
        notes[rid] = ("after", "unreadable for the phone")
        assert await texts(laptop) == notes
        close(laptop, phone)

    run(go())


# --- routine rotation ---------------------------------------------------------------------------------------------


def test_routine_rotation_schedule_and_epoch_keys_are_never_destroyed(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        phone = await login(live_relay, name, "phone")
        notes = await seed(laptop, 40)
        keyring = laptop.unlocked.bundle.keyring
        now = int(time.time())
        assert not laptop.rotation_due()
        assert lifecycle.rotation_due(keyring, now + 91 * 86_400)
        assert not lifecycle.rotation_due(keyring, now + 89 * 86_400)

        assert await laptop.rotate_keys()
        status = await laptop.rotation_status()
        assert status.write_epoch == 2 and status.pending and status.remaining == 40
        assert not laptop.rotation_due()
        # An edit meanwhile goes under the new epoch (the phone follows the chain when it syncs).
        first = next(iter(notes))
        await phone.sync()
        await phone.save_note("edited", "during the rotation", first)
        await phone.sync()
        notes[first] = ("edited", "during the rotation")

        seen: list[lifecycle.RotationProgress] = []
        progress = await laptop.finish_rotation(batch=16, on_progress=seen.append)
        assert progress.total == 39 and progress.done == 39 and len(seen) >= 3
        status = await laptop.rotation_status()
        assert status.remaining == 0 and not status.pending

        assert await laptop.rotate_keys(rewrap=False)
        assert await laptop.rotate_keys(rewrap=False)
        keyring = laptop.unlocked.bundle.keyring
        assert [e.epoch for e in keyring.epochs] == [1, 2, 3, 4] and keyring.active.epoch == 4
        fresh = await login(live_relay, name, "fresh")
        await fresh.sync()
        await phone.sync()
        assert await texts(fresh) == notes == await texts(phone)
        close(laptop, phone, fresh)

    run(go())


def test_a_device_offline_during_rotations_comes_back_without_losing_edits(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        phone = await login(live_relay, name, "phone")
        old_tablet = await login(live_relay, name, "old tablet")
        notes = await seed(laptop, 20)
        await phone.sync()
        ids = list(notes)

        phone.api.base_url = DEAD_RELAY
        for i in (0, 1, 2):
            await phone.save_note(f"offline {i}", "edited while offline", ids[i])
            notes[ids[i]] = (f"offline {i}", "edited while offline")
        for i in (3, 4):
            rid = await phone.save_note(f"new offline {i}", "created while offline")
            notes[rid] = (f"new offline {i}", "created while offline")
        with pytest.raises(NetworkError):
            await phone.sync()
        # Meanwhile: a routine rotation with its re-wrap, then a revocation (new account key, epoch, identity).
        await laptop.rotate_keys()
        await laptop.finish_rotation()
        await laptop.revoke_device(old_tablet.device_id, current_passphrase=PASSPHRASE)
        assert laptop.unlocked.bundle.write_key.epoch == 3

        phone.api.base_url = live_relay.base_url
        calls = Recorder(phone)
        report = await phone.engine.sync()  # the engine alone: push, stale_epoch, fetch the bundle, re-seal, push
        assert calls.to("POST", "/records")[0][3] == "stale_epoch"
        assert report.pushed == 5 and not report.quarantined and report.bundle_version == 4
        await laptop.sync()
        assert await texts(laptop) == notes == await texts(phone)
        for rid in ids[:3]:
            served = await laptop.api.get_record(rid)
            assert served is not None and served.epoch == 3
        close(laptop, phone, old_tablet)

    run(go())


def test_offline_only_the_rotation_request_is_queued(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        phone = await login(live_relay, name, "phone")
        await seed(laptop, 3)
        laptop.api.base_url = DEAD_RELAY
        assert not await laptop.rotate_keys()
        assert laptop.queued_rotation is not None
        assert laptop.unlocked.bundle.write_key.epoch == 1  # nothing sealed under an epoch no version has
        rid = await laptop.save_note("queued", "while offline")
        outbox = await laptop.store.outbox(None, 10)
        assert [e.record.epoch for e in outbox] == [1]

        laptop.api.base_url = live_relay.base_url
        await laptop.sync()  # publishes the rotation, then re-seals the outbox and pushes it
        assert laptop.queued_rotation is None and laptop.unlocked.bundle.write_key.epoch == 2
        served = await laptop.api.get_record(rid)
        assert served is not None and served.epoch == 2

        # Queued again, but another device rotates first: the queued request is covered, nothing more is published.
        laptop.api.base_url = DEAD_RELAY
        assert not await laptop.rotate_keys()
        laptop.api.base_url = live_relay.base_url
        await phone.sync()
        assert await phone.rotate_keys()
        version = phone.unlocked.bundle.version
        await laptop.sync()
        assert laptop.queued_rotation is None and laptop.unlocked.bundle.version == version
        close(laptop, phone)

    run(go())


class BeforePublish:
    """Runs ``hook`` once, right before the wrapped client publishes a bundle version (a race, deterministically)."""

    def __init__(self, client: Client, hook: Callable[[], Awaitable[None]]) -> None:
        self.hook: Callable[[], Awaitable[None]] | None = hook
        api = client.api
        for name in ("publish_bundle", "revoke_device"):
            setattr(api, name, self._wrap(getattr(api, name)))

    def _wrap(self, call: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        async def wrapped(*args: Any) -> None:
            if self.hook is not None:
                hook, self.hook = self.hook, None
                await hook()
            await call(*args)

        return wrapped


def test_two_devices_rotating_at_once_end_with_one_chain(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        phone = await login(live_relay, name, "phone")
        tablet = await login(live_relay, name, "tablet")
        spare = await login(live_relay, name, "spare")
        notes = await seed(laptop, 10)
        start = laptop.unlocked.bundle

        # The laptop's routine rotation lands between the phone's read and its revocation: the revocation loses the
        # compare-and-swap, adopts the routine version and is re-planned on top of it (never swallowed).
        async def routine() -> None:
            await laptop.rotate_keys(rewrap=False)

        BeforePublish(phone, routine)
        phone_calls = Recorder(phone)
        await phone.revoke_device(tablet.device_id, current_passphrase=PASSPHRASE)
        revoke_path = f"/devices/{_b64(tablet.device_id)}/revoke"
        assert [c[3] for c in phone_calls.to("POST", revoke_path)] == ["stale_bundle", ""]
        revoked = phone.unlocked.bundle
        assert revoked.version == start.version + 2 and revoked.write_key.epoch == 3
        assert revoked.account_key != start.account_key
        with pytest.raises(RelayError):
            await tablet.sync()

        # The other way round: a revocation lands right before a routine rotation publishes; the routine rotation is
        # covered by it (a newer epoch) and publishes nothing.
        await laptop.sync()
        BeforePublish(laptop, lambda: _revoke(phone, spare))
        laptop_calls = Recorder(laptop)
        assert await laptop.rotate_keys(rewrap=False)
        assert [c[3] for c in laptop_calls.to("PUT", "/bundle")] == ["stale_bundle"]  # lost, then covered
        assert laptop.unlocked.bundle.version == revoked.version + 1 == phone.unlocked.bundle.version

        # And truly at once, from two devices.
        await phone.sync()
        before = phone.unlocked.bundle
        extra = await login(live_relay, name, "extra")
        await asyncio.gather(
            laptop.rotate_keys(rewrap=False), phone.revoke_device(extra.device_id, current_passphrase=PASSPHRASE)
        )
        await laptop.sync()
        await phone.sync()
        final = phone.unlocked.bundle
        assert laptop.unlocked.bundle.public.hash == final.public.hash
        assert final.public.header.identity_public != before.public.header.identity_public
        assert final.public.device_factor(extra.device_id) is None and final.account_key != before.account_key
        chain = await phone.api.bundle_chain(0)
        verify = primitives.crypto_sign_verify_detached
        versions = bundle_public.verify_chain(None, chain, verify, account_id=final.account_id)
        assert [v.version for v in versions] == list(range(1, final.version + 1))
        fresh = await login(live_relay, name, "fresh")
        await fresh.sync()
        assert await texts(fresh) == notes
        close(laptop, phone, tablet, spare, extra, fresh)

    run(go())


async def _revoke(by: Client, target: Client) -> None:
    await by.revoke_device(target.device_id, current_passphrase=PASSPHRASE)


class FailingKeys:
    """The relay API whose key-only updates fail (as if the network went away) from the ``fail_at``-th call on."""

    def __init__(self, api: Any, fail_at: int) -> None:
        self.api = api
        self.fail_at = fail_at
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)

    async def put_key_updates(self, updates: Any) -> list[bool]:
        self.calls += 1
        if self.calls >= self.fail_at:
            raise NetworkError("the network went away")
        result: list[bool] = await self.api.put_key_updates(updates)
        return result


def test_a_rewrap_of_2000_notes_interrupted_half_way_is_finished_by_another_device(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        phone = await login(live_relay, name, "phone")
        notes = await seed(laptop, 2000, size=48)
        assert await laptop.rotate_keys()
        epoch = laptop.unlocked.bundle.write_key.epoch

        flaky = FailingKeys(laptop.api, fail_at=6)  # 5 batches of 200 re-wrapped, then the network goes
        with pytest.raises(NetworkError):
            await lifecycle.finish_rotation(flaky, laptop.unlocked, batch=200)
        remaining = await laptop.api.count_below_epoch(epoch)
        assert remaining == 1000

        # The phone sees the intent in the bundle and finishes from where the relay's epochs say.
        await phone.refresh_bundle()
        assert phone.unlocked.bundle.keyring.intents
        seen: list[lifecycle.RotationProgress] = []
        progress = await phone.finish_rotation(batch=250, on_progress=seen.append)
        assert progress.total == remaining and progress.done == remaining and not progress.failed
        assert [p.done for p in seen] == [250, 500, 750, 1000]
        assert await phone.api.count_below_epoch(epoch) == 0
        await laptop.sync()
        assert not laptop.unlocked.bundle.keyring.intents

        # Every note, checked on a fresh device that has only the newest epoch to unwrap them with... and all of them
        # are served under it.
        fresh = await login(live_relay, name, "fresh")
        report = await fresh.sync()
        assert report.pulled == 2000 and not report.quarantined
        assert await texts(fresh) == notes
        close(laptop, phone, fresh)

    run(go())


# --- a thief, a lying relay ---------------------------------------------------------------------------------------


def test_a_thief_with_a_remembered_device_and_the_account_key_cannot_lock_the_owner_out(
    live_relay: LiveRelay, tmp_path: Path
) -> None:
    async def go() -> None:
        name = username()
        data = tmp_path / "stolen"
        laptop = await register(live_relay, name, data_dir=data)
        phone = await login(live_relay, name, "phone")
        await phone.remember_device(True, current_passphrase=PASSPHRASE)
        await laptop.remember_device(True, current_passphrase=PASSPHRASE)
        notes = await seed(laptop, 5)
        await phone.sync()
        laptop.close()

        thief = await Client.open(data)  # the remembered key: the account key, but no passphrase
        current = thief.unlocked.bundle
        assert thief.unlocked.login is None
        v = current.version

        async def refused(call: Awaitable[Any], code: str) -> None:
            with pytest.raises(RelayError) as info:
                await call
            assert info.value.code == code, info.value.code

        guess = StepUpKey("login", SigningKeyPair.from_seed(primitives.randombytes(32)))
        # Change the passphrase (or the recovery kit): no step-up, or one signed by any key of the thief's.
        new_pw, pw_keys = crafted.with_passphrase(current, "the thief's passphrase")
        body = _put(v, new_pw) | {"login_public": _b64(pw_keys.login.public)}
        await refused(thief.api.call("POST", "/account/passphrase", body=body), "step_up_required")
        own = StepUpKey("login", pw_keys.login)
        pw_call = thief.api.replace_login_key(v, new_pw.public.encoded, pw_keys.login.public, own)
        await refused(pw_call, "step_up_failed")
        new_kit, _, kit_keys = crafted.with_new_recovery(current)
        rec = StepUpKey("recovery", kit_keys.login)
        kit_call = thief.api.replace_recovery_key(v, new_kit.public.encoded, kit_keys.login.public, rec)
        await refused(kit_call, "step_up_failed")
        # Add a passkey; drop the phone's slot; drop the recovery factor.
        passkey = crafted.with_passkey(
            current, secrets.token_bytes(32), credential_id=b"cred", prf_salt=bytes(32), rp_id="localhost", name="x"
        )
        await refused(thief.api.call("PUT", "/bundle", body=_put(v, passkey)), "step_up_required")
        await refused(thief.api.update_factors(v, passkey.public.encoded, guess), "step_up_failed")
        phone_slot = current.public.device_factor(phone.device_id)
        assert phone_slot is not None
        dropped = crafted.without_factor(current, phone_slot.slot_id)
        await refused(thief.api.update_factors(v, dropped.public.encoded, guess), "step_up_failed")
        kept = [f for f in current.public.factors if f.type != FactorType.RECOVERY]
        no_recovery = next_version(current, factors=kept)
        await refused(thief.api.update_factors(v, no_recovery.public.encoded, guess), "bad_bundle")
        # Revoke the owner's phone.
        revocation = SteppedUp(thief.api, guess)
        from pycore.rotation import Holder, Rotation, RotationKind, rotate

        with pytest.raises(RelayError) as info:
            await rotate(revocation, Holder(current), Rotation(RotationKind.REVOKE_DEVICE, phone.device_id), now=1)
        assert info.value.code == "step_up_failed"
        await refused(thief.api.call("POST", f"/devices/{_b64(phone.device_id)}/revoke", body={}), "bad_request")
        await refused(thief.api.call("DELETE", "/account"), "step_up_required")
        # Nothing changed at the relay: same version, the owner's passphrase still logs in.
        assert (await thief.api.account())["bundle_version"] == v

        # A keyring nobody can open, signed with the identity key the thief got from the account key: the relay cannot
        # tell (no factor changed), but no other device adopts it.
        garbage = forge(current.public, current.identity)
        await thief.api.publish_bundle(v, garbage, None)
        with pytest.raises(BundleError) as bad:
            await phone.refresh_bundle()
        assert bad.value.code == "bad_bundle" and phone.unlocked.bundle.version == v
        await phone.save_note("still syncing", "the last good keys stay in use")
        report = await phone.sync()
        assert report.pushed == 1 and phone.bundle_warning is not None
        assert phone.bundle_warning.code == "bad_bundle"

        # The remedy: the owner revokes the stolen laptop, built on the garbage version.
        await phone.revoke_device(thief.device_id, current_passphrase=PASSPHRASE)
        await refused(thief.sync(), "device_revoked")
        assert phone.unlocked.bundle.version == v + 2
        owner = await login(live_relay, name, "owner again")
        await owner.sync()
        assert {t for t, _ in (await texts(owner)).values()} == {t for t, _ in notes.values()} | {"still syncing"}
        close(phone, thief, owner)

    run(go())


def _b64(data: bytes) -> str:
    from pycore.public.codec import b64e

    return b64e(data)


def _put(version: int, new: UnlockedBundle) -> dict[str, Any]:
    return {"expected_version": version, "bundle": _b64(new.public.encoded)}


def test_rolled_back_or_forged_bundles_are_refused_by_a_device_that_saw_newer(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await register(live_relay, name)
        phone = await login(live_relay, name, "phone")
        tablet = await login(live_relay, name, "tablet")
        await seed(laptop, 3)
        await laptop.rotate_keys(rewrap=False)
        await laptop.rotate_keys(rewrap=False)
        assert laptop.unlocked.bundle.version == 3
        account_id = laptop.account_id
        db = relay_db(live_relay)

        def row(version: int) -> tuple[bytes, bytes]:
            found = db.execute(
                "SELECT data, hash FROM bundles WHERE account_id = ? AND version = ?", (account_id, version)
            ).fetchone()
            return bytes(found[0]), bytes(found[1])

        def set_row(version: int, data: bytes) -> None:
            db.execute(
                "UPDATE bundles SET data = ?, hash = ? WHERE account_id = ? AND version = ?",
                (data, bundle_public.bundle_hash(data), account_id, version),
            )

        def set_current(version: int, epoch: int) -> None:
            db.execute(
                "UPDATE accounts SET bundle_version = ?, write_epoch = ? WHERE account_id = ?",
                (version, epoch, account_id),
            )

        v2, _ = row(2)
        v3, _ = row(3)
        # The newest version's bytes replaced by an older version.
        set_row(3, v2)
        with pytest.raises(KeyringRollback):
            await laptop.refresh_bundle()
        set_row(3, v3)
        # The relay's whole state moved back one version.
        db.execute("DELETE FROM bundles WHERE account_id = ? AND version = 3", (account_id,))
        set_current(2, 2)
        with pytest.raises(KeyringRollback):
            await laptop.refresh_bundle()
        db.execute(
            "INSERT INTO bundles (account_id, version, hash, data, created_at) VALUES (?, 3, ?, ?, 0)",
            (account_id, bundle_public.bundle_hash(v3), v3),
        )
        set_current(3, 3)
        assert not await laptop.refresh_bundle()

        # A revocation replaces the identity key; the revoked phone still has the old one.
        await laptop.revoke_device(phone.device_id, current_passphrase=PASSPHRASE)
        after = laptop.unlocked.bundle
        assert after.version == 4
        old_identity = phone.unlocked.bundle.identity
        # A version 5 signed by the old identity: the relay refuses it ...
        v4_public = after.public
        forged5 = forge(v4_public, old_identity)
        await tablet.sync()
        with pytest.raises(RelayError) as refused:
            await tablet.api.publish_bundle(4, forged5, None)
        assert refused.value.code == "bad_bundle"
        # ... and planted in the relay's file, a device that saw version 4 refuses it.
        db.execute(
            "INSERT INTO bundles (account_id, version, hash, data, created_at) VALUES (?, 5, ?, ?, 0)",
            (account_id, bundle_public.bundle_hash(forged5), forged5),
        )
        set_current(5, after.write_key.epoch)
        with pytest.raises(BundleError) as bad:
            await laptop.refresh_bundle()
        assert bad.value.code == "bad_bundle" and laptop.unlocked.bundle.version == 4
        db.execute("DELETE FROM bundles WHERE account_id = ? AND version = 5", (account_id,))
        set_current(4, after.write_key.epoch)
        # Another version 4, signed by the old identity on top of version 3 (what the revoked device could make).
        v3_public = bundle_public.parse_bundle(v3)
        v4 = row(4)[0]
        set_row(4, forge(v3_public, old_identity))
        with pytest.raises(KeyringFork):
            await laptop.refresh_bundle()
        with pytest.raises(KeyringFork):
            await tablet.refresh_bundle()
        set_row(4, v4)
        assert not await laptop.refresh_bundle()
        db.close()
        close(laptop, phone, tablet)

    run(go())
