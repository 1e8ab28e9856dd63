"""The bundle chain: reading it, compare-and-swap updates, chain checks, step-up, and the key-replacing actions."""

from __future__ import annotations

import secrets

from pycore.public import bundle_public as bp
from pycore.public.codec import b64d, b64e
from tests.backend.helpers import (
    Account,
    Device,
    RelayClient,
    device_entry,
    dumps,
    new_key,
    passphrase_entry,
    recovery_entry,
    reseal,
)


def chain(relay: RelayClient, account: Account, since: int = 0, **query: int) -> dict:
    r = relay.signed(account, "GET", "/api/v1/bundle", query={"since": since, **query})
    assert r.status == 200, r
    return r.json


def test_get_chain(relay: RelayClient, account: Account) -> None:
    got = chain(relay, account)
    assert got["current_version"] == 1 and got["write_epoch"] == 1 and got["more"] is False
    assert [b64d(b) for b in got["bundles"]] == account.chain
    for _ in range(3):
        assert relay.put_bundle(account, account.next_bundle()).status == 200
        account.adopt(relay_last(relay, account))
    got = chain(relay, account, since=2)
    assert [b64d(b) for b in got["bundles"]] == account.chain[2:]
    assert chain(relay, account, since=4)["bundles"] == []
    page = chain(relay, account, since=0, limit=2)
    assert len(page["bundles"]) == 2 and page["more"] is True
    assert relay.signed(account, "GET", "/api/v1/bundle", query="since=-1").code == "bad_request"
    assert relay.signed(account, "GET", "/api/v1/bundle", query="since=x").code == "bad_request"


def relay_last(relay: RelayClient, account: Account) -> bytes:
    return b64d(chain(relay, account, since=account.version)["bundles"][-1])


def test_plain_put_new_epoch_and_keyring(relay: RelayClient, account: Account) -> None:
    # A routine rotation: new epoch, keyring changes, slots unchanged -> no step-up.
    raw = account.next_bundle(write_epoch=2)
    r = relay.put_bundle(account, raw)
    assert r.status == 200, r
    assert r.json == {"version": 2, "write_epoch": 2, "hash": b64e(bp.parse_bundle(raw).hash)}
    account.adopt(raw)
    assert chain(relay, account)["write_epoch"] == 2


def test_stale_bundle(relay: RelayClient, account: Account) -> None:
    first = account.next_bundle(write_epoch=2)
    second = account.next_bundle(write_epoch=3)  # built on the same version 1
    assert relay.put_bundle(account, first).status == 200
    r = relay.put_bundle(account, second)
    assert (r.status, r.code) == (409, "stale_bundle")
    assert r.json["current_version"] == 2
    r = relay.put_bundle(account, second, expected=5)
    assert r.code == "stale_bundle"


def test_bad_successors(relay: RelayClient, account: Account) -> None:
    cases = {
        "skips a version": account.next_bundle(version=3),
        "wrong previous hash": account.next_bundle(prev_hash=secrets.token_bytes(32)),
        "other account": account.next_bundle(account_id=secrets.token_bytes(16)),
        "new identity without handover": account.next_bundle(new_identity=True, handover=False),
        "signed by a stranger": account.next_bundle(identity=new_key()),
        "epoch goes back": account.next_bundle(write_epoch=0),
        "drops the recovery factor": account.next_bundle(factors=account.factors[:1]),
    }
    for name, raw in cases.items():
        r = relay.put_bundle(account, raw)
        assert r.code == "bad_bundle", name
        assert r.status in (400, 409), name
    assert relay.put_bundle(account, b"\x01\x00").code == "bad_bundle"
    assert chain(relay, account)["current_version"] == 1


