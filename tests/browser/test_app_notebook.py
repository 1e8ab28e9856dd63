"""One person and the whole app: sign up (weak passphrases refused, the recovery phrase shown once with its
kit and checked), write, search, delete and undo, reload and unlock, lock (nothing left on screen or in the worker),
settings (device name, devices, storage, auto-lock, encrypted export and import, plaintext export behind a warning),
local data evicted by the browser (noticed; signing in again restores the notes), "Remember this device", auto-lock
after idle time. Along the way: no plaintext in IndexedDB, Cache Storage or Web Storage, and not a single CSP
violation in the page, the crypto worker or the service worker.

Each test stands alone, in any order. The module makes one account (``account``: registered with ``NOTES`` by the
CPython client, the way another device would) and one tab signed in to it (``tab``); the ``notebook`` fixture brings
that tab back to the unlocked notebook from wherever an earlier test left it, and ``locked`` locks it. A test that
needs a fresh sign-up, or changes what a whole browser context keeps (a remembered device, a fake clock), gets a
context of its own. Tests add notes of their own (under their own marker) and count relative to what they found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.backend.live import LiveRelay
from tests.browser.app_fixtures import (
    PASSPHRASE,
    Seeded,
    Vellum,
    new_context,
    scan_browser_storage,
    seed_account,
    unique,
)
from tests.browser.helpers import call, result

MARK = unique("mk")
NOTES = {
    f"Groceries {MARK}": f"Milk, eggs and bread {MARK}-body-1.\nCoffee beans from the market.",
    f"Trip to Lisbon {MARK}": f"Book the tram tour {MARK}-body-2. Pastéis de nata at Belém.",
    f"Ideas {MARK}": f"A notebook that encrypts everything {MARK}-body-3 before it leaves the device.",
}


@pytest.fixture(scope="module")
def account(relay: LiveRelay) -> Seeded:
    return seed_account(relay.base_url, relay.origin, unique("ada"), PASSPHRASE, NOTES)


@pytest.fixture(scope="module")
def tab(browser: Browser, relay: LiveRelay, account: Seeded) -> Iterator[Vellum]:
    """The module's tab, signed in to ``account``; whatever its tests did in it, it never broke the CSP."""
    context = new_context(browser, accept_downloads=True)
    try:
        app = Vellum.open(context, relay.origin)
        app.sign_in(account.username)
        yield app
        app.assert_no_csp_violations()
    finally:
        context.close()


def show_notebook(app: Vellum, account: Seeded) -> None:
    """From any screen a test of this module can leave: the unlocked notebook, no search, the account's notes."""
    screen = app.screen()
    if screen == "settings":
        app.button("Back to notes").click()
    elif screen == "unlock":
        app.unlock()
    elif screen == "welcome":  # the local data is gone (an eviction test stopped half way): sign in again
        app.sign_in(account.username)
    elif screen != "notebook":
        raise AssertionError(f"the shared tab was left on the {screen!r} screen")
    app.wait_screen("notebook")
    if app.page.get_by_role("searchbox", name="Search").input_value():
        app.search("")
    for title in NOTES:
        app.wait_for_title(title)


@pytest.fixture
def notebook(tab: Vellum, account: Seeded) -> Vellum:
    show_notebook(tab, account)
    return tab


@pytest.fixture
def locked(notebook: Vellum) -> Vellum:
    notebook.lock()
    return notebook


@pytest.fixture
def fresh_tab(browser: Browser, relay: LiveRelay) -> Iterator[Vellum]:
    """A new browser context, on the welcome screen."""
    context = new_context(browser, accept_downloads=True)
    try:
        yield Vellum.open(context, relay.origin)
    finally:
        context.close()


@pytest.fixture
def own_tab(fresh_tab: Vellum, account: Seeded) -> Vellum:
    """A new browser context signed in to ``account``, for a test that changes what the context keeps."""
    fresh_tab.sign_in(account.username)
    for title in NOTES:
        fresh_tab.wait_for_title(title)
    return fresh_tab


