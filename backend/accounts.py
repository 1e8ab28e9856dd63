"""Accounts: challenges, prelogin (with decoys), registration, login and recovery login, and the step-up actions that
replace a login key or delete the account."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import Connection, Insert, delete, func, insert, select, update

from backend import chain, jsonio, store
from backend.auth import caller, origin, rate_limit, require_active_device, require_step_up, signature_ok, signed
from backend.errors import ApiError
from pycore.public import bundle_public as bp
from pycore.public import limits, wire
from pycore.public.codec import b64e
from pycore.public.kdf_params import DEFAULT_PARAMS

bp_accounts = Blueprint("accounts", __name__, url_prefix="/api/v1")

DECOY_ACCOUNT_LABEL = b"vellum/v1/decoy-account-id"
DECOY_SALT_LABEL = b"vellum/v1/decoy-salt"


def username_field(body: dict[str, Any]) -> str:
    """The body's ``username``, normalised (NFKC, trimmed, lower case), or ``bad_username`` if no account can have it:
    the sign-in rule of ``pycore.public.limits``, which every registered name fits."""
    name = limits.normalize_username(jsonio.text(body, "username", max_length=limits.USERNAME_INPUT_MAX_LENGTH))
    if name is None:
        raise ApiError(
            "bad_username",
            400,
            f"A username is 1 to {limits.USERNAME_MAX_LENGTH} letters a-z, digits or . _ @ + -, starting with a letter "
            "or digit.",
        )
    return name


def new_username_field(body: dict[str, Any]) -> str:
    """The ``username`` of a new account: the sign-in rule, then the narrower sign-up rule
    (``limits.is_new_username``)."""
    name = username_field(body)
    if not limits.is_new_username(name):
        raise ApiError(
            "bad_username",
            400,
            f"A new username is {limits.NEW_USERNAME_MIN_LENGTH} to {limits.NEW_USERNAME_MAX_LENGTH} letters a-z, "
            "digits or . _ @ + -, starting with a letter or digit.",
        )
    return name


def parse_device(obj: dict[str, Any]) -> tuple[bytes, bytes, str]:
    jsonio.only(obj, {"id", "signing_public", "name"}, "device")
    return (
        jsonio.b64(obj, "id", size=wire.DEVICE_ID_SIZE),
        jsonio.b64(obj, "signing_public", size=wire.PUBLIC_KEY_SIZE),
        jsonio.text(obj, "name", max_length=current_app.config["DEVICE_NAME_MAX"]),
    )


def spend_auth_challenge(challenge: bytes) -> None:
    with store.write() as conn:
        if not store.spend_challenge(conn, challenge, "auth"):
            raise ApiError("bad_challenge", 401, "The login challenge is unknown, expired or already used.")


def _state(account_row: Any) -> dict[str, Any]:
    return {
        "account_id": b64e(account_row.account_id),
        "bundle_version": account_row.bundle_version,
        "write_epoch": account_row.write_epoch,
        "server_time": store.now(),
    }


# --- unauthenticated --------------------------------------------------------------------------------------------------


@bp_accounts.post("/auth/challenge")
def auth_challenge() -> ResponseReturnValue:
    """A single-use challenge for register, login or recovery login (valid CHALLENGE_TTL seconds)."""
    jsonio.only(jsonio.body_object(optional=True), set())
    rate_limit("challenge")
    with store.write() as conn:
        challenge, expires_at = store.issue_challenge(conn, "auth", current_app.config["CHALLENGE_TTL"])
    store.maybe_purge()
    return jsonify(challenge=b64e(challenge), expires_at=expires_at)


@bp_accounts.post("/prelogin")
def prelogin() -> ResponseReturnValue:
    body = jsonio.body_object()
    jsonio.only(body, {"username"})
    username = username_field(body)
    rate_limit("prelogin")
    a = store.accounts.c
    with store.read() as conn:
        row = conn.execute(
            select(a.account_id, a.kdf_salt, a.kdf_opslimit, a.kdf_memlimit_kib).where(a.username == username)
        ).first()
    if row is not None:
        account_id, salt, opslimit, memlimit_kib = row
    else:
        # Unknown name: a stable decoy, so probing usernames shows the same shape of answer every time.
        secret = store.get_secret(store.DECOY_SECRET)
        name = username.encode("utf-8")
        account_id = hmac.new(secret, DECOY_ACCOUNT_LABEL + b"\0" + name, hashlib.sha256).digest()[:16]
        salt = hmac.new(secret, DECOY_SALT_LABEL + b"\0" + name, hashlib.sha256).digest()[:16]
        opslimit, memlimit_kib = DEFAULT_PARAMS.opslimit, DEFAULT_PARAMS.memlimit_kib
    return jsonify(
        account_id=b64e(account_id),
        kdf={"salt": b64e(salt), "opslimit": opslimit, "memlimit_kib": memlimit_kib},
    )


@bp_accounts.post("/accounts")
def register() -> ResponseReturnValue:
    body = jsonio.body_object()
    jsonio.only(
        body,
        {
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
        },
    )
    username = new_username_field(body)
    account_id = jsonio.b64(body, "account_id", size=wire.ACCOUNT_ID_SIZE)
    login_public = jsonio.b64(body, "login_public", size=wire.PUBLIC_KEY_SIZE)
    recovery_public = jsonio.b64(body, "recovery_login_public", size=wire.PUBLIC_KEY_SIZE)
    device_id, device_public, device_name = parse_device(jsonio.obj_field(body, "device"))
    raw_bundle = jsonio.b64(body, "bundle", max_size=bp.MAX_BUNDLE_SIZE)
    challenge = jsonio.b64(body, "challenge", size=wire.CHALLENGE_SIZE)
    signatures = [
        (jsonio.b64(body, name, size=wire.SIGNATURE_SIZE), key)
        for name, key in (
            ("login_signature", login_public),
            ("recovery_login_signature", recovery_public),
            ("device_signature", device_public),
        )
    ]
    rate_limit("register")
    bundle = chain.parse(raw_bundle)
    chain.verify_first(bundle, account_id)
    spend_auth_challenge(challenge)
    statement = wire.login_statement(origin(), "register", account_id, challenge, device_id, device_public)
    if not all(signature_ok(sig, statement, key) for sig, key in signatures):
        raise ApiError("bad_signature", 401, "A registration signature does not verify.")
    now = store.now()
    a = store.accounts.c
    with store.write() as conn:
        if conn.execute(select(a.account_id).where(a.username == username)).first() is not None:
            raise ApiError("username_taken", 409, "This username is taken. Choose another one.")
        if conn.execute(select(a.account_id).where(a.account_id == account_id)).first() is not None:
            raise ApiError("account_exists", 409, "An account with this id exists already.")
        conn.execute(
            insert(store.accounts).values(
                account_id=account_id,
                username=username,
                login_public=login_public,
                recovery_public=recovery_public,
                change_seq=0,
                created_at=now,
                **chain.account_values(bundle),
            )
        )
        conn.execute(
            insert(store.bundles).values(
                account_id=account_id, version=1, hash=bundle.hash, data=bundle.encoded, created_at=now
            )
        )
        conn.execute(_new_device(account_id, device_id, device_public, device_name, now))
        row = chain.load_account(conn, account_id)
    response = jsonify(device_id=b64e(device_id), **_state(row))
    response.status_code = 201
    return response


def _new_device(account_id: bytes, device_id: bytes, public: bytes, name: str, now: Any) -> Insert:
    return insert(store.devices).values(
        account_id=account_id,
        device_id=device_id,
        signing_public=public,
        name=name,
        added_at=now,
        last_seen_at=now,
        revoked_at=None,
    )


def _login(action: str) -> ResponseReturnValue:
    body = jsonio.body_object()
    jsonio.only(body, {"account_id", "challenge", "device", "signature", "device_signature"})
    account_id = jsonio.b64(body, "account_id", size=wire.ACCOUNT_ID_SIZE)
    challenge = jsonio.b64(body, "challenge", size=wire.CHALLENGE_SIZE)
    device_id, device_public, device_name = parse_device(jsonio.obj_field(body, "device"))
    signature = jsonio.b64(body, "signature", size=wire.SIGNATURE_SIZE)
    device_signature = jsonio.b64(body, "device_signature", size=wire.SIGNATURE_SIZE)
    rate_limit(action)
    spend_auth_challenge(challenge)
    with store.read() as conn:
        account = conn.execute(select(store.accounts).where(store.accounts.c.account_id == account_id)).first()
    failed = ApiError("login_failed", 401, "The passphrase or recovery phrase is not right for this account.")
    if account is None:
        raise failed
    key = account.login_public if action == "login" else account.recovery_public
    statement = wire.login_statement(origin(), action, account_id, challenge, device_id, device_public)
    if not (signature_ok(signature, statement, key) and signature_ok(device_signature, statement, device_public)):
        raise failed
    now = store.now()
    d = store.devices.c
    with store.write() as conn:
        existing = conn.execute(
            select(store.devices).where(d.account_id == account_id, d.device_id == device_id)
        ).first()
        if existing is None:
            active = conn.execute(
                select(func.count())
                .select_from(store.devices)
                .where(d.account_id == account_id, d.revoked_at.is_(None))
            ).scalar_one()
            if active >= current_app.config["MAX_DEVICES"]:
                raise ApiError("too_many_devices", 409, "This account has too many devices. Remove one first.")
            conn.execute(_new_device(account_id, device_id, device_public, device_name, now))
        elif existing.revoked_at is not None:
            raise ApiError("device_revoked", 403, "This device was removed from the account; it needs a new id.")
        elif existing.signing_public != device_public:
            raise ApiError("device_exists", 409, "This device id is registered with another key.")
        else:
            conn.execute(
                update(store.devices)
                .where(d.account_id == account_id, d.device_id == device_id)
                .values(name=device_name, last_seen_at=now)
            )
        row = chain.load_account(conn, account_id)
    return jsonify(device_id=b64e(device_id), **_state(row))


@bp_accounts.post("/login")
def login() -> ResponseReturnValue:
    return _login("login")


@bp_accounts.post("/recovery-login")
def recovery_login() -> ResponseReturnValue:
    return _login("recovery_login")


# --- signed -----------------------------------------------------------------------------------------------------------


@bp_accounts.post("/step-up/challenge")
@signed
def step_up_challenge() -> ResponseReturnValue:
    jsonio.only(jsonio.body_object(optional=True), set())
    c = caller()
    with store.write() as conn:
        challenge, expires_at = store.issue_challenge(
            conn, "step_up", current_app.config["CHALLENGE_TTL"], account_id=c.account_id, device_id=c.device_id
        )
    return jsonify(challenge=b64e(challenge), expires_at=expires_at)


@bp_accounts.get("/account")
@signed
def get_account() -> ResponseReturnValue:
    with store.read() as conn:
        row = chain.load_account(conn, caller().account_id)
    return jsonify(username=row.username, change_seq=row.change_seq, device_id=b64e(caller().device_id), **_state(row))


@bp_accounts.delete("/account")
@signed
def delete_account() -> ResponseReturnValue:
    jsonio.only(jsonio.body_object(optional=True), set())
    c = caller()
    with store.read() as conn:
        account = chain.load_account(conn, c.account_id)
    require_step_up("delete_account", account)
    with store.write() as conn:
        require_active_device(conn)
        _delete_account(conn, c.account_id)
    return jsonify(deleted=True)


def _delete_account(conn: Connection, account_id: bytes) -> None:
    for table in store.ACCOUNT_TABLES:
        conn.execute(delete(table).where(table.c.account_id == account_id))
    conn.execute(delete(store.accounts).where(store.accounts.c.account_id == account_id))


def _replace_key(action: str, via: str, key_field: str, column: str) -> ResponseReturnValue:
    body = jsonio.body_object()
    jsonio.only(body, {"expected_version", "bundle", key_field})
    expected = jsonio.integer(body, "expected_version", low=1)
    raw_bundle = jsonio.b64(body, "bundle", max_size=bp.MAX_BUNDLE_SIZE)
    new_key = jsonio.b64(body, key_field, size=wire.PUBLIC_KEY_SIZE)
    new = chain.parse(raw_bundle)
    c = caller()
    with store.read() as conn:
        account = chain.load_account(conn, c.account_id)
        prev = chain.load_version(conn, c.account_id, account.bundle_version)
    chain.check_successor(account, prev, expected, new, via=via)
    require_step_up(action, account)
    with store.write() as conn:
        require_active_device(conn)
        chain.commit(conn, c.account_id, expected, new, **{column: new_key})
    return jsonify(chain.bundle_answer(new))


@bp_accounts.post("/account/passphrase")
@signed
def change_passphrase() -> ResponseReturnValue:
    return _replace_key("change_passphrase", chain.CHANGE_PASSPHRASE, "login_public", "login_public")


@bp_accounts.post("/account/recovery-kit")
@signed
def new_recovery_kit() -> ResponseReturnValue:
    return _replace_key("new_recovery_kit", chain.NEW_RECOVERY_KIT, "recovery_login_public", "recovery_public")
