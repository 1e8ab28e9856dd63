"""Two tabs of one browser profile: one leads sync (Web Locks "vellum-sync-leader"), the other follows over the
"vellum" BroadcastChannel; both show the same notes, and an edit of the same note typed in both at once is merged,
not overwritten; locking either locks both. The channel never carries note text or key material (the messages are
listened to here)."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.backend.live import LiveRelay
from tests.browser.app_fixtures import PASSPHRASE, Vellum, new_context, unique
from tests.browser.helpers import call

LISTEN_TO_THE_CHANNEL = """() => {
  window.__channel = [];
  new BroadcastChannel("vellum").addEventListener("message", (e) => window.__channel.push(JSON.stringify(e.data)));
}"""


def role(app: Vellum) -> str:
    return str(app.page.evaluate("() => document.documentElement.dataset.syncRole ?? 'none'"))


def test_two_tabs_one_leader_same_notes_and_lock_locks_both(browser: Browser, relay: LiveRelay) -> None:
    context = new_context(browser)
    try:
        one = Vellum.open(context, relay.origin)
        one.sign_up(unique("tabs"))
        one.new_note("From the first tab", "Written in tab one.")
        one.wait_synced()

        two = Vellum.open(context, relay.origin)
        two.unlock()
        two.wait_titles(["From the first tab"])
        assert {role(one), role(two)} == {"leader", "follower"}
        leader, follower = (one, two) if role(one) == "leader" else (two, one)
        follower.page.evaluate(LISTEN_TO_THE_CHANNEL)
        before = len(leader.api_requests), len(follower.api_requests)

        # Writes in either tab show in both.
        two.new_note("From the second tab", "Written in tab two.")
        one.wait_titles(["From the first tab", "From the second tab"])
        one.open_note("From the first tab")
        one.set_body("Written in tab one, then edited.")
        two.page.wait_for_function(
            "() => [...document.querySelectorAll('.note-item-snippet')].some((e) => e.innerText.includes('edited'))"
        )
        two.open_note("From the first tab")
        expect(two.textbox("Body")).to_have_value("Written in tab one, then edited.")

        # Both tabs edit the same note at the same moment (different paragraphs): whichever saves second starts from
        # the revision its text came from, so the worker merges instead of overwriting.
        three = "First paragraph.\n\nSecond paragraph.\n\nThird paragraph."
        one.open_note("From the second tab")
        one.set_body(three)
        two.open_note("From the second tab")
        expect(two.textbox("Body")).to_have_value(three)
        one.textbox("Body").fill(three.replace("First paragraph.", "First paragraph, edited in tab one."))
        two.textbox("Body").fill(three.replace("Third paragraph.", "Third paragraph, edited in tab two."))
        two.textbox("Title").focus()  # saves tab two's text now; tab one's saves when its debounce ends
        both = "First paragraph, edited in tab one.\n\nSecond paragraph.\n\nThird paragraph, edited in tab two."
        for app in (one, two):
            expect(app.textbox("Body")).to_have_value(both, timeout=30_000)

        # Only the leader talks to the relay, "Sync now" in the follower included; both show the same status.
        follower.sync_now()
        leader.wait_synced()
        follower.wait_synced()
        assert len(leader.api_requests) > before[0]
        assert len(follower.api_requests) == before[1], follower.api_requests[before[1]:]

        # The channel carried no note text and no passphrase.
        heard = "\n".join(follower.page.evaluate("() => window.__channel"))
        for secret in ("Written in tab", "From the", PASSPHRASE, "edited"):
            assert secret not in heard

        # Locking the follower locks the leader too; both workers are fresh.
        for app in (one, two):
            app.collect_worker_violations()
        follower.button("Lock").click()
        for app in (one, two):
            app.wait_screen("unlock")
            app.page.wait_for_function("() => document.getElementById('status').dataset.state === 'ready'")
            assert call(app.page, "app.status")["result"]["state"] == "locked"
            assert app.titles() == []
            assert role(app) == "none"

        # Unlocking one tab makes it the leader again.
        one.unlock()
        one.page.wait_for_function("() => document.documentElement.dataset.syncRole === 'leader'")
        one.wait_synced()
        for app in (one, two):
            app.assert_no_csp_violations()
    finally:
        context.close()
