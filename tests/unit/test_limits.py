"""The shared limits (pycore/public/limits.py): the two username rules, and that the relay, the protocol modules and
the page's fallbacks (web/index.html, web/ui/limits.js) hold the values defined there."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.config import DEFAULTS
from backend.records import RECORD_ID_SIZE as RELAY_RECORD_ID_SIZE
from backend.store import accounts
from pycore import envelope, notes, padding, primitives, slots
from pycore.errors import FormatError
from pycore.public import bundle_public, limits, wire
from pycore.sync import relay_api
from tests.backend.helpers import build_bundle, device_entry, new_key, passphrase_entry, recovery_entry

ROOT = Path(__file__).resolve().parents[2]

# (typed name, what normalize_username gives or None)
SIGN_IN = [
    ("alice", "alice"),
    ("  Alice.Example ", "alice.example"),
    ("ＡＬＩＣＥ", "alice"),  # fullwidth letters fold under NFKC
    ("x", "x"),
    ("7", "7"),
    ("ada+notes@example.org", "ada+notes@example.org"),
    ("a" * limits.USERNAME_MAX_LENGTH, "a" * limits.USERNAME_MAX_LENGTH),
    ("a" * (limits.USERNAME_MAX_LENGTH + 1), None),
    ("", None),
    ("   ", None),
    ("-dash-first", None),
    (".dot-first", None),
    ("with space", None),
    ("tab\tname", None),
    ("ünïcode", None),
    ("аlice", None),  # a Cyrillic а
    ("semi;colon", None),
]
NEW = ["abc", "Abc", "9lives", "ada@example.org", "a-b_c.d+e", "z" * limits.NEW_USERNAME_MAX_LENGTH, " bob "]
NOT_NEW = ["ab", "a", "7", "z" * (limits.NEW_USERNAME_MAX_LENGTH + 1), "-abc", "ab c", "ünï", ""]


@pytest.mark.parametrize(("raw", "expected"), SIGN_IN)
def test_normalize_username_is_the_sign_in_rule(raw: str, expected: str | None) -> None:
    assert limits.normalize_username(raw) == expected


def test_normalize_username_raises_nothing() -> None:
    for raw in (None, 7, b"alice", "x" * 10_000, "\ud800"):
        assert limits.normalize_username(raw) is None  # type: ignore[arg-type]


def test_is_new_username_is_the_narrower_sign_up_rule() -> None:
    for raw in NEW:
        name = limits.normalize_username(raw)
        assert name is not None and limits.is_new_username(name), raw
    for raw in NOT_NEW:
        name = limits.normalize_username(raw)
        assert name is None or not limits.is_new_username(name), raw
    # It judges a normalised name: anything else is refused, never normalised silently.
    assert not limits.is_new_username("Alice")
    assert not limits.is_new_username(" alice")
    assert not limits.is_new_username(None)  # type: ignore[arg-type]


@given(st.from_regex(limits.NEW_USERNAME_PATTERN, fullmatch=True))
def test_every_new_name_signs_in(name: str) -> None:
    assert limits.normalize_username(name) == name
    assert limits.normalize_username(name.upper()) == name


# --- one definition, read everywhere ----------------------------------------------------------------------------------


def test_the_protocol_modules_and_the_relay_read_the_limits() -> None:
    sizes = {
        limits.ACCOUNT_ID_SIZE: [wire.ACCOUNT_ID_SIZE, bundle_public.ACCOUNT_ID_SIZE],
        limits.DEVICE_ID_SIZE: [wire.DEVICE_ID_SIZE, bundle_public.DEVICE_ID_SIZE],
        limits.RECORD_ID_SIZE: [envelope.RECORD_ID_SIZE, RELAY_RECORD_ID_SIZE],
        limits.SLOT_ID_SIZE: [slots.SLOT_ID_SIZE, bundle_public.SLOT_ID_SIZE],
        limits.NOTE_TITLE_MAX_LENGTH: [notes.MAX_TITLE_LENGTH],
        limits.NOTE_MAX_SIZE: [notes.MAX_NOTE_SIZE],
        limits.BATCH_MAX_RECORDS: [relay_api.MAX_BATCH, DEFAULTS["BATCH_MAX_RECORDS"]],
        limits.FEED_MAX_LIMIT: [relay_api.MAX_FEED_LIMIT, DEFAULTS["FEED_MAX_LIMIT"]],
        limits.RECORD_MAX_SIZE: [DEFAULTS["RECORD_MAX_SIZE"]],
        limits.DEVICE_NAME_MAX_LENGTH: [DEFAULTS["DEVICE_NAME_MAX"]],
        limits.USERNAME_MAX_LENGTH: [accounts.c.username.type.length],
    }
    for value, read in sizes.items():
        assert read == [value] * len(read), (value, read)


def test_the_largest_note_fits_one_record() -> None:
    padded = padding.padme(padding.HEADER_SIZE + limits.NOTE_MAX_SIZE)
    sealed = envelope.CONTENT_HEADER_SIZE + envelope.NONCE_SIZE + padded + primitives.AEAD_TAG_SIZE
    assert sealed <= limits.RECORD_MAX_SIZE


@pytest.mark.parametrize("length", [limits.DEVICE_NAME_MAX_LENGTH, limits.PASSKEY_NAME_MAX_LENGTH])
def test_a_longest_name_fits_the_bundle_in_any_script(length: int) -> None:
    """Four-byte characters are the worst case: the bundle reads a factor's name as FACTOR_NAME_MAX_SIZE bytes."""
    assert length * 4 <= limits.FACTOR_NAME_MAX_SIZE

    def bundle_with(name: str) -> bytes:
        entry = device_entry(bytes(limits.DEVICE_ID_SIZE), bytes(32), name)
        factors = [passphrase_entry(), recovery_entry(), entry]
        return build_bundle(account_id=bytes(16), version=1, prev_hash=bytes(32), identity=new_key(), factors=factors)

    parsed = bundle_public.parse_bundle(bundle_with("𝄞" * length))
    assert parsed.factors[2].meta == bundle_public.DeviceMeta(bytes(16), bytes(32), "𝄞" * length)
    with pytest.raises(FormatError):  # one byte more is refused: FACTOR_NAME_MAX_SIZE is the reader's limit
        bundle_public.parse_bundle(bundle_with("𝄞" * length + "x"))


