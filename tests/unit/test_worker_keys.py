"""The worker's key-lifecycle commands (docs/worker-api.md, "Key lifecycle") under CPython: pycore/app/worker.py →
pycore/app/keys.py → pycore.lifecycle, with the stand-ins of tests/unit/test_worker_app.py for the JavaScript modules
and the REAL relay app (Flask test client) — so every step-up, compare-and-swap and revocation meets the relay's rules.
tests/browser/test_worker_keys.py runs the main flows in Chromium.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pycore import recovery
from pycore.app.worker import KEY_LIFECYCLE_COMMANDS
from tests.backend.apps import make_app
from tests.unit.test_worker_app import PASSPHRASE, Profile, RelayFetch, TickClock, register, titles

NEW_PASSPHRASE = "a brand new passphrase 7d1"
OTHER_PASSPHRASE = "yet another passphrase 0c9"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Any]:
    """As in test_worker_app.py: one relay app, one event loop, ``profile()`` makes a browser profile."""
    clock = TickClock()
    relay_app = make_app(tmp_path, clock)  # type: ignore[arg-type]
    runner = asyncio.Runner()

    def profile(online: RelayFetch | None = None) -> Profile:
        return Profile(runner, online or RelayFetch(relay_app.test_client()), clock)

    try:
        yield SimpleNamespace(profile=profile, clock=clock)
    finally:
        runner.close()
        relay_app.extensions["vellum_engine"].dispose()


def sign_in(p: Profile, name: str, *, remember: bool = False, passphrase: str = PASSPHRASE) -> dict[str, Any]:
    result: dict[str, Any] = p.ok(
        "app.sign_in", {"username": "alice", "passphrase": passphrase, "device_name": name, "remember": remember}
    )
    return result


def device_id(p: Profile) -> str:
    return str(next(d["id"] for d in p.ok("devices.list")["devices"] if d["this_device"]))


def bodies(p: Profile) -> dict[str, str]:
    return {n["title"]: p.ok("notes.get", {"id": n["id"]})["body"] for n in p.ok("notes.list")["notes"]}


def seed(p: Profile, count: int) -> dict[str, str]:
    expected = {f"Note {i}": f"body {i} {secrets.token_hex(4)}" for i in range(count)}
    for title, body in expected.items():
        p.ok("notes.save", {"title": title, "body": body})
    assert p.ok("sync.now")["pending_count"] == 0
    return expected


def no_requests(p: Profile, cmd: str, args: Any) -> dict[str, Any]:
    """A command that must fail before any request."""
    before = len(p.fetch.requests)
    reply = p.call(cmd, args)
    assert reply["ok"] is False, reply
    assert len(p.fetch.requests) == before, p.fetch.requests[before:]
    error: dict[str, Any] = reply["error"]
    return error


# --- passphrase -------------------------------------------------------------------------------------------------------


def test_change_passphrase_then_unlock_with_the_new_one_elsewhere(world: Any) -> None:
    laptop, phone, tablet = world.profile(), world.profile(), world.profile()
    joined = register(laptop)
    expected = seed(laptop, 3)
    sign_in(phone, "Phone")
    sign_in(tablet, "Tablet", remember=True)
    phone.ok("app.lock")

    args = {"current": PASSPHRASE, "new": NEW_PASSPHRASE}
    assert no_requests(laptop, "keys.change_passphrase", {**args, "new": "short"})["code"] == "weak_passphrase"
    assert laptop.code("keys.change_passphrase", {**args, "current": "not the passphrase"}) == "wrong_passphrase"
    changed = laptop.ok("keys.change_passphrase", args)
    assert changed == {"ok": True, "rotated": False, "fingerprint": joined["fingerprint"]}
    timings = laptop.ok("status")["app_timings_ms"]
    assert timings["keys_change_passphrase_requests"] == 3  # the chain, a step-up challenge, the change
    assert timings["keys_change_passphrase_local_ms"] > 0

    # The locked phone unlocks with the new passphrase (its stored keys are older: it asks the relay) ...
    assert phone.code("app.unlock", {"passphrase": "not the passphrase", "remember": False}) == "wrong_passphrase"
    unlocked = phone.ok("app.unlock", {"passphrase": NEW_PASSPHRASE, "remember": False})
    assert sorted(titles(unlocked["notes"])) == sorted(expected)
    assert bodies(phone) == expected
    # ... and from then on only with it, offline too.
    phone.ok("app.lock")
    phone.fetch.offline = True
    assert phone.code("app.unlock", {"passphrase": PASSPHRASE, "remember": False}) == "wrong_passphrase"
    phone.ok("app.unlock", {"passphrase": NEW_PASSPHRASE, "remember": False})
    phone.fetch.offline = False
    laptop.ok("app.lock")
    laptop.ok("app.unlock", {"passphrase": NEW_PASSPHRASE, "remember": False})

    # "My passphrase may be known": the account key and identity rotate too.
    rotated = laptop.ok(
        "keys.change_passphrase", {"current": NEW_PASSPHRASE, "new": OTHER_PASSPHRASE, "may_be_known": True}
    )
    assert rotated["rotated"] is True and rotated["fingerprint"] != joined["fingerprint"]
    laptop.ok("notes.save", {"title": "After the rotation", "body": "only for current keys"})
    assert laptop.ok("sync.now")["last_error"] is None
    # The phone unlocked with the old passphrase: its next sync asks to unlock again; with the new one it follows.
    status = phone.ok("sync.now")
    assert status["last_error"]["code"] == "unlock_again", status
    phone.ok("app.lock")
    phone.ok("app.unlock", {"passphrase": OTHER_PASSPHRASE, "remember": False})
    assert phone.ok("sync.now")["last_error"] is None
    assert bodies(phone)["After the rotation"] == "only for current keys"
    assert phone.ok("app.status")["fingerprint"] == rotated["fingerprint"]
    # The remembered tablet follows by itself (its device slot was re-sealed to the new account key).
    assert tablet.ok("sync.now")["last_error"] is None
    assert bodies(tablet)["After the rotation"] == "only for current keys"
    tablet.ok("app.lock")
    assert titles(tablet.ok("app.unlock_device")["notes"])[0] == "After the rotation"


# --- recovery ---------------------------------------------------------------------------------------------------------


def test_recovery_on_a_new_browser_and_on_the_old_one(world: Any) -> None:
    laptop = world.profile()
    joined = register(laptop)
    words = joined["recovery_words"]
    expected = seed(laptop, 6)
    laptop_device = laptop.keys.record["deviceId"]
    laptop.ok("app.lock")

    fresh = world.profile()
    start = {"username": "alice", "words": words, "device_name": "Recovered"}
    # Mistakes are caught before any request, precisely.
    typo = list(words)
    typo[6] = typo[6][:-1] + ("x" if not typo[6].endswith("x") else "y")
    error = no_requests(fresh, "app.recover_start", {**start, "words": typo})
    assert error["code"] == "unknown_word" and error["details"]["position"] == 7
    assert "Word 7" in error["message"] and words[6] in error["details"]["suggestions"]
    swapped = list(words)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    if swapped != words:
        assert no_requests(fresh, "app.recover_start", {**start, "words": swapped})["code"] == "bad_checksum"
    assert no_requests(fresh, "app.recover_start", {**start, "words": words[:23]})["code"] == "wrong_word_count"
    assert fresh.code("app.recover_finish", {"new_passphrase": NEW_PASSPHRASE}) == "recovery_not_started"
    # A valid phrase of no account of alice's: the relay refuses the recovery login.
    stranger = recovery.phrase_from_entropy(secrets.token_bytes(32))
    assert fresh.code("app.recover_start", {**start, "words": stranger}) == "wrong_recovery_phrase"

    # The phrase as pasted (numbered, one line) works; the kit's fingerprint is shown for checking.
    pasted = " ".join(f"{i}. {w.upper()}" for i, w in enumerate(words, start=1))
    started = fresh.ok("app.recover_start", {"username": " Alice", "phrase": pasted, "device_name": "Recovered"})
    assert started == {"username": "alice", "fingerprint": joined["fingerprint"], "needs_new_passphrase": True}
    assert fresh.ok("app.status")["state"] == "new", "nothing is stored before the new passphrase"
    assert fresh.code("app.recover_finish", {"new_passphrase": "short"}) == "weak_passphrase"
    finished = fresh.ok("app.recover_finish", {"new_passphrase": NEW_PASSPHRASE, "remember": True})
    assert sorted(titles(finished["notes"])) == sorted(expected) and finished["remembered"] is True
    assert finished["sync"]["last_error"] is None
    assert bodies(fresh) == expected, "every note readable"
    status = fresh.ok("app.status")
    assert (status["state"], status["username"], status["device_name"]) == ("unlocked", "alice", "Recovered")
    fresh.ok("app.lock")
    fresh.ok("app.unlock_device")
    fresh.ok("app.lock")
    fresh.ok("app.unlock", {"passphrase": NEW_PASSPHRASE, "remember": False})

    # The old browser (whose person forgot the passphrase): the same phrase recovers it, keeping its data and device.
    laptop.ok("app.recover_start", {"username": "alice", "words": words})
    again = laptop.ok("app.recover_finish", {"new_passphrase": OTHER_PASSPHRASE, "remember": False,
                                             "device_name": "Laptop (recovered)"})
    assert sorted(titles(again["notes"])) == sorted(expected)
    assert laptop.keys.record["deviceId"] == laptop_device
    assert bodies(laptop) == expected
    names = sorted(d["name"] for d in laptop.ok("devices.list")["devices"] if not d["revoked"])
    assert names == ["Laptop (recovered)", "Recovered"]
    # The newest passphrase works everywhere; the recovered browser follows on its next sync.
    assert fresh.ok("sync.now")["last_error"] is None
    fresh.ok("app.lock")
    fresh.ok("app.unlock", {"passphrase": OTHER_PASSPHRASE, "remember": False})

    # A new recovery kit: the old phrase opens nothing any more; the new one is confirmed like at registration.
    assert laptop.code("keys.new_recovery_kit", {"passphrase": PASSPHRASE}) == "wrong_passphrase"
    kit = laptop.ok("keys.new_recovery_kit", {"passphrase": OTHER_PASSPHRASE})
    new_words = kit["recovery_words"]
    assert len(new_words) == 24 and new_words != words and kit["fingerprint"] == joined["fingerprint"]
    assert laptop.ok("app.recovery_confirmed", {"words": {"1": new_words[0], "24": new_words[23]}}) == {"ok": True}
    other = world.profile()
    assert other.code("app.recover_start", {"username": "alice", "words": words}) == "wrong_recovery_phrase"
    other.ok("app.recover_start", {"username": "alice", "words": new_words})
    assert sorted(titles(other.ok("app.recover_finish", {"new_passphrase": NEW_PASSPHRASE})["notes"])) == sorted(
        expected
    )
    assert bodies(other) == expected


# --- remember this device ---------------------------------------------------------------------------------------------


def test_remember_this_device_on_and_off(world: Any) -> None:
    laptop = world.profile()
    joined = register(laptop)
    seed(laptop, 2)
    assert laptop.code("keys.remember", {"passphrase": PASSPHRASE}) == "bad_request"
    assert laptop.code("keys.remember", {"passphrase": "not the passphrase", "on": True}) == "wrong_passphrase"
    assert laptop.ok("keys.remember", {"passphrase": PASSPHRASE, "on": True}) == {"remembered": True}
    assert laptop.ok("app.status")["remembered"] is True
    laptop.ok("app.lock")
    laptop.fetch.offline = True
    assert len(laptop.ok("app.unlock_device")["notes"]) == 2
    laptop.fetch.offline = False
    stale_settings = dict(laptop.idb.meta)
    epoch = laptop.ok("keys.rotation_status")["write_epoch"]

    assert laptop.ok("keys.remember", {"passphrase": PASSPHRASE, "on": False}) == {"remembered": False}
    assert laptop.ok("keys.rotation_status")["write_epoch"] == epoch + 1, "the account key (and epoch) rotated"
    assert laptop.ok("app.status")["remembered"] is False
    assert laptop.ok("app.status")["fingerprint"] == joined["fingerprint"]
    laptop.ok("notes.save", {"title": "After forgetting", "body": "new account key"})
    laptop.ok("sync.now")
    laptop.ok("app.lock")
    assert laptop.code("app.unlock_device") == "not_remembered"
    # The forgotten key (here: the old settings and bundle put back) opens only the old version, not the new key.
    laptop.idb.meta = {**laptop.idb.meta, "app.settings": stale_settings["app.settings"]}
    assert laptop.code("app.unlock_device") == "not_remembered"
    # The list comes straight from the sealed index, re-sealed under the new account key.
    listed = laptop.ok("app.unlock", {"passphrase": PASSPHRASE, "remember": False})["notes"]
    assert sorted(titles(listed)) == ["After forgetting", "Note 0", "Note 1"]
    assert laptop.ok("keys.remember", {"passphrase": PASSPHRASE, "on": False}) == {"remembered": False}


# --- passkeys ---------------------------------------------------------------------------------------------------------


def passkey(name: str = "Key") -> dict[str, Any]:
    from pycore.public.codec import b64e

    return {
        "name": name,
        "credential_id": b64e(secrets.token_bytes(20)),
        "prf_salt": b64e(secrets.token_bytes(32)),
        "prf_output": b64e(secrets.token_bytes(32)),
    }


def test_passkeys_add_unlock_and_remove(world: Any) -> None:
    from pycore.public.codec import b64e

    laptop, phone = world.profile(), world.profile()
    register(laptop)
    expected = seed(laptop, 3)
    sign_in(phone, "Phone")
    phone.ok("app.lock")
    assert world.profile().ok("app.passkey_options") == {"passkeys": []}, "no account here"

    key = passkey("YubiKey")
    assert laptop.code("keys.add_passkey", {**key, "passphrase": "not the passphrase"}) == "wrong_passphrase"
    assert laptop.code("keys.add_passkey", {**key, "passphrase": PASSPHRASE, "prf_output": "AAAA"}) == "bad_request"
    slot = laptop.ok("keys.add_passkey", {**key, "passphrase": PASSPHRASE})["slot_id"]
    assert laptop.code("keys.add_passkey", {**key, "passphrase": PASSPHRASE}) == "passkey_exists"
    listed = laptop.ok("keys.passkeys")["passkeys"]
    assert listed == [{"slot_id": slot, "credential_id": key["credential_id"], "prf_salt": key["prf_salt"],
                       "rp_id": "localhost", "name": "YubiKey"}]
    assert key["prf_output"] not in json.dumps(laptop.idb.everything().hex()), "the PRF output is never kept"

    # Locked, offline: the unlock screen gets the public metadata; the PRF output unlocks.
    laptop.ok("app.lock")
    laptop.fetch.offline = True
    options = laptop.ok("app.passkey_options", {"username": "ALICE"})["passkeys"]
    assert [(o["slot_id"], o["credential_id"], o["prf_salt"]) for o in options] == [
        (slot, key["credential_id"], key["prf_salt"])
    ]
    assert laptop.ok("app.passkey_options", {"username": "bob"}) == {"passkeys": []}
    wrong = {"slot_id": slot, "prf_output": b64e(secrets.token_bytes(32))}
    assert laptop.code("app.unlock_passkey", wrong) == "decryption_failed"
    unlocked = laptop.ok("app.unlock_passkey", {"slot_id": slot, "prf_output": key["prf_output"]})
    assert sorted(titles(unlocked["notes"])) == sorted(expected)
    laptop.fetch.offline = False
    assert laptop.ok("sync.now")["last_error"] is None

    # The phone's stored keys predate the passkey: it is looked up at the relay when used.
    assert phone.ok("app.passkey_options")["passkeys"] == []
    phone.fetch.offline = True
    assert phone.code("app.unlock_passkey", {"slot_id": slot, "prf_output": key["prf_output"]}) == "not_found"
    phone.fetch.offline = False
    assert len(phone.ok("app.unlock_passkey", {"slot_id": slot, "prf_output": key["prf_output"]})["notes"]) == 3
    phone.ok("app.lock")
    assert [o["slot_id"] for o in phone.ok("app.passkey_options")["passkeys"]] == [slot]

    # Removing it rotates the account key; it unlocks nothing afterwards.
    assert laptop.code("keys.remove_passkey", {"passphrase": PASSPHRASE, "slot_id": b64e(bytes(16))}) == "not_found"
    assert laptop.ok("keys.remove_passkey", {"passphrase": PASSPHRASE, "slot_id": slot}) == {"ok": True}
    assert laptop.ok("keys.passkeys") == {"passkeys": []}
    laptop.ok("app.lock")
    assert laptop.code("app.unlock_passkey", {"slot_id": slot, "prf_output": key["prf_output"]}) == "not_found"
    # The phone's stored version still lists it (it keeps what it had), but the next sync asks to unlock again.
    phone.ok("app.unlock_passkey", {"slot_id": slot, "prf_output": key["prf_output"]})
    assert phone.ok("sync.now")["last_error"]["code"] == "unlock_again"
    phone.ok("app.lock")
    phone.ok("app.unlock", {"passphrase": PASSPHRASE, "remember": False})
    assert phone.ok("sync.now")["last_error"] is None
    assert phone.ok("keys.passkeys") == {"passkeys": []}


# --- revocation -------------------------------------------------------------------------------------------------------


def run_rotation(p: Profile, batch: int) -> list[dict[str, Any]]:
    steps = []
    for _ in range(100):
        step = p.ok("keys.rotation_continue", {"batch": batch})
        steps.append(step)
        if step["finished"]:
            return steps
    raise AssertionError("the rotation did not finish")


def test_revoke_a_device_and_reencrypt(world: Any) -> None:
    laptop, phone, tablet = world.profile(), world.profile(), world.profile()
    joined = register(laptop)
    expected = seed(laptop, 7)
    sign_in(phone, "Phone")
    sign_in(tablet, "Tablet", remember=True)
    phone_id = device_id(phone)

    assert laptop.code("keys.revoke_device", {"passphrase": PASSPHRASE, "device_id": device_id(laptop)}) == (
        "bad_request"
    )
    unknown = {"passphrase": PASSPHRASE, "device_id": "A" * 22}
    assert laptop.code("keys.revoke_device", unknown) == "not_found"
    args = {"passphrase": PASSPHRASE, "device_id": phone_id, "reencrypt": True}
    assert laptop.code("keys.revoke_device", {**args, "passphrase": "not the passphrase"}) == "wrong_passphrase"
    revoked = laptop.ok("keys.revoke_device", args)
    assert revoked["ok"] is True and revoked["pending"] is True
    assert revoked["fingerprint"] != joined["fingerprint"], "a new identity key"
    status = laptop.ok("keys.rotation_status")
    assert (status["pending"], status["kind"], status["remaining"], status["total"]) == (True, "reencrypt", 7, 7)

    # The phone is refused at once.
    assert phone.ok("sync.now")["last_error"]["code"] == "device_revoked"
    assert [d["revoked"] for d in laptop.ok("devices.list")["devices"] if d["id"] == phone_id] == [True]

    # Re-encryption in pages; progress comes from the relay.
    steps = run_rotation(laptop, 3)
    assert [s["done"] for s in steps][:3] == [3, 6, 7] and steps[-1]["fraction"] == 1.0
    assert steps[-1]["pending"] is False and steps[-1]["failed"] == 0
    assert laptop.ok("keys.rotation_status")["pending"] is False
    assert laptop.ok("sync.now")["last_error"] is None
    assert bodies(laptop) == expected
    laptop.ok("notes.save", {"title": "After the revocation", "body": "not for the phone"})
    laptop.ok("sync.now")
    # The phone cannot fetch it; the remembered tablet follows the new keys by itself.
    assert phone.ok("sync.now")["last_error"]["code"] == "device_revoked"
    assert "After the revocation" not in titles(phone.ok("notes.list")["notes"])
    assert tablet.ok("sync.now")["last_error"] is None
    assert bodies(tablet) == {**expected, "After the revocation": "not for the phone"}
    assert tablet.ok("app.status")["fingerprint"] == revoked["fingerprint"]
    # Revoking a device that is already refused (it may have left by itself) still rotates the keys.
    again = laptop.ok("keys.revoke_device", {**args, "reencrypt": False})
    assert again["version"] > revoked["version"] and again["pending"] is False


# --- routine rotation -------------------------------------------------------------------------------------------------


def test_routine_rotation_resumes_queues_offline_and_follows_the_schedule(world: Any) -> None:
    laptop = world.profile()
    register(laptop)
    expected = seed(laptop, 5)
    status = laptop.ok("keys.rotation_status")
    assert (status["pending"], status["due"], status["every_days"], status["queued"]) == (False, False, 90, False)
    assert status["due_at"] == status["last_rotation_at"] + 90 * 86_400_000
    assert laptop.ok("keys.rotation_continue")["finished"] is True

    rotated = laptop.ok("keys.rotate")
    assert rotated == {"queued": False, "epoch": 2}
    status = laptop.ok("keys.rotation_status")
    assert (status["pending"], status["kind"], status["done"], status["total"]) == (True, "rewrap", 0, 5)
    # One page here, then the tab closes; another tab of the profile picks up where the relay says.
    first = laptop.ok("keys.rotation_continue", {"batch": 2})
    assert (first["done"], first["finished"]) == (2, False)
    tab = laptop.tab()
    tab.ok("app.unlock", {"passphrase": PASSPHRASE, "remember": False})
    assert tab.ok("keys.rotation_status")["done"] == 2
    steps = run_rotation(tab, 2)
    assert steps[-1]["fraction"] == 1.0 and steps[-1]["pending"] is False
    assert tab.ok("sync.now")["last_error"] is None and bodies(tab) == expected
    assert laptop.ok("sync.now")["last_error"] is None
    assert laptop.ok("keys.rotation_status")["pending"] is False

    # Offline: queued; nothing sealed under an unpublished epoch; the next sync publishes it.
    laptop.fetch.offline = True
    assert laptop.ok("keys.rotate") == {"queued": True, "epoch": 2}
    offline = laptop.ok("keys.rotation_status")
    assert offline["queued"] is True and offline["due"] is False
    laptop.ok("notes.save", {"title": "Offline note", "body": "sealed under epoch 2"})
    assert laptop.ok("sync.now")["online"] is False
    laptop.fetch.offline = False
    assert laptop.ok("sync.now")["last_error"] is None
    status = laptop.ok("keys.rotation_status")
    assert (status["queued"], status["write_epoch"], status["pending"]) == (False, 3, True)
    laptop.fetch.offline = True
    assert laptop.ok("keys.rotation_status")["online"] is False
    assert laptop.code("keys.rotation_continue") == "network_error"
    laptop.fetch.offline = False
    run_rotation(laptop, 500)
    assert bodies(laptop) == {**expected, "Offline note": "sealed under epoch 2"}

    # The schedule: due after every_days; 0 = never.
    assert laptop.code("keys.set_schedule", {"every_days": -1}) == "bad_request"
    assert laptop.code("keys.set_schedule", {}) == "bad_request"
    assert laptop.ok("keys.set_schedule", {"every_days": 0}) == {"every_days": 0, "due_at": None, "due": False}
    scheduled = laptop.ok("keys.set_schedule", {"every_days": 1})
    assert scheduled["due"] is False and scheduled["every_days"] == 1
    world.clock.now += 2 * 86_400
    status = laptop.ok("keys.rotation_status")
    assert status["due"] is True and status["due_at"] == scheduled["due_at"]
    laptop.ok("app.lock")
    laptop.ok("app.unlock", {"passphrase": PASSPHRASE, "remember": False})
    assert laptop.ok("keys.rotation_status")["every_days"] == 1, "kept in the local settings"
    laptop.ok("keys.rotate")
    assert laptop.ok("keys.rotation_status")["due"] is False


# --- a relay that rolls the keys back ---------------------------------------------------------------------------------


class Replaying(RelayFetch):
    """The relay's answers, except GET /bundle: once ``frozen``, the answer recorded then is served again."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.freeze = False
        self.frozen: Any = None

    async def request(self, method: str, url: str, headers_json: str, body: bytes | None) -> Any:
        answer = await super().request(method, url, headers_json, body)
        if method == "GET" and "/api/v1/bundle" in url:
            if self.frozen is not None:
                return self.frozen
            if self.freeze:
                self.frozen = answer
        return answer


