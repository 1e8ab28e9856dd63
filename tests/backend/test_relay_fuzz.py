"""Garbage in: random bodies, headers and paths get a 4xx JSON answer — never a 500 — and change nothing stored."""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from backend import store
from pycore.public import wire
from pycore.public.codec import b64e
from tests.backend.helpers import Account, RelayClient

FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Tables whose rows change only through a successful, authorised request.
STATE_TABLES = (store.accounts, store.bundles, store.devices, store.records, store.wrapped_keys)

UNSIGNED = [
    ("POST", "/api/v1/prelogin"),
    ("POST", "/api/v1/accounts"),
    ("POST", "/api/v1/login"),
    ("POST", "/api/v1/recovery-login"),
]
SIGNED = [
    ("POST", "/api/v1/records"),
    ("POST", "/api/v1/records/keys"),
    ("PUT", "/api/v1/bundle"),
    ("POST", "/api/v1/account/passphrase"),
    ("POST", "/api/v1/account/recovery-kit"),
    ("DELETE", "/api/v1/account"),
    ("POST", "/api/v1/step-up/challenge"),
    ("POST", "/api/v1/auth/challenge"),
]
FIELDS = [
    "username",
    "account_id",
    "login_public",
    "recovery_login_public",
    "device",
    "bundle",
    "challenge",
    "login_signature",
    "recovery_login_signature",
    "device_signature",
    "signature",
    "records",
    "keys",
    "expected_version",
    "id",
    "base_revision",
    "revision",
    "epoch",
    "wrapped_key",
    "content",
    "name",
]

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
b64ish = st.binary(max_size=70).map(b64e)
json_values = st.recursive(
    scalars | b64ish,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), children, max_size=6),
    max_leaves=20,
)
json_bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=8).map(
    lambda d: json.dumps(d).encode()
)
raw_bodies = st.binary(max_size=300) | json_bodies | json_values.map(lambda v: json.dumps(v).encode())


def snapshot(app: Any) -> dict[str, list[tuple[Any, ...]]]:
    with app.app_context():
        with store.read() as conn:
            return {t.name: sorted(tuple(row) for row in conn.execute(select(t)).all()) for t in STATE_TABLES}


def check(reply: Any) -> None:
    """Never a 5xx; every refusal is ``{code, detail}`` JSON. (A body that happens to be a valid empty request,
    such as ``{}`` for a challenge, may succeed: the state tables must still be unchanged.)"""
    assert reply.status < 500, reply
    if reply.status >= 400:
        assert isinstance(reply.json, dict) and isinstance(reply.json["code"], str), reply
        assert isinstance(reply.json["detail"], str), reply


@pytest.fixture
def seeded(app: Any, relay: RelayClient, account: Account) -> Account:
    relay.push(account, [{"id": b64e(bytes(16)), "base_revision": 0, "epoch": 1, "wrapped_key": "AA", "content": "AA"}])
    return account


@FUZZ
@given(endpoint=st.sampled_from(UNSIGNED), body=raw_bodies)
def test_unsigned_garbage(
    app: Any, relay: RelayClient, seeded: Account, endpoint: tuple[str, str], body: bytes
) -> None:
    before = snapshot(app)
    check(relay.call(*endpoint, body=body))
    assert snapshot(app) == before


@FUZZ
@given(endpoint=st.sampled_from(SIGNED), body=raw_bodies)
def test_signed_garbage_bodies(
    app: Any, relay: RelayClient, seeded: Account, endpoint: tuple[str, str], body: bytes
) -> None:
    """Correctly signed requests with nonsense bodies: refused by validation, never half-applied."""
    method, path = endpoint
    before = snapshot(app)
    check(relay.signed(seeded, method, path, body=body))
    after = snapshot(app)
    before.pop("devices"), after.pop("devices")  # last_seen_at may move on an authenticated call
    assert after == before


@FUZZ
@given(
    endpoint=st.sampled_from(SIGNED),
    header=st.sampled_from(
        [
            wire.HEADER_ACCOUNT,
            wire.HEADER_DEVICE,
            wire.HEADER_TIMESTAMP,
            wire.HEADER_NONCE,
            wire.HEADER_SIGNATURE,
            wire.HEADER_STEP_UP,
        ]
    ),
    value=st.text(alphabet=string.printable.strip() + " ", max_size=120) | b64ish,
    body=raw_bodies,
)
def test_garbage_headers(
    app: Any, relay: RelayClient, seeded: Account, endpoint: tuple[str, str], header: str, value: str, body: bytes
) -> None:
    method, path = endpoint
    h = relay.signature_headers(seeded, seeded.device, method, path, "", body)
    if header == wire.HEADER_STEP_UP or h.get(header) == value:
        h[wire.HEADER_SIGNATURE] = b64e(bytes(64))  # make sure the request itself is forged
    h[header] = value
    before = snapshot(app)
    check(relay.call(method, path, body=body, headers=h))
    assert snapshot(app) == before


path_segments = st.text(alphabet=string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@", max_size=20)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
    segments=st.lists(path_segments, max_size=5),
    prefix=st.sampled_from(["/", "/api/", "/api/v1/", "/api/v1/records/", "/api/v1/devices/"]),
    body=raw_bodies,
)
def test_garbage_paths(
    app: Any, relay: RelayClient, seeded: Account, method: str, segments: list[str], prefix: str, body: bytes
) -> None:
    path = prefix + "/".join(segments)
    assume(not path.startswith("//"))  # the test client would read it as a host name
    before = snapshot(app)
    r = relay.signed(seeded, method, path, body=body) if method != "HEAD" else relay.call(method, path)
    if method != "HEAD":
        check(r)
    assert r.status < 500, (path, r)
    after = snapshot(app)
    before.pop("devices"), after.pop("devices")
    assert after == before, path


query_names = st.sampled_from(["since", "limit", "epoch", "after", "x"]) | st.text(max_size=5)
query_values = st.text(max_size=12) | st.integers().map(str) | b64ish


@FUZZ
@given(pairs=st.lists(st.tuples(query_names, query_values), max_size=4))
def test_garbage_queries(app: Any, relay: RelayClient, seeded: Account, pairs: list[tuple[str, str]]) -> None:
    query = urlencode(pairs)
    for path in ("/api/v1/changes", "/api/v1/bundle", "/api/v1/records/below-epoch", "/api/v1/devices"):
        check(relay.signed(seeded, "GET", path, query=query))


MUTABLE = [
    "account_id",
    "login_public",
    "recovery_login_public",
    "bundle",
    "challenge",
    "login_signature",
    "recovery_login_signature",
    "device_signature",
    "device",
]


@FUZZ
@given(field=st.sampled_from(MUTABLE), value=json_values, drop=st.booleans())
def test_mutated_registration(
    app: Any, relay: RelayClient, seeded: Account, field: str, value: Any, drop: bool
) -> None:
    """A valid registration with one field replaced by junk (or missing): refused, nothing stored."""
    payload = relay.register_payload(Account())
    if drop:
        del payload[field]
    else:
        payload[field] = value
    before = snapshot(app)
    r = relay.call("POST", "/api/v1/accounts", payload)
    check(r)
    assert r.status >= 400
    assert snapshot(app) == before