# --- the page ---------------------------------------------------------------------------------------------------------


class _LimitedInputs(HTMLParser):
    """Every element of index.html with a maxlength, minlength or pattern, and the limit each names."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if {"maxlength", "minlength", "pattern"} & a.keys():
            self.found.append(a)


def _index_inputs() -> list[dict[str, str | None]]:
    parser = _LimitedInputs()
    parser.feed((ROOT / "web" / "index.html").read_text())
    return parser.found


def test_index_html_names_the_limit_of_every_constrained_input() -> None:
    ui = limits.for_ui()
    inputs = _index_inputs()
    by_id = {a["id"]: a for a in inputs}
    for a in inputs:
        for attribute in ("maxlength", "minlength", "pattern"):
            if attribute not in a:
                continue
            key = a.get(f"data-{attribute}")
            assert key in ui, f"#{a['id']} has {attribute} but no data-{attribute} naming a limit"
            assert a[attribute] == str(ui[key]), (a["id"], attribute)
    # The two username rules, where each applies.
    assert by_id["create-username"]["data-maxlength"] == "new_username_max_length"
    assert by_id["create-username"]["data-pattern"] == "new_username_pattern"
    assert by_id["signin-username"]["data-maxlength"] == "username_max_length"
    assert "data-pattern" not in by_id["signin-username"]
    assert by_id["note-title"]["data-maxlength"] == "title_max_length"
    assert by_id["device-name"]["data-maxlength"] == "device_name_max_length"


def _js_fallback() -> dict[str, object]:
    source = (ROOT / "web" / "ui" / "limits.js").read_text()
    block = re.search(r"export const FALLBACK = Object\.freeze\(\{\n(.*?)\n\}\);", source, re.S)
    assert block, "web/ui/limits.js: FALLBACK not found"
    entries = re.findall(r"^\s+(\w+): (.+),$", block.group(1), re.M)
    return {name: json.loads(value) for name, value in entries}


def test_the_page_fallback_is_for_ui() -> None:
    assert _js_fallback() == limits.for_ui()


def test_for_ui_is_plain_json() -> None:
    ui = limits.for_ui()
    assert json.loads(json.dumps(ui)) == ui
    assert all(isinstance(v, int | str) and not isinstance(v, bool) for v in ui.values())


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node")
def test_the_sign_up_pattern_means_the_same_in_javascript() -> None:
    """The page tests NFKC + trim + lower case against new_username_pattern (the u flag), and an input's pattern
    attribute compiles with the v flag: both must agree with Python on every sample."""
    names = [raw for raw, _ in SIGN_IN] + NEW + NOT_NEW + ["Z" * 64, "Zz-"]
    script = """
const [pattern, names] = JSON.parse(process.argv[1]);
new RegExp(`^(?:${pattern})$`, "v");
const re = new RegExp(`^(?:${pattern})$`, "u");
console.log(JSON.stringify(names.map((n) => re.test(n.normalize("NFKC").trim().toLowerCase()))));
"""
    arg = json.dumps([limits.for_ui()["new_username_pattern"], names])
    out = subprocess.run(["node", "-e", script, arg], capture_output=True, text=True, check=True, timeout=60).stdout
    expected = []
    for raw in names:
        name = limits.normalize_username(raw)
        expected.append(name is not None and limits.is_new_username(name))
    assert json.loads(out) == expected
