"""Records: push with revision compare-and-swap, stale epochs, key-only updates, the change feed, rotation progress."""

from __future__ import annotations

import secrets

from pycore.public.codec import b64d, b64e
from tests.backend.helpers import Account, Device, RelayClient, dumps, record

MIB = 1024 * 1024


def changes(relay: RelayClient, account: Account, since: int = 0, **query: int) -> dict:
    r = relay.signed(account, "GET", "/api/v1/changes", query={"since": since, **query})
    assert r.status == 200, r
    return r.json


def keys(relay: RelayClient, account: Account, items: list[dict]) -> list[dict]:
    r = relay.signed(account, "POST", "/api/v1/records/keys", {"keys": items})
    assert r.status == 200, r
    return r.json["results"]


def rotate_epoch(relay: RelayClient, account: Account, epoch: int) -> None:
    raw = account.next_bundle(write_epoch=epoch)
    assert relay.put_bundle(account, raw).status == 200
    account.adopt(raw)


def test_push_new_update_and_conflict(relay: RelayClient, account: Account) -> None:
    rid = secrets.token_bytes(16)
    r = relay.push(account, [record(rid, content=b"v1")])
    assert r.status == 200, r
    assert r.json["results"] == [{"id": b64e(rid), "status": "stored", "revision": 1, "seq": 1}]
    r = relay.push(account, [record(rid, base=1, content=b"v2")])
    assert r.json["results"][0] == {"id": b64e(rid), "status": "stored", "revision": 2, "seq": 2}
    # a writer that did not see revision 2
    r = relay.push(account, [record(rid, base=1, content=b"v2-other")])
    assert r.json["results"][0] == {"id": b64e(rid), "status": "conflict", "revision": 2}
    # base revision ahead of the relay, and a "new" record that exists
    assert relay.push(account, [record(rid, base=7)]).json["results"][0]["status"] == "conflict"
    assert relay.push(account, [record(rid, base=0)]).json["results"][0]["revision"] == 2
    missing = secrets.token_bytes(16)
    assert relay.push(account, [record(missing, base=3)]).json["results"][0] == {
        "id": b64e(missing),
        "status": "conflict",
        "revision": 0,
    }
    got = relay.signed(account, "GET", f"/api/v1/records/{b64e(rid)}").json
    assert b64d(got["content"]) == b"v2" and got["revision"] == 2 and got["epoch"] == 1


def test_batch_results_per_record(relay: RelayClient, account: Account) -> None:
    a, b = secrets.token_bytes(16), secrets.token_bytes(16)
    assert relay.push(account, [record(a)]).status == 200
    r = relay.push(account, [record(a, base=0), record(b), record(a, base=1), record(a, base=2)])
    statuses = [(x["status"], x["revision"]) for x in r.json["results"]]
    assert statuses == [("conflict", 1), ("stored", 1), ("stored", 2), ("stored", 3)]


def test_stale_epoch_refuses_the_whole_batch(relay: RelayClient, account: Account) -> None:
    rotate_epoch(relay, account, 2)
    r = relay.push(account, [record(epoch=2), record(epoch=1)])
    assert (r.status, r.code) == (409, "stale_epoch")
    assert r.json["write_epoch"] == 2 and r.json["bundle_version"] == 2
    assert changes(relay, account)["changes"] == []
    assert relay.push(account, [record(epoch=3)]).code == "stale_epoch"  # ahead of the bundle too
    assert relay.push(account, [record(epoch=2)]).status == 200


