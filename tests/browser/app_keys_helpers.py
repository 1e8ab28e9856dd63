"""Helpers for the key-lifecycle end-to-end tests (``test_app_keys*.py``): the Settings key panels, the passphrase
dialog, the recover screen and passkeys through a CDP virtual authenticator, all driven by accessible names; and the
relay's database as a test reads it (``seed_account``, an account seeded by the CPython client, is in app_fixtures).

Nothing here talks to the crypto worker behind the page's back except to read what a test checks (note bodies,
rotation status): the flows themselves go through the UI.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Locator, expect

from tests.browser.app_fixtures import UI_TIMEOUT_MS, Vellum
from tests.browser.helpers import call_many, result

LONG_TIMEOUT_MS = 90_000

# CDP virtual authenticator with the PRF extension (ENVIRONMENT.md: needs http://localhost).
AUTHENTICATOR = {
    "protocol": "ctap2",
    "ctap2Version": "ctap2_1",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
    "hasPrf": True,
}


def add_authenticator(context: BrowserContext, app: Vellum) -> Any:
    cdp = context.new_cdp_session(app.page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    found = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    return cdp, found["authenticatorId"]


# --- settings -----------------------------------------------------------------------------------------------------


def open_settings(app: Vellum) -> None:
    if app.screen() != "settings":
        app.button("Settings").click()
        app.wait_screen("settings")
    # the key panels are filled in once the worker answered
    expect(app.page.locator("#rotation-facts dt").first).to_be_visible(timeout=UI_TIMEOUT_MS)


def close_settings(app: Vellum) -> None:
    app.button("Back to notes").click()
    app.wait_screen("notebook")


def dialog(app: Vellum, name: str | re.Pattern[str]) -> Locator:
    found = app.page.get_by_role("dialog", name=name)
    expect(found).to_be_visible(timeout=UI_TIMEOUT_MS)
    return found


def confirm_dialog(app: Vellum, name: str | re.Pattern[str], passphrase: str, button: str) -> Locator:
    """Type the passphrase into the dialog and confirm; the dialog stays open on an error (returned)."""
    found = dialog(app, name)
    found.get_by_role("textbox", name="Passphrase", exact=True).fill(passphrase)
    found.get_by_role("button", name=button, exact=True).click()
    return found


def confirmed(app: Vellum, name: str | re.Pattern[str], passphrase: str, button: str) -> None:
    found = confirm_dialog(app, name, passphrase, button)
    expect(found).to_be_hidden(timeout=LONG_TIMEOUT_MS)


def change_passphrase(app: Vellum, current: str, new: str, *, may_be_known: bool = False) -> None:
    open_settings(app)
    app.button("Change passphrase").click()
    app.textbox("Current passphrase").fill(current)
    app.textbox("New passphrase").fill(new)
    app.textbox("Confirm new passphrase").fill(new)
    app.page.get_by_role("checkbox", name="My passphrase may be known").set_checked(may_be_known)
    app.button("Save new passphrase").click()
    expect(app.page.locator(".toast").filter(has_text="Passphrase changed")).to_be_visible(timeout=LONG_TIMEOUT_MS)


def fingerprint(app: Vellum) -> str:
    open_settings(app)
    return app.page.locator("#settings-fingerprint").inner_text()


def quiet_capture(app: Vellum, name: str, panel: str | None = None) -> None:
    """``Vellum.capture`` without the toasts of earlier steps, optionally with a panel scrolled into view."""
    app.page.evaluate("() => document.querySelectorAll('.toast').forEach((toast) => toast.remove())")
    if panel:
        app.page.locator(panel).scroll_into_view_if_needed()
    app.capture(name)


# --- recover screen -----------------------------------------------------------------------------------------------


def start_recovery(app: Vellum) -> None:
    """From the unlock screen, or the welcome screen's sign-in tab."""
    if app.screen() == "welcome":
        app.page.get_by_role("tab", name="Sign in").click()
    app.button("Use recovery phrase").click()
    app.wait_screen("recover")


def fill_words(app: Vellum, words: list[str]) -> None:
    for n, word in enumerate(words, start=1):
        app.textbox(f"Word {n}").fill(word)


