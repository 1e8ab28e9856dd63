"""Records: batch push with per-record compare-and-swap on the revision, key-only re-wraps, the change feed, and the
list of records still wrapped under an older epoch (rotation progress).

The relay sees ids, revisions, epochs and opaque bytes only. Every write takes the next per-account sequence number,
so the change feed is a simple ``seq > cursor`` scan.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.engine import Row

from backend import jsonio, store
from backend.auth import caller, require_active_device, signed
from backend.errors import ApiError, bad_request
from pycore.public import limits
from pycore.public.codec import b64e

bp_records = Blueprint("records", __name__, url_prefix="/api/v1")

RECORD_ID_SIZE = limits.RECORD_ID_SIZE
MAX_EPOCH = 2**32 - 1  # the bundle stores the write epoch as u32


@dataclass(frozen=True)
class Write:
    record_id: bytes
    base_revision: int
    epoch: int
    wrapped_key: bytes
    content: bytes


@dataclass(frozen=True)
class KeyUpdate:
    record_id: bytes
    revision: int
    epoch: int
    wrapped_key: bytes


def _item(value: Any, index: int, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"Item {index} must be an object.")
    jsonio.only(value, allowed, f"item {index}")
    return value


def _wrapped_key(item: dict[str, Any]) -> bytes:
    return jsonio.b64(item, "wrapped_key", max_size=current_app.config["WRAPPED_KEY_MAX_SIZE"], min_size=1)


def _stale_epoch(account: Row[Any]) -> ApiError:
    return ApiError(
        "stale_epoch",
        409,
        "The account keys changed: fetch the bundle and seal again.",
        bundle_version=account.bundle_version,
        write_epoch=account.write_epoch,
    )


def _change(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": b64e(row.record_id),
        "revision": row.revision,
        "epoch": row.key_epoch,
        "wrapped_key": b64e(bytes(row.wrapped_key)),
        "content": b64e(bytes(row.content)),
        "seq": row.seq,
    }


# Feed pages are written by hand: up to 1000 changes of mostly base64 text, which the general JSON encoder (and one
# dict per change) would spend more time on than the query. Base64url and integers need no escaping; the bytes are
# those ``jsonify`` writes for ``_change`` (keys sorted, compact separators, a final newline).
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_CHANGE_JSON = b'{"content":"%s","epoch":%d,"id":"%s","revision":%d,"seq":%d,"wrapped_key":"%s"}'


def _b64(data: bytes) -> bytes:
    """``b64e`` as ASCII bytes."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _changes_json(rows: list[Any]) -> bytes:
    """A JSON list of ``_change`` objects; ``rows`` hold ``_feed_columns()`` in that order."""
    b64 = _b64
    return b"[%s]" % b",".join(
        [
            _CHANGE_JSON % (b64(content), epoch, b64(record_id), revision, seq, b64(wrapped_key))
            for record_id, revision, epoch, wrapped_key, content, seq in rows
        ]
    )


def _json_response(body: bytes) -> Response:
    response: Response = current_app.response_class(body + b"\n", mimetype="application/json")
    return response


def _true(value: bool) -> bytes:
    return b"true" if value else b"false"


def _lock_account(conn: Connection, account_id: bytes) -> Row[Any]:
    a = store.accounts.c
    row = conn.execute(select(store.accounts).where(a.account_id == account_id).with_for_update()).first()
    if row is None:
        raise ApiError("unknown_device", 401, "This account no longer exists.")
    return row


