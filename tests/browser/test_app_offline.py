"""Airplane mode and two devices.

1. After the first load the relay process is killed and a listener that records every request (and answers none)
   takes its port. The app reloads from the service worker's cache, unlocks, and creates, edits, deletes and searches
   notes; the listener sees nothing but the app's /api/ attempts and the browser's own update checks and navigation
   preloads (tests/browser/test_offline.py explains those). The relay comes back on the same port and data: the
   waiting changes go out by themselves, a second device (another browser profile) signs in and sees them, and the
   relay's SQLite files hold none of the plaintext.
2. Both devices offline edit the same note, first different paragraphs (merged), then the same paragraph (a marked
   conflicted copy): after sync, no edit is lost on either device.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browser.app_fixtures import (
    PASSPHRASE,
    RestartableRelay,
    Vellum,
    new_context,
    restartable_relay,
    scan_files,
    unique,
)
from tests.browser.helpers import CountingListener

MARK = unique("air")
UPDATE_CHECKS = ("GET /sw.js?v=", "GET /vendor/asset-manifest.json ")
CONVERGE_TIMEOUT_S = 60


def allowed_offline(head: str) -> bool:
    line = head.split("\r\n", 1)[0]
    method, target = [*line.split(" "), "", ""][:2]
    if target.startswith("/api/"):
        return True  # the app trying to sync: it must fail calmly, not be avoided
    if head.startswith(UPDATE_CHECKS):
        return True
    return method == "GET" and target == "/" and "\r\nSec-Fetch-Mode: navigate\r\n" in head


@dataclass
class Devices:
    relay: RestartableRelay
    contexts: list[BrowserContext]
    a: Vellum
    b: Vellum | None
    username: str


@pytest.fixture(scope="module")
def devices(browser: Browser, web_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devices]:
    with restartable_relay(tmp_path_factory.mktemp("airplane"), web_root) as relay:
        contexts = [new_context(browser), new_context(browser)]
        try:
            a = Vellum.open(contexts[0], relay.origin)
            found = Devices(relay, contexts, a, None, unique("amelia"))
            yield found
            if found.b is not None:
                found.b.assert_no_csp_violations()
            a.assert_no_csp_violations()
        finally:
            for context in contexts:
                context.close()


def converge(apps: list[Vellum], done: Callable[[Vellum], bool], timeout: float = CONVERGE_TIMEOUT_S) -> None:
    """Press "Sync now" on every device until each satisfies ``done``."""
    deadline = time.monotonic() + timeout
    while True:
        for app in apps:
            app.sync_now()
        time.sleep(1.5)
        if all(done(app) for app in apps):
            return
        assert time.monotonic() < deadline, [app.all_notes() for app in apps]


def test_airplane_mode_then_sync_and_a_second_device(devices: Devices) -> None:
    relay, a = devices.relay, devices.a
    a.sign_up(devices.username)
    a.new_note(f"Before the flight {MARK}", f"Packed on the ground {MARK}-ground.")
    a.wait_synced()
    a.page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=60_000)

    relay.stop()
    listener = CountingListener(relay.port)
    try:
        a.page.reload()
        a.unlock()  # offline: the bundle stored on this device, the passphrase, nothing else
        a.wait_titles([f"Before the flight {MARK}"])
        a.new_note(f"Window seat {MARK}", f"Clouds like a field of cotton {MARK}-cotton.")
        a.new_note(f"Draft to delete {MARK}", f"Nobody will see this {MARK}-gone.")
        a.new_note(f"Menu {MARK}", f"Pasta or chicken {MARK}-menu.")
        a.open_note(f"Window seat {MARK}")
        a.set_body(f"Clouds like a field of cotton {MARK}-cotton, then the sea {MARK}-sea.")
        a.open_note(f"Draft to delete {MARK}")
        a.delete_open_note()
        a.wait_for_title(f"Draft to delete {MARK}", present=False)
        assert a.search(f"{MARK}-sea") == [f"Window seat {MARK}"]
        a.search("")
        status = a.wait_status(r"^Offline · [1-9]\d* changes? waiting")
        assert "Last synced" in status
        a.capture("offline")
    finally:
        listener.close()
    unexpected = [head.split("\r\n", 1)[0] for head in listener.heads if not allowed_offline(head)]
    assert unexpected == [], listener.requests
    assert any(" /api/" in line for line in listener.requests), "the app never tried to sync while offline"

    relay.start()
    a.wait_synced(timeout=60_000)  # nobody pressed anything
    expected = [f"Before the flight {MARK}", f"Window seat {MARK}", f"Menu {MARK}"]
    a.wait_titles(expected)

    b = Vellum.open(devices.contexts[1], relay.origin)
    devices.b = b
    b.sign_in(devices.username)
    b.wait_titles(expected)
    b.open_note(f"Window seat {MARK}")
    assert b.note()[1] == f"Clouds like a field of cotton {MARK}-cotton, then the sea {MARK}-sea."

    files = [p for p in relay.data_dir.iterdir() if p.name.startswith("vellum.sqlite3")]
    assert files
    plaintext = [*expected, f"Draft to delete {MARK}", f"{MARK}-cotton", f"{MARK}-sea", f"{MARK}-gone", PASSPHRASE]
    assert scan_files(files, plaintext) == {}


def test_concurrent_offline_edits_lose_nothing(devices: Devices) -> None:
    relay, a, b = devices.relay, devices.a, devices.b
    assert b is not None
    title = f"Packing list {MARK}"
    a.new_note(title, "Passport.\n\nCharger.\n\nBook.")
    converge([a, b], lambda app: title in app.titles())

    def body_of(app: Vellum) -> str:
        if app.textbox("Title").input_value() != title:
            app.open_note(title)
        return app.note()[1]

    # Different paragraphs: merged.
    relay.stop()
    a.open_note(title)
    a.set_body("Passport and visa (A).\n\nCharger.\n\nBook.")
    b.open_note(title)
    b.set_body("Passport.\n\nCharger.\n\nBook and headphones (B).")
    relay.start()
    converge([a, b], lambda app: body_of(app) == "Passport and visa (A).\n\nCharger.\n\nBook and headphones (B).")

    # The same paragraph: nothing lost, and the copy is marked.
    relay.stop()
    a.set_body("Passport and visa (A).\n\nCharger, the fast one (A2).\n\nBook and headphones (B).")
    b.set_body("Passport and visa (A).\n\nCharger and cable (B2).\n\nBook and headphones (B).")
    relay.start()

    def both_kept(app: Vellum) -> bool:
        if app.page.locator(".badge[data-kind=conflict]").count() == 0:
            return False
        bodies = "\n".join(app.all_notes().values())
        return "(A2)" in bodies and "(B2)" in bodies

    converge([a, b], both_kept)
    for app in (a, b):
        badge = app.page.locator(".badge[data-kind=conflict]")
        conflicted = app.page.locator("#note-list .note-item").filter(has=badge)
        conflicted.first.click()
        expect(app.page.locator(".note-flag[data-kind=conflict]")).to_contain_text("Conflicted copy")
    a.capture("conflicted-copy")
