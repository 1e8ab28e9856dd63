"""The limits that more than one layer checks, defined once: the relay (``backend``), the protocol modules, the browser
worker and, through the worker's ``app.status`` answer (``for_ui``), the page. Each value says why it is what it is.

Usernames have two rules. Sign-in accepts every name the relay has ever registered (``normalize_username``), so no
existing account is locked out; a new account must also fit the narrower sign-up rule (``is_new_username``). Both are
pure and raise nothing: each caller turns a refusal into its own error (the relay's ``bad_username`` answer, the
worker's error).

Relay-safe: imports nothing of pycore but other ``pycore.public`` modules (the relay imports it).
"""

from __future__ import annotations

import re
import unicodedata

# --- ids (bytes) ------------------------------------------------------------------------------------------------------
# 128 random bits: no two ids collide by chance (birthday bound 2^64) and an id says nothing about what it names.
ACCOUNT_ID_SIZE = 16
DEVICE_ID_SIZE = 16
RECORD_ID_SIZE = 16
SLOT_ID_SIZE = 16

# --- usernames (characters, after NFKC, trimming and lower-casing) ----------------------------------------------------
# The alphabet of both rules: ASCII letters and digits plus ". _ @ + -" (an e-mail address fits), first a letter or a
# digit. No other script, so no name borrows a look-alike letter from one. ``-`` is escaped so the classes also compile
# in JavaScript with the ``u`` and ``v`` flags (an HTML ``pattern`` attribute uses ``v``).
_FIRST = "a-z0-9"
_REST = r"a-z0-9._@+\-"
# Sign-in: every name the relay ever accepted, 1 to 128 characters (also its database column's size).
USERNAME_MAX_LENGTH = 128
USERNAME_PATTERN = re.compile(rf"[{_FIRST}][{_REST}]{{0,{USERNAME_MAX_LENGTH - 1}}}")
# Sign-up: 3 to 64. One- and two-character names are guessed first by anyone probing for accounts, and 64 characters
# hold any handle or e-mail address people use while fitting on one line of the recovery kit and the settings screen.
# The page already asked for 3 to 64, so accounts made in the app fit; shorter and longer names come from other
# clients (the CLI, the API) and still sign in.
NEW_USERNAME_MIN_LENGTH = 3
NEW_USERNAME_MAX_LENGTH = 64
NEW_USERNAME_PATTERN = re.compile(
    rf"[{_FIRST}][{_REST}]{{{NEW_USERNAME_MIN_LENGTH - 1},{NEW_USERNAME_MAX_LENGTH - 1}}}"
)
# What a person may type for a new name before it is lower-cased (the page checks what it will send, and its input's
# ``pattern`` attribute must not flag capitals that normalisation folds anyway).
_NEW_USERNAME_TYPED = rf"[A-Z{_FIRST}][A-Z{_REST}]{{{NEW_USERNAME_MIN_LENGTH - 1},{NEW_USERNAME_MAX_LENGTH - 1}}}"
# Raw text accepted before normalising it: NFKC may fold several characters into one, so allow some room, but bound
# the work spent on a request.
USERNAME_INPUT_MAX_LENGTH = 4 * USERNAME_MAX_LENGTH

# --- names of devices and passkeys (characters) -----------------------------------------------------------------------
# A factor's name is stored in the account bundle as at most 256 bytes of UTF-8 (``bundle_public``), and a character is
# at most 4 bytes: 64 characters always fit, in any script. A device's name is also what the relay lists.
FACTOR_NAME_MAX_SIZE = 256
DEVICE_NAME_MAX_LENGTH = FACTOR_NAME_MAX_SIZE // 4
PASSKEY_NAME_MAX_LENGTH = FACTOR_NAME_MAX_SIZE // 4

# --- passphrases (characters) -----------------------------------------------------------------------------------------
# A floor for every client, those without the page's strength meter too (the meter asks for more); checked on the
# trimmed text of a new passphrase only, never when one is typed to unlock.
PASSPHRASE_MIN_LENGTH = 10
# Longer than any passphrase a person types or a password manager makes, and a bound on what Argon2id is handed.
PASSPHRASE_MAX_LENGTH = 1024

# --- records and notes ------------------------------------------------------------------------------------------------
# One record's sealed content at the relay (bytes): room for the largest note, sealed, while one request (the relay's
# MAX_CONTENT_LENGTH, 16 MiB) still carries many records.
RECORD_MAX_SIZE = 1024 * 1024
# A note's canonical JSON (bytes): padded (PADME, at most 12% more) and sealed (header, nonce, tag), it stays under
# RECORD_MAX_SIZE (tests/unit/test_limits.py computes it).
NOTE_MAX_SIZE = 900 * 1024
# A note's body (characters): a UTF-8 character is at least one byte, so a longer body can never fit NOTE_MAX_SIZE.
# The exact check is the encoded size, when the note is sealed.
NOTE_BODY_MAX_LENGTH = NOTE_MAX_SIZE
# A title is one line of a list. ``notes.Note`` refuses a longer title when it reads a note, so lowering this would make
# existing notes unreadable; a conflicted copy's title is cut to it.
NOTE_TITLE_MAX_LENGTH = 1024

# --- batches (records or changes per request) -------------------------------------------------------------------------
# Records in one push or one batch of re-wrapped keys: the relay commits a batch in one database transaction, which
# holds SQLite's write lock; 256 keeps that short while a first upload still takes few requests.
BATCH_MAX_RECORDS = 256
# Changes in one page of the change feed (and records in one page of a rotation's listing): a first sync of a large
# notebook takes few round trips; the relay still cuts a page by bytes (its FEED_MAX_BYTES).
FEED_MAX_LIMIT = 1000


def normalize_username(raw: str) -> str | None:
    """The name as the relay stores it (NFKC, trimmed, lower case), or None when no account can have it (the sign-in
    rule: ``USERNAME_PATTERN``). Raises nothing."""
    if not isinstance(raw, str) or len(raw) > USERNAME_INPUT_MAX_LENGTH:
        return None
    name = unicodedata.normalize("NFKC", raw).strip().lower()
    return name if USERNAME_PATTERN.fullmatch(name) else None


def is_new_username(name: str) -> bool:
    """Whether a new account may take ``name``, a name ``normalize_username`` returned (the sign-up rule:
    ``NEW_USERNAME_PATTERN``). A name that is not normalised is refused."""
    return isinstance(name, str) and NEW_USERNAME_PATTERN.fullmatch(name) is not None


def for_ui() -> dict[str, int | str]:
    """What the page needs, sent in the worker's ``app.status`` answer (``limits``). ``web/index.html`` and
    ``web/ui/limits.js`` hold the same values as a fallback (tests/unit/test_limits.py compares them). The pattern is a
    JavaScript regular expression source for the whole typed value, capitals allowed (the page lower-cases it)."""
    return {
        "new_username_min_length": NEW_USERNAME_MIN_LENGTH,
        "new_username_max_length": NEW_USERNAME_MAX_LENGTH,
        "new_username_pattern": _NEW_USERNAME_TYPED,
        "username_max_length": USERNAME_MAX_LENGTH,
        "title_max_length": NOTE_TITLE_MAX_LENGTH,
        "body_max_length": NOTE_BODY_MAX_LENGTH,
        "device_name_max_length": DEVICE_NAME_MAX_LENGTH,
        "passkey_name_max_length": PASSKEY_NAME_MAX_LENGTH,
        "passphrase_min_length": PASSPHRASE_MIN_LENGTH,
        "passphrase_max_length": PASSPHRASE_MAX_LENGTH,
    }