@bp_records.post("/records")
@signed
def push() -> ResponseReturnValue:
    body = jsonio.body_object()
    jsonio.only(body, {"records"})
    cfg = current_app.config
    items = jsonio.list_field(body, "records", max_items=cfg["BATCH_MAX_RECORDS"])
    writes = []
    for i, raw in enumerate(items):
        item = _item(raw, i, {"id", "base_revision", "epoch", "wrapped_key", "content"})
        writes.append(
            Write(
                record_id=jsonio.b64(item, "id", size=RECORD_ID_SIZE),
                base_revision=jsonio.integer(item, "base_revision"),
                epoch=jsonio.integer(item, "epoch", high=MAX_EPOCH),
                wrapped_key=_wrapped_key(item),
                content=jsonio.b64(item, "content", max_size=cfg["RECORD_MAX_SIZE"], min_size=1),
            )
        )
    account_id = caller().account_id
    now = store.now()
    r = store.records.c
    results: list[dict[str, Any]] = []
    with store.write() as conn:
        require_active_device(conn)
        account = _lock_account(conn, account_id)
        if any(w.epoch != account.write_epoch for w in writes):
            raise _stale_epoch(account)
        # One read of the current revisions for the whole batch (under the write lock, so nothing moves under us),
        # then the batch is played in order in memory: a record may be written more than once in one batch.
        ids = list(dict.fromkeys(w.record_id for w in writes))
        before: dict[bytes, int] = (
            {
                row.record_id: row.revision
                for row in conn.execute(
                    select(r.record_id, r.revision).where(r.account_id == account_id, r.record_id.in_(ids))
                )
            }
            if ids
            else {}
        )
        revisions = dict(before)
        final: dict[bytes, dict[str, Any]] = {}  # record id -> the row's values after the batch
        new_keys: list[dict[str, Any]] = []
        seq = account.change_seq
        for w in writes:
            current_revision = revisions.get(w.record_id, 0)
            if w.base_revision != current_revision:
                results.append({"id": b64e(w.record_id), "status": "conflict", "revision": current_revision})
                continue
            seq += 1
            revision = current_revision + 1
            revisions[w.record_id] = revision
            final[w.record_id] = {
                "revision": revision,
                "content": w.content,
                "key_epoch": w.epoch,
                "wrapped_key": w.wrapped_key,
                "seq": seq,
                "updated_at": now,
            }
            new_keys.append(
                {
                    "account_id": account_id,
                    "record_id": w.record_id,
                    "revision": revision,
                    "epoch": w.epoch,
                    "wrapped_key": w.wrapped_key,
                    "created_at": now,
                }
            )
            results.append({"id": b64e(w.record_id), "status": "stored", "revision": revision, "seq": seq})
        inserts = [
            {"account_id": account_id, "record_id": rid, **values} for rid, values in final.items() if rid not in before
        ]
        updates = [
            {"k_account": account_id, "k_record": rid, "k_revision": before[rid], **values}
            for rid, values in final.items()
            if rid in before
        ]
        if inserts:
            conn.execute(insert(store.records), inserts)
        if updates:
            _update_records(conn, updates)
        if new_keys:
            conn.execute(insert(store.wrapped_keys), new_keys)
        if seq != account.change_seq:
            conn.execute(update(store.accounts).where(store.accounts.c.account_id == account_id).values(change_seq=seq))
    return jsonify(results=results)


_UPDATE_RECORD = update(store.records).where(
    store.records.c.account_id == bindparam("k_account"),
    store.records.c.record_id == bindparam("k_record"),
    store.records.c.revision == bindparam("k_revision"),
)


