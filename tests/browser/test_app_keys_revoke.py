"""Revoking a device, through Settings → Devices ("Revoke", the passphrase, "Re-encrypt all notes"): the older notes
are re-encrypted in the background with a progressbar while the app stays usable; the revoked profile is refused
at once and says so; and what remains still opens the account — the other device with its passphrase and with its
passkey (a CDP virtual authenticator), and the recovery phrase on the revoked browser itself.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.backend.live import LiveRelay
from tests.browser.app_fixtures import PASSPHRASE, Vellum, new_context, unique
from tests.browser.app_keys_helpers import (
    LONG_TIMEOUT_MS,
    account_row,
    add_authenticator,
    add_passkey,
    bodies,
    close_settings,
    confirmed,
    dialog,
    epochs,
    open_settings,
    progressbar,
    quiet_capture,
    recover,
    unlock_with_passkey,
    wait_background_done,
)

RECOVERED = "lantern drizzle oatmeal sparrow forty"


def test_revoke_a_device_reencrypt_and_what_still_unlocks(browser: Browser, relay: LiveRelay) -> None:
    contexts = [new_context(browser), new_context(browser)]
    try:
        a = Vellum.open(contexts[0], relay.origin)
        add_authenticator(contexts[0], a)
        username = unique("revoker")
        words = a.sign_up(username)
        notes = {f"Ledger {i}": f"Entry {i}: {'paid ' * (i + 1)}" for i in range(12)}
        for title, body in notes.items():
            a.new_note(title, body)
        add_passkey(a, PASSPHRASE, "Laptop key")
        close_settings(a)
        a.wait_synced()

        b = Vellum.open(contexts[1], relay.origin)
        b.sign_in(username)
        b.wait_titles(list(notes))
        open_settings(b)
        b.textbox("Device name").fill("Lost phone")
        b.button("Save name").click()
        expect(b.page.locator("#device-name-result")).to_have_text("Saved.", timeout=LONG_TIMEOUT_MS)
        close_settings(b)

        # A revokes B, with the older notes re-encrypted in the background.
        database = relay.data_dir / "vellum.sqlite3"
        account = account_row(database, username)
        open_settings(a)
        devices = a.page.get_by_role("list", name="Devices")
        row = devices.get_by_role("listitem").filter(has_text="Lost phone")
        expect(row.get_by_role("button", name="Revoke")).to_be_visible(timeout=LONG_TIMEOUT_MS)
        this_device = devices.get_by_role("listitem").filter(has_text="This device")
        expect(this_device.get_by_role("button", name="Revoke")).to_have_count(0)
        row.get_by_role("button", name="Revoke").click()
        revoke = dialog(a, "Revoke “Lost phone”?")
        expect(revoke.get_by_role("checkbox", name="Re-encrypt all notes")).to_be_checked()
        quiet_capture(a, "keys-revoke-dialog")
        confirmed(a, "Revoke “Lost phone”?", PASSPHRASE, "Revoke device")
        expect(progressbar(a, "Re-encrypting notes")).to_be_attached(timeout=LONG_TIMEOUT_MS)
        wait_background_done(a)
        quiet_capture(a, "keys-background-done")
        expect(row).to_contain_text("Removed from the account", timeout=LONG_TIMEOUT_MS)

        after = account_row(database, username)
        assert after["write_epoch"] > account["write_epoch"]
        assert epochs(database, account["account_id"]) == {after["write_epoch"]: len(notes)}
        assert a.page.locator("#settings-fingerprint").inner_text() != ""

        # The app stayed usable; a note written now is under the new keys too.
        close_settings(a)
        a.new_note("After the revocation", "B will never read this.")
        a.wait_synced()
        notes["After the revocation"] = "B will never read this."

        # B is refused at once, and says so.
        b.sync_now()
        notice = b.page.locator(".notice[data-key=keys-revoked]")
        expect(notice).to_contain_text("This device was revoked.", timeout=LONG_TIMEOUT_MS)
        b.capture("keys-revoked-device")
        unseen = b.page.locator("#note-list .note-item-title", has_text=re.compile("^After the revocation$"))
        expect(unseen).to_have_count(0)

        # What remains unlocks: A's passkey, A's passphrase, and the recovery phrase (on B's own browser).
        a.lock()
        unlock_with_passkey(a)
        a.wait_titles(list(notes))
        a.lock()
        a.unlock()
        assert bodies(a) == notes

        b.lock()
        recover(b, username, words, RECOVERED)
        b.wait_titles(list(notes))
        assert bodies(b) == notes
        # B came back as a new device; the revoked one stays refused.
        open_settings(a)
        expect(devices.get_by_role("listitem")).to_have_count(3, timeout=LONG_TIMEOUT_MS)
        expect(devices.get_by_role("listitem").filter(has_text="Removed from the account")).to_have_count(1)
        for app in (a, b):
            app.assert_no_csp_violations()
    finally:
        for context in contexts:
            context.close()