def markers(account: Seeded) -> list[str]:
    return [*NOTES, *NOTES.values(), PASSPHRASE, " ".join(account.recovery_words)]


def note_count(app: Vellum) -> int:
    return len(result(app.page, "notes.list")["notes"])


def wait_note_count(app: Vellum, count: int, timeout: int = 30_000) -> None:
    app.page.wait_for_function(
        "(n) => document.querySelectorAll('#note-list .note-item').length === n", arg=count, timeout=timeout
    )


def test_sign_up_refuses_weak_passphrases_and_shows_the_recovery_phrase_once(
    fresh_tab: Vellum, relay: LiveRelay, tmp_path: Path
) -> None:
    app = fresh_tab
    page = app.page
    assert app.screen() == "welcome"
    username = unique("ada")
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
    numbers = page.locator("#recovery-words .n").all_inner_texts()
    assert numbers == [str(n) for n in range(1, 25)]
    kit = page.get_by_role("article", name="Recovery kit")
    expect(kit).to_contain_text(username)
    expect(kit).to_contain_text(relay.origin)
    fingerprint = page.locator("#kit-fingerprint").inner_text()
    assert len(fingerprint) >= 16

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
    app.assert_no_csp_violations()


def test_write_search_delete_and_undo(notebook: Vellum) -> None:
    app, page = notebook, notebook.page
    mark = unique("wr")
    notes = {
        f"Groceries {mark}": f"Milk, eggs and bread {mark}-body-1.\nCoffee beans from the market.",
        f"Trip to Lisbon {mark}": f"Book the tram tour {mark}-body-2. Pastéis de nata at Belém.",
        f"Ideas {mark}": f"A notebook that encrypts everything {mark}-body-3 before it leaves the device.",
    }
    for title, body in notes.items():
        app.new_note(title, body)
    for title in notes:
        app.wait_for_title(title)

    assert app.search(f"{mark}-body-2") == [f"Trip to Lisbon {mark}"]
    assert sorted(app.search(mark)) == sorted(notes)
    assert app.search("no such words anywhere") == []
    expect(page.locator("#note-list")).to_contain_text("No notes match")
    assert set(app.search("")) >= {*notes, *NOTES}

    # Autosave on blur too: an edit, then a click elsewhere, without waiting for the debounce.
    app.open_note(f"Ideas {mark}")
    app.textbox("Body").fill(notes[f"Ideas {mark}"] + "\nSaved on blur.")
    app.textbox("Title").focus()
    app.wait_saved()

    app.open_note(f"Groceries {mark}")
    app.delete_open_note()
    app.wait_for_title(f"Groceries {mark}", present=False)
    toast = page.locator(".toast").filter(has_text="deleted")
    expect(toast).to_contain_text(f"Groceries {mark}")
    toast.get_by_role("button", name="Undo").click()
    app.wait_for_title(f"Groceries {mark}")
    expect(app.textbox("Body")).to_have_value(notes[f"Groceries {mark}"])
    app.open_note(f"Ideas {mark}")
    assert app.note()[1].endswith("Saved on blur.")
    app.wait_synced()


def test_reload_then_unlock_shows_the_notes(notebook: Vellum) -> None:
    app, page = notebook, notebook.page
    title = f"Before the reload {unique('rl')}"
    app.new_note(title, "Written, then the page reloaded.")
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
    for expected in [*NOTES, title]:
        app.wait_for_title(expected)
    app.open_note(title)
    assert app.note() == (title, "Written, then the page reloaded.")


def test_lock_clears_the_screen_and_the_worker(notebook: Vellum, account: Seeded) -> None:
    app, page = notebook, notebook.page
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
    assert status["state"] == "locked" and status["username"] == account.username
    assert call(page, "notes.list")["error"]["code"] == "locked"
    assert call(page, "status")["result"]["unlocked"] is False  # the fresh worker "Lock" started holds nothing


