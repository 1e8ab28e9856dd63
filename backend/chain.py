"""The account bundle chain as the relay keeps it: parse, check each successor, and compare-and-swap it in.

Checks use ``pycore.bundle_public`` (decrypt-free) with the relay's own PyNaCl verifier. The relay pins the identity key
of version 1 and accepts version N+1 only if it names version N's hash, is signed by its identity key (and by the
previous one when the identity changes), and was built on the version the client expected (``stale_bundle`` if not).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Row

from backend import store
from backend.auth import verify_signature
from backend.errors import ApiError
from pycore.errors import VellumError
from pycore.public import bundle_public as bp
from pycore.public.codec import b64e

# Which endpoint a bundle version arrives through; some factors may only change through their own endpoint.
UPDATE = "update_factors"
CHANGE_PASSPHRASE = "change_passphrase"  # noqa: S105 (an action name)
NEW_RECOVERY_KIT = "new_recovery_kit"
REVOKE_DEVICE = "revoke_device"


def bad_bundle(detail: str, status: int = 400) -> ApiError:
    return ApiError("bad_bundle", status, detail)


def parse(raw: bytes) -> bp.PublicBundle:
    try:
        return bp.parse_bundle(raw)
    except VellumError as exc:
        raise bad_bundle(f"The account bundle is invalid: {exc.message}") from None


def verify_first(bundle: bp.PublicBundle, account_id: bytes) -> None:
    if bundle.account_id != account_id:
        raise bad_bundle("The account bundle belongs to another account.")
    try:
        bp.verify_first(bundle, verify_signature)
    except VellumError as exc:
        raise bad_bundle(f"The account bundle is invalid: {exc.message}") from None
    if len(bundle.factors_of(bp.FactorType.RECOVERY)) != 1:
        raise bad_bundle("The first account bundle must hold the recovery factor.")


def account_values(bundle: bp.PublicBundle) -> dict[str, Any]:
    """The columns of ``accounts`` that mirror the current bundle."""
    meta = bundle.passphrase.meta
    assert isinstance(meta, bp.PassphraseMeta)
    return {
        "bundle_version": bundle.version,
        "write_epoch": bundle.header.write_epoch,
        "kdf_salt": meta.salt,
        "kdf_opslimit": meta.params.opslimit,
        "kdf_memlimit_kib": meta.params.memlimit_kib,
    }


def load_account(conn: Connection, account_id: bytes) -> Row[Any]:
    row = conn.execute(select(store.accounts).where(store.accounts.c.account_id == account_id)).first()
    if row is None:
        # Only reachable in a race with account deletion: the device was valid a moment ago.
        raise ApiError("unknown_device", 401, "This account no longer exists.")
    return row


def load_version(conn: Connection, account_id: bytes, version: int) -> bp.PublicBundle:
    b = store.bundles.c
    data = conn.execute(select(b.data).where(b.account_id == account_id, b.version == version)).scalar_one()
    return bp.parse_bundle(bytes(data))


def _public(entries: list[bp.FactorEntry]) -> list[tuple[bytes, bytes, Any]]:
    return sorted((f.slot_id, f.box_public, f.meta) for f in entries)


def check_successor(
    account: Row[Any], prev: bp.PublicBundle, expected_version: int, new: bp.PublicBundle, *, via: str
) -> bp.FactorDiff:
    """Everything short of the compare-and-swap itself; returns the factor diff (for the step-up decision)."""
    if expected_version != account.bundle_version:
        raise ApiError(
            "stale_bundle",
            409,
            "Another device changed the account keys first.",
            current_version=account.bundle_version,
        )
    if new.version != prev.version + 1:
        raise bad_bundle(f"Expected bundle version {prev.version + 1}.", 409)
    if new.header.prev_hash != prev.hash:
        raise bad_bundle("The bundle does not extend the current version.", 409)
    try:
        bp.verify_successor(prev, new, verify_signature, account_id=account.account_id)
    except VellumError as exc:
        raise bad_bundle(f"The account bundle is invalid: {exc.message}") from None
    if via != CHANGE_PASSPHRASE and _public(prev.factors_of(bp.FactorType.PASSPHRASE)) != _public(
        new.factors_of(bp.FactorType.PASSPHRASE)
    ):
        # The login key is derived from the passphrase factor: both change together, in one request.
        raise bad_bundle("The passphrase factor can only change together with the login key (change passphrase).")
    new_recovery = new.factors_of(bp.FactorType.RECOVERY)
    if via == NEW_RECOVERY_KIT:
        if len(new_recovery) != 1:
            raise bad_bundle("A new recovery kit needs exactly one recovery factor.")
    elif _public(prev.factors_of(bp.FactorType.RECOVERY)) != _public(new_recovery):
        raise bad_bundle("The recovery factor can only change with a new recovery kit.")
    return bp.factor_changes(prev, new)


def commit(conn: Connection, account_id: bytes, expected_version: int, new: bp.PublicBundle, **extra: Any) -> None:
    """Compare-and-swap: one conditional UPDATE on the expected version, then keep the new version."""
    a = store.accounts.c
    result = conn.execute(
        update(store.accounts)
        .where(a.account_id == account_id, a.bundle_version == expected_version)
        .values(**account_values(new), **extra)
    )
    if result.rowcount != 1:
        current = conn.execute(select(a.bundle_version).where(a.account_id == account_id)).scalar()
        raise ApiError(
            "stale_bundle", 409, "Another device changed the account keys first.", current_version=current or 0
        )
    conn.execute(
        insert(store.bundles).values(
            account_id=account_id, version=new.version, hash=new.hash, data=new.encoded, created_at=store.now()
        )
    )


def bundle_answer(new: bp.PublicBundle) -> dict[str, Any]:
    return {"version": new.version, "write_epoch": new.header.write_epoch, "hash": b64e(new.hash)}
