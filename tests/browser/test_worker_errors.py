"""Bad input to every command of the crypto worker gets a typed error, and the worker keeps serving afterwards; the
app page's own worker has the app contract and nothing else (no test-only command reaches it).

The app's commands go to the page's own worker, the protocol-level test commands to a testing worker beside it
(tests/browser/helpers.py routes each by its family)."""

from __future__ import annotations

from typing import Any

import pytest

from pycore.app.worker import COMMANDS
from tests.browser.conftest import AppPage
from tests.browser.helpers import b64e, call, call_many, is_test_command, result
from tests.support.worker_commands import TEST_COMMANDS

# Every command either worker has: the app's (COMMANDS) and the test wheel's (TEST_COMMANDS).
ALL_COMMANDS = [*COMMANDS, *TEST_COMMANDS]
# What a production page's worker must not know, whatever it is asked.
TEST_ONLY = list(dict.fromkeys(["device.sign_request", "records.open_batch", "conformance.install", *TEST_COMMANDS]))

# Codes a bad request may legitimately get (never internal_error, never a crash or a hang).
TYPED = {"bad_request", "locked", "unknown_command", "device_key_unavailable", "unavailable", "bad_format",
         "decryption_failed", "wrong_passphrase", "invalid_key", "bad_bundle", "unsupported_version",
         # the app commands (docs/worker-api.md) on a browser without an account
         "no_account", "not_remembered", "recovery_unavailable", "weak_passphrase", "bad_username"}

GARBAGE_VALUES: list[Any] = [None, True, -1, 2**70, 1.5, "", "***not base64***", "A" * 10_000, [], {}, ["x"]]

BUNDLE = "AQID"  # three bytes: not a bundle
SEALED = {"id": b64e(bytes(16)), "revision": 1, "epoch": 1, "wrapped_key": b64e(bytes(77)), "content": b64e(bytes(99))}

# (command, args, expected code) — one or more per command, by hand, for the errors a page can cause.
CASES: list[tuple[str, Any, str]] = [
    ("account.create", {}, "bad_request"),
    ("account.create", {"passphrase": 42}, "bad_request"),
    ("account.create", {"passphrase": "x" * 5000}, "bad_request"),
    ("account.create", {"passphrase": "p", "now": "yesterday"}, "bad_request"),
    ("account.unlock_passphrase", {"passphrase": "p"}, "bad_request"),
    ("account.unlock_passphrase", {"bundle": "%%%", "passphrase": "p"}, "bad_request"),
    ("account.unlock_passphrase", {"bundle": BUNDLE, "passphrase": "p"}, "bad_format"),
    ("account.unlock_device", {"bundle": BUNDLE}, "bad_request"),
    ("device.remember", {"name": "x"}, "locked"),
    ("device.sign_login", {"origin": "o", "action": "drop_tables", "account_id": b64e(bytes(16)),
                           "challenge": b64e(bytes(32))}, "bad_request"),
    ("device.sign_login", {"origin": "o", "action": "login", "account_id": b64e(bytes(15)),
                           "challenge": b64e(bytes(32))}, "bad_request"),
    ("device.sign_request", {"origin": "o", "method": "GET", "path": "/"}, "bad_request"),
    ("device.sign_request", {"origin": "o", "method": "GET", "path": "/", "account_id": b64e(bytes(16)),
                             "timestamp": -5}, "bad_request"),
    ("records.seal_batch", {"records": [{"payload": "AA"}]}, "locked"),
    ("records.open_batch", {"records": [SEALED]}, "locked"),
    ("vectors.run", {"cases": "all of them"}, "bad_request"),
    ("vectors.run", {"cases": [{"family": "nope", "name": "x"}]}, "bad_request"),
    ("primitives.run_suite", {"vectors": {}}, "bad_request"),
    ("primitives.run_suite", {"vectors": []}, "bad_request"),
]

# Once unlocked, bad records are per-record errors or bad_request, never a crash.
UNLOCKED_CASES: list[tuple[str, Any, str]] = [
    ("records.seal_batch", {}, "bad_request"),
    ("records.seal_batch", {"records": {"payload": "AA"}}, "bad_request"),
    ("records.seal_batch", {"records": [{"payload": "AA", "type": "spreadsheet"}]}, "bad_request"),
    ("records.seal_batch", {"records": [{"payload": "AA", "revision": 0}]}, "bad_request"),
    ("records.seal_batch", {"records": [{"payload": "AA", "revision": 2}]}, "bad_request"),  # no prev_hash
    ("records.seal_batch", {"records": [{"payload": "AA", "prev_hash": b64e(bytes(range(32)))}]}, "bad_format"),
    ("records.seal_batch", {"records": [{"payload": "AA", "id": b64e(bytes(15))}]}, "bad_request"),
    ("records.seal_batch", {"records": [{"payload": "AA"}] * 10_001}, "bad_request"),
    ("records.open_batch", {"records": [{**SEALED, "id": "short"}]}, "bad_request"),
    ("records.open_batch", {"records": [{**SEALED, "epoch": 0}]}, "bad_request"),
    ("records.open_batch", {"records": [7]}, "bad_request"),
]


@pytest.fixture
def page(app: AppPage) -> Any:
    """The module's page, its testing worker locked and with a device key, whatever an earlier test left."""
    result(app.page, "account.lock")
    result(app.page, "device.init")
    return app.page