def test_no_plaintext_in_browser_storage(locked: Vellum, account: Seeded) -> None:
    # Locked, then unlocked with the sealed index and search cache in use: neither state writes plaintext.
    app = locked
    while_locked = scan_browser_storage(app.page, markers(account))
    app.unlock()
    assert call(app.page, "status")["result"]["unlocked"] is True  # the same worker, now holding the account
    assert set(app.search(MARK)) == set(NOTES)  # imported copies (another test) carry the same titles
    while_unlocked = scan_browser_storage(app.page, markers(account))
    for found in (while_locked, while_unlocked):
        assert found["hits"] == {}, found["hits"]
        assert any(store.startswith("vellum/") for store in found["stores"]), found["stores"]
        assert any(name.startswith("vellum-") for name in found["caches"]), found["caches"]
        assert found["scanned"] > 1_000_000  # the whole precache was read
    app.search("")


def test_settings_export_import_and_plaintext_warning(notebook: Vellum, account: Seeded, tmp_path: Path) -> None:
    app, page = notebook, notebook.page
    count = note_count(app)  # the account's notes, and those other tests of the module added
    app.button("Settings").click()
    app.wait_screen("settings")
    devices = page.get_by_role("list", name="Devices")
    expect(devices).to_contain_text("This device")
    expect(page.locator("#settings-username")).to_have_text(account.username)
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
    expect(page.locator("#import-result")).to_have_text(f"Imported {count} notes.", timeout=30_000)

    app.button("Back to notes").click()
    app.wait_screen("notebook")
    wait_note_count(app, 2 * count)
    app.wait_synced()


def test_no_csp_violation_during_the_run(notebook: Vellum) -> None:
    notebook.assert_no_csp_violations()


def test_evicted_local_data_is_noticed_and_the_relay_restores_the_notes(
    notebook: Vellum, relay: LiveRelay, account: Seeded
) -> None:
    """The browser drops the origin's IndexedDB (what storage pressure does); the localStorage marker remains."""
    app, page = notebook, notebook.page
    app.wait_synced()  # every note at the relay
    count = note_count(app)
    app.collect_worker_violations()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Storage.clearDataForOrigin", {"origin": relay.origin, "storageTypes": "indexeddb"})
    page.reload()
    app.wait_screen("welcome")
    notices = page.get_by_role("region", name="Notices")
    expect(notices).to_contain_text("Vellum's data on this device is gone", timeout=30_000)
    expect(page.get_by_role("tab", name="Sign in")).to_have_attribute("aria-selected", "true")
    expect(app.textbox("Username")).to_have_value(account.username)
    app.textbox("Passphrase").fill(PASSPHRASE)
    app.button("Sign in").click()
    app.wait_screen("notebook")
    wait_note_count(app, count)
    notices.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#notices")).not_to_contain_text("gone")
    app.assert_no_csp_violations()


def test_remember_this_device_opens_without_the_passphrase(own_tab: Vellum) -> None:
    app, page = own_tab, own_tab.page
    count = note_count(app)
    app.lock()
    page.get_by_role("checkbox", name="Remember this device").check()
    app.unlock()
    page.reload()
    app.wait_screen("notebook")  # no passphrase typed: the device key unwrapped the device factor
    wait_note_count(app, count)
    app.assert_no_csp_violations()


def test_auto_lock_after_the_idle_time(own_tab: Vellum) -> None:
    app, page = own_tab, own_tab.page  # a context of its own: the setting and the fake clock stay in it
    app.button("Settings").click()
    page.get_by_role("combobox", name="Lock after inactivity").select_option("1")
    app.button("Back to notes").click()
    page.clock.install()
    page.clock.fast_forward("00:50")
    assert app.screen() == "notebook"
    page.clock.fast_forward("00:20")
    app.wait_screen("unlock", timeout=15_000)
    expect(page.locator("#unlock-reason")).to_contain_text("after 1 minute without activity")
