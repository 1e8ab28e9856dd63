"""Registration, prelogin (with decoys), challenges, login and recovery login."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from sqlalchemy import update

from backend import store
from pycore.kdf import Argon2idParams
from pycore.public import bundle_public as bp
from pycore.public import limits
from pycore.public.codec import b64d, b64e
from tests.backend.helpers import Account, Device, RelayClient, build_bundle, dumps, new_key, passphrase_entry


def test_register_and_read_account(relay: RelayClient) -> None:
    acc = Account(username="Alice.Example")
    r = relay.register(acc)
    assert r.status == 201, r
    assert r.json["account_id"] == b64e(acc.account_id)
    assert r.json["device_id"] == b64e(acc.device.device_id)
    assert r.json["bundle_version"] == 1
    assert r.json["write_epoch"] == 1
    me = relay.signed(acc, "GET", "/api/v1/account")
    assert me.status == 200, me
    assert me.json["username"] == "alice.example"  # normalised
    assert me.json["change_seq"] == 0


def test_register_refuses_taken_username_and_account_id(relay: RelayClient, account: Account) -> None:
    twin = Account(username=account.username.upper())
    assert relay.register(twin).code == "username_taken"
    same_id = Account(account_id=account.account_id)
    assert relay.register(same_id).code == "account_exists"


def test_register_checks_every_signature(relay: RelayClient) -> None:
    for field in ("login_signature", "recovery_login_signature", "device_signature"):
        acc = Account()
        payload = relay.register_payload(acc)
        payload[field] = b64e(bytes(64))
        r = relay.call("POST", "/api/v1/accounts", payload)
        assert (r.status, r.code) == (401, "bad_signature"), field


def test_register_binds_origin_and_action(relay: RelayClient) -> None:
    acc = Account()
    other = RelayClient(relay.send, "https://evil.example", relay.clock)
    r = relay.call("POST", "/api/v1/accounts", other.register_payload(acc))
    assert r.code == "bad_signature"
    # A login statement is not a registration statement.
    payload = relay.register_payload(acc)
    login = relay.login_payload(acc, acc.device, challenge=relay.challenge())
    payload["challenge"], payload["login_signature"] = login["challenge"], login["signature"]
    assert relay.call("POST", "/api/v1/accounts", payload).code == "bad_signature"


def test_register_challenge_is_single_use_and_expires(relay: RelayClient, clock) -> None:
    acc = Account()
    payload = relay.register_payload(acc)
    assert relay.call("POST", "/api/v1/accounts", payload).status == 201
    again = Account()
    reused = relay.register_payload(again, challenge=b64d(payload["challenge"]))
    r = relay.call("POST", "/api/v1/accounts", reused)
    assert (r.status, r.code) == (401, "bad_challenge")
    late = relay.register_payload(again)
    clock.advance(61)
    assert relay.call("POST", "/api/v1/accounts", late).code == "bad_challenge"
    unknown = relay.register_payload(again, challenge=secrets.token_bytes(32))
    assert relay.call("POST", "/api/v1/accounts", unknown).code == "bad_challenge"


def test_register_checks_the_first_bundle(relay: RelayClient) -> None:
    acc = Account()
    # signed by a key other than the identity key it names
    forged = build_bundle(
        account_id=acc.account_id, version=1, prev_hash=bytes(32), identity=acc.identity, factors=acc.factors
    )
    body = bytearray(forged)
    body[-2] ^= 1  # flip a signature bit
    acc.chain[0] = bytes(body)
    r = relay.register(acc)
    assert (r.status, r.code) == (400, "bad_bundle")
    # another account's bundle
    acc2, acc3 = Account(), Account()
    acc2.chain[0] = acc3.chain[0]
    assert relay.register(acc2).code == "bad_bundle"
    # not version 1
    acc4 = Account()
    acc4.chain[0] = build_bundle(
        account_id=acc4.account_id, version=2, prev_hash=bytes(32), identity=acc4.identity, factors=acc4.factors
    )
    assert relay.register(acc4).code == "bad_bundle"
    # no recovery factor
    acc5 = Account(factors=[passphrase_entry()])
    assert relay.register(acc5).code == "bad_bundle"
    # garbage
    acc6 = Account()
    acc6.chain[0] = b"\x01garbage"
    assert relay.register(acc6).code == "bad_bundle"


def test_register_refuses_bad_usernames_and_fields(relay: RelayClient) -> None:
    for name in ("", " ", "-dash-first", "with space", "x" * 129, "tab\tname", "ünïcode"):
        payload = relay.register_payload(Account(username=name))
        r = relay.call("POST", "/api/v1/accounts", payload)
        assert r.status == 400 and r.code in ("bad_username", "bad_request"), (name, r)
    payload = relay.register_payload(Account())
    payload["extra"] = 1
    assert relay.call("POST", "/api/v1/accounts", payload).code == "bad_request"
    payload = relay.register_payload(Account())
    payload["account_id"] = b64e(bytes(15))
    assert relay.call("POST", "/api/v1/accounts", payload).code == "bad_request"
    payload = relay.register_payload(Account())
    payload["device"]["name"] = 7
    assert relay.call("POST", "/api/v1/accounts", payload).code == "bad_request"


def test_prelogin_known_user_reads_the_current_bundle(relay: RelayClient) -> None:
    salt = secrets.token_bytes(16)
    acc = Account(factors=[passphrase_entry(salt, Argon2idParams(4, 128 * 1024)), *Account().factors[1:]])
    assert relay.register(acc).status == 201
    r = relay.call("POST", "/api/v1/prelogin", {"username": acc.username.upper()})
    assert r.status == 200
    assert r.json == {
        "account_id": b64e(acc.account_id),
        "kdf": {"salt": b64e(salt), "opslimit": 4, "memlimit_kib": 128 * 1024},
    }


def test_prelogin_unknown_user_gets_a_stable_decoy(relay: RelayClient, account: Account) -> None:
    a = relay.call("POST", "/api/v1/prelogin", {"username": "nobody-here"})
    b = relay.call("POST", "/api/v1/prelogin", {"username": "Nobody-Here"})
    c = relay.call("POST", "/api/v1/prelogin", {"username": "somebody-else"})
    assert a.status == b.status == c.status == 200
    assert a.json == b.json
    assert a.json["account_id"] != c.json["account_id"]
    assert a.json["kdf"]["salt"] != c.json["kdf"]["salt"]
    assert len(b64d(a.json["account_id"])) == 16 and len(b64d(a.json["kdf"]["salt"])) == 16
    assert a.json["kdf"]["opslimit"] == 3 and a.json["kdf"]["memlimit_kib"] == 64 * 1024
    known = relay.call("POST", "/api/v1/prelogin", {"username": account.username}).json
    assert set(known) == set(a.json) and set(known["kdf"]) == set(a.json["kdf"])
    # logging in to a decoy fails like a wrong passphrase
    decoy = Account(account_id=b64d(a.json["account_id"]))
    r = relay.login(decoy, Device())
    assert (r.status, r.code) == (401, "login_failed")


def test_decoys_survive_a_restart(tmp_path, clock) -> None:
    from tests.backend.apps import make_app
    from tests.backend.helpers import flask_transport

    answers = []
    for _ in range(2):
        app = make_app(tmp_path, clock)
        client = RelayClient(flask_transport(app.test_client()))
        answers.append(client.call("POST", "/api/v1/prelogin", {"username": "ghost"}).json)
        app.extensions["vellum_engine"].dispose()
    assert answers[0] == answers[1]


def test_login_registers_a_new_device(relay: RelayClient, account: Account) -> None:
    laptop = Device(name="laptop")
    r = relay.login(account, laptop)
    assert r.status == 200, r
    assert r.json["device_id"] == b64e(laptop.device_id)
    assert r.json["bundle_version"] == 1
    assert relay.signed(account, "GET", "/api/v1/account", device=laptop).status == 200
    # logging in again on the same device renames it
    laptop.name = "work laptop"
    assert relay.login(account, laptop).status == 200
    names = {d["name"] for d in relay.signed(account, "GET", "/api/v1/devices").json["devices"]}
    assert names == {"test device", "work laptop"}


def test_login_failures(relay: RelayClient, account: Account) -> None:
    dev = Device()
    assert relay.login(account, dev, key=new_key()).code == "login_failed"
    # the recovery key does not log in through /login, nor the login key through /recovery-login
    assert relay.login(account, dev, key=account.recovery_key).code == "login_failed"
    assert relay.login(account, dev, action="recovery_login", key=account.login_key).code == "login_failed"
    # the device must co-sign
    payload = relay.login_payload(account, dev)
    payload["device_signature"] = b64e(bytes(64))
    assert relay.call("POST", "/api/v1/login", payload).code == "login_failed"
    # a login for another origin
    other = RelayClient(relay.send, "http://localhost:9999", relay.clock)
    assert relay.call("POST", "/api/v1/login", other.login_payload(account, dev)).code == "login_failed"
    # a challenge is spent by its first use, even a failed one
    challenge = relay.challenge()
    assert relay.login(account, dev, key=new_key(), challenge=challenge).code == "login_failed"
    assert relay.login(account, dev, challenge=challenge).code == "bad_challenge"
    # nothing registered
    devices = relay.signed(account, "GET", "/api/v1/devices").json["devices"]
    assert [d["id"] for d in devices] == [b64e(account.device.device_id)]


def test_login_device_id_conflicts(relay: RelayClient, account: Account) -> None:
    thief = Device(device_id=account.device.device_id)  # same id, other key
    r = relay.login(account, thief)
    assert (r.status, r.code) == (409, "device_exists")


def test_recovery_login(relay: RelayClient, account: Account) -> None:
    dev = Device(name="new phone")
    r = relay.login(account, dev, action="recovery_login")
    assert r.status == 200, r
    assert relay.signed(account, "GET", "/api/v1/devices", device=dev).status == 200


def test_login_too_many_devices(tmp_path, clock) -> None:
    from tests.backend.apps import make_app
    from tests.backend.helpers import flask_transport

    app = make_app(tmp_path, clock, MAX_DEVICES=2)
    relay = RelayClient(flask_transport(app.test_client()), clock=clock)
    acc = Account()
    assert relay.register(acc).status == 201
    assert relay.login(acc, Device()).status == 200
    assert relay.login(acc, Device()).code == "too_many_devices"
    app.extensions["vellum_engine"].dispose()


def test_rate_limits(tmp_path, clock) -> None:
    from tests.backend.apps import make_app
    from tests.backend.helpers import flask_transport

    limits = {
        "challenge": (3, 60),
        "prelogin": (2, 60),
        "login": (2, 60),
        "recovery_login": (1, 60),
        "register": (1, 60),
    }
    app = make_app(tmp_path, clock, RATE_LIMITS_ENABLED=True, RATE_LIMITS=limits)
    relay = RelayClient(flask_transport(app.test_client()), clock=clock)
    for _ in range(2):
        assert relay.call("POST", "/api/v1/prelogin", {"username": "x"}).status == 200
    r = relay.call("POST", "/api/v1/prelogin", {"username": "x"})
    assert (r.status, r.code) == (429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1 and r.json["retry_after"] >= 1
    acc = Account()
    assert relay.register(acc).status == 201
    r = relay.call("POST", "/api/v1/accounts", relay.register_payload(Account()))
    assert r.code == "rate_limited"
    assert relay.call("POST", "/api/v1/auth/challenge").status == 200  # the third of three
    assert relay.call("POST", "/api/v1/auth/challenge").code == "rate_limited"
    clock.advance(60)  # a new window
    assert relay.login(acc, Device()).status == 200
    assert relay.login(acc, Device()).status == 200
    clock.advance(60)
    assert relay.login(acc, Device(), action="recovery_login").status == 200
    assert relay.call("POST", "/api/v1/recovery-login", {"x": 1}).code == "bad_request"  # parsing comes first
    r = relay.call("POST", "/api/v1/recovery-login", relay.login_payload(acc, Device(), action="recovery_login"))
    assert r.code == "rate_limited"
    app.extensions["vellum_engine"].dispose()


def test_challenge_endpoint_refuses_fields(relay: RelayClient) -> None:
    assert relay.call("POST", "/api/v1/auth/challenge", {"purpose": "x"}).code == "bad_request"
    r = relay.call("POST", "/api/v1/auth/challenge", {})
    assert r.status == 200 and len(b64d(r.json["challenge"])) == 32


def test_current_bundle_kdf_follows_passphrase_change(relay: RelayClient, account: Account) -> None:
    new_salt = secrets.token_bytes(16)
    factors = [
        passphrase_entry(new_salt, slot_id=account.passphrase_factor.slot_id),
        *[f for f in account.factors if f.type != bp.FactorType.PASSPHRASE],
    ]
    raw = account.next_bundle(factors=factors)
    new_login = new_key()
    body = dumps({"expected_version": 1, "bundle": b64e(raw), "login_public": b64e(bytes(new_login.verify_key))})
    header = relay.step_up(account, "change_passphrase", body)
    r = relay.signed(account, "POST", "/api/v1/account/passphrase", body=body, step_up=header)
    assert r.status == 200, r
    pre = relay.call("POST", "/api/v1/prelogin", {"username": account.username}).json
    assert pre["kdf"]["salt"] == b64e(new_salt)
    assert relay.login(account, Device()).code == "login_failed"  # the old login key is gone
    assert relay.login(account, Device(), key=new_login).status == 200


# --- the two username rules (pycore/public/limits.py) -----------------------------------------------------------------


def test_register_applies_the_sign_up_rule(relay: RelayClient) -> None:
    """Names the sign-in rule accepts but a new account may not take: too short, too long."""
    for name in ("ab", "a", "x" * (limits.NEW_USERNAME_MAX_LENGTH + 1), "y" * limits.USERNAME_MAX_LENGTH):
        assert limits.normalize_username(name) == name  # an existing account could have it
        r = relay.register(Account(username=name))
        assert (r.status, r.code) == (400, "bad_username"), (name, r)
    for name in ("abc", "Z" * limits.NEW_USERNAME_MAX_LENGTH, "9lives", "ada@example.org"):
        assert relay.register(Account(username=name)).status == 201, name


@pytest.mark.parametrize("old_name", ["ab", "7", "o" * limits.USERNAME_MAX_LENGTH])
def test_an_account_whose_name_fits_only_the_old_rule_still_signs_in(
    app: Any, relay: RelayClient, account: Account, old_name: str
) -> None:
    with app.app_context(), store.write() as conn:  # made before the sign-up rule (or by another client)
        a = store.accounts.c
        conn.execute(update(store.accounts).where(a.account_id == account.account_id).values(username=old_name))
    r = relay.call("POST", "/api/v1/prelogin", {"username": f" {old_name.upper()} "})
    assert r.status == 200, r
    assert r.json["account_id"] == b64e(account.account_id)  # the account itself, not a decoy
    assert relay.login(account, Device(name="phone")).status == 200
    assert relay.login(account, Device(name="tablet"), action="recovery_login").status == 200
    assert relay.signed(account, "GET", "/api/v1/account").json["username"] == old_name
    # A new account cannot take a name outside the sign-up rule, taken or not.
    assert relay.register(Account(username=old_name)).code == "bad_username"


def test_prelogin_refuses_only_names_no_account_can_have(relay: RelayClient) -> None:
    for name in (" ", "-dash-first", "with space", "x" * (limits.USERNAME_MAX_LENGTH + 1), "ünïcode"):
        r = relay.call("POST", "/api/v1/prelogin", {"username": name})
        assert (r.status, r.code) == (400, "bad_username"), (name, r)
    for name in ("q", "q" * limits.USERNAME_MAX_LENGTH):  # outside the sign-up rule: a decoy, like any unknown name
        assert relay.call("POST", "/api/v1/prelogin", {"username": name}).status == 200
