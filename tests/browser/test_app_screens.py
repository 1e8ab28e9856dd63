"""Every screen at 390x844 (a phone) and 1280x800 (a desktop), light and dark, saved under .cache/screens/ for a
person to look at; on the phone nothing may overflow sideways. The quarantine and conflicted-copy views are captured
by test_app_tamper.py and test_app_offline.py, where those states exist."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.backend.live import LiveRelay
from tests.browser.app_fixtures import PASSPHRASE, SCREENS, Vellum, new_context, unique


def test_screens(browser: Browser, relay: LiveRelay) -> None:
    context = new_context(browser)
    try:
        app = Vellum.open(context, relay.origin)
        page = app.page
        app.textbox("Username").fill("ada")
        app.textbox("Passphrase").fill("tremble vivid oyster")
        app.capture("welcome-create")
        page.get_by_role("tab", name="Sign in").click()
        app.capture("welcome-sign-in")

        app.start_sign_up(unique("screens"))
        app.capture("recovery")
        page.emulate_media(media="print")
        page.screenshot(path=SCREENS / "recovery-print.png", full_page=True)
        page.emulate_media(media="screen")
        app.confirm_recovery(app.recovery_words())
        app.capture("notebook-empty")
        notes = {
            "Groceries": "Milk, eggs and bread.\nCoffee beans from the market on Saturday.",
            "Trip to Lisbon": "Book the tram tour. Pastéis de nata at Belém.\n\nDay two: Sintra, early train.",
            "Reading list": "The Left Hand of Darkness\nPiranesi\nA Memory Called Empire",
            "Meeting notes, 3 March": "Agreed: ship the offline mode first. Then passkeys.",
        }
        for title, body in notes.items():
            app.new_note(title, body)
        app.wait_synced()
        app.open_note("Trip to Lisbon")
        app.capture("notebook-editor")
        app.search("tram")
        page.set_viewport_size({"width": 390, "height": 844})
        app.button("All notes").click()  # on a phone the list and the editor take turns
        app.capture("notebook-search")
        page.set_viewport_size({"width": 1280, "height": 720})
        app.search("")

        app.delete_open_note()
        app.capture("notebook-undo-toast")
        page.locator(".toast").get_by_role("button", name="Undo").click()
        app.wait_for_title("Trip to Lisbon")

        app.button("Settings").click()
        app.wait_screen("settings")
        expect(page.get_by_role("list", name="Devices")).to_contain_text("This device")
        app.capture("settings")
        app.button("Back to notes").click()

        app.lock()
        app.textbox("Passphrase").fill(PASSPHRASE[:9])
        app.capture("unlock")
        app.assert_no_csp_violations()
    finally:
        context.close()
