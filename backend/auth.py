"""Who is calling: Ed25519 checks (PyNaCl), signed requests, and step-up proofs.

A signed request carries ``Vellum-Account``, ``-Device``, ``-Timestamp``, ``-Nonce`` and ``-Signature``: the device's
signature over ``pycore.wire.request_bytes`` (origin, method, raw path, query, account, device, time, nonce, SHA-256 of
the body). No tokens, no cookies: every call stands on its own. Step-up adds ``Vellum-Step-Up`` — a signature by the
login (or recovery login) key over ``wire.step_up_statement`` with a single-use challenge and the exact body.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import nacl.exceptions
import nacl.signing
from flask import Flask, current_app, g, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Connection, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError

from backend import store
from backend.errors import ApiError, StepUpError, busy, error_response
from backend.jsonio import raw_body
from pycore.errors import FormatError
from pycore.public import wire
from pycore.public.codec import b64d, b64e

F = TypeVar("F", bound=Callable[..., Any])

STEP_UP_KINDS = ("login", "recovery")
_TIMESTAMP = re.compile(r"[0-9]{1,19}")


def verify_signature(signature: bytes, message: bytes, public_key: bytes) -> None:
    """Ed25519 verify with PyNaCl; raises on any failure (the shape ``bundle_public`` expects)."""
    nacl.signing.VerifyKey(public_key).verify(message, signature)


def signature_ok(signature: bytes, message: bytes, public_key: bytes) -> bool:
    try:
        verify_signature(signature, message, public_key)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


def origin() -> str:
    value: str = current_app.config["PUBLIC_ORIGIN"]
    return value


# --- signed requests --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    account_id: bytes
    device_id: bytes
    device: Row[Any]


def caller() -> Caller:
    value: Caller = g.caller
    return value


def raw_path() -> str:
    """The path exactly as the client sent it (percent-encoding kept), which is what it signed."""
    env = request.environ
    raw = env.get("RAW_URI") or env.get("REQUEST_URI")
    if raw:
        if not raw.startswith("/"):
            raw = urlsplit(raw).path or "/"  # absolute-form request target
        path = raw.split("?", 1)[0]
        try:
            # WSGI strings carry raw bytes as latin-1; the signed form is their UTF-8 text.
            return path.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            raise ApiError("bad_request", 400, "The request path is not valid UTF-8.") from None
    return quote(env.get("SCRIPT_NAME", "") + env.get("PATH_INFO", ""), safe="/:@!$&'()*+,;=-._~")


def _header_b64(name: str, size: int) -> bytes:
    value = request.headers.get(name)
    if value is None:
        raise ApiError("unauthenticated", 401, "This call needs a signed request.")
    try:
        return b64d(value, size=size)
    except FormatError:
        raise ApiError("unauthenticated", 401, f"The {name} header is malformed.") from None


def authenticate() -> Caller:
    account_id = _header_b64(wire.HEADER_ACCOUNT, wire.ACCOUNT_ID_SIZE)
    device_id = _header_b64(wire.HEADER_DEVICE, wire.DEVICE_ID_SIZE)
    nonce = _header_b64(wire.HEADER_NONCE, wire.NONCE_SIZE)
    signature = _header_b64(wire.HEADER_SIGNATURE, wire.SIGNATURE_SIZE)
    stamp = request.headers.get(wire.HEADER_TIMESTAMP)
    if stamp is None or not _TIMESTAMP.fullmatch(stamp) or int(stamp) >= 2**63:
        raise ApiError("unauthenticated", 401, "The request timestamp is missing or malformed.")
    timestamp = int(stamp)
    now = store.now()
    if abs(now - timestamp) > wire.MAX_CLOCK_SKEW_SECONDS:
        raise ApiError(
            "clock_skew",
            401,
            "This device's clock is too far from the relay's. Retry with the server time.",
            server_time=now,
        )
    d = store.devices.c
    with store.read() as conn:
        device = conn.execute(select(store.devices).where(d.account_id == account_id, d.device_id == device_id)).first()
        seen = device is not None and store.nonce_seen(conn, account_id, device_id, nonce)
    if device is None:
        raise ApiError("unknown_device", 401, "This device is not registered with this account. Log in again.")
    if device.revoked_at is not None:
        raise ApiError("device_revoked", 403, "This device was removed from the account.")
    message = wire.request_bytes(
        origin(),
        request.method,
        raw_path(),
        request.environ.get("QUERY_STRING", ""),
        account_id,
        device_id,
        timestamp,
        nonce,
        hashlib.sha256(raw_body()).digest(),
    )
    if not signature_ok(signature, message, device.signing_public):
        raise ApiError("bad_signature", 401, "The request signature does not verify.")
    if seen:
        raise _replayed()
    store.maybe_purge()
    # Keep the nonce for as long as its timestamp could still be accepted. It is written in the request's own write
    # transaction (see ``signed``): a replay racing its original loses on the nonce's primary key there, and nothing
    # of it is applied.
    expires_at = max(now, timestamp) + wire.MAX_CLOCK_SKEW_SECONDS + 60
    touch = now - device.last_seen_at >= current_app.config["LAST_SEEN_GRANULARITY"]

    def keep_nonce(conn: Connection) -> None:
        if not store.record_nonce(conn, account_id, device_id, nonce, expires_at):
            store.drop_deferred()  # the copy that won keeps it
            raise _replayed()
        if touch:
            conn.execute(
                update(store.devices)
                .where(d.account_id == account_id, d.device_id == device_id)
                .values(last_seen_at=now)
            )

    store.defer_write(keep_nonce)
    return Caller(account_id, device_id, device)


def _replayed() -> ApiError:
    return ApiError("replayed_nonce", 401, "This request was already received once.")


def signed(view: F) -> F:
    """Decorator: the view runs only for a valid, fresh, never-seen signed request from an active device."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.caller = authenticate()
        try:
            return view(*args, **kwargs)
        finally:
            # The nonce rides in the view's first write transaction; if the view wrote nothing, or failed and rolled
            # back, it is kept here on its own (a replay found now answers replayed_nonce instead of the view).
            store.flush_deferred()

    return wrapper  # type: ignore[return-value]