def _assert_typed(reply: dict[str, Any], expected: str | None, where: str) -> None:
    assert reply["ok"] is False, f"{where}: succeeded with {str(reply)[:200]}"
    code = reply["error"]["code"]
    assert code in TYPED, f"{where}: untyped error {reply['error']}"
    if expected is not None:
        assert code == expected, f"{where}: {reply['error']}"
    assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]


def test_the_test_families_are_the_test_commands() -> None:
    """helpers.py routes by family: each test command goes to the testing worker, each app command to the app's."""
    assert all(is_test_command(cmd) for cmd in TEST_COMMANDS)
    assert not any(is_test_command(cmd) for cmd in COMMANDS)
    assert not set(COMMANDS) & set(TEST_COMMANDS)


def test_the_app_pages_worker_has_no_test_command(page: Any) -> None:
    """The app's own worker (app.js's, started without ?testing=1, as in production) answers unknown_command to every
    test-only command, and has no account unlocked; the testing worker beside it does have them."""
    url = page.evaluate("async () => (await import('/app.js')).worker.url")
    assert url == "/worker/crypto-worker.js"
    replies = call_many(page, [(cmd, {}) for cmd in TEST_ONLY], testing=False)
    for cmd, reply in zip(TEST_ONLY, replies, strict=True):
        _assert_typed(reply, "unknown_command", f"the app's worker, {cmd}")
    status = result(page, "status", testing=False)
    assert status["unlocked"] is False
    assert result(page, "ping", testing=False) == {"pong": True}
    # The testing worker knows them (a typed refusal, not unknown_command) and still has no conformance.install.
    assert call(page, "records.open_batch", {"records": []}, testing=True)["error"]["code"] == "locked"
    _assert_typed(call(page, "conformance.install", testing=True), "unknown_command", "conformance.install")


def test_every_command_refuses_args_that_are_not_an_object(page: Any) -> None:
    requests: list[tuple[str, Any]] = [(cmd, args) for cmd in ALL_COMMANDS for args in ("a string", 7, [1, 2], True)]
    for (cmd, args), reply in zip(requests, call_many(page, requests), strict=True):
        _assert_typed(reply, "bad_request", f"{cmd}({args!r})")
    assert result(page, "ping") == {"pong": True}


def test_every_command_survives_garbage_in_every_argument(page: Any) -> None:
    """Each known argument name of every command gets every garbage value; the worker answers each one."""
    names = ["passphrase", "bundle", "wrapped", "name", "origin", "action", "account_id", "challenge", "method",
             "path", "query", "body", "nonce", "timestamp", "now", "records", "cases", "vectors"]
    requests = [(cmd, {name: value}) for cmd in ALL_COMMANDS for name in names for value in GARBAGE_VALUES]
    replies = call_many(page, requests)
    assert len(replies) == len(requests)
    for (cmd, args), reply in zip(requests, replies, strict=True):
        if not reply["ok"]:  # a command without that argument (or with a default) may ignore it
            _assert_typed(reply, None, f"{cmd}({str(args)[:40]})")
    result(page, "device.init")  # device.forget ran with every garbage value, and succeeded
    assert result(page, "ping") == {"pong": True}


@pytest.mark.parametrize(("cmd", "args", "code"), CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_bad_requests_get_typed_errors(page: Any, cmd: str, args: Any, code: str) -> None:
    _assert_typed(call(page, cmd, args), code, cmd)
    assert result(page, "ping") == {"pong": True}


def test_unknown_and_malformed_commands(page: Any) -> None:
    for testing in (False, True):  # the app's worker and the testing worker alike
        for cmd in ("eval", "exec", "records.seal_batch ", "__import__", "", "x" * 10_000):
            _assert_typed(call(page, cmd, testing=testing), "unknown_command", f"{cmd[:20]!r} (testing={testing})")
        for cmd in (None, 7, ["ping"], {"cmd": "ping"}):
            _assert_typed(call(page, cmd, testing=testing), "bad_request", f"{cmd!r} (testing={testing})")
        assert result(page, "ping", testing=testing) == {"pong": True}


def test_bad_records_once_unlocked(page: Any) -> None:
    result(page, "account.create", {"passphrase": "unlocked for the error tests"})
    try:
        for cmd, args, code in UNLOCKED_CASES:
            _assert_typed(call(page, cmd, args), code, f"{cmd}({str(args)[:60]})")
        # Garbage that is well-formed base64 opens to per-record errors, not a failed batch.
        opened = result(page, "records.open_batch", {"records": [SEALED, {**SEALED, "wrapped_key": b64e(bytes(77))}]})
        assert [r["ok"] for r in opened["records"]] == [False, False]
        assert {r["code"] for r in opened["records"]} <= {"bad_format", "unsupported_version", "decryption_failed"}
        assert result(page, "records.seal_batch", {"records": [{"payload": "AA"}]})["records"][0]["revision"] == 1
        # The account lives in the testing worker only: the app's worker still knows no record command.
        app_worker = call(page, "records.seal_batch", {"records": [{"payload": "AA"}]}, testing=False)
        _assert_typed(app_worker, "unknown_command", "records.seal_batch on the app's worker")
    finally:
        result(page, "account.lock")
