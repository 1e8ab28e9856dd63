"""Canonical request bytes, login and step-up statements."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycore.errors import FormatError
from pycore.public import wire

A, D, N = b"a" * 16, b"d" * 16, b"n" * 16


def req(**over: object) -> bytes:
    args: dict[str, object] = {
        "origin": "https://v.example",
        "method": "POST",
        "path": "/api/v1/x",
        "query": "",
        "account_id": A,
        "device_id": D,
        "timestamp": 1,
        "nonce": N,
        "body_sha256": wire.body_hash(b"{}"),
    }
    args.update(over)
    return wire.request_bytes(**args)  # type: ignore[arg-type]


def test_query_order_and_encoding_do_not_matter() -> None:
    assert req(query="b=2&a=1") == req(query="a=1&b=2")
    assert req(query="a=%41") == req(query="a=A")
    assert req(query="a=1") != req(query="a=2")


@pytest.mark.parametrize(
    "field",
    ["origin", "method", "path", "query", "timestamp", "nonce", "body_sha256", "account_id", "device_id"],
)
def test_every_field_is_bound(field: str) -> None:
    changed = {
        "origin": "https://w.example",
        "method": "PUT",
        "path": "/api/v1/y",
        "query": "a=1",
        "timestamp": 2,
        "nonce": b"m" * 16,
        "body_sha256": wire.body_hash(b"[]"),
        "account_id": b"b" * 16,
        "device_id": b"e" * 16,
    }
    assert req(**{field: changed[field]}) != req()


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_length_prefixing_prevents_shifting(a: str, b: str) -> None:
    # Moving characters from one field to its neighbour must change the signed bytes.
    assert req(origin=a, path=b) != req(origin=a + b[0], path=b[1:])


def test_statements_are_bound_to_action_and_body() -> None:
    c = b"c" * 32
    assert wire.login_statement("o", "login", A, c, D, b"k" * 32) != wire.login_statement(
        "o", "recovery_login", A, c, D, b"k" * 32
    )
    s1 = wire.step_up_statement("o", "revoke_device", A, D, c, b'{"device":"1"}')
    s2 = wire.step_up_statement("o", "revoke_device", A, D, c, b'{"device":"2"}')
    assert s1 != s2
    with pytest.raises(FormatError):
        wire.step_up_statement("o", "run_anything", A, D, c, b"")
    with pytest.raises(FormatError):
        wire.login_statement("o", "login", A, b"short", D, b"k" * 32)
