"""Passphrase and recovery through the app, on three browser profiles of one account (real relay, nothing mocked):

1. A changes the passphrase in Settings (a wrong current one and a weak new one are refused first); B, unlocked,
   keeps working and syncing; B locked unlocks with the new passphrase.
2. C, a fresh profile, has "forgotten" the passphrase: "Use recovery phrase" → a mistyped word is named with
   suggestions (one is picked), a phrase whose checksum fails says so, the whole phrase pasted into one field fills
   all 24 → the account fingerprint (the same as A's) → a new passphrase → every note, body and all.
3. A makes a new recovery kit (shown once, checked back); the old phrase stops working on C, the new one works.
4. C changes the passphrase with "My passphrase may be known": B is told to unlock again ("Lock now"), and does.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from pycore import recovery
from pycore.errors import BadChecksum
from tests.backend.live import LiveRelay
from tests.browser.app_fixtures import PASSPHRASE, SCREENS, Vellum, new_context, unique
from tests.browser.app_keys_helpers import (
    LONG_TIMEOUT_MS,
    bodies,
    change_passphrase,
    confirmed,
    fill_words,
    fingerprint,
    finish_recovery,
    open_settings,
    quiet_capture,
    recover_error,
    start_recovery,
)

SECOND = "harbor velvet pickle midnight aurora"
THIRD = "saffron glacier tumble orchid nineteen"
FOURTH = "copper lagoon whistle meadow ninety"
PASTE = """(async (phrase) => {
  const field = document.getElementById("recover-word-5");
  const data = new DataTransfer();
  data.setData("text/plain", phrase);
  field.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
})"""


def mistype(words: list[str]) -> tuple[int, str]:
    """A position whose word has five letters or more, and that word with its last letter changed: BIP39 words are
    unique in their first four letters, so the result is no word of the list."""
    position = next(n for n in [7, *range(1, 25)] if len(words[n - 1]) >= 5)
    word = words[position - 1]
    return position, word[:-1] + ("q" if word[-1] != "q" else "z")


def bad_last_word(words: list[str]) -> list[str]:
    """The phrase with a last word that is a list word but fails the checksum."""
    for candidate in recovery._mnemonic().wordlist:
        changed = [*words[:-1], candidate]
        try:
            recovery.entropy_from_phrase(changed)
        except BadChecksum:
            return changed
    raise AssertionError("no failing last word")


def test_change_passphrase_recover_and_new_kit(browser: Browser, relay: LiveRelay) -> None:
    contexts = [new_context(browser) for _ in range(3)]
    try:
        a = Vellum.open(contexts[0], relay.origin)
        username = unique("phoenix")
        old_words = a.sign_up(username)
        notes = {
            "Safe combination": "Left 12, right 40, left 7.",
            "Letters": "Dear future me,\n\nthe recovery kit is in the blue folder.",
            "Garden": "Plant the tulips in October.",
        }
        for title, body in notes.items():
            a.new_note(title, body)
        a.wait_synced()
        b = Vellum.open(contexts[1], relay.origin)
        b.sign_in(username)
        b.wait_titles(list(notes))

        # 1. A changes the passphrase. Refused first: a wrong current one, then a weak new one.
        open_settings(a)
        a.button("Change passphrase").click()
        a.textbox("Current passphrase").fill("not the passphrase")
        a.textbox("New passphrase").fill(SECOND)
        a.textbox("Confirm new passphrase").fill(SECOND)
        a.button("Save new passphrase").click()
        error = a.page.locator("#change-passphrase-form .form-error")
        expect(error).to_have_text(
            "That is not your current passphrase. Check it (is Caps Lock on?) and try again.", timeout=LONG_TIMEOUT_MS
        )
        a.textbox("Current passphrase").fill(PASSPHRASE)
        a.textbox("New passphrase").fill("tulips")
        expect(a.page.get_by_role("meter", name="New passphrase strength")).to_have_attribute("aria-valuenow", "1")
        a.button("Save new passphrase").click()
        expect(error).to_contain_text("Too weak")
        a.textbox("New passphrase").fill(SECOND)
        quiet_capture(a, "keys-change-passphrase", "#change-passphrase-form")
        a.button("Cancel").click()
        change_passphrase(a, PASSPHRASE, SECOND)
        account_fingerprint = fingerprint(a)

        # B, unlocked, keeps working; locked, it unlocks with the new passphrase.
        b.new_note("Written on B", "after the passphrase changed")
        b.wait_synced()
        a.button("Back to notes").click()
        a.sync_now()
        a.wait_for_title("Written on B")
        notes["Written on B"] = "after the passphrase changed"
        b.lock()
        b.textbox("Passphrase").fill(PASSPHRASE)
        b.button("Unlock").click()
        expect(b.page.locator("#unlock-error")).to_contain_text("did not unlock", timeout=LONG_TIMEOUT_MS)
        b.unlock(SECOND)
        b.wait_titles(list(notes))

        # 2. C, a fresh profile, recovers with the phrase.
        c = Vellum.open(contexts[2], relay.origin)
        start_recovery(c)
        c.textbox("Username").fill(username)
        position, typo = mistype(old_words)
        fill_words(c, [typo if n == position else w for n, w in enumerate(old_words, start=1)])
        c.button("Continue").click()
        assert f"Word {position} (“{typo}”) is not a recovery-phrase word." in recover_error(c)
        expect(c.textbox(f"Word {position}")).to_have_attribute("aria-invalid", "true")
        suggestion = c.button(f"Use {old_words[position - 1]} for word {position}")
        expect(suggestion).to_be_visible()
        c.capture("keys-recover-typo")
        suggestion.click()
        expect(c.textbox(f"Word {position}")).to_have_value(old_words[position - 1])

        fill_words(c, bad_last_word(old_words))
        c.button("Continue").click()
        assert "do not form a valid phrase" in recover_error(c)

        numbered = "\n".join(f"{n}. {w}" for n, w in enumerate(old_words, start=1))
        c.page.evaluate(PASTE, numbered)
        for n in (1, 5, 24):
            expect(c.textbox(f"Word {n}")).to_have_value(old_words[n - 1])
        c.button("Continue").click()
        expect(c.textbox("New passphrase")).to_be_visible(timeout=LONG_TIMEOUT_MS)
        assert c.page.locator("#recover-fingerprint").inner_text() == account_fingerprint
        c.textbox("New passphrase").fill("tulips")
        c.textbox("Confirm new passphrase").fill("tulips")
        c.button("Set passphrase and open notes").click()
        expect(c.page.locator("#recover-pass-error")).to_contain_text("Too weak")
        c.textbox("New passphrase").fill(THIRD)
        c.capture("keys-recover-passphrase")
        assert finish_recovery(c, THIRD) == account_fingerprint
        c.wait_titles(list(notes))
        assert bodies(c) == notes

        # 3. A new recovery kit on A (the passphrase is C's new one now); the old phrase stops working.
        open_settings(a)
        a.button("New recovery kit").click()
        confirmed(a, "Make a new recovery kit?", THIRD, "Make new kit")
        kit = a.page.get_by_role("list", name="New recovery phrase")
        expect(kit.get_by_role("listitem")).to_have_count(24)
        new_words = kit.locator(".w").all_inner_texts()
        assert new_words != old_words
        quiet_capture(a, "keys-new-kit", "#new-kit")
        a.page.evaluate("() => { document.documentElement.dataset.print = 'new-kit'; }")  # what "Print kit" sets
        a.page.emulate_media(media="print")
        a.page.screenshot(path=SCREENS / "keys-new-kit-print.png", full_page=True)
        a.page.emulate_media(media="screen")
        a.page.evaluate("() => { delete document.documentElement.dataset.print; }")
        for label in a.page.locator("#new-kit .word-checks label").all_inner_texts():
            a.textbox(label).fill(new_words[int(label.split()[1]) - 1])
        a.button("I have written it down").click()
        expect(a.page.get_by_role("list", name="New recovery phrase")).to_have_count(0)

        c.lock()
        start_recovery(c)
        c.textbox("Username").fill(username)
        fill_words(c, old_words)
        c.button("Continue").click()
        assert "not the current one for this account" in recover_error(c)
        fill_words(c, new_words)
        c.button("Continue").click()
        finish_recovery(c, FOURTH)
        c.wait_titles(list(notes))

        # 4. "My passphrase may be known" on C: B, unlocked with an older passphrase, must unlock again.
        change_passphrase(c, FOURTH, SECOND + " again", may_be_known=True)
        b.sync_now()
        notice = b.page.locator(".notice[data-key=keys-unlock-again]")
        expect(notice).to_contain_text("Unlock again to keep syncing.", timeout=LONG_TIMEOUT_MS)
        b.capture("keys-unlock-again")
        notice.get_by_role("button", name="Lock now").click()
        b.wait_screen("unlock")
        b.unlock(SECOND + " again")
        b.wait_synced()
        assert fingerprint(b) == fingerprint(c) != account_fingerprint
        for app in (a, b, c):
            app.assert_no_csp_violations()
    finally:
        for context in contexts:
            context.close()