def require_active_device(conn: Connection) -> None:
    """Inside a write transaction: refuse if the caller was revoked since its request was authenticated."""
    c = caller()
    d = store.devices.c
    revoked = conn.execute(select(d.revoked_at).where(d.account_id == c.account_id, d.device_id == c.device_id)).first()
    if revoked is None:
        raise ApiError("unknown_device", 401, "This device is not registered with this account. Log in again.")
    if revoked.revoked_at is not None:
        raise ApiError("device_revoked", 403, "This device was removed from the account.")


# --- step-up ----------------------------------------------------------------------------------------------------------


def register_step_up_handler(app: Flask) -> None:
    """A refused or missing step-up answers with a fresh challenge to sign (``StepUpError`` is more specific than
    ``ApiError``, so Flask picks this handler for it)."""

    @app.errorhandler(StepUpError)
    def _step_up_error(err: StepUpError) -> ResponseReturnValue:
        try:
            challenge, expires_at = issue_step_up_challenge(err.account_id, err.device_id)
        except DBAPIError:
            return busy()
        err.extra.update(challenge=challenge, expires_at=expires_at, kinds=["login", "recovery"])
        return error_response(err)


def issue_step_up_challenge(account_id: bytes, device_id: bytes) -> tuple[str, int]:
    with store.write() as conn:
        challenge, expires_at = store.issue_challenge(
            conn, "step_up", current_app.config["CHALLENGE_TTL"], account_id=account_id, device_id=device_id
        )
    return b64e(challenge), expires_at


def require_step_up(action: str, account: Row[Any]) -> str:
    """Check ``Vellum-Step-Up`` for ``action``; returns the key kind used. Spends the challenge on first use."""
    assert action in wire.STEP_UP_ACTIONS
    c = caller()

    def fail(code: str, detail: str) -> StepUpError:
        return StepUpError(code, detail, action=action, account_id=c.account_id, device_id=c.device_id)

    header = request.headers.get(wire.HEADER_STEP_UP)
    if not header:
        raise fail("step_up_required", "Confirm with your passphrase or recovery phrase to do this.")
    parts = header.split(".")
    if len(parts) != 3 or parts[0] not in STEP_UP_KINDS:
        raise fail("step_up_failed", "The step-up proof is malformed.")
    try:
        challenge = b64d(parts[1], size=wire.CHALLENGE_SIZE)
        signature = b64d(parts[2], size=wire.SIGNATURE_SIZE)
    except FormatError:
        raise fail("step_up_failed", "The step-up proof is malformed.") from None
    with store.write() as conn:
        spent = store.spend_challenge(conn, challenge, "step_up", account_id=c.account_id, device_id=c.device_id)
    if not spent:
        raise fail("step_up_failed", "The step-up challenge is unknown, expired or already used.")
    public_key = account.login_public if parts[0] == "login" else account.recovery_public
    statement = wire.step_up_statement(origin(), action, c.account_id, c.device_id, challenge, raw_body())
    if not signature_ok(signature, statement, public_key):
        raise fail("step_up_failed", "The step-up signature does not verify.")
    return parts[0]


# --- rate limits ------------------------------------------------------------------------------------------------------


def rate_limit(name: str) -> None:
    """429 ``rate_limited`` when this client address went over the named limit in the current window."""
    if not current_app.config["RATE_LIMITS_ENABLED"]:
        return
    limit, window = current_app.config["RATE_LIMITS"][name]
    address = (request.remote_addr or "unknown").encode("utf-8", "replace")
    # Addresses are kept keyed (not in clear) and only for one window.
    key = hmac.new(store.get_secret(store.DECOY_SECRET), b"rate/" + address, hashlib.sha256).hexdigest()[:32]
    with store.write() as conn:
        wait = store.hit_rate_limit(conn, f"{name}:{key}", limit, window)
    if wait is not None:
        err = ApiError("rate_limited", 429, "Too many attempts. Wait a little and try again.", retry_after=wait)
        err.headers["Retry-After"] = str(wait)
        raise err