def test_a_relay_serving_older_keys_is_refused(world: Any) -> None:
    laptop = world.profile()
    register(laptop)
    seed(laptop, 1)
    replaying = Replaying(laptop.fetch.client)
    phone = world.profile(replaying)
    sign_in(phone, "Phone")
    replaying.freeze = True
    assert phone.ok("sync.now")["last_error"] is None  # records the answer for version 1
    laptop.ok("keys.change_passphrase", {"current": PASSPHRASE, "new": NEW_PASSPHRASE})
    replaying.frozen = None
    replaying.freeze = False
    assert phone.ok("sync.now")["last_error"] is None  # the phone adopts version 2
    laptop.ok("keys.rotate")
    replaying.freeze = True
    phone.ok("sync.now")
    # From now on the phone's relay keeps serving version 3's chain ... then an older one.
    old_chain = replaying.frozen
    laptop.ok("keys.rotate")
    replaying.frozen = None
    replaying.freeze = False
    phone.ok("sync.now")  # version 4
    replaying.frozen = old_chain
    status = phone.ok("sync.now")
    assert status["last_error"]["code"] == "keyring_rollback", status
    assert "older account keys" in status["last_error"]["message"]
    assert phone.code("keys.change_passphrase", {"current": PASSPHRASE, "new": OTHER_PASSPHRASE}) == (
        "keyring_rollback"
    )


# --- arguments --------------------------------------------------------------------------------------------------------


def test_key_commands_answer_garbage_and_locked_with_typed_errors(world: Any) -> None:
    p = world.profile()
    allowed = {"bad_request", "locked", "no_account", "recovery_not_started"}
    for cmd in sorted(KEY_LIFECYCLE_COMMANDS):
        for args in (None, {"slot_id": 5}, {"words": "x", "passphrase": None, "on": "yes", "batch": 0},
                     {"device_id": "!!", "every_days": True, "prf_output": "AA"}):
            reply = p.call(cmd, args)
            if reply["ok"]:
                assert cmd == "app.passkey_options", (cmd, args, reply)
                continue
            assert reply["error"]["code"] in allowed, (cmd, args, reply)
        if cmd.startswith("keys."):
            assert p.code(cmd, {"passphrase": PASSPHRASE, "on": True, "every_days": 1}) in ("locked", "bad_request")
    assert p.code("keys.rotation_status") == "locked"
    assert p.code("app.unlock_passkey", {"slot_id": "A" * 22, "prf_output": "A" * 43}) == "no_account"
