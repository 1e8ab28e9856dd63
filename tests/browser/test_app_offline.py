"""Airplane mode and two devices, on a relay of this module's own that can be stopped and started on the same data.

1. After the first load the relay process is killed and a listener that records every request (and answers none)
   takes its port. The app reloads from the service worker's cache, unlocks, and creates, edits, deletes and searches
   notes; the listener sees nothing but the app's /api/ attempts and the browser's own update checks and navigation
   preloads (tests/browser/test_offline.py explains those). The relay comes back on the same port and data: the
   waiting changes go out by themselves, a second device (a new browser profile) signs in and sees them, and the
   relay's SQLite files hold none of the plaintext.
2. Both devices offline edit the same note, first different paragraphs (merged), then the same paragraph (a marked
   conflicted copy): after sync, no edit is lost on either device.

Each test stands alone: ``airplane`` (the module's relay and account) opens devices on demand, the first one signing
up and the others signing in, and ``online`` starts the relay again if a test left it stopped. Each test writes notes
of its own and checks those.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
class Airplane:
    """The module's relay and account, and the devices (one browser context each) opened on it so far."""

    browser: Browser
    relay: RestartableRelay
    username: str
    contexts: list[BrowserContext] = field(default_factory=list)
    named: dict[str, Vellum] = field(default_factory=dict)
    signed_up: bool = False

    def new_device(self) -> Vellum:
        """A new browser profile on the account, unlocked: the first one signs up, every later one signs in."""
        context = new_context(self.browser)
        self.contexts.append(context)
        app = Vellum.open(context, self.relay.origin)
        if self.signed_up:
            app.sign_in(self.username)
        else:
            app.sign_up(self.username)
            self.signed_up = True
        return app

    def device(self, name: str) -> Vellum:
        """The device called ``name``, opened on first use; unlocked if a test left it locked."""
        if name not in self.named:
            self.named[name] = self.new_device()
        app = self.named[name]
        if app.screen() == "unlock":
            app.unlock()
        app.wait_screen("notebook")
        return app

    def close(self, app: Vellum) -> None:
        app.assert_no_csp_violations()
        self.contexts.remove(app.page.context)
        app.page.context.close()


@pytest.fixture(scope="module")
def airplane(browser: Browser, web_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airplane]:
    with restartable_relay(tmp_path_factory.mktemp("airplane"), web_root) as relay:
        found = Airplane(browser, relay, unique("amelia"))
        try:
            yield found
            for app in found.named.values():
                app.assert_no_csp_violations()
        finally:
            for context in found.contexts:
                context.close()


@pytest.fixture
def online(airplane: Airplane) -> Airplane:
    """The relay running, whatever an earlier test left it as."""
    if airplane.relay.process is None:
        airplane.relay.start()
    return airplane


def converge(apps: list[Vellum], done: Callable[[Vellum], bool], timeout: float = CONVERGE_TIMEOUT_S) -> None:
    """Sync every device, round after round, until each satisfies ``done``."""
    deadline = time.monotonic() + timeout
    while True:
        for app in apps:
            app.sync_round()
        if all(done(app) for app in apps):
            return
        assert time.monotonic() < deadline, [app.all_notes() for app in apps]


def test_airplane_mode_then_sync_and_a_second_device(online: Airplane) -> None:
    relay = online.relay
    a = online.device("a")
    a.new_note(f"Before the flight {MARK}", f"Packed on the ground {MARK}-ground.")
    a.wait_synced()
    a.page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=60_000)

    relay.stop()
    listener = CountingListener(relay.port)
    try:
        a.page.reload()
        a.unlock()  # offline: the bundle stored on this device, the passphrase, nothing else
        a.wait_for_title(f"Before the flight {MARK}")
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
    for title in expected:
        a.wait_for_title(title)

    b = online.new_device()  # a browser profile that never saw the account: it signs in
    try:
        for title in expected:
            b.wait_for_title(title)
        b.wait_for_title(f"Draft to delete {MARK}", present=False)
        b.open_note(f"Window seat {MARK}")
        assert b.note()[1] == f"Clouds like a field of cotton {MARK}-cotton, then the sea {MARK}-sea."
    finally:
        online.close(b)

    files = [p for p in relay.data_dir.iterdir() if p.name.startswith("vellum.sqlite3")]
    assert files
    plaintext = [*expected, f"Draft to delete {MARK}", f"{MARK}-cotton", f"{MARK}-sea", f"{MARK}-gone", PASSPHRASE]
    assert scan_files(files, plaintext) == {}


def test_concurrent_offline_edits_lose_nothing(online: Airplane) -> None:
    relay, a, b = online.relay, online.device("a"), online.device("b")
    title = f"Packing list {unique('pk')}"
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
