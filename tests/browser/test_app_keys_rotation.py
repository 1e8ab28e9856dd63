"""Key rotation through the app (real relay, real Chromium, nothing mocked):

1. A due rotation starts by itself. An account seeded by the CPython client with 2,000 notes, its keys "last
   rotated" 100 days ago (the default schedule is 90 days), signs in on a browser: after the first sync the leader
   tab starts the rotation and re-wraps the notes' keys in the background with a progressbar. The tab is closed at
   about half (the relay holds both epochs then), reopened and unlocked: the work resumes and finishes, every record
   at the relay is under the new epoch, and every note opens with its text.
2. "Rotate keys now" while another device is offline with edits sealed under the old epoch: when it comes back its
   pushes meet `stale_epoch`, are re-sealed and go through — nothing is lost. Offline, "Rotate keys now" only queues
   the intent (the relay's epoch does not move until the device is back). "Rotate keys every" is kept.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Browser, expect

from tests.backend.live import LiveRelay
from tests.browser.app_fixtures import PASSPHRASE, Vellum, new_context, seed_account, unique
from tests.browser.app_keys_helpers import (
    LONG_TIMEOUT_MS,
    account_row,
    bodies,
    close_settings,
    epochs,
    open_settings,
    progressbar,
    quiet_capture,
    wait_background_done,
)

NOTES = 2000


def wait_until(check: Callable[[], Any], timeout: float = 90.0, every: float = 0.2) -> Any:
    """Poll ``check`` until it holds: for the relay's database, which changes without telling the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def test_a_due_rotation_survives_closing_the_tab_halfway(browser: Browser, relay: LiveRelay) -> None:
    username = unique("archive")
    notes = {f"Archive {i:04d}": f"Entry {i}: " + "lorem ipsum " * (1 + i % 7) for i in range(NOTES)}
    seed_account(relay.base_url, relay.origin, username, PASSPHRASE, notes, age_days=100)
    database = relay.data_dir / "vellum.sqlite3"
    account_id = account_row(database, username)["account_id"]
    assert epochs(database, account_id) == {1: NOTES}

    context = new_context(browser)
    try:
        app = Vellum.open(context, relay.origin)
        app.sign_in(username)
        bar = progressbar(app, "Updating note keys")  # nobody asked: the rotation was due
        expect(bar).to_be_attached(timeout=LONG_TIMEOUT_MS)
        new_epoch = account_row(database, username)["write_epoch"]
        assert new_epoch == 2

        # About half way: close the tab.
        app.page.wait_for_function(
            "(n) => document.querySelector('#key-task progress')?.value >= n", arg=NOTES * 0.4, polling="raf"
        )
        app.page.close()
        split = epochs(database, account_id)
        assert set(split) == {1, 2} and 0 < split[2] < NOTES, split

        # Reopened in two tabs and unlocked: the leader resumes where the relay says it is, and finishes; the other
        # tab only follows; both stay usable meanwhile.
        app = Vellum.open(context, relay.origin)
        other = Vellum.open(context, relay.origin)
        app.unlock()
        other.unlock()
        assert other.search("Archive 1234") == ["Archive 1234"]
        app.page.wait_for_selector("#key-task[data-state]", state="attached", timeout=LONG_TIMEOUT_MS)
        app.capture("keys-background")
        wait_background_done(app)
        assert epochs(database, account_id) == {2: NOTES}
        assert any("/records/below-epoch" in url for url in app.api_requests)
        assert not [url for url in other.api_requests if "/records/below-epoch" in url or "/records/keys" in url]
        other.page.close()
        assert account_row(database, username)["write_epoch"] == 2
        app.wait_synced()
        assert bodies(app) == notes
        open_settings(app)
        expect(app.page.locator("#rotation-facts")).to_contain_text("Key epoch 2")
        app.assert_no_csp_violations()
    finally:
        context.close()


def test_rotation_with_an_offline_device_and_offline_intent(browser: Browser, relay: LiveRelay) -> None:
    contexts = [new_context(browser), new_context(browser)]
    try:
        a = Vellum.open(contexts[0], relay.origin)
        username = unique("rotor")
        a.sign_up(username)
        a.new_note("Shared list", "milk")
        a.new_note("Plans", "travel in May")
        a.wait_synced()
        b = Vellum.open(contexts[1], relay.origin)
        b.sign_in(username)
        b.wait_titles(["Shared list", "Plans"])
        database = relay.data_dir / "vellum.sqlite3"
        account_id = account_row(database, username)["account_id"]

        # B goes offline and edits: sealed under epoch 1, waiting.
        contexts[1].set_offline(True)
        b.open_note("Shared list")
        b.set_body("milk, bread (written offline on B)")
        b.new_note("Offline idea", "sealed under the old keys")
        b.sync_now()
        b.wait_status(r"^Offline · 2 changes waiting")

        # A rotates meanwhile.
        open_settings(a)
        a.button("Rotate keys now").click()
        expect(a.page.locator("#rotation-result")).to_contain_text("key epoch 2", timeout=LONG_TIMEOUT_MS)
        wait_background_done(a)
        assert epochs(database, account_id) == {2: 2}
        quiet_capture(a, "keys-rotation", "#rotation-panel")

        # B comes back: stale_epoch, re-sealed under epoch 2, pushed. Nothing lost.
        contexts[1].set_offline(False)
        b.sync_now()
        b.wait_synced()
        assert epochs(database, account_id) == {2: 3}
        close_settings(a)
        a.sync_now()
        a.wait_titles(["Shared list", "Plans", "Offline idea"])
        assert bodies(a) == {
            "Shared list": "milk, bread (written offline on B)",
            "Plans": "travel in May",
            "Offline idea": "sealed under the old keys",
        }

        # Offline, "Rotate keys now" only queues the intent; back online, it is published and carried out.
        contexts[1].set_offline(True)
        open_settings(b)
        b.button("Rotate keys now").click()
        expect(b.page.locator("#rotation-result")).to_contain_text("cannot reach the relay", timeout=LONG_TIMEOUT_MS)
        expect(b.page.locator("#rotation-facts")).to_contain_text("Waiting to reach the relay")
        assert account_row(database, username)["write_epoch"] == 2
        contexts[1].set_offline(False)
        b.sync_now()
        wait_until(lambda: account_row(database, username)["write_epoch"] == 3)
        wait_background_done(b)
        assert epochs(database, account_id) == {3: 3}

        # The schedule is kept.
        schedule = b.page.get_by_role("combobox", name="Rotate keys every")
        expect(schedule).to_have_value("90")
        schedule.select_option(label="30 days")
        expect(b.page.locator("#rotation-result")).to_contain_text(re.compile("rotate every 30 days"))
        close_settings(b)
        open_settings(b)
        expect(schedule).to_have_value("30")
        for app in (a, b):
            app.assert_no_csp_violations()
    finally:
        for context in contexts:
            context.close()