def test_wrong_types_and_sizes(relay: RelayClient, account: Account, app) -> None:
    good = record()
    bad_items = [
        {**good, "id": b64e(bytes(15))},
        {**good, "base_revision": -1},
        {**good, "base_revision": "0"},
        {**good, "base_revision": True},
        {**good, "base_revision": 1.5},
        {**good, "epoch": 2**32},
        {**good, "content": ""},
        {**good, "content": "not base64!"},
        {**good, "wrapped_key": None},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "epoch"},
        [good],
        "x",
    ]
    for item in bad_items:
        r = relay.push(account, [item])
        assert (r.status, r.code) == (400, "bad_request"), item
    for body in ({"records": good}, {"records": None}, {}, {"records": [], "more": 1}):
        assert relay.signed(account, "POST", "/api/v1/records", body).code == "bad_request", body
    for raw in (b"{", b"[]", b'{"records": [], "records": []}', b'{"records": NaN}', b"\xff\xfe", b"null"):
        r = relay.signed(account, "POST", "/api/v1/records", body=raw)
        assert (r.status, r.code) == (400, "bad_json"), raw
    # a record over the per-record limit, a batch over the item limit, a body over MAX_CONTENT_LENGTH
    r = relay.push(account, [record(content=b"x" * (MIB + 1))])
    assert (r.status, r.code) == (413, "too_large")
    assert relay.push(account, [record(content=b"x" * MIB)]).status == 200
    r = relay.push(account, [record() for _ in range(app.config["BATCH_MAX_RECORDS"] + 1)])
    assert (r.status, r.code) == (413, "too_large")
    r = relay.signed(account, "POST", "/api/v1/records", body=b" " * (app.config["MAX_CONTENT_LENGTH"] + 1))
    assert (r.status, r.code) == (413, "too_large")


def test_change_feed(relay: RelayClient, account: Account) -> None:
    ids = [secrets.token_bytes(16) for _ in range(5)]
    relay.push(account, [record(i, content=bytes([n])) for n, i in enumerate(ids)])
    relay.push(account, [record(ids[0], base=1, content=b"again")])
    feed = changes(relay, account)
    assert [c["seq"] for c in feed["changes"]] == [2, 3, 4, 5, 6]  # id 0 moved to the end
    assert feed["cursor"] == 6 and feed["more"] is False
    last = feed["changes"][-1]
    assert (b64d(last["id"]), last["revision"], b64d(last["content"]), last["epoch"]) == (ids[0], 2, b"again", 1)
    assert set(last) == {"id", "revision", "epoch", "wrapped_key", "content", "seq"}
    page = changes(relay, account, since=0, limit=2)
    assert [c["seq"] for c in page["changes"]] == [2, 3] and page["more"] is True and page["cursor"] == 3
    page = changes(relay, account, since=page["cursor"], limit=3)
    assert [c["seq"] for c in page["changes"]] == [4, 5, 6] and page["more"] is False
    assert changes(relay, account, since=6) == {"changes": [], "cursor": 6, "more": False}
    assert changes(relay, account, limit=10**9)["more"] is False  # clamped, not refused
    assert relay.signed(account, "GET", "/api/v1/changes", query="limit=0").code == "bad_request"


def test_change_feed_byte_budget(tmp_path, clock) -> None:
    from tests.backend.apps import make_app
    from tests.backend.helpers import flask_transport

    app = make_app(tmp_path, clock, FEED_MAX_BYTES=1000)
    relay = RelayClient(flask_transport(app.test_client()), clock=clock)
    acc = Account()
    relay.register(acc)
    relay.push(acc, [record(content=b"x" * 600) for _ in range(3)])
    page = changes(relay, acc)
    assert len(page["changes"]) == 1 and page["more"] is True
    app.extensions["vellum_engine"].dispose()


def test_accounts_are_separate(relay: RelayClient, account: Account) -> None:
    rid = secrets.token_bytes(16)
    relay.push(account, [record(rid)])
    other = Account()
    relay.register(other)
    assert changes(relay, other)["changes"] == []
    assert relay.push(other, [record(rid)]).json["results"][0]["revision"] == 1  # same id, other account
    assert (
        relay.signed(other, "GET", f"/api/v1/records/{b64e(rid)}").json["content"]
        != (relay.signed(account, "GET", f"/api/v1/records/{b64e(rid)}").json["content"])
    )
    assert relay.signed(other, "GET", f"/api/v1/records/{b64e(secrets.token_bytes(16))}").code == "not_found"
    assert relay.signed(other, "GET", "/api/v1/records/short").code == "not_found"


