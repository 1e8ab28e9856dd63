"""One person, one device, the whole app, in order: sign up (weak passphrases refused, the recovery phrase shown once
with its kit and checked), write, search, delete and undo, reload and unlock, lock (nothing left on screen or in the
worker), settings (device name, devices, storage, auto-lock, encrypted export and import, plaintext export behind a
warning), local data evicted by the browser (noticed; signing in again restores the notes), "Remember this device",
auto-lock after idle time. Along the way: no plaintext in IndexedDB, Cache Storage or Web Storage, and not a single
CSP violation in the page, the crypto worker or the service worker.

The tests share one tab (module scope) and run in file order: each starts where the previous one left the app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.backend.live import LiveRelay
from tests.browser.app_fixtures import PASSPHRASE, Vellum, new_context, scan_browser_storage, unique
from tests.browser.helpers import call

MARK = unique("mk")
NOTES = {
    f"Groceries {MARK}": f"Milk, eggs and bread {MARK}-body-1.\nCoffee beans from the market.",
    f"Trip to Lisbon {MARK}": f"Book the tram tour {MARK}-body-2. Pastéis de nata at Belém.",
    f"Ideas {MARK}": f"A notebook that encrypts everything {MARK}-body-3 before it leaves the device.",
}


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def app(browser: Browser, relay: LiveRelay) -> Iterator[Vellum]:
    context = new_context(browser, accept_downloads=True)
    try:
        yield Vellum.open(context, relay.origin)
    finally:
        context.close()


def markers(state: dict[str, Any]) -> list[str]:
    return [*NOTES, *NOTES.values(), PASSPHRASE, " ".join(state["words"])]


def test_sign_up_refuses_weak_passphrases_and_shows_the_recovery_phrase_once(
    app: Vellum, relay: LiveRelay, state: dict[str, Any], tmp_path: Path
) -> None:
    page = app.page
    assert app.screen() == "welcome"
    username = unique("ada")
    state["username"] = username
    page.get_by_role("tab", name="New account").click()
    app.textbox("Username").fill(username)

    # The meter explains, and "Create account" refuses, a guessable passphrase.
    app.textbox("Passphrase").fill("P@ssw0rd2024!")
    meter = page.get_by_role("meter", name="Passphrase strength")
    expect(meter).to_have_attribute("aria-valuenow", "1")
    app.textbox("Confirm passphrase").fill("P@ssw0rd2024!")
    app.button("Create account").click()
    expect(page.get_by_role("alert").filter(has_text="Too weak")).to_be_visible()
    assert app.screen() == "welcome"

    app.textbox("Passphrase").fill(PASSPHRASE)
    expect(meter).to_have_attribute("aria-valuenow", re.compile("[234]"))
    app.textbox("Confirm passphrase").fill(PASSPHRASE + " typo")
    app.button("Create account").click()
    expect(page.get_by_role("alert").filter(has_text="different")).to_be_visible()

    app.textbox("Confirm passphrase").fill(PASSPHRASE)
    app.button("Create account").click()
    app.wait_screen("recovery")

    # 24 numbered words and the kit's facts.
    words = app.recovery_words()
    state["words"] = words
    numbers = page.locator("#recovery-words .n").all_inner_texts()
    assert numbers == [str(n) for n in range(1, 25)]
    kit = page.get_by_role("article", name="Recovery kit")
    expect(kit).to_contain_text(username)
    expect(kit).to_contain_text(relay.origin)
    fingerprint = page.locator("#kit-fingerprint").inner_text()
    assert len(fingerprint) >= 16
    state["fingerprint"] = fingerprint

    with page.expect_download() as download_info:
        app.button("Download kit").click()
    kit_file = tmp_path / "kit.html"
    download_info.value.save_as(kit_file)
    text = kit_file.read_text()
    assert download_info.value.suggested_filename == f"vellum-recovery-kit-{username}.html"
    for expected in [*words, username, relay.origin, fingerprint, "Use recovery phrase"]:
        assert expected in text

    # A wrong word is caught, with its position.
    labels = page.locator("#word-checks label").all_inner_texts()
    for label in labels:
        app.textbox(label).fill(words[int(label.split()[1]) - 1])
    first = labels[0]
    app.textbox(first).fill("notaword")
    app.button("I have written it down").click()
    expect(page.get_by_role("alert").filter(has_text=f"{first} does not match")).to_be_visible()
    app.textbox(first).fill(words[int(first.split()[1]) - 1])
    app.button("I have written it down").click()
    app.wait_screen("notebook")
    assert page.locator("#recovery-words li").count() == 0  # the phrase left the page
    app.wait_synced()


def test_write_search_delete_and_undo(app: Vellum) -> None:
    page = app.page
    for title, body in NOTES.items():
        app.new_note(title, body)
    app.wait_titles(NOTES)

    assert app.search(f"{MARK}-body-2") == [f"Trip to Lisbon {MARK}"]
    assert app.search("no such words anywhere") == []
    expect(page.locator("#note-list")).to_contain_text("No notes match")
    assert sorted(app.search("")) == sorted(NOTES)

    # Autosave on blur too: an edit, then a click elsewhere, without waiting for the debounce.
    app.open_note(f"Ideas {MARK}")
    app.textbox("Body").fill(NOTES[f"Ideas {MARK}"] + "\nSaved on blur.")
    app.textbox("Title").focus()
    app.wait_saved()

    app.open_note(f"Groceries {MARK}")
    app.delete_open_note()
    app.wait_for_title(f"Groceries {MARK}", present=False)
    toast = page.locator(".toast").filter(has_text="deleted")
    expect(toast).to_contain_text(f"Groceries {MARK}")
    toast.get_by_role("button", name="Undo").click()
    app.wait_for_title(f"Groceries {MARK}")
    expect(app.textbox("Body")).to_have_value(NOTES[f"Groceries {MARK}"])
    app.wait_synced()


def test_reload_then_unlock_shows_the_notes(app: Vellum) -> None:
    page = app.page
    page.reload()
    app.wait_screen("unlock")
    remember = page.get_by_role("checkbox", name="Remember this device")
    expect(remember).not_to_be_checked()
    expect(app.button("Use recovery phrase")).to_be_visible()
    assert app.titles() == []

    app.textbox("Passphrase").fill("orbit maple lantern quietly sixteen")
    app.button("Unlock").click()
    expect(page.get_by_role("alert").filter(has_text="did not unlock")).to_be_visible(timeout=30_000)
    app.unlock()
    app.wait_titles(NOTES)
    app.open_note(f"Ideas {MARK}")
    assert app.note()[1].endswith("Saved on blur.")


def test_lock_clears_the_screen_and_the_worker(app: Vellum, state: dict[str, Any]) -> None:
    page = app.page
    app.open_note(f"Trip to Lisbon {MARK}")
    assert call(page, "status")["result"]["unlocked"] is True  # the app's worker holds the account while unlocked
    app.lock()
    shown = page.evaluate(
        """() => document.body.innerText + "\\n" +
                 [...document.querySelectorAll("input, textarea")].map((e) => e.value).join("\\n")"""
    )
    for marker in [*NOTES, *NOTES.values(), MARK]:
        assert marker not in shown
    status = call(page, "app.status")["result"]
    assert status["state"] == "locked" and status["username"] == state["username"]
    assert call(page, "notes.list")["error"]["code"] == "locked"
    assert call(page, "status")["result"]["unlocked"] is False  # the fresh worker "Lock" started holds nothing


def test_no_plaintext_in_browser_storage(app: Vellum, state: dict[str, Any]) -> None:
    # Locked, then unlocked with the sealed index and search cache in use: neither state writes plaintext.
    locked = scan_browser_storage(app.page, markers(state))
    app.unlock()
    assert call(app.page, "status")["result"]["unlocked"] is True  # the same worker, now holding the account
    app.search(MARK)
    unlocked = scan_browser_storage(app.page, markers(state))
    for found in (locked, unlocked):
        assert found["hits"] == {}, found["hits"]
        assert any(store.startswith("vellum/") for store in found["stores"]), found["stores"]
        assert any(name.startswith("vellum-") for name in found["caches"]), found["caches"]
        assert found["scanned"] > 1_000_000  # the whole precache was read
    app.search("")


def test_settings_export_import_and_plaintext_warning(app: Vellum, state: dict[str, Any], tmp_path: Path) -> None:
    page = app.page
    app.button("Settings").click()
    app.wait_screen("settings")
    devices = page.get_by_role("list", name="Devices")
    expect(devices).to_contain_text("This device")
    expect(page.locator("#settings-username")).to_have_text(state["username"])
    expect(page.locator("#storage-state")).to_contain_text(re.compile("Persistent|Not persistent"))
    expect(page.get_by_role("combobox", name="Lock after inactivity")).to_have_value("15")

    app.textbox("Device name").fill("Work laptop")
    app.button("Save name").click()
    expect(devices).to_contain_text("Work laptop")

    # Encrypted backup: a weak backup passphrase is refused, a good one gives a file without plaintext.
    app.textbox("Backup passphrase").fill("short")
    app.button("Download encrypted backup").click()
    expect(page.locator("#export-error")).to_contain_text("Too weak")
    app.textbox("Backup passphrase").fill("copper valley tremble oyster narrow")
    with page.expect_download() as download_info:
        app.button("Download encrypted backup").click()
    backup = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(backup)
    data = backup.read_bytes()
    assert data and not any(m.encode() in data for m in [*NOTES, *NOTES.values(), MARK])

    # Plaintext export: disabled until the warning is acknowledged.
    plain_button = app.button("Download plaintext export")
    expect(plain_button).to_be_disabled()
    expect(page.locator("#export-plain-form")).to_contain_text("not encrypted")
    page.get_by_role("checkbox", name="I understand the file will not be encrypted").check()
    with page.expect_download() as plain_info:
        plain_button.click()
    plain = tmp_path / "plain.md"
    plain_info.value.save_as(plain)
    exported = plain.read_text()
    assert all(title in exported for title in NOTES)

    # Import the encrypted backup back: a wrong passphrase is refused, the right one adds the notes.
    page.get_by_label("Backup file").set_input_files(str(backup))
    app.textbox("Passphrase of the backup").fill("copper valley tremble oyster wide")
    app.button("Import backup").click()
    expect(page.locator("#import-error")).not_to_be_empty()
    app.textbox("Passphrase of the backup").fill("copper valley tremble oyster narrow")
    app.button("Import backup").click()
    expect(page.locator("#import-result")).to_have_text(f"Imported {len(NOTES)} notes.", timeout=30_000)

    app.button("Back to notes").click()
    app.wait_screen("notebook")
    page.wait_for_function(
        "(n) => document.querySelectorAll('#note-list .note-item').length === n", arg=2 * len(NOTES)
    )
    app.wait_synced()


def test_no_csp_violation_during_the_run(app: Vellum) -> None:
    app.assert_no_csp_violations()


def test_evicted_local_data_is_noticed_and_the_relay_restores_the_notes(
    app: Vellum, relay: LiveRelay, state: dict[str, Any]
) -> None:
    """The browser drops the origin's IndexedDB (what storage pressure does); the localStorage marker remains."""
    page = app.page
    app.collect_worker_violations()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Storage.clearDataForOrigin", {"origin": relay.origin, "storageTypes": "indexeddb"})
    page.reload()
    app.wait_screen("welcome")
    notices = page.get_by_role("region", name="Notices")
    expect(notices).to_contain_text("Vellum's data on this device is gone", timeout=30_000)
    expect(page.get_by_role("tab", name="Sign in")).to_have_attribute("aria-selected", "true")
    expect(app.textbox("Username")).to_have_value(state["username"])
    app.textbox("Passphrase").fill(PASSPHRASE)
    app.button("Sign in").click()
    app.wait_screen("notebook")
    page.wait_for_function(
        "(n) => document.querySelectorAll('#note-list .note-item').length === n", arg=2 * len(NOTES), timeout=30_000
    )
    notices.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#notices")).not_to_contain_text("gone")
    app.assert_no_csp_violations()


def test_remember_this_device_opens_without_the_passphrase(app: Vellum) -> None:
    page = app.page
    app.lock()
    page.get_by_role("checkbox", name="Remember this device").check()
    app.unlock()
    page.reload()
    app.wait_screen("notebook")  # no passphrase typed: the device key unwrapped the device factor
    page.wait_for_function(
        "(n) => document.querySelectorAll('#note-list .note-item').length === n", arg=2 * len(NOTES), timeout=30_000
    )
    app.assert_no_csp_violations()


def test_auto_lock_after_the_idle_time(app: Vellum) -> None:
    page = app.page
    app.button("Settings").click()
    page.get_by_role("combobox", name="Lock after inactivity").select_option("1")
    app.button("Back to notes").click()
    page.clock.install()
    page.clock.fast_forward("00:50")
    assert app.screen() == "notebook"
    page.clock.fast_forward("00:20")
    app.wait_screen("unlock", timeout=15_000)
    expect(page.locator("#unlock-reason")).to_contain_text("after 1 minute without activity")
