"""Batched push: per-record results inside one batch (new records, updates, stale bases, repeats), the stored state
behind them (revision, change feed, wrapped keys per revision), and the request nonce riding in the push's own write
transaction without weakening replay protection."""

from __future__ import annotations

import json
import random
import secrets
from typing import Any

from sqlalchemy import event, select

from backend import store
from pycore.public.codec import b64d, b64e
from tests.backend.helpers import Account, RelayClient, dumps, record


def wrapped_keys(app: Any, account: Account) -> dict[tuple[bytes, int], dict[int, bytes]]:
    """(record id, revision) -> {epoch: wrapped key}, straight from the database."""
    k = store.wrapped_keys.c
    out: dict[tuple[bytes, int], dict[int, bytes]] = {}
    with app.app_context(), store.read() as conn:
        for row in conn.execute(select(store.wrapped_keys).where(k.account_id == account.account_id)):
            out.setdefault((row.record_id, row.revision), {})[row.epoch] = bytes(row.wrapped_key)
    return out


def feed(relay: RelayClient, account: Account, since: int = 0) -> list[dict[str, Any]]:
    r = relay.signed(account, "GET", "/api/v1/changes", query={"since": since, "limit": 1000})
    assert r.status == 200, r
    assert r.json["more"] is False
    return r.json["changes"]


def change_seq(relay: RelayClient, account: Account) -> int:
    seq: int = relay.signed(account, "GET", "/api/v1/account").json["change_seq"]
    return seq


def test_mixed_batch_gets_exact_per_record_results(app: Any, relay: RelayClient, account: Account) -> None:
    a, b, c = (secrets.token_bytes(16) for _ in range(3))
    first = relay.push(account, [record(x) for x in (a, b, c)])
    assert [x["seq"] for x in first.json["results"]] == [1, 2, 3]
    n1, n2, missing = (secrets.token_bytes(16) for _ in range(3))
    keys = {i: secrets.token_bytes(72) for i in range(10)}
    batch = [
        record(n1, base=0, content=b"n1 r1", key=keys[0]),  # new
        record(a, base=1, content=b"a r2", key=keys[1]),  # correct update
        record(b, base=0, key=keys[2]),  # stale: b exists
        record(c, base=5, key=keys[3]),  # ahead of the relay
        record(missing, base=2, key=keys[4]),  # an update of a record the relay does not have
        record(n1, base=1, content=b"n1 r2", key=keys[5]),  # update of a record created earlier in this batch
        record(a, base=1, key=keys[6]),  # stale now: this batch moved a to 2
        record(a, base=2, content=b"a r3", key=keys[7]),  # on top of this batch's own write
        record(n2, base=0, content=b"n2 r1", key=keys[8]),  # new
        record(n2, base=0, key=keys[9]),  # the same "new" record again
    ]
    r = relay.push(account, batch)
    assert r.status == 200, r
    assert r.json["results"] == [
        {"id": b64e(n1), "status": "stored", "revision": 1, "seq": 4},
        {"id": b64e(a), "status": "stored", "revision": 2, "seq": 5},
        {"id": b64e(b), "status": "conflict", "revision": 1},
        {"id": b64e(c), "status": "conflict", "revision": 1},
        {"id": b64e(missing), "status": "conflict", "revision": 0},
        {"id": b64e(n1), "status": "stored", "revision": 2, "seq": 6},
        {"id": b64e(a), "status": "conflict", "revision": 2},
        {"id": b64e(a), "status": "stored", "revision": 3, "seq": 7},
        {"id": b64e(n2), "status": "stored", "revision": 1, "seq": 8},
        {"id": b64e(n2), "status": "conflict", "revision": 1},
    ]
    assert change_seq(relay, account) == 8
    # Each record once, at its latest seq, with the content and key of its latest revision.
    changes = feed(relay, account, since=3)
    assert [(b64d(x["id"]), x["revision"], x["seq"]) for x in changes] == [(n1, 2, 6), (a, 3, 7), (n2, 1, 8)]
    assert [b64d(x["content"]) for x in changes] == [b"n1 r2", b"a r3", b"n2 r1"]
    assert [b64d(x["wrapped_key"]) for x in changes] == [keys[5], keys[7], keys[8]]
    assert relay.signed(account, "GET", f"/api/v1/records/{b64e(missing)}").code == "not_found"
    # One wrapped key per stored (record, revision, epoch), never overwritten by a conflicting item.
    kept = wrapped_keys(app, account)
    for rid, revision, key in [(n1, 1, keys[0]), (a, 2, keys[1]), (n1, 2, keys[5]), (a, 3, keys[7]), (n2, 1, keys[8])]:
        assert kept[(rid, revision)] == {1: key}
    assert sorted((rid, rev) for rid, rev in kept if rid in (a, n1, n2)) == sorted(
        [(a, 1), (a, 2), (a, 3), (n1, 1), (n1, 2), (n2, 1)]
    )
    assert {rev for rid, rev in kept if rid in (b, c)} == {1} and not any(rid == missing for rid, _ in kept)