def test_key_only_updates(relay: RelayClient, account: Account) -> None:
    a, b = secrets.token_bytes(16), secrets.token_bytes(16)
    relay.push(account, [record(a), record(b)])
    relay.push(account, [record(b, base=1)])
    rotate_epoch(relay, account, 2)
    k2 = secrets.token_bytes(72)
    results = keys(
        relay,
        account,
        [
            {"id": b64e(a), "revision": 1, "epoch": 2, "wrapped_key": b64e(k2)},
            {"id": b64e(b), "revision": 1, "epoch": 2, "wrapped_key": b64e(k2)},  # not the current revision
            {"id": b64e(b), "revision": 2, "epoch": 1, "wrapped_key": b64e(k2)},  # not the write epoch
            {"id": b64e(secrets.token_bytes(16)), "revision": 1, "epoch": 2, "wrapped_key": b64e(k2)},
        ],
    )
    assert [r["status"] for r in results] == ["stored", "superseded", "superseded", "superseded"]
    assert results[1]["revision"] == 2 and results[1]["epoch"] == 1
    # the re-wrap shows in the feed with the newest epoch; the revision did not move
    feed = changes(relay, account)["changes"]
    newest = feed[-1]
    assert (b64d(newest["id"]), newest["revision"], newest["epoch"], b64d(newest["wrapped_key"])) == (a, 1, 2, k2)
    # never overwritten: a repeat is stored (idempotent), a different key for the same (revision, epoch) is not
    same = {"id": b64e(a), "revision": 1, "epoch": 2, "wrapped_key": b64e(k2)}
    assert keys(relay, account, [same])[0]["status"] == "stored"
    other = {**same, "wrapped_key": b64e(secrets.token_bytes(72))}
    assert keys(relay, account, [other])[0]["status"] == "superseded"
    got = relay.signed(account, "GET", f"/api/v1/records/{b64e(a)}").json
    assert b64d(got["wrapped_key"]) == k2
    # a content write after the re-wrap starts a new revision under the write epoch
    r = relay.push(account, [record(a, base=1, epoch=2)])
    assert r.json["results"][0]["revision"] == 2


def test_key_update_validation(relay: RelayClient, account: Account) -> None:
    item = {"id": b64e(bytes(16)), "revision": 1, "epoch": 1, "wrapped_key": b64e(bytes(72))}
    for bad in ({**item, "revision": 0}, {**item, "content": "AA"}, {**item, "wrapped_key": ""}):
        assert relay.signed(account, "POST", "/api/v1/records/keys", {"keys": [bad]}).code == "bad_request"
    big = {**item, "wrapped_key": b64e(bytes(2000))}
    assert relay.signed(account, "POST", "/api/v1/records/keys", {"keys": [big]}).code == "too_large"


def test_records_below_epoch(relay: RelayClient, account: Account) -> None:
    ids = sorted(secrets.token_bytes(16) for _ in range(4))
    relay.push(account, [record(i) for i in ids])
    rotate_epoch(relay, account, 2)
    relay.push(account, [record(ids[3], base=1, epoch=2)])  # rewritten under epoch 2
    keys(relay, account, [{"id": b64e(ids[2]), "revision": 1, "epoch": 2, "wrapped_key": b64e(bytes(72))}])

    def below(**query: object) -> dict:
        r = relay.signed(account, "GET", "/api/v1/records/below-epoch", query=query)
        assert r.status == 200, r
        return r.json

    got = below(epoch=2)
    assert [b64d(x["id"]) for x in got["records"]] == ids[:2]
    assert got["remaining"] == 2 and got["more"] is False
    page = below(epoch=2, limit=1)
    assert [b64d(x["id"]) for x in page["records"]] == ids[:1] and page["more"] is True
    page = below(epoch=2, limit=1, after=b64e(ids[0]))
    assert [b64d(x["id"]) for x in page["records"]] == ids[1:2]
    assert below(epoch=1)["remaining"] == 0
    assert below(epoch=3)["remaining"] == 4
    assert relay.signed(account, "GET", "/api/v1/records/below-epoch").code == "bad_request"
    assert relay.signed(account, "GET", "/api/v1/records/below-epoch", query="epoch=2&after=xx").code == "bad_request"


def test_revoked_device_cannot_write(relay: RelayClient, account: Account) -> None:
    phone = Device()
    relay.login(account, phone)
    body = dumps({"records": [record()]})
    # phone signs a push, then is revoked before the request arrives
    h = relay.signature_headers(account, phone, "POST", "/api/v1/records", "", body)
    assert relay.signed(account, "POST", f"/api/v1/devices/{b64e(phone.device_id)}/revoke", device=phone).status == 200
    r = relay.call("POST", "/api/v1/records", body=body, headers=h)
    assert r.code == "device_revoked"