def recover(app: Vellum, username: str, words: list[str], new_passphrase: str, *, remember: bool = False) -> str:
    """The whole flow; returns the fingerprint shown before the new passphrase."""
    start_recovery(app)
    app.textbox("Username").fill(username)
    fill_words(app, words)
    app.button("Continue").click()
    return finish_recovery(app, new_passphrase, remember=remember)


def finish_recovery(app: Vellum, new_passphrase: str, *, remember: bool = False) -> str:
    expect(app.textbox("New passphrase")).to_be_visible(timeout=LONG_TIMEOUT_MS)
    shown = app.page.locator("#recover-fingerprint").inner_text()
    app.textbox("New passphrase").fill(new_passphrase)
    app.textbox("Confirm new passphrase").fill(new_passphrase)
    app.page.get_by_role("checkbox", name="Remember this device").set_checked(remember)
    app.button("Set passphrase and open notes").click()
    app.wait_screen("notebook", timeout=LONG_TIMEOUT_MS)
    return shown


def recover_error(app: Vellum) -> str:
    error = app.page.locator("#recover-error")
    expect(error).not_to_be_empty(timeout=LONG_TIMEOUT_MS)
    return error.inner_text()


# --- passkeys -----------------------------------------------------------------------------------------------------


def add_passkey(app: Vellum, passphrase: str, name: str, *, capture: str | None = None) -> None:
    open_settings(app)
    app.button("Add a passkey").click()
    found = dialog(app, "Add a passkey")
    found.get_by_role("textbox", name="Passkey name").fill(name)
    found.get_by_role("textbox", name="Passphrase", exact=True).fill(passphrase)
    if capture:
        quiet_capture(app, capture)
    found.get_by_role("button", name="Continue").click()
    expect(found).to_be_hidden(timeout=LONG_TIMEOUT_MS)
    expect(passkey_list(app)).to_contain_text(name)


def passkey_list(app: Vellum) -> Locator:
    return app.page.get_by_role("list", name="Passkeys")


def unlock_with_passkey(app: Vellum) -> None:
    app.wait_screen("unlock")
    button = app.button("Unlock with passkey")
    expect(button).to_be_visible(timeout=UI_TIMEOUT_MS)
    button.click()
    app.wait_screen("notebook", timeout=LONG_TIMEOUT_MS)


# --- background work ----------------------------------------------------------------------------------------------


BACKGROUND_WORK = re.compile("^(Re-encrypting notes|Updating note keys)$")


def progressbar(app: Vellum, name: str | re.Pattern[str] = BACKGROUND_WORK) -> Locator:
    return app.page.get_by_role("progressbar", name=name)


def wait_background_done(app: Vellum, timeout: int = LONG_TIMEOUT_MS) -> None:
    app.page.wait_for_selector("#key-task[data-state=done]", state="attached", timeout=timeout)


def rotation_status(app: Vellum) -> dict[str, Any]:
    status: dict[str, Any] = result(app.page, "keys.rotation_status")
    return status


# --- what a note holds --------------------------------------------------------------------------------------------


def bodies(app: Vellum) -> dict[str, str]:
    """Every note's title → body, read through the worker (the list itself is checked through the UI)."""
    notes = result(app.page, "notes.list")["notes"]
    replies = call_many(app.page, [("notes.get", {"id": n["id"]}) for n in notes])
    out = {}
    for reply in replies:
        assert reply["ok"], reply
        out[reply["result"]["title"]] = reply["result"]["body"]
    return out


# --- the relay's database -----------------------------------------------------------------------------------------


def account_row(database: Path, username: str) -> dict[str, Any]:
    with closing(sqlite3.connect(database)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM accounts WHERE username = ?", (username,)).fetchone()
        assert row is not None, username
        return dict(row)


def epochs(database: Path, account_id: bytes) -> dict[int, int]:
    """How many current records sit under each key epoch at the relay."""
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            "SELECT key_epoch, COUNT(*) FROM records WHERE account_id = ? GROUP BY key_epoch", (account_id,)
        ).fetchall()
    return {int(epoch): int(n) for epoch, n in rows}
