"""The worker's app commands (docs/worker-api.md) inside real Chromium, against the real relay: register, sign in on a
second browser profile, save / list / search / delete, sync between the two profiles, offline saves then sync, offline
unlock with the passphrase, and a remembered device that unlocks after a browser restart without its passphrase.

Each page runs its own crypto worker (web/worker-client.js's ``CryptoWorker``), with the UI's script stubbed out, so
the tests see the worker's contract and nothing the UI might do on its own at the same time. "Offline" is every
``/api/`` request aborted by the browser (the worker's fetch fails exactly as it does without a network); the tests
count those requests.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Route

from tests.backend.live import LiveRelay
from tests.browser.conftest import VIOLATION_LISTENER

PASSPHRASE = "a long enough browser passphrase"

_OWN_WORKER = """async () => {
  const { CryptoWorker } = await import("/worker-client.js");
  window.__appWorker = new CryptoWorker("/worker/crypto-worker.js");
  await window.__appWorker.ready();
  return true;
}"""

_CALL = """async ([cmd, args]) => {
  try {
    return { ok: true, result: await window.__appWorker.call(cmd, args) };
  } catch (err) {
    return { ok: false, error: { code: err.code ?? err.name, message: String(err.message) } };
  }
}"""

# Every byte the origin keeps in IndexedDB (keys and values, CryptoKeys left out), for the "nothing readable" check.
_DUMP_INDEXEDDB = """async () => {
  const request = (r) => new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const db = await request(indexedDB.open("vellum"));
  const chunks = [];
  const encoder = new TextEncoder();
  const walk = (v) => {
    if (v instanceof Uint8Array) chunks.push(v);
    else if (v instanceof ArrayBuffer) chunks.push(new Uint8Array(v));
    else if (typeof v === "string") chunks.push(encoder.encode(v));
    else if (typeof v === "number") chunks.push(encoder.encode(String(v)));
    else if (v && typeof v === "object" && !(v instanceof CryptoKey)) for (const x of Object.values(v)) walk(x);
  };
  const stores = [...db.objectStoreNames];
  for (const name of stores) {
    const store = db.transaction(name).objectStore(name);
    walk(await request(store.getAllKeys()));
    walk(await request(store.getAll()));
  }
  db.close();
  let text = "";
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i += 0x8000) text += String.fromCharCode(...chunk.subarray(i, i + 0x8000));
    text += "\\u0000";
  }
  return { stores, data: btoa(text) };
}"""


class AppWorker:
    """A page with its own crypto worker; ``offline()`` aborts every relay API request while it is on."""

    def __init__(self, context: BrowserContext, origin: str) -> None:
        self.context = context
        self.aborted: list[str] = []
        context.route("**/app.js", lambda route: route.fulfill(body="export const worker = null;",
                                                              content_type="text/javascript"))
        self.page: Page = context.pages[0] if context.pages else context.new_page()
        self.page.goto(origin + "/")
        self.page.evaluate(_OWN_WORKER)

    def call(self, cmd: str, args: Any = None) -> dict[str, Any]:
        reply: dict[str, Any] = self.page.evaluate(_CALL, [cmd, args or {}])
        return reply

    def ok(self, cmd: str, args: Any = None) -> Any:
        reply = self.call(cmd, args)
        assert reply["ok"], (cmd, reply)
        return reply["result"]

    def code(self, cmd: str, args: Any = None) -> str:
        reply = self.call(cmd, args)
        assert reply["ok"] is False, (cmd, reply)
        return str(reply["error"]["code"])

    def _abort(self, route: Route) -> None:
        self.aborted.append(route.request.url)
        route.abort("internetdisconnected")

    @contextmanager
    def offline(self) -> Iterator[None]:
        self.context.route("**/api/**", self._abort)
        try:
            yield
        finally:
            self.context.unroute("**/api/**", self._abort)

    def stored_bytes(self) -> bytes:
        dump = self.page.evaluate(_DUMP_INDEXEDDB)
        assert {"local", "meta", "index", "device-keys"} <= set(dump["stores"])
        return base64.b64decode(dump["data"]).decode("latin-1").encode("latin-1")

    def csp_clean(self) -> None:
        violations = self.page.evaluate("() => window.__cspViolations ?? null")
        worker_violations = self.ok("status")["runtime"]["csp_violations"]
        assert (violations, worker_violations) == ([], [])


def _titles(notes: list[dict[str, Any]]) -> list[str]:
    return [n["title"] for n in notes]


def _context(browser: Browser) -> BrowserContext:
    context = browser.new_context()
    context.add_init_script(VIOLATION_LISTENER)
    return context


def test_register_sign_in_elsewhere_sync_offline_and_a_remembered_restart(
    browser: Browser, relay: LiveRelay, persistent: Callable[[Path], BrowserContext], tmp_path: Path
) -> None:
    username = "browser-" + secrets.token_hex(4)
    laptop = AppWorker(_context(browser), relay.origin)

    # --- register, notes, search, delete and undo -------------------------------------------------------------------
    assert laptop.ok("app.status")["state"] == "new"
    joined = laptop.ok("app.register", {"username": username, "passphrase": PASSPHRASE, "device_name": "Laptop"})
    words = joined["recovery_words"]
    assert len(words) == 24 and joined["relay_origin"] == relay.origin
    assert laptop.code("app.recovery_confirmed", {"words": {"2": words[1], "7": "nope"}}) == "recovery_mismatch"
    laptop.ok("app.recovery_confirmed", {"words": {"2": words[1], "7": words[6], "19": words[18]}})

    shopping = laptop.ok("notes.save", {"title": "Shopping 4b7e", "body": "apples\nbread\ncheese"})
    laptop.ok("notes.save", {"title": "Travel", "body": "passport number 9f3c1"})
    diary = laptop.ok("notes.save", {"title": "Diary", "body": "dear diary 77aa"})
    assert diary["pending_count"] == 3
    assert _titles(laptop.ok("notes.list")["notes"]) == ["Diary", "Travel", "Shopping 4b7e"]
    assert laptop.ok("notes.search", {"query": "PASSPORT 9f3c1"})["ids"] != []
    assert laptop.ok("notes.search", {"query": "bread apples"})["ids"] == [shopping["id"]]
    undo = laptop.ok("notes.delete", {"id": diary["id"]})["undo"]
    assert _titles(laptop.ok("notes.list")["notes"]) == ["Travel", "Shopping 4b7e"]
    laptop.ok("notes.restore", undo)
    assert laptop.ok("notes.get", {"id": diary["id"]})["body"] == "dear diary 77aa"
    status = laptop.ok("sync.now")
    assert (status["online"], status["pending_count"], status["last_error"]) == (True, 0, None)

    # --- a second browser profile signs in (and is remembered); edits on both sides merge ---------------------------
    profile = tmp_path / "phone-profile"
    phone = AppWorker(persistent(profile), relay.origin)
    sign_in = {"username": username, "passphrase": PASSPHRASE, "device_name": "Phone", "remember": True}
    assert phone.code("app.sign_in", {**sign_in, "passphrase": "not my passphrase"}) == "wrong_passphrase"
    signed = phone.ok("app.sign_in", sign_in)
    assert sorted(_titles(signed["notes"])) == ["Diary", "Shopping 4b7e", "Travel"]
    assert signed["remembered"] is True and signed["sync"]["online"] is True
    phone.ok("notes.save", {"id": shopping["id"], "title": "Shopping 4b7e", "body": "apples\nbread\ncheese\ndates"})
    laptop.ok("notes.save", {"id": shopping["id"], "title": "Shopping 4b7e", "body": "avocado\napples\nbread\ncheese"})
    phone.ok("sync.now")
    laptop.ok("sync.now")
    phone.ok("sync.now")
    merged = "avocado\napples\nbread\ncheese\ndates"
    assert laptop.ok("notes.get", {"id": shopping["id"]})["body"] == merged
    assert phone.ok("notes.get", {"id": shopping["id"]})["body"] == merged
    devices = laptop.ok("devices.list")["devices"]
    assert sorted((d["name"], d["this_device"]) for d in devices) == [("Laptop", True), ("Phone", False)]

    # --- offline: save, sync says offline, lock, unlock with the passphrase, then sync once back ---------------------
    with laptop.offline():
        laptop.ok("notes.save", {"title": "Written offline", "body": "no network here"})
        status = laptop.ok("sync.now")
        assert (status["online"], status["pending_count"]) == (False, 1)
        assert status["last_error"]["code"] == "network_error"
        laptop.ok("app.lock")
        assert laptop.code("notes.list") == "locked"
        assert laptop.code("app.unlock", {"passphrase": "wrong passphrase", "remember": False}) == "wrong_passphrase"
        unlocked = laptop.ok("app.unlock", {"passphrase": PASSPHRASE, "remember": False})
        assert _titles(unlocked["notes"])[0] == "Written offline"
        assert laptop.ok("notes.list")["notes"][0]["pending"] is True
    assert laptop.aborted, "the offline requests were attempted and failed"
    assert laptop.ok("sync.now")["pending_count"] == 0
    assert _titles(phone.ok("sync.now") and phone.ok("notes.list")["notes"])[0] == "Written offline"

    # --- what a stolen, locked profile holds: no title, body, passphrase or recovery phrase -------------------------
    for worker in (laptop, phone):
        stored = worker.stored_bytes()
        assert len(stored) > 1_000
        for secret in ("Shopping 4b7e", "passport number 9f3c1", "dear diary 77aa", "avocado", "no network here",
                       PASSPHRASE, " ".join(words)):
            assert secret.encode() not in stored, secret
    laptop.csp_clean()
    phone.csp_clean()
    phone.context.close()
    laptop.context.close()

    # --- the phone's browser restarts: the remembered device unlocks offline, list first, then it syncs --------------
    phone = AppWorker(persistent(profile), relay.origin)
    status = phone.ok("app.status")
    assert (status["state"], status["username"], status["remembered"]) == ("locked", username, True)
    with phone.offline():
        unlocked = phone.ok("app.unlock_device")
        expected = ["Written offline", "Shopping 4b7e", "Diary", "Travel"]
        assert sorted(_titles(unlocked["notes"])) == sorted(expected)
        assert sorted(_titles(phone.ok("notes.list")["notes"])) == sorted(expected)
        assert phone.ok("notes.search", {"query": "diary"})["ids"] == [diary["id"]]
    assert phone.ok("sync.now")["online"] is True
    phone.csp_clean()
