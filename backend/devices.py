"""Devices: list, rename (own device), and revoke — a device may always revoke itself; revoking another one needs
step-up and a new bundle version (new epoch and identity key) written in the same transaction."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import Connection, select, update
from sqlalchemy.engine import Row

from backend import chain, jsonio, store
from backend.auth import caller, require_active_device, require_step_up, signed
from backend.errors import ApiError, bad_request
from pycore.public import bundle_public as bp
from pycore.public import wire
from pycore.public.codec import b64e

bp_devices = Blueprint("devices", __name__, url_prefix="/api/v1")


def _device_id(text: str) -> bytes:
    try:
        return jsonio.b64({"id": text}, "id", size=wire.DEVICE_ID_SIZE)
    except ApiError:
        raise ApiError("not_found", 404, "There is no such device.") from None


def _describe(row: Row[Any], me: bytes) -> dict[str, Any]:
    return {
        "id": b64e(row.device_id),
        "name": row.name,
        "signing_public": b64e(row.signing_public),
        "added_at": row.added_at,
        "last_seen_at": row.last_seen_at,
        "revoked_at": row.revoked_at,
        "current": row.device_id == me,
    }


def _load_device(conn: Connection, account_id: bytes, device_id: bytes) -> Row[Any]:
    d = store.devices.c
    row = conn.execute(select(store.devices).where(d.account_id == account_id, d.device_id == device_id)).first()
    if row is None:
        raise ApiError("not_found", 404, "There is no such device.")
    return row


@bp_devices.get("/devices")
@signed
def list_devices() -> ResponseReturnValue:
    c = caller()
    d = store.devices.c
    with store.read() as conn:
        rows = conn.execute(select(store.devices).where(d.account_id == c.account_id).order_by(d.added_at)).all()
    return jsonify(devices=[_describe(row, c.device_id) for row in rows])


@bp_devices.patch("/devices/<device_id>")
@signed
def rename_device(device_id: str) -> ResponseReturnValue:
    target = _device_id(device_id)
    body = jsonio.body_object()
    jsonio.only(body, {"name"})
    name = jsonio.text(body, "name", max_length=current_app.config["DEVICE_NAME_MAX"])
    c = caller()
    if target != c.device_id:
        raise ApiError("forbidden", 403, "A device can only rename itself.")
    d = store.devices.c
    with store.write() as conn:
        require_active_device(conn)
        conn.execute(update(store.devices).where(d.account_id == c.account_id, d.device_id == target).values(name=name))
        row = _load_device(conn, c.account_id, target)
    return jsonify(_describe(row, c.device_id))


@bp_devices.post("/devices/<device_id>/revoke")
@signed
def revoke_device(device_id: str) -> ResponseReturnValue:
    target = _device_id(device_id)
    body = jsonio.body_object(optional=True)
    jsonio.only(body, {"expected_version", "bundle"})
    c = caller()
    itself = target == c.device_id
    new = None
    if "bundle" in body:
        expected = jsonio.integer(body, "expected_version", low=1)
        new = chain.parse(jsonio.b64(body, "bundle", max_size=bp.MAX_BUNDLE_SIZE))
    elif "expected_version" in body:
        raise bad_request("'expected_version' goes with 'bundle'.")
    elif not itself:
        raise bad_request("Revoking another device needs a new bundle version (new epoch and identity key).")
    with store.read() as conn:
        account = chain.load_account(conn, c.account_id)
        device = _load_device(conn, c.account_id, target)
        prev = chain.load_version(conn, c.account_id, account.bundle_version) if new else None
    needs_step_up = not itself
    # Staleness first: two devices revoking the same device must see stale_bundle (and re-plan on the winner's
    # version), not already_revoked.
    if new is not None and prev is not None:
        diff = chain.check_successor(account, prev, expected, new, via=chain.REVOKE_DEVICE)
        if new.device_factor(target) is not None:
            raise chain.bad_bundle("The new bundle still holds the revoked device's factor.")
        if not itself and (new.header.write_epoch <= prev.header.write_epoch or not diff.identity_changed):
            raise chain.bad_bundle("Revoking another device must start a new epoch and a new identity key.")
        needs_step_up = needs_step_up or diff.requires_step_up
    if device.revoked_at is not None:
        raise ApiError("already_revoked", 409, "This device was already removed.")
    if needs_step_up:
        require_step_up("revoke_device", account)
    d = store.devices.c
    with store.write() as conn:
        require_active_device(conn)
        if new is not None:
            chain.commit(conn, c.account_id, expected, new)
        done = conn.execute(
            update(store.devices)
            .where(d.account_id == c.account_id, d.device_id == target, d.revoked_at.is_(None))
            .values(revoked_at=store.now())
        )
        if done.rowcount != 1:
            raise ApiError("already_revoked", 409, "This device was already removed.")
    answer: dict[str, Any] = {"revoked": b64e(target)}
    if new is not None:
        answer["bundle"] = chain.bundle_answer(new)
    return jsonify(answer)