def test_batches_match_a_one_record_at_a_time_model(app: Any, relay: RelayClient, account: Account) -> None:
    """Random batches over a few ids (duplicates, stale, ahead and right bases) against the documented semantics."""
    rng = random.Random(20261128)
    ids = [secrets.token_bytes(16) for _ in range(6)]
    revision = dict.fromkeys(ids, 0)
    content: dict[bytes, bytes] = {}
    last_seq: dict[bytes, int] = {}
    keys: dict[tuple[bytes, int], bytes] = {}
    seq = 0
    for _ in range(25):
        items, expected = [], []
        for _ in range(rng.randint(1, 12)):
            rid = rng.choice(ids)
            base = rng.choice([revision[rid]] * 3 + [revision[rid] + 1, max(0, revision[rid] - 1), 0])
            body, key = secrets.token_bytes(rng.randint(1, 40)), secrets.token_bytes(72)
            items.append(record(rid, base=base, content=body, key=key))
            if base == revision[rid]:
                seq += 1
                revision[rid] += 1
                content[rid], last_seq[rid], keys[(rid, revision[rid])] = body, seq, key
                expected.append({"id": b64e(rid), "status": "stored", "revision": revision[rid], "seq": seq})
            else:
                expected.append({"id": b64e(rid), "status": "conflict", "revision": revision[rid]})
        r = relay.push(account, items)
        assert r.status == 200, r
        assert r.json["results"] == expected
    changes = feed(relay, account)
    assert [x["seq"] for x in changes] == sorted(last_seq.values())
    assert {b64d(x["id"]): (x["revision"], b64d(x["content"]), x["seq"]) for x in changes} == {
        rid: (revision[rid], content[rid], last_seq[rid]) for rid in last_seq
    }
    assert change_seq(relay, account) == seq
    assert {key: epochs[1] for key, epochs in wrapped_keys(app, account).items()} == keys


def count_write_transactions(app: Any) -> list[int]:
    writes = [0]

    @event.listens_for(app.extensions["vellum_engine"], "begin")
    def _count(conn: Any) -> None:
        if conn.get_execution_options().get("vellum_write", False):
            writes[0] += 1

    return writes


def test_a_push_is_one_write_transaction_nonce_included(app: Any, relay: RelayClient, account: Account) -> None:
    writes = count_write_transactions(app)
    assert relay.push(account, [record() for _ in range(20)]).status == 200
    assert writes == [1]
    assert relay.signed(account, "GET", "/api/v1/changes").status == 200
    assert writes == [2]  # a read keeps its nonce in one small write
    assert relay.push(account, [{"id": "x"}]).code == "bad_request"
    assert writes == [3]  # refused before writing: the nonce alone


def test_a_failed_request_still_spends_its_nonce(relay: RelayClient, account: Account) -> None:
    for items in ([record(epoch=9)], [{"id": "x"}]):  # refused inside the write transaction, and before it
        body = dumps({"records": items})
        h = relay.signature_headers(account, account.device, "POST", "/api/v1/records", "", body)
        first = relay.call("POST", "/api/v1/records", body=body, headers=h)
        assert first.code in ("stale_epoch", "bad_request"), first
        again = relay.call("POST", "/api/v1/records", body=body, headers=h)
        assert (again.status, again.code) == (401, "replayed_nonce")


def test_a_replay_racing_its_original_is_refused_by_the_write(
    app: Any, relay: RelayClient, account: Account, monkeypatch: Any
) -> None:
    """Two copies of one request both pass the early (read) check; the nonce's key refuses the second in its write
    transaction, so nothing of it is applied — whatever the view would have answered."""
    monkeypatch.setattr(store, "nonce_seen", lambda *args: False)
    rid = secrets.token_bytes(16)
    body = dumps({"records": [record(rid)]})
    h = relay.signature_headers(account, account.device, "POST", "/api/v1/records", "", body)
    assert relay.call("POST", "/api/v1/records", body=body, headers=h).json["results"][0]["status"] == "stored"
    writes = count_write_transactions(app)
    again = relay.call("POST", "/api/v1/records", body=body, headers=h)
    assert (again.status, again.code) == (401, "replayed_nonce")
    assert writes == [1]  # refused at the nonce, first thing in its write transaction, which rolled back
    assert change_seq(relay, account) == 1
    for method, path, payload in [
        ("GET", "/api/v1/changes", b""),  # a read: the nonce is written after it, and the answer withheld
        ("POST", "/api/v1/records", dumps({"records": [record(epoch=9)]})),  # stale_epoch rolls back; nonce kept
        ("POST", "/api/v1/records", b"{"),  # bad_json before any write
    ]:
        h = relay.signature_headers(account, account.device, method, path, "", payload)
        assert relay.call(method, path, body=payload, headers=h).status in (200, 400, 409)
        again = relay.call(method, path, body=payload, headers=h)
        assert (again.status, again.code) == (401, "replayed_nonce"), (method, path)


def test_feed_pages_are_the_bytes_jsonify_would_write(app: Any, relay: RelayClient, account: Account) -> None:
    relay.push(account, [record(content=secrets.token_bytes(n), key=secrets.token_bytes(n + 1)) for n in range(1, 9)])
    for path, query in [
        ("/api/v1/changes", {"since": 0}),
        ("/api/v1/changes", {"since": 3, "limit": 2}),
        ("/api/v1/changes", {"since": 99}),
        ("/api/v1/records/below-epoch", {"epoch": 2, "limit": 3}),
        ("/api/v1/records/below-epoch", {"epoch": 1}),
    ]:
        r = relay.signed(account, "GET", path, query=query)
        assert r.status == 200 and r.headers["content-type"] == "application/json", r
        with app.app_context():
            assert r.body == app.json.response(json.loads(r.body)).get_data()
