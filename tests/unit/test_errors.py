"""Error codes, end to end: one class per code in pycore/errors.py, a sentence in web/ui/messages.js for every code a
user can meet (pycore's, the relay's, and the sync engine's quarantine reasons), and no code minted as a string."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from pycore import errors
from pycore.sync import engine

ROOT = Path(__file__).resolve().parents[2]
MESSAGES_JS = ROOT / "web" / "ui" / "messages.js"

# Classes that share their base's code on purpose (they define no ``code`` of their own): class -> the class whose code
# they carry.
ALIASES: dict[type[errors.VellumError], type[errors.VellumError]] = {}

# Codes that need no sentence in messages.js, because the page never shows them. Keep this short and say why.
NOT_SHOWN = {
    # The abstract base: every raise names a subclass, so no answer carries it.
    "vellum_error": "the base class",
    # Only the command-line client (pycore/client) raises it; the browser has no data directory.
    "no_client": "command-line client only",
    # A refused CORS preflight: the browser hides its answer from the page, whose fetch fails as a network_error.
    "cors_refused": "the browser turns it into a network error",
}


def _error_classes() -> list[type[errors.VellumError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.VellumError) and cls.__module__ == errors.__name__
    ]


def _js_object_keys(source: str, name: str) -> set[str]:
    """The keys of ``const NAME = { ... };`` in messages.js.

    The object runs from ``const NAME = {`` to the first line that is exactly ``};``. Inside it, a key is an
    identifier at the start of a line followed by a colon (``  wrong_passphrase: "..."`` or ``  keyring_fork:`` with the
    sentence on the next line); sentence lines start with a quote and comment lines with ``//``, so neither matches.
    Quoted keys are not used in the file; the test fails loudly (an empty or short set) if the layout changes."""
    block = re.search(rf"^const {name} = \{{\n(.*?)^\}};$", source, re.MULTILINE | re.DOTALL)
    assert block is not None, f"messages.js has no `const {name} = {{ ... }};` object"
    return set(re.findall(r"^\s*([a-z][a-z0-9_]*):", block.group(1), re.MULTILINE))


def _page_sentences() -> tuple[set[str], set[str]]:
    source = MESSAGES_JS.read_text()
    return _js_object_keys(source, "MESSAGES"), _js_object_keys(source, "QUARANTINE")


def _relay_codes() -> set[str]:
    """The relay's error codes: its documented table (docs/relay.md, "Error codes") and every ``ApiError("code"`` in
    backend/ plus the HTTP statuses it maps to codes (``_HTTP_CODES``): a code missing from the table counts too."""
    doc = (ROOT / "docs" / "relay.md").read_text()
    table = doc.split("## Error codes", 1)[1]
    codes = set(re.findall(r"`([a-z][a-z0-9_]*)`", "\n".join(re.findall(r"^\| (`.*?) \| \d", table, re.MULTILINE))))
    for path in (ROOT / "backend").glob("*.py"):
        source = path.read_text()
        codes |= set(re.findall(r'ApiError\(\s*"([a-z][a-z0-9_]*)"', source))
        mapped = re.search(r"^_HTTP_CODES = \{\n(.*?)^\}", source, re.MULTILINE | re.DOTALL)
        if mapped:
            codes |= set(re.findall(r'"([a-z][a-z0-9_]*)"', mapped.group(1)))
    assert {"stale_epoch", "device_revoked", "step_up_failed", "method_not_allowed"} <= codes  # the parse found them
    return codes


def _quarantine_reasons() -> set[str]:
    """Every reason the sync engine can quarantine a record with: the code of each error that opening a record or
    checking its revision history can raise (pycore/envelope.py and the padding it removes; the engine quarantines
    with ``exc.code``), and the engine's own ``REASON_*`` constants."""
    classes = {cls.__name__: cls for cls in _error_classes()}
    reasons = set()
    for module in ("envelope.py", "padding.py"):
        tree = ast.parse((ROOT / "pycore" / module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in classes:
                reasons.add(classes[node.func.id].code)
    reasons |= {value for name, value in vars(engine).items() if name.startswith("REASON_") and isinstance(value, str)}
    assert {"decryption_failed", "record_rollback", "unknown_key"} <= reasons  # the walk found them
    return reasons


def test_every_error_class_has_its_own_code() -> None:
    seen: dict[str, type[errors.VellumError]] = {}
    for cls in _error_classes():
        if "code" not in vars(cls):
            assert cls in ALIASES, f"{cls.__name__} defines no code of its own and is not a documented alias"
            assert cls.code == ALIASES[cls].code
            continue
        assert cls not in ALIASES, f"{cls.__name__} is listed as an alias but defines its own code"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.code), cls.code
        assert cls.code not in seen, f"{cls.__name__} and {seen[cls.code].__name__} share the code {cls.code}"
        seen[cls.code] = cls


def test_a_raised_class_carries_its_code() -> None:
    for cls in _error_classes():
        if cls is errors.UnknownWord:
            exc: errors.VellumError = errors.UnknownWord(3, ())
        else:
            exc = cls("x") if cls is not errors.UnlockAgain else cls()
        assert exc.code == cls.code and exc.message
    assert errors.BadResponse("x", status=502).status == 502  # a relay error pycore raises keeps the relay's fields
    assert errors.RelayError("x", code="device_revoked").code == "device_revoked"  # the relay's own code, per answer


def test_every_code_a_user_can_meet_has_a_sentence_in_the_page() -> None:
    messages, quarantine = _page_sentences()
    pycore_codes = {cls.code for cls in _error_classes()}
    missing = sorted((pycore_codes | _relay_codes()) - messages - set(NOT_SHOWN))
    assert not missing, f"web/ui/messages.js MESSAGES has no sentence for {missing}"
    missing = sorted(_quarantine_reasons() - quarantine)
    assert not missing, f"web/ui/messages.js QUARANTINE has no sentence for {missing}"


def test_the_allow_list_names_only_real_codes_without_a_sentence() -> None:
    messages, _ = _page_sentences()
    known = {cls.code for cls in _error_classes()} | _relay_codes()
    assert set(NOT_SHOWN) <= known, sorted(set(NOT_SHOWN) - known)
    assert not set(NOT_SHOWN) & messages, "a code with a sentence need not be allowed without one"


MINTED = re.compile(r"""\bcode=["']|\b_err\(["']""")


def test_no_module_mints_a_code_as_a_string() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "pycore").rglob("*.py"))
        if path != ROOT / "pycore" / "errors.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if MINTED.search(line)
    ]
    assert not found, f"raise the class from pycore/errors.py instead: {found}"
