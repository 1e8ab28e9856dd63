"""A real ``vellum serve`` (gunicorn, 2 workers, SQLite WAL): the smoke test, and concurrent writers across workers."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import requests

from pycore.codec import b64e
from tests.backend.helpers import Account, Device, RelayClient, record, requests_transport
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