def _update_records(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """One executemany of record updates, each a compare-and-swap on the revision read in this transaction
    (``k_revision``): every row must match, else the transaction is refused and nothing of the batch is kept."""
    if conn.dialect.supports_sane_multi_rowcount:
        changed = conn.execute(_UPDATE_RECORD, rows).rowcount
    else:
        changed = sum(conn.execute(_UPDATE_RECORD, row).rowcount for row in rows)
    if changed != len(rows):  # cannot happen under the write lock; refuse rather than guess
        raise ApiError("server_busy", 503, "The relay could not apply this change now. Try again.")


@bp_records.post("/records/keys")
@signed
def push_keys() -> ResponseReturnValue:
    """Key-only updates: a re-wrap of the current revision's record key under the write epoch, never overwriting."""
    body = jsonio.body_object()
    jsonio.only(body, {"keys"})
    items = jsonio.list_field(body, "keys", max_items=current_app.config["BATCH_MAX_RECORDS"])
    updates = []
    for i, raw in enumerate(items):
        item = _item(raw, i, {"id", "revision", "epoch", "wrapped_key"})
        updates.append(
            KeyUpdate(
                record_id=jsonio.b64(item, "id", size=RECORD_ID_SIZE),
                revision=jsonio.integer(item, "revision", low=1),
                epoch=jsonio.integer(item, "epoch", high=MAX_EPOCH),
                wrapped_key=_wrapped_key(item),
            )
        )
    account_id = caller().account_id
    now = store.now()
    r = store.records.c
    k = store.wrapped_keys.c
    results: list[dict[str, Any]] = []
    with store.write() as conn:
        require_active_device(conn)
        account = _lock_account(conn, account_id)
        epoch = account.write_epoch
        ids = list(dict.fromkeys(u.record_id for u in updates))
        # The whole batch's current revisions and the keys already kept under the write epoch, in two reads.
        current: dict[bytes, tuple[int, int]] = {}
        kept: dict[tuple[bytes, int], bytes] = {}
        if ids:
            for row in conn.execute(
                select(r.record_id, r.revision, r.key_epoch).where(r.account_id == account_id, r.record_id.in_(ids))
            ):
                current[row.record_id] = (row.revision, row.key_epoch)
            for row in conn.execute(
                select(k.record_id, k.revision, k.wrapped_key).where(
                    k.account_id == account_id, k.record_id.in_(ids), k.epoch == epoch
                )
            ):
                kept[(row.record_id, row.revision)] = bytes(row.wrapped_key)
        seq = account.change_seq
        new_keys: list[dict[str, Any]] = []
        record_updates: list[dict[str, Any]] = []
        for u in updates:
            revision, key_epoch = current.get(u.record_id, (0, None))
            superseded = {"id": b64e(u.record_id), "status": "superseded", "revision": revision, "epoch": key_epoch}
            if revision == 0 or revision != u.revision or u.epoch != epoch:
                results.append(superseded)
                continue
            have = kept.get((u.record_id, u.revision))
            if have is not None:
                # Never overwritten; an exact repeat (a retried request) is answered as stored.
                if have == u.wrapped_key:
                    results.append({"id": b64e(u.record_id), "status": "stored", "revision": u.revision})
                else:
                    results.append(superseded)
                continue
            seq += 1
            kept[(u.record_id, u.revision)] = u.wrapped_key
            current[u.record_id] = (revision, u.epoch)
            new_keys.append(
                {
                    "account_id": account_id,
                    "record_id": u.record_id,
                    "revision": u.revision,
                    "epoch": u.epoch,
                    "wrapped_key": u.wrapped_key,
                    "created_at": now,
                }
            )
            record_updates.append(
                {
                    "k_account": account_id,
                    "k_record": u.record_id,
                    "k_revision": u.revision,
                    "key_epoch": u.epoch,
                    "wrapped_key": u.wrapped_key,
                    "seq": seq,
                    "updated_at": now,
                }
            )
            results.append({"id": b64e(u.record_id), "status": "stored", "revision": u.revision, "seq": seq})
        if new_keys:
            conn.execute(insert(store.wrapped_keys), new_keys)
            _update_records(conn, record_updates)
        if seq != account.change_seq:
            conn.execute(update(store.accounts).where(store.accounts.c.account_id == account_id).values(change_seq=seq))
    return jsonify(results=results)


def _page(rows: list[Row[Any]], limit: int) -> tuple[list[Row[Any]], bool]:
    """At most ``limit`` rows and no more content than FEED_MAX_BYTES (but always one); ``more`` if any were left."""
    budget = current_app.config["FEED_MAX_BYTES"]
    out: list[Row[Any]] = []
    used = 0
    for row in rows[:limit]:
        size = len(row.content) + len(row.wrapped_key)
        if out and used + size > budget:
            return out, True
        out.append(row)
        used += size
    return out, len(rows) > limit


def _feed_columns() -> tuple[Any, ...]:
    r = store.records.c
    return (r.record_id, r.revision, r.key_epoch, r.wrapped_key, r.content, r.seq)


def _limit() -> int:
    cfg = current_app.config
    limit: int = min(jsonio.query_int("limit", default=cfg["FEED_DEFAULT_LIMIT"], low=1), cfg["FEED_MAX_LIMIT"])
    return limit


@bp_records.get("/changes")
@signed
def changes() -> ResponseReturnValue:
    since = jsonio.query_int("since", default=0)
    limit = _limit()
    r = store.records.c
    account_id = caller().account_id
    with store.read() as conn:
        rows = conn.execute(
            select(*_feed_columns()).where(r.account_id == account_id, r.seq > since).order_by(r.seq).limit(limit + 1)
        ).all()
    page, more = _page(list(rows), limit)
    cursor = page[-1].seq if page else since
    return _json_response(b'{"changes":%s,"cursor":%d,"more":%s}' % (_changes_json(page), cursor, _true(more)))


@bp_records.get("/records/below-epoch")
@signed
def below_epoch() -> ResponseReturnValue:
    """Records whose newest wrapped key is under an epoch older than ``epoch``, by id after ``after``."""
    if "epoch" not in request.args:
        raise bad_request("Query parameter 'epoch' is required.")
    epoch = jsonio.query_int("epoch", default=0, high=MAX_EPOCH + 1)
    after = jsonio.query_b64("after", size=RECORD_ID_SIZE)
    limit = _limit()
    r = store.records.c
    account_id = caller().account_id
    condition = [r.account_id == account_id, r.key_epoch < epoch]
    with store.read() as conn:
        remaining = conn.execute(select(func.count()).select_from(store.records).where(*condition)).scalar_one()
        if after is not None:
            condition.append(r.record_id > after)
        rows = conn.execute(select(*_feed_columns()).where(*condition).order_by(r.record_id).limit(limit + 1)).all()
    page, more = _page(list(rows), limit)
    return _json_response(b'{"more":%s,"records":%s,"remaining":%d}' % (_true(more), _changes_json(page), remaining))


@bp_records.get("/records/<record_id>")
@signed
def get_record(record_id: str) -> ResponseReturnValue:
    try:
        rid = jsonio.b64({"id": record_id}, "id", size=RECORD_ID_SIZE)
    except ApiError:
        raise ApiError("not_found", 404, "There is no such record.") from None
    r = store.records.c
    with store.read() as conn:
        row = conn.execute(select(store.records).where(r.account_id == caller().account_id, r.record_id == rid)).first()
    if row is None:
        raise ApiError("not_found", 404, "There is no such record.")
    return jsonify(_change(row))
