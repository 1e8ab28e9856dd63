"""Bad input to every command of the crypto worker gets a typed error, and the worker keeps serving afterwards."""

from __future__ import annotations

from typing import Any

import pytest

from pycore.app.worker import COMMANDS
from tests.browser.conftest import AppPage
from tests.browser.helpers import b64e, call, call_many, result

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


@pytest.fixture(scope="module")
def page(app: AppPage) -> Any:
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


def test_every_command_refuses_args_that_are_not_an_object(page: Any) -> None:
    requests: list[tuple[str, Any]] = [(cmd, args) for cmd in COMMANDS for args in ("a string", 7, [1, 2], True)]
    for (cmd, args), reply in zip(requests, call_many(page, requests), strict=True):
        _assert_typed(reply, "bad_request", f"{cmd}({args!r})")
    assert result(page, "ping") == {"pong": True}


def test_every_command_survives_garbage_in_every_argument(page: Any) -> None:
    """Each known argument name of every command gets every garbage value; the worker answers each one."""
    names = ["passphrase", "bundle", "wrapped", "name", "origin", "action", "account_id", "challenge", "method",
             "path", "query", "body", "nonce", "timestamp", "now", "records", "cases", "vectors"]
    requests = [(cmd, {name: value}) for cmd in COMMANDS for name in names for value in GARBAGE_VALUES]
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
    for cmd in ("eval", "exec", "records.seal_batch ", "__import__", "", "x" * 10_000):
        _assert_typed(call(page, cmd), "unknown_command", repr(cmd[:20]))
    for cmd in (None, 7, ["ping"], {"cmd": "ping"}):
        _assert_typed(call(page, cmd), "bad_request", repr(cmd))
    assert result(page, "ping") == {"pong": True}


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
    finally:
        result(page, "account.lock")
