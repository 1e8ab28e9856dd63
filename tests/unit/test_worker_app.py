"""The worker's app commands (docs/worker-api.md) under CPython: pycore/app/worker.py → pycore/app/session.py →
pycore/app/browser/.

The browser's JavaScript modules are replaced by stand-ins with the same contracts: ``FakeIdb``
(tests/support/fake_idb.py) takes and keeps the same values as web/worker/idb-store.js, ``FakeWebCrypto``
(tests/unit/test_worker.py) holds the device keys, and ``RelayFetch`` answers like web/worker/fetch-http.js from the
REAL relay app (Flask test client) — so register, sign-in, sync and devices go through the relay's actual rules.
tests/browser/test_worker_app.py runs the same flows in Chromium with the real modules.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pycore.app.browser import ffi
from pycore.app.browser import idb as idb_adapter
from pycore.app.worker import COMMANDS, KEY_LIFECYCLE_COMMANDS, Worker
from pycore.envelope import SealedRecord
from pycore.primitives import randombytes
from pycore.sync.types import Batch
from tests.backend.apps import make_app
from tests.backend.helpers import ORIGIN
from tests.support.fake_idb import FakeIdb
from tests.unit.test_worker import FakeWebCrypto

PASSPHRASE = "correct horse battery staple"
APP_COMMANDS = sorted(
    c for c in COMMANDS
    if c.split(".")[0] in ("app", "notes", "sync", "devices", "export", "import") and c not in KEY_LIFECYCLE_COMMANDS
)  # the key-lifecycle ones: tests/unit/test_worker_keys.py


# --- stand-ins for the JavaScript modules -----------------------------------------------------------------------------


class RelayFetch:
    """web/worker/fetch-http.js answered by the relay's Flask app; ``offline`` makes every request fail like
    fetch does."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.offline = False
        self.requests: list[str] = []

    async def request(self, method: str, url: str, headers_json: str, body: bytes | None) -> Any:
        if self.offline:
            raise ffi.JsException("TypeError", "Failed to fetch")
        assert url.startswith(ORIGIN), url
        target = url[len(ORIGIN) :]
        self.requests.append(f"{method} {target.split('?')[0]}")
        r = self.client.open(target, method=method, data=bytes(body or b""), headers=json.loads(headers_json))
        headers = {k.lower(): v for k, v in r.headers.items()}
        return SimpleNamespace(status=r.status_code, headers=json.dumps(headers), body=r.get_data())


class Runtime:
    origin = ORIGIN

    async def features(self) -> str:
        return json.dumps({"module_worker": True, "ed25519": True, "persistent_storage": False})

    def statsJson(self) -> str:
        return json.dumps({"timings_ms": {}, "memory": {}, "csp_violations": []})


