"""A real ``vellum serve`` (gunicorn, 2 workers, SQLite WAL): the smoke test, and concurrent writers across workers."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from pycore.public.codec import b64d, b64e
from tests.backend.helpers import Account, Device, RelayClient, dumps, record, requests_transport
from tests.backend.live import LiveRelay


def client_for(live: LiveRelay) -> RelayClient:
    return RelayClient(requests_transport(live.base_url), live.origin)


def test_smoke(live_relay: LiveRelay) -> None:
    r = requests.get(live_relay.base_url + "/api/v1/health", timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    relay = client_for(live_relay)
    acc = Account()
    assert relay.register(acc).status == 201
    phone = Device()
    assert relay.login(acc, phone).status == 200
    rid = secrets.token_bytes(16)
    r = relay.push(acc, [record(rid, content=b"hello")], device=phone)
    assert r.status == 200 and r.json["results"][0]["status"] == "stored", r
    feed = relay.signed(acc, "GET", "/api/v1/changes", query={"since": 0})
    assert [c["id"] for c in feed.json["changes"]] == [b64e(rid)]
    r = relay.signed(acc, "GET", "/api/v1/devices", headers={"Origin": "https://nowhere.example"})
    assert r.status == 200 and "access-control-allow-origin" not in r.headers


def test_access_log_holds_no_secrets(live_relay: LiveRelay) -> None:
    relay = client_for(live_relay)
    acc = Account()
    relay.register(acc)
    relay.signed(acc, "GET", "/api/v1/changes", query={"since": "424242"})
    log = live_relay.log()
    assert "/api/v1/changes" in log
    assert "424242" not in log  # no query strings
    assert b64e(acc.account_id) not in log  # no headers
    assert acc.username not in log  # no bodies


def test_concurrent_writers_never_500(live_relay: LiveRelay) -> None:
    """Many devices race on one record across both workers: each base revision is won exactly once."""
    relay = client_for(live_relay)
    acc = Account()
    assert relay.register(acc).status == 201
    devices = [Device() for _ in range(6)]
    for d in devices:
        assert relay.login(acc, d).status == 200
    rid = secrets.token_bytes(16)

    def writer(device: Device) -> list[tuple[int, str, int]]:
        mine = RelayClient(requests_transport(live_relay.base_url), live_relay.origin)
        seen = []
        base = 0
        for _ in range(8):
            r = mine.push(acc, [record(rid, base=base)], device=device)
            assert r.status in (200, 503), r
            if r.status == 503:
                continue
            result = r.json["results"][0]
            seen.append((base, result["status"], result["revision"]))
            base = result["revision"]
        return seen

    with ThreadPoolExecutor(len(devices)) as pool:
        outcomes = [x for batch in pool.map(writer, devices) for x in batch]
    stored = sorted(rev for _, status, rev in outcomes if status == "stored")
    assert stored == list(range(1, len(stored) + 1))  # every revision exactly once, no gaps
    assert all(rev == base + 1 for base, status, rev in outcomes if status == "stored")
    final = relay.signed(acc, "GET", f"/api/v1/records/{b64e(rid)}").json
    assert final["revision"] == stored[-1]


def test_concurrent_batches_on_the_same_records(live_relay: LiveRelay) -> None:
    """Writers on both workers push whole batches over one set of records: every (record, revision) is stored by
    exactly one of them with its own wrapped key, the others get per-record conflicts, and the feed has no gaps."""
    relay = client_for(live_relay)
    acc = Account()
    assert relay.register(acc).status == 201
    devices = [Device() for _ in range(4)]
    for d in devices:
        assert relay.login(acc, d).status == 200
    ids = [secrets.token_bytes(16) for _ in range(30)]
    start = threading.Barrier(len(devices))

    def writer(device: Device) -> list[tuple[bytes, int, str, int, int | None, bytes]]:
        mine = RelayClient(requests_transport(live_relay.base_url), live_relay.origin)
        base = dict.fromkeys(ids, 0)
        seen = []
        start.wait()
        for _ in range(6):
            items = [record(rid, base=base[rid], key=secrets.token_bytes(72)) for rid in ids]
            r = mine.push(acc, items, device=device)
            assert r.status in (200, 503), r
            if r.status == 503:
                continue
            for item, result in zip(items, r.json["results"], strict=True):
                rid = b64d(result["id"])
                assert rid == b64d(item["id"])
                seen.append(
                    (rid, base[rid], result["status"], result["revision"], result.get("seq"), item["wrapped_key"])
                )
                base[rid] = result["revision"]
        return seen

    with ThreadPoolExecutor(len(devices)) as pool:
        outcomes = [x for batch in pool.map(writer, devices) for x in batch]
    stored = [x for x in outcomes if x[2] == "stored"]
    assert all(rev == b + 1 for _, b, _, rev, _, _ in stored)  # a revision grows by exactly one
    assert all(rev >= b for _, b, status, rev, _, _ in outcomes if status == "conflict")
    seqs = [seq for *_, seq, _ in stored]
    assert sorted(seqs) == list(range(1, len(seqs) + 1))  # each sequence number handed out once, none skipped
    feed = relay.signed(acc, "GET", "/api/v1/changes", query={"since": 0, "limit": 1000}).json
    assert feed["more"] is False and len(feed["changes"]) == len(ids)
    assert [c["seq"] for c in feed["changes"]] == sorted(c["seq"] for c in feed["changes"])
    assert feed["cursor"] == max(seqs) == relay.signed(acc, "GET", "/api/v1/account").json["change_seq"]
    db = sqlite3.connect(f"file:{live_relay.data_dir / 'vellum.sqlite3'}?mode=ro", uri=True)
    try:
        kept = {
            (bytes(rid), rev): bytes(key)
            for rid, rev, key in db.execute(
                "SELECT record_id, revision, wrapped_key FROM wrapped_keys WHERE account_id = ? AND epoch = 1",
                (acc.account_id,),
            )
        }
    finally:
        db.close()
    for change in feed["changes"]:
        rid = b64d(change["id"])
        revisions = sorted(rev for r, _, _, rev, _, _ in stored if r == rid)
        assert revisions == list(range(1, change["revision"] + 1))  # each revision won once, no gaps
        assert change["seq"] == max(seq for r, *_, seq, _ in stored if r == rid)
    assert kept == {(rid, rev): b64d(key) for rid, _, _, rev, _, key in stored}


def test_a_replayed_push_is_applied_once_across_workers(live_relay: LiveRelay) -> None:
    """The same signed request sent many times at once: one answer is the push, every other is replayed_nonce."""
    relay = client_for(live_relay)
    acc = Account()
    assert relay.register(acc).status == 201
    rid = secrets.token_bytes(16)
    body = dumps({"records": [record(rid)]})
    headers = relay.signature_headers(acc, acc.device, "POST", "/api/v1/records", "", body)
    headers["Content-Type"] = "application/json"
    start = threading.Barrier(8)

    def send(_: int) -> tuple[int, str | None]:
        session = requests.Session()
        start.wait()
        r = session.post(live_relay.base_url + "/api/v1/records", data=body, headers=headers, timeout=30)
        return r.status_code, r.json().get("code")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    assert answers.count((200, None)) == 1, answers
    others = {a for a in answers if a != (200, None)}
    assert others <= {(401, "replayed_nonce"), (503, "server_busy")} and (401, "replayed_nonce") in others, answers
    feed = relay.signed(acc, "GET", "/api/v1/changes", query={"since": 0}).json
    assert [(c["id"], c["revision"], c["seq"]) for c in feed["changes"]] == [(b64e(rid), 1, 1)]
