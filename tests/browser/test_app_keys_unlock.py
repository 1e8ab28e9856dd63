"""Ways to unlock, through Settings: "Remember this device" on (the page reloads straight into the notebook) and off
(the passphrase is asked again); a passkey added with WebAuthn's PRF extension on a CDP virtual authenticator, used
on the unlock screen ("Unlock with passkey"), then removed; and what the page says when the browser has no PRF.
Every change asks for the passphrase first, and a wrong one is refused in the dialog.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.backend.live import LiveRelay
from tests.browser.app_fixtures import PASSPHRASE, Vellum, new_context, unique
from tests.browser.app_keys_helpers import (
    LONG_TIMEOUT_MS,
    add_authenticator,
    add_passkey,
    close_settings,
    confirm_dialog,
    confirmed,
    open_settings,
    passkey_list,
    quiet_capture,
    unlock_with_passkey,
)


def test_remember_this_device_and_passkeys(browser: Browser, relay: LiveRelay) -> None:
    context = new_context(browser)
    try:
        app = Vellum.open(context, relay.origin)
        cdp, authenticator = add_authenticator(context, app)
        app.sign_up(unique("keyring"))
        app.new_note("Locked away", "Opened with a passkey.")

        # Remember this device: a wrong passphrase is refused in the dialog, the right one turns it on.
        open_settings(app)
        remember = app.page.get_by_role("checkbox", name="Remember this device")
        expect(remember).not_to_be_checked()
        remember.click()
        failed = confirm_dialog(app, "Remember this device?", "not my passphrase at all", "Remember")
        expect(failed.get_by_role("alert")).to_contain_text(
            "not this account's current passphrase", timeout=LONG_TIMEOUT_MS
        )
        confirmed(app, "Remember this device?", PASSPHRASE, "Remember")
        expect(remember).to_be_checked()
        quiet_capture(app, "keys-settings", "#unlock-methods-panel")

        app.page.reload()
        app.wait_screen("notebook", timeout=LONG_TIMEOUT_MS)  # no passphrase asked
        app.wait_titles(["Locked away"])

        open_settings(app)
        remember = app.page.get_by_role("checkbox", name="Remember this device")
        expect(remember).to_be_checked()
        remember.click()
        confirmed(app, "Stop remembering this device?", PASSPHRASE, "Stop remembering")
        expect(remember).not_to_be_checked()
        app.page.reload()
        app.wait_screen("unlock", timeout=LONG_TIMEOUT_MS)
        expect(app.button("Unlock with passkey")).to_be_hidden()  # no passkey yet
        app.unlock()

        # A passkey: added (passphrase, then the authenticator), listed, used on the unlock screen.
        add_passkey(app, PASSPHRASE, "Test key", capture="keys-add-passkey")
        quiet_capture(app, "keys-passkeys", "#unlock-methods-panel")
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
        assert len(credentials) == 1
        close_settings(app)
        app.lock()
        expect(app.button("Unlock with passkey")).to_be_visible(timeout=LONG_TIMEOUT_MS)
        app.capture("keys-unlock-passkey")
        unlock_with_passkey(app)
        app.wait_titles(["Locked away"])

        # Removed: it no longer shows on the unlock screen.
        open_settings(app)
        item = passkey_list(app).get_by_role("listitem").filter(has_text="Test key")
        item.get_by_role("button", name="Remove").click()
        confirmed(app, re.compile("^Remove “Test key”"), PASSPHRASE, "Remove passkey")
        expect(passkey_list(app)).to_contain_text("No passkeys yet.")
        close_settings(app)
        app.lock()
        # Shown since the passkey unlock above, the button stays until the unlock screen has asked the fresh worker
        # for this account's passkeys (none now): waiting for it to hide waits for that answer.
        expect(app.button("Unlock with passkey")).to_be_hidden(timeout=LONG_TIMEOUT_MS)
        app.unlock()

        # A browser without the PRF extension: said plainly, and the button is off.
        app.page.evaluate(
            "() => { PublicKeyCredential.getClientCapabilities = async () => ({ 'extension:prf': false }); }"
        )
        open_settings(app)
        expect(app.page.locator("#passkey-support")).to_contain_text("cannot use passkeys to unlock Vellum")
        expect(app.button("Add a passkey")).to_be_disabled()
        app.assert_no_csp_violations()
    finally:
        context.close()