class TickClock:
    """The relay's and the devices' clock: real time, moving on a millisecond at every look."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


class Profile:
    """One browser profile: its IndexedDB, device keys and network, and a worker (a tab) driven on one event loop."""

    def __init__(self, runner: asyncio.Runner, fetch: RelayFetch, clock: TickClock, idb: FakeIdb | None = None,
                 keys: FakeWebCrypto | None = None) -> None:
        self.runner = runner
        self.idb = idb or FakeIdb()
        self.keys = keys or FakeWebCrypto()
        self.fetch = fetch
        self.worker = Worker(
            device_js=self.keys, runtime_js=Runtime(), idb_js=self.idb, fetch_js=fetch, origin=ORIGIN, clock=clock
        )

    def tab(self) -> Profile:
        """Another tab of the same profile: same storage and device keys, its own worker."""
        return Profile(self.runner, self.fetch, self.worker.clock, self.idb, self.keys)  # type: ignore[arg-type]

    def call(self, cmd: str, args: Any = None) -> dict[str, Any]:
        text = self.runner.run(self.worker.handle_json(json.dumps({"cmd": cmd, "args": args or {}})))
        reply: dict[str, Any] = json.loads(text)
        return reply

    def ok(self, cmd: str, args: Any = None) -> Any:
        reply = self.call(cmd, args)
        assert reply["ok"], (cmd, reply)
        return reply["result"]

    def code(self, cmd: str, args: Any = None) -> str:
        reply = self.call(cmd, args)
        assert reply["ok"] is False, (cmd, reply)
        return str(reply["error"]["code"])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Any]:
    clock = TickClock()
    relay_app = make_app(tmp_path, clock)  # type: ignore[arg-type]
    runner = asyncio.Runner()
    fetch = RelayFetch(relay_app.test_client())

    def profile(online: RelayFetch | None = None) -> Profile:
        return Profile(runner, online or RelayFetch(relay_app.test_client()), clock)

    try:
        yield SimpleNamespace(profile=profile, fetch=fetch, clock=clock)
    finally:
        runner.close()
        relay_app.extensions["vellum_engine"].dispose()


def register(p: Profile, username: str = "alice", **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = p.ok(
        "app.register", {"username": username, "passphrase": PASSPHRASE, "device_name": "Laptop", **extra}
    )
    return result


def titles(notes: list[dict[str, Any]]) -> list[str]:
    return [n["title"] for n in notes]


# --- the flows -------------------------------------------------------------------------------------------------------


def test_register_notes_lock_and_unlock_offline(world: Any) -> None:
    laptop = world.profile()
    assert laptop.ok("app.status")["state"] == "new"
    joined = register(laptop)
    assert len(joined["recovery_words"]) == 24 and joined["username"] == "alice"
    assert joined["relay_origin"] == ORIGIN and joined["fingerprint"].count("-") == 7
    status = laptop.ok("app.status")
    assert (status["state"], status["username"], status["device_name"], status["remembered"]) == (
        "unlocked", "alice", "Laptop", False,
    )
    assert status["features"]["ed25519"] is True and status["features"]["webauthn_prf"] is None

    # The recovery phrase is checked, then forgotten.
    words = joined["recovery_words"]
    assert laptop.code("app.recovery_confirmed", {"words": {"3": "wrong", "11": words[10]}}) == "recovery_mismatch"
    assert laptop.ok("app.recovery_confirmed", {"words": {"3": words[2], "11": words[10], "20": words[19]}}) == {
        "ok": True
    }
    assert laptop.code("app.recovery_confirmed", {"words": {"3": words[2]}}) == "recovery_unavailable"

    first = laptop.ok("notes.save", {"title": "Groceries 81c2", "body": "eggs\nflour"})
    assert first["pending_count"] == 1
    second = laptop.ok("notes.save", {"title": "Ideas", "body": "a secret plan 5e1d"})
    laptop.ok("notes.save", {"id": first["id"], "title": "Groceries 81c2", "body": "eggs\nflour\nmilk"})
    listed = laptop.ok("notes.list")["notes"]
    assert titles(listed) == ["Groceries 81c2", "Ideas"], "newest first"
    assert listed[0]["pending"] is True and listed[0]["snippet"] == "eggs flour milk"
    assert listed[0]["quarantine"] is None and "quarantine_message" not in listed[0]  # sentences are the page's
    note = laptop.ok("notes.get", {"id": first["id"]})
    assert (note["title"], note["body"], note["pending"]) == ("Groceries 81c2", "eggs\nflour\nmilk", True)
    assert laptop.ok("notes.search", {"query": "SECRET plan"})["ids"] == [second["id"]]
    assert laptop.ok("notes.search", {"query": "flour eggs"})["ids"] == [first["id"]]

    deleted = laptop.ok("notes.delete", {"id": second["id"]})
    assert deleted["undo"] == {"id": second["id"], "title": "Ideas", "body": "a secret plan 5e1d"}
    assert titles(laptop.ok("notes.list")["notes"]) == ["Groceries 81c2"]
    assert laptop.code("notes.get", {"id": second["id"]}) == "not_found"
    restored = laptop.ok("notes.restore", deleted["undo"])
    assert restored["id"] == second["id"]
    assert laptop.ok("notes.get", {"id": second["id"]})["body"] == "a secret plan 5e1d"

    synced = laptop.ok("sync.now")
    assert (synced["online"], synced["pending_count"], synced["last_error"]) == (True, 0, None)
    assert synced["last_success_at"] is not None

    # Nothing readable in IndexedDB: no title, body, passphrase or recovery word.
    stored = laptop.idb.everything()
    for secret in (b"Groceries 81c2", b"secret plan 5e1d", b"flour", PASSPHRASE.encode(), " ".join(words).encode()):
        assert secret not in stored

    # Lock; unlock again with the relay unreachable: the local bundle and the passphrase are enough.
    assert laptop.ok("app.lock") == {"ok": True}
    assert laptop.ok("app.status")["state"] == "locked"
    assert laptop.code("notes.list") == "locked"
    laptop.fetch.offline = True
    assert laptop.code("app.unlock", {"passphrase": "not the passphrase", "remember": False}) == "wrong_passphrase"
    before = len(laptop.fetch.requests)
    unlocked = laptop.ok("app.unlock", {"passphrase": PASSPHRASE, "remember": False})
    assert titles(unlocked["notes"]) == ["Ideas", "Groceries 81c2"]
    assert laptop.code("app.unlock_device") == "not_remembered"
    # Offline writes queue; sync says offline, it does not fail.
    laptop.ok("notes.save", {"title": "Written offline", "body": "on a plane"})
    status = laptop.ok("sync.now")
    assert (status["online"], status["pending_count"]) == (False, 1)
    assert status["last_error"]["code"] == "network_error"
    assert len(laptop.fetch.requests) == before
    laptop.fetch.offline = False
    assert laptop.ok("sync.now")["pending_count"] == 0


def test_two_profiles_sync_and_a_remembered_device(world: Any) -> None:
    laptop, phone = world.profile(), world.profile()
    register(laptop)
    note = laptop.ok("notes.save", {"title": "Shared list", "body": "one\ntwo\nthree"})
    laptop.ok("sync.now")

    assert phone.code("app.sign_in", {"username": "alice", "passphrase": "wrong passphrase!", "device_name": "Phone",
                                      "remember": False}) == "wrong_passphrase"
    assert phone.code("app.sign_in", {"username": "nobody", "passphrase": PASSPHRASE, "device_name": "Phone",
                                      "remember": False}) == "wrong_passphrase", "unknown accounts look the same"
    signed = phone.ok("app.sign_in", {"username": "Alice ", "passphrase": PASSPHRASE, "device_name": "Phone",
                                      "remember": True})
    assert titles(signed["notes"]) == ["Shared list"] and signed["remembered"] is True
    assert signed["sync"]["online"] is True
    assert phone.ok("app.status")["remembered"] is True

    # Edits on both sides merge (different lines), deletes travel.
    phone.ok("notes.save", {"id": note["id"], "title": "Shared list", "body": "one\ntwo\nthree\nfour"})
    laptop.ok("notes.save", {"id": note["id"], "title": "Shared list", "body": "zero\none\ntwo\nthree"})
    phone.ok("sync.now")
    status = laptop.ok("sync.now")
    phone.ok("sync.now")
    assert status["conflicts"] == 0
    merged = "zero\none\ntwo\nthree\nfour"
    assert laptop.ok("notes.get", {"id": note["id"]})["body"] == merged
    assert phone.ok("notes.get", {"id": note["id"]})["body"] == merged

    devices = phone.ok("devices.list")["devices"]
    assert sorted((d["name"], d["this_device"], d["revoked"]) for d in devices) == [
        ("Laptop", False, False), ("Phone", True, False),
    ]
    assert phone.ok("devices.rename", {"name": "Old phone"}) == {"ok": True}
    assert {d["name"] for d in laptop.ok("devices.list")["devices"]} == {"Laptop", "Old phone"}
    assert phone.ok("app.status")["device_name"] == "Old phone"

    # The remembered phone unlocks without the passphrase, offline, and still syncs afterwards.
    phone.ok("app.lock")
    phone.fetch.offline = True
    unlocked = phone.ok("app.unlock_device")
    assert titles(unlocked["notes"]) == ["Shared list"]
    phone.fetch.offline = False
    laptop.ok("notes.save", {"title": "From the laptop", "body": "new"})
    laptop.ok("sync.now")
    assert phone.ok("sync.now")["online"] is True
    assert titles(phone.ok("notes.list")["notes"]) == ["From the laptop", "Shared list"]
    # The remembered blob is wrapped by the device key: without those keys it opens nothing.
    phone.ok("app.lock")
    phone.keys.record = None
    assert phone.code("app.unlock_device") == "device_key_unavailable"


def test_register_checks_and_another_account_on_the_same_profile(world: Any) -> None:
    laptop = world.profile()
    base = {"username": "bob", "device_name": "Laptop"}
    assert laptop.code("app.register", {**base, "passphrase": "short"}) == "weak_passphrase"
    assert laptop.code("app.register", {**base, "username": "-bad name", "passphrase": PASSPHRASE}) == "bad_username"
    register(laptop, "bob")
    other = world.profile()
    assert other.code("app.register", {**base, "passphrase": PASSPHRASE}) == "username_taken"
    first_device = laptop.keys.record["deviceId"]

    # Signing in as someone else is refused while this profile holds unsent edits ...
    laptop.ok("notes.save", {"title": "Bob's unsent note", "body": "x"})
    register(other, "carol")
    carol = {"username": "carol", "passphrase": PASSPHRASE, "device_name": "Laptop", "remember": False}
    assert laptop.code("app.sign_in", carol) == "unsynced_changes"
    # ... and once they are sent, the other account replaces the first one, with new device keys.
    laptop.ok("app.unlock", {"passphrase": PASSPHRASE, "remember": False})
    laptop.ok("sync.now")
    signed = laptop.ok("app.sign_in", carol)
    assert signed["notes"] == []
    assert laptop.keys.record["deviceId"] != first_device
    assert laptop.ok("app.status")["username"] == "carol"


def test_offline_first_then_sync_and_tabs_follow_each_other(world: Any) -> None:
    laptop = world.profile()
    register(laptop)
    laptop.fetch.offline = True
    for i in range(5):
        laptop.ok("notes.save", {"title": f"Offline {i}", "body": f"body {i}"})
    assert laptop.ok("sync.status")["pending_count"] == 5
    # A second tab of the same profile unlocks the same data; what one tab writes, the other lists.
    tab = laptop.tab()
    assert titles(tab.ok("app.unlock", {"passphrase": PASSPHRASE, "remember": False})["notes"])[0] == "Offline 4"
    tab.ok("notes.save", {"title": "From the other tab", "body": "hello"})
    assert titles(laptop.ok("notes.list")["notes"])[0] == "From the other tab"
    laptop.fetch.offline = False
    status = laptop.ok("sync.now")
    assert (status["online"], status["pending_count"], status["quarantined"]) == (True, 0, 0)
    phone = world.profile()
    signed = phone.ok("app.sign_in", {"username": "alice", "passphrase": PASSPHRASE, "device_name": "Phone",
                                      "remember": False})
    assert len(signed["notes"]) == 6 and signed["remembered"] is False
    # Signing in again on a known device keeps its data and its device id.
    device_id = phone.keys.record["deviceId"]
    phone.ok("app.lock")
    again = phone.ok("app.sign_in", {"username": "alice", "passphrase": PASSPHRASE, "device_name": "Phone",
                                     "remember": False})
    assert len(again["notes"]) == 6 and phone.keys.record["deviceId"] == device_id
    assert len(phone.ok("devices.list")["devices"]) == 2


def test_export_and_import(world: Any) -> None:
    laptop = world.profile()
    register(laptop)
    laptop.ok("notes.save", {"title": "Kept", "body": "in the export 3f1a"})
    exported = laptop.ok("export.encrypted", {"passphrase": "export passphrase"})
    assert exported["filename"].startswith("vellum-") and exported["filename"].endswith(".vellum")
    assert laptop.code("export.encrypted", {"passphrase": "short"}) == "weak_passphrase"
    assert laptop.code("export.plaintext", {}) == "bad_request"
    plain = laptop.ok("export.plaintext", {"confirm": True})
    assert plain["text"] == "# Kept\n\nin the export 3f1a\n" and plain["filename"].endswith(".md")
    assert laptop.code("import.encrypted", {"file": exported["file"], "passphrase": "wrong passphrase"}) == (
        "decryption_failed"
    )
    assert laptop.ok("import.encrypted", {"file": exported["file"], "passphrase": "export passphrase"}) == {
        "imported": 1
    }
    assert titles(laptop.ok("notes.list")["notes"]) == ["Kept", "Kept"]


def test_app_commands_answer_garbage_and_locked_with_typed_errors(world: Any) -> None:
    p = world.profile()
    needs_session = {"app.lock", "app.status", "app.register", "app.sign_in", "app.unlock", "app.unlock_device",
                     "app.recovery_confirmed"}
    for cmd in APP_COMMANDS:
        for args in (None, {"id": 5}, {"id": "!!"}, {"title": 1, "body": [], "passphrase": None, "remember": "yes"}):
            reply = p.call(cmd, args)
            if reply["ok"]:
                assert cmd in ("app.status", "app.lock"), (cmd, args, reply)
                continue
            allowed = {"bad_request", "locked", "no_account", "recovery_unavailable"}
            assert reply["error"]["code"] in allowed, (cmd, args, reply)
        if cmd not in needs_session:
            assert p.code(cmd, {}) in ("locked", "bad_request"), cmd
    # Without IndexedDB or fetch (a worker built for the protocol commands only) the app is unavailable.
    bare = Worker(device_js=FakeWebCrypto())
    reply = json.loads(asyncio.run(bare.handle_json(json.dumps({"cmd": "app.status", "args": {}}))))
    assert reply["error"]["code"] == "unavailable"


def test_a_save_from_an_older_revision_merges_or_becomes_a_conflicted_copy(world: Any) -> None:
    laptop, phone = world.profile(), world.profile()
    joined = register(laptop)
    note = laptop.ok("notes.save", {"title": "Plan", "body": "alpha\nbeta\ngamma"})
    laptop.ok("sync.now")
    phone.ok("app.sign_in", {"username": "alice", "passphrase": PASSPHRASE, "device_name": "Phone", "remember": False})
    opened = phone.ok("notes.get", {"id": note["id"]})
    base = opened["revision"]
    assert base == 1

    # The laptop adds a line at the end; the phone's editor, still on revision 1, adds one at the top.
    laptop.ok("notes.save", {"id": note["id"], "title": "Plan", "body": "alpha\nbeta\ngamma\ndelta"})
    laptop.ok("sync.now")
    phone.ok("sync.now")  # the laptop's edit lands under the phone's open editor
    saved = phone.ok("notes.save", {"id": note["id"], "title": "Plan", "body": "zero\nalpha\nbeta\ngamma",
                                    "base_revision": base})
    assert saved["id"] == note["id"] and saved["merged"] == {"title": "Plan", "body": "zero\nalpha\nbeta\ngamma\ndelta"}
    assert phone.ok("notes.get", {"id": note["id"]})["body"] == "zero\nalpha\nbeta\ngamma\ndelta"
    phone.ok("sync.now")
    laptop.ok("sync.now")
    current = laptop.ok("notes.get", {"id": note["id"]})
    assert current["body"] == "zero\nalpha\nbeta\ngamma\ndelta" and current["revision"] == saved["revision"]

    # Both change the same line: the other edit stays, the editor's text becomes a conflicted copy.
    laptop.ok("notes.save", {"id": note["id"], "title": "Plan", "body": "zero\nALPHA\nbeta\ngamma\ndelta",
                             "base_revision": current["revision"]})
    laptop.ok("sync.now")
    phone.ok("notes.get", {"id": note["id"]})
    stale = phone.ok("notes.get", {"id": note["id"]})["revision"]
    phone_text = "zero\nAlpha!\nbeta\ngamma\ndelta"
    phone.ok("sync.now")
    copied = phone.ok("notes.save", {"id": note["id"], "title": "Plan", "body": phone_text, "base_revision": stale})
    assert copied["conflicted_copy_of"] == note["id"] and copied["id"] != note["id"]
    assert phone.ok("notes.get", {"id": note["id"]})["body"] == "zero\nALPHA\nbeta\ngamma\ndelta"
    copy = phone.ok("notes.get", {"id": copied["id"]})
    assert copy["body"] == phone_text and "conflicted copy from Phone" in copy["title"]
    # Saving again from the revision the page holds is a plain save.
    again = phone.ok("notes.save", {"id": copied["id"], "title": copy["title"], "body": phone_text + "\nmore",
                                    "base_revision": copied["revision"]})
    assert "merged" not in again and "conflicted_copy_of" not in again

    # The fingerprint is shown while locked too (Settings compares it with the printed kit).
    phone.ok("app.lock")
    assert phone.ok("app.status")["fingerprint"] == joined["fingerprint"]


def test_two_tabs_saving_the_same_note_at_once_lose_no_edit(world: Any) -> None:
    """The worker serialises a save's read-decide-commit under the store lock every tab shares (the page holds no lock
    list): two tabs saving from the same revision at the same moment end with both edits, merged."""
    laptop = world.profile()
    register(laptop)
    note = laptop.ok("notes.save", {"title": "Plan", "body": "alpha\nbeta\ngamma"})
    tab = laptop.tab()
    tab.ok("app.unlock", {"passphrase": PASSPHRASE, "remember": False})
    base = laptop.ok("notes.get", {"id": note["id"]})["revision"]
    assert tab.ok("notes.get", {"id": note["id"]})["revision"] == base

    def save(profile: Profile, body: str) -> Any:
        args = {"id": note["id"], "title": "Plan", "body": body, "base_revision": base}
        return profile.worker.handle_json(json.dumps({"cmd": "notes.save", "args": args}))

    async def both() -> list[Any]:
        top, bottom = "zero\nalpha\nbeta\ngamma", "alpha\nbeta\ngamma\ndelta"
        return list(await asyncio.gather(save(laptop, top), save(tab, bottom)))

    replies = [json.loads(text) for text in laptop.runner.run(both())]
    assert all(reply["ok"] for reply in replies), replies
    merged = "zero\nalpha\nbeta\ngamma\ndelta"
    assert laptop.ok("notes.get", {"id": note["id"]})["body"] == merged
    assert tab.ok("notes.get", {"id": note["id"]})["body"] == merged
    assert len(laptop.ok("notes.list")["notes"]) == 1


def test_settings_origins_and_damaged_local_data() -> None:
    from pycore.app.settings import LocalSettings, relay_origin_of
    from pycore.errors import BadRequest, FormatError, InsecureRelay

    assert relay_origin_of(None, "http://localhost:8000/") == "http://localhost:8000"
    assert relay_origin_of("https://relay.example/", ORIGIN) == "https://relay.example"
    assert relay_origin_of("http://127.0.0.1:9000", ORIGIN) == "http://127.0.0.1:9000"
    for bad, error in (("http://relay.example", InsecureRelay), ("ftp://relay.example", BadRequest),
                       ("https://relay.example/api", BadRequest), ("relay.example", BadRequest)):
        with pytest.raises(error):
            relay_origin_of(bad, ORIGIN)

    settings = LocalSettings("alice", randombytes(16), randombytes(16), "Laptop", ORIGIN, 5, randombytes(60), 1.5, 9)
    assert LocalSettings.decode(settings.encode()) == settings
    newer = settings.encode().replace(b'"format":1', b'"format":2')
    for damaged in (b"", b"{}", b"[1]", settings.encode()[:-3], newer):
        with pytest.raises(FormatError):
            LocalSettings.decode(damaged)

    async def go() -> None:
        idb = FakeIdb()
        store = idb_adapter.IdbStore(idb)
        rid = randombytes(16)
        record = SealedRecord(rid, 1, 1, randombytes(77), randombytes(100))
        await store.commit(Batch(records={rid: record}))
        assert (await store.get([rid]))[rid].base == record
        idb.local[rid]["b"] = idb.local[rid]["b"][:-1]  # a truncated stored record
        for read in (store.get([rid]), store.scan(None, 10)):
            with pytest.raises(FormatError):
                await read
        idb.local[rid]["b"] = idb_adapter.encode_sealed(SealedRecord(randombytes(16), 1, 1, b"k", b"c"))
        with pytest.raises(FormatError):  # a record stored under another id
            await store.get([rid])

    asyncio.run(go())
