"""Signed requests: every way a request can fail authentication, and what must still pass."""

from __future__ import annotations

import secrets

import pytest

from pycore.public import wire
from pycore.public.codec import b64e
from tests.backend.helpers import Account, Device, RelayClient, dumps, new_key, record

MISSING = [wire.HEADER_ACCOUNT, wire.HEADER_DEVICE, wire.HEADER_TIMESTAMP, wire.HEADER_NONCE, wire.HEADER_SIGNATURE]


def test_signed_request_works(relay: RelayClient, account: Account) -> None:
    r = relay.signed(account, "GET", "/api/v1/devices")
    assert r.status == 200, r


@pytest.mark.parametrize("header", MISSING)
def test_missing_header(relay: RelayClient, account: Account, header: str) -> None:
    h = relay.signature_headers(account, account.device, "GET", "/api/v1/devices", "", b"")
    del h[header]
    r = relay.call("GET", "/api/v1/devices", headers=h)
    assert (r.status, r.code) == (401, "unauthenticated")


@pytest.mark.parametrize("header", MISSING)
def test_malformed_header(relay: RelayClient, account: Account, header: str) -> None:
    h = relay.signature_headers(account, account.device, "GET", "/api/v1/devices", "", b"")
    h[header] = h[header][:-2] + "!!"
    r = relay.call("GET", "/api/v1/devices", headers=h)
    assert (r.status, r.code) == (401, "unauthenticated")


def test_forged_signature(relay: RelayClient, account: Account) -> None:
    impostor = Device(device_id=account.device.device_id)  # right id, wrong key
    r = relay.signed(account, "GET", "/api/v1/devices", device=impostor)
    assert (r.status, r.code) == (401, "bad_signature")


def test_signature_covers_body_path_query_method_and_origin(relay: RelayClient, account: Account) -> None:
    body = dumps({"records": [record()]})
    h = relay.signature_headers(account, account.device, "POST", "/api/v1/records", "", body)
    tampered = body.replace(b'"base_revision":0', b'"base_revision":1')
    assert relay.call("POST", "/api/v1/records", body=tampered, headers=h).code == "bad_signature"
    h = relay.signature_headers(account, account.device, "GET", "/api/v1/changes", "since=0", b"")
    assert relay.call("GET", "/api/v1/changes", query="since=5", headers=h).code == "bad_signature"
    h = relay.signature_headers(account, account.device, "GET", "/api/v1/devices", "", b"")
    assert relay.call("GET", "/api/v1/account", headers=h).code == "bad_signature"
    h = relay.signature_headers(account, account.device, "POST", "/api/v1/step-up/challenge", "", b"")
    assert relay.call("GET", "/api/v1/step-up/challenge", headers=h).status == 405
    other = RelayClient(relay.send, "https://other.example", relay.clock)
    assert other.signed(account, "GET", "/api/v1/devices").code == "bad_signature"


def test_query_order_and_encoding_do_not_matter(relay: RelayClient, account: Account) -> None:
    h = relay.signature_headers(account, account.device, "GET", "/api/v1/changes", "since=0&limit=5", b"")
    r = relay.call("GET", "/api/v1/changes", query="limit=%35&since=0", headers=h)
    assert r.status == 200, r


def test_clock_skew(relay: RelayClient, account: Account, clock) -> None:
    for offset in (wire.MAX_CLOCK_SKEW_SECONDS + 1, -wire.MAX_CLOCK_SKEW_SECONDS - 1):
        r = relay.signed(account, "GET", "/api/v1/devices", timestamp=int(clock()) + offset)
        assert (r.status, r.code) == (401, "clock_skew")
        assert r.json["server_time"] == int(clock())
    r = relay.signed(account, "GET", "/api/v1/devices", timestamp=int(clock()) + wire.MAX_CLOCK_SKEW_SECONDS)
    assert r.status == 200


def test_replayed_nonce(relay: RelayClient, account: Account, clock) -> None:
    nonce = secrets.token_bytes(16)
    assert relay.signed(account, "GET", "/api/v1/devices", nonce=nonce).status == 200
    r = relay.signed(account, "GET", "/api/v1/devices", nonce=nonce)
    assert (r.status, r.code) == (401, "replayed_nonce")
    # exactly the same bytes again, later (but still inside the skew window)
    h = relay.signature_headers(account, account.device, "GET", "/api/v1/devices", "", b"")
    assert relay.call("GET", "/api/v1/devices", headers=h).status == 200
    clock.advance(wire.MAX_CLOCK_SKEW_SECONDS - 1)
    assert relay.call("GET", "/api/v1/devices", headers=h).code == "replayed_nonce"
    # long after, the nonce may be forgotten, but then the timestamp is refused
    clock.advance(3600)
    assert relay.call("GET", "/api/v1/devices", headers=h).code == "clock_skew"


def test_unknown_device_and_account(relay: RelayClient, account: Account) -> None:
    r = relay.signed(account, "GET", "/api/v1/devices", device=Device())
    assert (r.status, r.code) == (401, "unknown_device")
    stranger = Account()
    r = relay.signed(stranger, "GET", "/api/v1/devices")
    assert (r.status, r.code) == (401, "unknown_device")


def test_revoked_device_is_refused_at_once(relay: RelayClient, account: Account) -> None:
    phone = Device()
    assert relay.login(account, phone).status == 200
    assert relay.signed(account, "POST", f"/api/v1/devices/{b64e(phone.device_id)}/revoke", device=phone).status == 200
    r = relay.signed(account, "GET", "/api/v1/devices", device=phone)
    assert (r.status, r.code) == (403, "device_revoked")
    assert relay.push(account, [record()], device=phone).code == "device_revoked"
    assert relay.login(account, phone).code == "device_revoked"


def test_no_cookies_no_tokens(relay: RelayClient, account: Account) -> None:
    r = relay.login(account, Device())
    assert "set-cookie" not in r.headers
    assert set(r.json) == {"account_id", "device_id", "bundle_version", "write_epoch", "server_time"}


def test_step_up_challenge_needs_signature(relay: RelayClient, account: Account) -> None:
    assert relay.call("POST", "/api/v1/step-up/challenge").code == "unauthenticated"
    assert len(relay.step_up_challenge(account)) == 32


def test_login_key_cannot_sign_requests(relay: RelayClient, account: Account) -> None:
    as_login = Device(device_id=account.device.device_id, key=account.login_key)
    assert relay.signed(account, "GET", "/api/v1/devices", device=as_login).code == "bad_signature"
    assert relay.signed(account, "GET", "/api/v1/devices", device=Device(key=new_key())).code == "unknown_device"