def test_step_up_is_needed_for_factor_changes(relay: RelayClient, account: Account) -> None:
    dev = account.device
    changes = {
        "add a device factor": [*account.factors, device_entry(dev.device_id, dev.signing_public)],
        "reseal every slot (new account key)": reseal(account.factors),
    }
    for name, factors in changes.items():
        raw = account.next_bundle(factors=factors)
        r = relay.put_bundle(account, raw)
        assert (r.status, r.code) == (403, "step_up_required"), name
        assert r.json["action"] == "update_factors"
        assert len(b64d(r.json["challenge"])) == 32
    raw = account.next_bundle(new_identity=True)
    assert relay.put_bundle(account, raw).code == "step_up_required"
    r = relay.put_bundle(account, raw, step_up=True)
    assert r.status == 200, r
    account.adopt(raw)
    # turning "remember this device" on, then off again: both are factor-list changes
    with_device = account.next_bundle(factors=[*account.factors, device_entry(dev.device_id, dev.signing_public)])
    assert relay.put_bundle(account, with_device, step_up=True).status == 200
    account.adopt(with_device)
    without = account.next_bundle(factors=[f for f in account.factors if f.type != bp.FactorType.DEVICE])
    assert relay.put_bundle(account, without).code == "step_up_required"


def test_step_up_with_the_challenge_from_the_refusal(relay: RelayClient, account: Account) -> None:
    raw = account.next_bundle(factors=reseal(account.factors))
    body = dumps({"expected_version": 1, "bundle": b64e(raw)})
    r = relay.signed(account, "PUT", "/api/v1/bundle", body=body)
    assert r.code == "step_up_required"
    header = relay.step_up(account, "update_factors", body, challenge=b64d(r.json["challenge"]))
    assert relay.signed(account, "PUT", "/api/v1/bundle", body=body, step_up=header).status == 200


def test_step_up_failures(relay: RelayClient, account: Account) -> None:
    raw = account.next_bundle(factors=reseal(account.factors))
    body = dumps({"expected_version": 1, "bundle": b64e(raw)})

    def put(header: str) -> object:
        return relay.signed(account, "PUT", "/api/v1/bundle", body=body, step_up=header)

    wrong_key = relay.step_up(account, "update_factors", body, key=new_key())
    wrong_action = relay.step_up(account, "delete_account", body)
    wrong_body = relay.step_up(account, "update_factors", body + b" ")
    other_device = Device()
    assert relay.login(account, other_device).status == 200
    foreign_challenge = relay.step_up_challenge(account, other_device)
    cases = {
        "wrong key": wrong_key,
        "wrong action": wrong_action,
        "wrong body": wrong_body,
        "another device's challenge": relay.step_up(account, "update_factors", body, challenge=foreign_challenge),
        "unknown challenge": relay.step_up(account, "update_factors", body, challenge=secrets.token_bytes(32)),
        "device key": relay.step_up(account, "update_factors", body, key=account.device.key),
        "malformed": "login.nope",
        "unknown kind": "device." + wrong_key.split(".", 1)[1],
    }
    for name, header in cases.items():
        r = put(header)
        assert (r.status, r.code) == (403, "step_up_failed"), name
        assert "challenge" in r.json, name
    # a good proof works once; reusing its challenge fails
    good = relay.step_up(account, "update_factors", body)
    assert put(good).status == 200
    raw2 = account.next_bundle(factors=reseal(account.factors), prev_hash=bp.parse_bundle(raw).hash, version=3)
    body2 = dumps({"expected_version": 2, "bundle": b64e(raw2)})
    challenge = b64d(good.split(".")[1])
    reused = relay.step_up(account, "update_factors", body2, challenge=challenge)
    r = relay.signed(account, "PUT", "/api/v1/bundle", body=body2, step_up=reused)
    assert r.code == "step_up_failed"
    # the recovery login key also steps up
    rec = relay.step_up(account, "update_factors", body2, kind="recovery")
    assert relay.signed(account, "PUT", "/api/v1/bundle", body=body2, step_up=rec).status == 200


def test_step_up_challenge_expires(relay: RelayClient, account: Account, clock) -> None:
    raw = account.next_bundle(factors=reseal(account.factors))
    body = dumps({"expected_version": 1, "bundle": b64e(raw)})
    header = relay.step_up(account, "update_factors", body)
    clock.advance(61)
    r = relay.signed(account, "PUT", "/api/v1/bundle", body=body, step_up=header)
    assert r.code == "step_up_failed"


def test_passphrase_factor_changes_only_with_the_login_key(relay: RelayClient, account: Account) -> None:
    factors = [passphrase_entry(), *[f for f in account.factors if f.type != bp.FactorType.PASSPHRASE]]
    raw = account.next_bundle(factors=factors)
    r = relay.put_bundle(account, raw, step_up=True)
    assert r.code == "bad_bundle"


