"""Airplane mode: once the service worker has precached the app, the crypto worker boots with the relay process dead.

Playwright's ``set_offline`` races a service worker that starts after it (ENVIRONMENT.md), so the test kills the relay
and binds a listener on its port that records every request and answers none: the app must boot from the cache alone.
The only requests allowed to reach the port are update checks (the browser's for /sw.js, the page's for the asset
manifest) and the navigation itself: Chromium's ServiceWorkerAutoPreload races the network with the service worker's
start for navigations (up to 3 tries here, no Service-Worker-Navigation-Preload header); the cached shell answers.
No script, wasm, wheel or other asset may be asked of the network.

The offline run drives the app page's own worker (app.js's, the production one: app commands only) with an account
registered during the first run: unlock with the passphrase (Argon2id, the keyring), open the note saved online and
save one more (libsodium.js, WebCrypto, IndexedDB), all with nothing answering on the relay's port. The test-only
commands are not an option here: a testing worker needs the test wheel, which no service worker precaches.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext

from tests.backend.live import run_relay
from tests.browser.helpers import CountingListener, result, wait_ready

PASSPHRASE = "written on a plane, far from any relay"
UPDATE_CHECKS = ("GET /sw.js?v=", "GET /vendor/asset-manifest.json ")


def _allowed(head: str) -> bool:
    if head.startswith(UPDATE_CHECKS):
        return True
    return head.startswith("GET / ") and "\r\nSec-Fetch-Mode: navigate\r\n" in head

CACHE_STATE = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const names = await caches.keys();
  const cache = await caches.open(names.find((n) => n.startsWith("vellum-")));
  return {
    scope: registration.scope,
    script: registration.active.scriptURL,
    controlled: navigator.serviceWorker.controller !== null,
    caches: names,
    cached: (await cache.keys()).map((r) => new URL(r.url).pathname).sort(),
  };
}"""


def test_worker_boots_from_the_service_worker_cache_with_the_relay_dead(
    persistent: Callable[[Path], BrowserContext], web_root: Path, asset_manifest: dict[str, Any], tmp_path: Path
) -> None:
    profile = tmp_path / "profile"
    with run_relay(tmp_path / "relay", workers=1, extra_args=["--web-dir", str(web_root)]) as relay:
        context = persistent(profile)
        page = context.new_page()
        page.goto(relay.origin + "/")
        wait_ready(page)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=60_000)
        state = page.evaluate(CACHE_STATE)
        version = asset_manifest["version"]
        assert state["caches"] == [f"vellum-{version}"]
        assert state["script"].endswith(f"/sw.js?v={version}")
        expected = sorted({"/", "/vendor/asset-manifest.json", *(f["path"] for f in asset_manifest["files"])})
        assert state["cached"] == expected
        # An account on this browser (the app's own worker, its app commands), and one note, synced.
        joined = result(page, "app.register", {"username": "airplane", "passphrase": PASSPHRASE,
                                                "device_name": "Chromium"})
        words = joined["recovery_words"]
        result(page, "app.recovery_confirmed", {"words": {"3": words[2], "11": words[10], "20": words[19]}})
        online = result(page, "notes.save", {"title": "Before the flight", "body": "passport, tickets"})
        assert result(page, "sync.now")["pending_count"] == 0
        context.close()

        served_before = relay.log().count('" 200 ') + relay.log().count('" 304 ')
        relay.process.terminate()
        relay.process.wait(timeout=15)
        assert served_before > 0

        listener = CountingListener(relay.port)
        try:
            context = persistent(profile)  # a new browser process: nothing left in memory from the first run
            page = context.new_page()
            page.goto(relay.origin + "/")
            wait_ready(page)
            status = result(page, "status")
            assert status["backend"] == "libsodium.js"
            assert status["unlocked"] is False
            assert result(page, "app.status")["state"] == "locked"
            unlocked = result(page, "app.unlock", {"passphrase": PASSPHRASE, "remember": False})
            assert [n["title"] for n in unlocked["notes"]] == ["Before the flight"]
            assert result(page, "status")["unlocked"] is True
            assert result(page, "notes.get", {"id": online["id"]})["body"] == "passport, tickets"
            written = result(page, "notes.save", {"title": "On the plane", "body": "offline note"})
            assert result(page, "notes.get", {"id": written["id"]})["body"] == "offline note"
            assert [n["title"] for n in result(page, "notes.list")["notes"]] == ["On the plane", "Before the flight"]
            context.close()
        finally:
            listener.close()

    unexpected = [head for head in listener.heads if not _allowed(head)]
    assert unexpected == [], f"requests reached the dead relay's port: {listener.heads}"
