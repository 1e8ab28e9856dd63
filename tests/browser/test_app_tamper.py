"""A relay that lies: the test edits the relay's SQLite database behind its back, the way a malicious operator or a
database thief with write access could, then the device syncs.

- bytes flipped in a note's ciphertext (at the revision the device already holds: a forked history);
- an older revision of a note restored (a rollback);
- a forged tombstone: the sealed tombstone of another deleted note served as the next revision of this one.

Each note shows the quarantine message for what the device detected, stays in the list marked "Needs attention",
and keeps its last good title and body readable. Nothing is mocked: the device only sees what the real relay serves
from the altered rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.backend.live import LiveRelay
from tests.browser.app_fixtures import Vellum, new_context, unique
from tests.browser.helpers import b64d, result

MARK = unique("tm")
FLIPPED = f"Flipped {MARK}"
ROLLED_BACK = f"Rolled back {MARK}"
TOMBSTONED = f"Tombstoned {MARK}"
DONOR = f"Donor {MARK}"
ROLLBACK = "The server sent an older version than this device has seen; the newer one is kept."
FORK = "The server sent a conflicting history for this note; the last good version is kept."
EXPECTED = {
    # Same revision, other bytes: the device has seen this revision with another content hash, so it is a fork.
    FLIPPED: ("record_fork", FORK),
    ROLLED_BACK: ("record_rollback", ROLLBACK),
    # Another record's tombstone does not chain onto this note's history (record id, previous hash): a fork too.
    TOMBSTONED: ("record_fork", FORK),
}


@pytest.fixture
def app(browser: Browser, relay: LiveRelay) -> Iterator[Vellum]:
    context = new_context(browser)
    try:
        yield Vellum.open(context, relay.origin)
    finally:
        context.close()


def record_ids(app: Vellum) -> dict[str, bytes]:
    return {note["title"]: b64d(note["id"]) for note in result(app.page, "notes.list")["notes"]}


def row(db: sqlite3.Connection, record_id: bytes) -> dict[str, Any]:
    db.row_factory = sqlite3.Row
    found = db.execute("SELECT * FROM records WHERE record_id = ?", (record_id,)).fetchone()
    assert found is not None
    return dict(found)


def serve_again(db: sqlite3.Connection, account_id: bytes, record_id: bytes, **values: Any) -> None:
    """Rewrite a record row and move it to the end of the change feed, as the relay would for a new revision."""
    seq = db.execute("SELECT change_seq FROM accounts WHERE account_id = ?", (account_id,)).fetchone()[0] + 1
    db.execute("UPDATE accounts SET change_seq = ? WHERE account_id = ?", (seq, account_id))
    assignments = ", ".join(f"{name} = ?" for name in [*values, "seq"])
    db.execute(f"UPDATE records SET {assignments} WHERE record_id = ?", (*values.values(), seq, record_id))


def test_a_tampered_relay_database_is_quarantined_and_the_last_good_text_stays(app: Vellum, relay: LiveRelay) -> None:
    username = unique("mallory")
    app.sign_up(username)
    good = {
        FLIPPED: "Flipped body, last good version.",
        ROLLED_BACK: "Rolled back body, version one.",
        TOMBSTONED: "Tombstoned body, still here.",
        DONOR: "Deleted to make a tombstone.",
    }
    for title, body in good.items():
        app.new_note(title, body)
    app.wait_synced()
    ids = record_ids(app)
    database = relay.data_dir / "vellum.sqlite3"
    with closing(sqlite3.connect(database)) as db:
        revision_one = row(db, ids[ROLLED_BACK])

    app.open_note(ROLLED_BACK)
    good[ROLLED_BACK] = "Rolled back body, version two (the newest this device has seen)."
    app.set_body(good[ROLLED_BACK])
    app.open_note(DONOR)
    app.delete_open_note()
    app.wait_synced()

    with closing(sqlite3.connect(database)) as db:
        (account_id,) = db.execute("SELECT account_id FROM accounts WHERE username = ?", (username,)).fetchone()
        flipped = row(db, ids[FLIPPED])
        content = bytearray(flipped["content"])
        content[len(content) // 2] ^= 0x01
        serve_again(db, account_id, ids[FLIPPED], content=bytes(content))
        serve_again(
            db,
            account_id,
            ids[ROLLED_BACK],
            revision=revision_one["revision"],
            content=revision_one["content"],
            key_epoch=revision_one["key_epoch"],
            wrapped_key=revision_one["wrapped_key"],
        )
        donor = row(db, ids[DONOR])
        target = row(db, ids[TOMBSTONED])
        serve_again(
            db,
            account_id,
            ids[TOMBSTONED],
            revision=target["revision"] + 1,
            content=donor["content"],
            key_epoch=donor["key_epoch"],
            wrapped_key=donor["wrapped_key"],
        )
        db.commit()

    app.sync_now()
    app.page.wait_for_function(
        "() => document.querySelectorAll('#note-list .badge[data-kind=quarantine]').length === 3", timeout=45_000
    )
    app.wait_titles([FLIPPED, ROLLED_BACK, TOMBSTONED])
    for title, (code, message) in EXPECTED.items():
        app.open_note(title)
        flag = app.page.locator(".note-flag[data-kind=quarantine]")
        expect(flag).to_have_attribute("data-code", code)
        expect(flag).to_contain_text("This note needs attention")
        expect(flag).to_contain_text(message)
        assert app.note() == (title, good[title])
    app.capture("quarantine")
    app.assert_no_csp_violations()
