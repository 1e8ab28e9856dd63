"""The account bundle: the chain since a version, and compare-and-swap updates (step-up when factors change)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from backend import chain, jsonio, store
from backend.auth import caller, require_active_device, require_step_up, signed
from pycore.public import bundle_public as bp
from pycore.public.codec import b64e

bp_bundle = Blueprint("bundle", __name__, url_prefix="/api/v1")


@bp_bundle.get("/bundle")
@signed
def get_chain() -> ResponseReturnValue:
    """Every version after ``since`` (oldest first, at most ``limit``); ``since=0`` gives the whole chain."""
    since = jsonio.query_int("since", default=0)
    limit = min(
        jsonio.query_int("limit", default=current_app.config["BUNDLE_CHAIN_MAX"], low=1),
        current_app.config["BUNDLE_CHAIN_MAX"],
    )
    b = store.bundles.c
    account_id = caller().account_id
    with store.read() as conn:
        account = chain.load_account(conn, account_id)
        rows = conn.execute(
            select(b.data).where(b.account_id == account_id, b.version > since).order_by(b.version).limit(limit)
        ).all()
    last = since + len(rows)
    return jsonify(
        current_version=account.bundle_version,
        write_epoch=account.write_epoch,
        bundles=[b64e(bytes(r.data)) for r in rows],
        more=last < account.bundle_version,
    )


@bp_bundle.put("/bundle")
@signed
def put_bundle() -> ResponseReturnValue:
    """Compare-and-swap on ``expected_version``. A version that changes a slot, the factor list or the identity key
    needs step-up (action ``update_factors``)."""
    body = jsonio.body_object()
    jsonio.only(body, {"expected_version", "bundle"})
    expected = jsonio.integer(body, "expected_version", low=1)
    new = chain.parse(jsonio.b64(body, "bundle", max_size=bp.MAX_BUNDLE_SIZE))
    account_id = caller().account_id
    with store.read() as conn:
        account = chain.load_account(conn, account_id)
        prev = chain.load_version(conn, account_id, account.bundle_version)
    diff = chain.check_successor(account, prev, expected, new, via=chain.UPDATE)
    if diff.requires_step_up:
        require_step_up("update_factors", account)
    with store.write() as conn:
        require_active_device(conn)
        chain.commit(conn, account_id, expected, new)
    return jsonify(chain.bundle_answer(new))
