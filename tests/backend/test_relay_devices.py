"""Devices: list, rename, revoke (self without step-up, others with step-up and a new bundle)."""

from __future__ import annotations

from pycore.public import bundle_public as bp
from pycore.public.codec import b64e
from tests.backend.helpers import Account, Device, RelayClient, device_entry, dumps, reseal


def revoke_path(device: Device) -> str:
    return f"/api/v1/devices/{b64e(device.device_id)}/revoke"


def test_list_devices(relay: RelayClient, account: Account, clock) -> None:
    clock.advance(120)
    phone = Device(name="phone")
    relay.login(account, phone)
    r = relay.signed(account, "GET", "/api/v1/devices", device=phone)
    devices = r.json["devices"]
    assert [d["name"] for d in devices] == ["test device", "phone"]
    first, second = devices
    assert first["current"] is False and second["current"] is True
    assert first["added_at"] == clock() - 120 and second["added_at"] == clock()
    assert first["revoked_at"] is None
    assert set(first) == {"id", "name", "signing_public", "added_at", "last_seen_at", "revoked_at", "current"}
    assert first["signing_public"] == b64e(account.device.signing_public)


def test_last_seen_moves(relay: RelayClient, account: Account, clock) -> None:
    clock.advance(3600)
    relay.signed(account, "GET", "/api/v1/devices")
    me = relay.signed(account, "GET", "/api/v1/devices").json["devices"][0]
    assert me["last_seen_at"] == clock()


def test_rename_own_device_only(relay: RelayClient, account: Account) -> None:
    phone = Device()
    relay.login(account, phone)
    path = f"/api/v1/devices/{b64e(account.device.device_id)}"
    r = relay.signed(account, "PATCH", path, {"name": "desk"})
    assert r.status == 200 and r.json["name"] == "desk"
    r = relay.signed(account, "PATCH", path, {"name": "hijack"}, device=phone)
    assert (r.status, r.code) == (403, "forbidden")
    assert relay.signed(account, "PATCH", path, {"name": ""}).code == "bad_request"
    assert relay.signed(account, "PATCH", path, {"name": "a\nb"}).code == "bad_request"
    assert relay.signed(account, "PATCH", path, {"name": "x" * 129}).code == "bad_request"
    assert relay.signed(account, "PATCH", "/api/v1/devices/nope", {"name": "x"}).code == "not_found"


def test_revoke_self_needs_no_step_up(relay: RelayClient, account: Account) -> None:
    r = relay.signed(account, "POST", revoke_path(account.device))
    assert r.status == 200 and r.json == {"revoked": b64e(account.device.device_id)}
    assert relay.signed(account, "GET", "/api/v1/devices").code == "device_revoked"


def test_revoke_other_needs_bundle_and_step_up(relay: RelayClient, account: Account) -> None:
    lost = Device(name="lost phone")
    relay.login(account, lost)
    assert relay.signed(account, "POST", revoke_path(lost)).code == "bad_request"  # no new bundle
    weak = account.next_bundle(factors=reseal(account.factors))  # same epoch and identity
    body = dumps({"expected_version": 1, "bundle": b64e(weak)})
    assert relay.signed(account, "POST", revoke_path(lost), body=body).code == "bad_bundle"
    raw = account.next_bundle(factors=reseal(account.factors), write_epoch=2, new_identity=True)
    body = dumps({"expected_version": 1, "bundle": b64e(raw)})
    r = relay.signed(account, "POST", revoke_path(lost), body=body)
    assert (r.status, r.code, r.json["action"]) == (403, "step_up_required", "revoke_device")
    # the lost device cannot do it either: it has no login key
    r = relay.signed(account, "POST", revoke_path(account.device), body=body, device=lost)
    assert r.code == "step_up_required"
    header = relay.step_up(account, "revoke_device", body)
    r = relay.signed(account, "POST", revoke_path(lost), body=body, step_up=header)
    assert r.status == 200, r
    assert r.json["bundle"]["version"] == 2 and r.json["bundle"]["write_epoch"] == 2
    assert relay.signed(account, "GET", "/api/v1/devices", device=lost).code == "device_revoked"
    account.adopt(raw)
    # already revoked
    raw3 = account.next_bundle(factors=reseal(account.factors), write_epoch=3, new_identity=True)
    body3 = dumps({"expected_version": 2, "bundle": b64e(raw3)})
    header3 = relay.step_up(account, "revoke_device", body3)
    assert relay.signed(account, "POST", revoke_path(lost), body=body3, step_up=header3).code == "already_revoked"
    assert relay.signed(account, "POST", revoke_path(Device()), body=body3).code == "not_found"
    # A second revocation of the same device built on the version the first one replaced loses the race as
    # stale_bundle (so it re-plans on the winner), not as already_revoked.
    late = dumps({"expected_version": 1, "bundle": b64e(raw3)})
    late_header = relay.step_up(account, "revoke_device", late)
    assert relay.signed(account, "POST", revoke_path(lost), body=late, step_up=late_header).code == "stale_bundle"


def test_revocation_is_atomic_with_the_bundle(relay: RelayClient, account: Account) -> None:
    lost = Device()
    relay.login(account, lost)
    raw = account.next_bundle(factors=reseal(account.factors), write_epoch=2, new_identity=True)
    body = dumps({"expected_version": 5, "bundle": b64e(raw)})  # stale
    header = relay.step_up(account, "revoke_device", body)
    r = relay.signed(account, "POST", revoke_path(lost), body=body, step_up=header)
    assert r.code == "stale_bundle"
    assert relay.signed(account, "GET", "/api/v1/devices", device=lost).status == 200  # not revoked


def test_revocation_drops_the_device_factor(relay: RelayClient, account: Account) -> None:
    lost = Device()
    relay.login(account, lost)
    with_factor = account.next_bundle(factors=[*account.factors, device_entry(lost.device_id, lost.signing_public)])
    assert relay.put_bundle(account, with_factor, step_up=True).status == 200
    account.adopt(with_factor)
    keeps = account.next_bundle(factors=reseal(account.factors), write_epoch=2, new_identity=True)
    body = dumps({"expected_version": 2, "bundle": b64e(keeps)})
    header = relay.step_up(account, "revoke_device", body)
    assert relay.signed(account, "POST", revoke_path(lost), body=body, step_up=header).code == "bad_bundle"
    factors = reseal([f for f in account.factors if f.type != bp.FactorType.DEVICE])
    drops = account.next_bundle(factors=factors, write_epoch=2, new_identity=True)
    body = dumps({"expected_version": 2, "bundle": b64e(drops)})
    header = relay.step_up(account, "revoke_device", body)
    assert relay.signed(account, "POST", revoke_path(lost), body=body, step_up=header).status == 200


def test_self_revoke_with_bundle_follows_bundle_rules(relay: RelayClient, account: Account) -> None:
    raw = account.next_bundle(write_epoch=2)  # no factor change: no step-up
    body = dumps({"expected_version": 1, "bundle": b64e(raw)})
    r = relay.signed(account, "POST", revoke_path(account.device), body=body)
    assert r.status == 200 and r.json["bundle"]["write_epoch"] == 2
