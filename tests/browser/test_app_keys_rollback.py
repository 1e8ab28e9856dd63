"""A relay that rolls the account keys back: after a rotation the device has seen version 3 of the account bundle;
the test then edits the relay's SQLite database behind its back (as a malicious operator could) so that it serves
version 1 again, the one from before the rotation. The device refuses it and says so — in the sync notice and in a
step-up dialog — keeps the keys it has (the newer write epoch), and sends no notes to that relay: the edit made
meanwhile stays waiting on the device.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from playwright.sync_api import Browser, expect

from tests.backend.live import LiveRelay
from tests.browser.app_fixtures import PASSPHRASE, Vellum, new_context, unique
from tests.browser.app_keys_helpers import (
    LONG_TIMEOUT_MS,
    account_row,
    close_settings,
    confirm_dialog,
    open_settings,
    quiet_capture,
    rotation_status,
    wait_background_done,
)

ROLLBACK = "The server sent older account keys than this device has seen; nothing was changed."


def test_an_older_bundle_from_the_relay_is_refused(browser: Browser, relay: LiveRelay) -> None:
    context = new_context(browser)
    try:
        app = Vellum.open(context, relay.origin)
        username = unique("rollback")
        app.sign_up(username)
        app.new_note("Before", "written under epoch 1")
        app.wait_synced()
        open_settings(app)
        app.button("Rotate keys now").click()
        wait_background_done(app)
        database = relay.data_dir / "vellum.sqlite3"
        seen = account_row(database, username)
        assert seen["bundle_version"] >= 2 and seen["write_epoch"] == 2

        # The operator restores version 1 as the current one.
        with closing(sqlite3.connect(database)) as db:
            db.execute("DELETE FROM bundles WHERE account_id = ? AND version > 1", (seen["account_id"],))
            db.execute(
                "UPDATE accounts SET bundle_version = 1, write_epoch = 1 WHERE account_id = ?", (seen["account_id"],)
            )
            db.commit()

        close_settings(app)
        app.new_note("After", "must not reach a relay that lies")
        app.sync_now()
        notice = app.page.locator(".notice[data-key=sync-error]")
        expect(notice).to_contain_text(ROLLBACK, timeout=LONG_TIMEOUT_MS)
        quiet_capture(app, "keys-rollback")
        assert rotation_status(app)["write_epoch"] == 2  # the newer keys stay in use
        app.wait_status(r"· 1 change waiting ·")

        # A step-up action meets the same refusal, with the same words, and changes nothing.
        open_settings(app)
        app.button("New recovery kit").click()
        dialog = confirm_dialog(app, "Make a new recovery kit?", PASSPHRASE, "Make new kit")
        expect(dialog.get_by_role("alert")).to_have_text(ROLLBACK, timeout=LONG_TIMEOUT_MS)
        dialog.get_by_role("button", name="Cancel").click()
        assert account_row(database, username)["bundle_version"] == 1
        app.assert_no_csp_violations()
    finally:
        context.close()