def test_change_passphrase_needs_step_up_always(relay: RelayClient, account: Account) -> None:
    raw = account.next_bundle(factors=reseal(account.factors))
    body = dumps({"expected_version": 1, "bundle": b64e(raw), "login_public": b64e(bytes(32))})
    r = relay.signed(account, "POST", "/api/v1/account/passphrase", body=body)
    assert (r.status, r.code, r.json["action"]) == (403, "step_up_required", "change_passphrase")
    # stale is reported before step-up is asked for
    stale = dumps({"expected_version": 7, "bundle": b64e(raw), "login_public": b64e(bytes(32))})
    assert relay.signed(account, "POST", "/api/v1/account/passphrase", body=stale).code == "stale_bundle"


def test_change_passphrase_with_recovery_step_up(relay: RelayClient, account: Account) -> None:
    """Forgot the passphrase: the recovery login key authorises setting a new one."""
    factors = [passphrase_entry(), *[f for f in reseal(account.factors) if f.type != bp.FactorType.PASSPHRASE]]
    raw = account.next_bundle(factors=factors, new_identity=True, write_epoch=2)
    new_login = new_key()
    body = dumps({"expected_version": 1, "bundle": b64e(raw), "login_public": b64e(bytes(new_login.verify_key))})
    header = relay.step_up(account, "change_passphrase", body, kind="recovery")
    r = relay.signed(account, "POST", "/api/v1/account/passphrase", body=body, step_up=header)
    assert r.status == 200, r
    assert r.json["version"] == 2 and r.json["write_epoch"] == 2
    assert relay.login(account, Device(), key=new_login).status == 200


def test_new_recovery_kit(relay: RelayClient, account: Account) -> None:
    factors = [*[f for f in reseal(account.factors) if f.type != bp.FactorType.RECOVERY], recovery_entry()]
    raw = account.next_bundle(factors=factors, write_epoch=2)
    new_recovery = new_key()
    body = dumps(
        {"expected_version": 1, "bundle": b64e(raw), "recovery_login_public": b64e(bytes(new_recovery.verify_key))}
    )
    header = relay.step_up(account, "new_recovery_kit", body)
    r = relay.signed(account, "POST", "/api/v1/account/recovery-kit", body=body, step_up=header)
    assert r.status == 200, r
    assert relay.login(account, Device(), action="recovery_login").code == "login_failed"
    assert relay.login(account, Device(), action="recovery_login", key=new_recovery).status == 200
    # a kit without a recovery factor is refused
    account.adopt(raw)
    raw2 = account.next_bundle(factors=[f for f in account.factors if f.type != bp.FactorType.RECOVERY])
    body2 = dumps({"expected_version": 2, "bundle": b64e(raw2), "recovery_login_public": b64e(bytes(32))})
    header2 = relay.step_up(account, "new_recovery_kit", body2)
    r = relay.signed(account, "POST", "/api/v1/account/recovery-kit", body=body2, step_up=header2)
    assert r.code == "bad_bundle"


def test_key_replacement_is_atomic(relay: RelayClient, account: Account) -> None:
    """A refused bundle leaves the login key as it was."""
    raw = account.next_bundle(version=5)
    new_login = new_key()
    body = dumps({"expected_version": 1, "bundle": b64e(raw), "login_public": b64e(bytes(new_login.verify_key))})
    header = relay.step_up(account, "change_passphrase", body)
    r = relay.signed(account, "POST", "/api/v1/account/passphrase", body=body, step_up=header)
    assert r.code == "bad_bundle"
    assert relay.login(account, Device()).status == 200
    assert relay.login(account, Device(), key=new_login).code == "login_failed"


def test_delete_account(relay: RelayClient, account: Account) -> None:
    r = relay.signed(account, "DELETE", "/api/v1/account")
    assert (r.status, r.code) == (403, "step_up_required")
    header = relay.step_up(account, "delete_account", b"")
    r = relay.signed(account, "DELETE", "/api/v1/account", step_up=header)
    assert r.status == 200 and r.json == {"deleted": True}
    assert relay.signed(account, "GET", "/api/v1/account").code == "unknown_device"
    # the name is free again and prelogin shows a decoy
    pre = relay.call("POST", "/api/v1/prelogin", {"username": account.username}).json
    assert pre["account_id"] != b64e(account.account_id)
    assert relay.register(Account(username=account.username)).status == 201
