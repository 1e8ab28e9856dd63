"""The CPython adapters without a server: devices syncing through SQLite stores, and the relay API's signing, retries
and error mapping over a scripted HTTP function. The SQLite store's own contract: tests/unit/test_store_contract.py."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pycore.client.signer import NaclSigner
from pycore.client.sqlite_store import SqliteStore
from pycore.envelope import SealedRecord
from pycore.errors import RelayError, StaleBundle
from pycore.factors import SigningKeyPair
from pycore.lifecycle.confirm import StepUpKey
from pycore.primitives import crypto_sign_verify_detached, randombytes
from pycore.public import wire
from pycore.public.codec import b64d, b64e
from pycore.sync.relay_api import HttpResponse, RelayApi, Session
from pycore.sync.types import PushItem, PushStatus

from .sync_support import device, new_account, run

ORIGIN = "http://localhost:8000"


def sealed(rid: bytes, revision: int = 1) -> SealedRecord:
    return SealedRecord(rid, revision, 1, randombytes(77), randombytes(100))


def test_devices_on_sqlite_stores_merge_like_any_other(tmp_path: Path) -> None:
    from tests.support.memory import MemoryRelay

    account = new_account()
    relay = MemoryRelay(account.bundle.public.encoded)
    laptop = device(relay, account, "laptop", store=SqliteStore(tmp_path / "laptop.sqlite3"))
    phone = device(relay, account, "phone", store=SqliteStore(tmp_path / "phone.sqlite3"))

    async def go() -> None:
        rid = await laptop.engine.save_note("T", "a\nb\nc")
        await laptop.sync()
        await phone.sync()
        await laptop.engine.save_note("T", "A\nb\nc", rid)
        await phone.engine.save_note("T", "a\nb\nC", rid)
        await laptop.sync()
        await phone.sync()
        await laptop.sync()
        assert await laptop.notes() == {rid: ("T", "A\nb\nC")} == await phone.notes()

    run(go())


class Script:
    """An HttpFunction that answers from a list and records what it was sent."""

    def __init__(self, *answers: tuple[int, Any, Mapping[str, str]]) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, dict[str, str], bytes]] = []

    async def __call__(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        self.sent.append((method, url, dict(headers), body))
        status, payload, extra = self.answers.pop(0)
        return HttpResponse(status, {k.lower(): v for k, v in extra.items()}, json.dumps(payload).encode())


def api_with(script: Script, signer: NaclSigner, clock: float = 1_800_000_000.0) -> RelayApi:
    naps: list[float] = []

    async def sleep(seconds: float) -> None:
        naps.append(seconds)

    api = RelayApi(script, "http://127.0.0.1:8000", ORIGIN, clock=lambda: clock, sleep=sleep)
    api.session = Session(randombytes(16), randombytes(16), signer)
    return api


def test_requests_are_signed_per_wire() -> None:
    signer = NaclSigner.generate()
    script = Script((200, {"changes": [], "cursor": 7, "more": False}, {}))
    api = api_with(script, signer)
    page = run(api.pull("3", 50))
    assert page.cursor == "7" and page.changes == () and not page.more
    method, url, headers, body = script.sent[0]
    assert url == "http://127.0.0.1:8000/api/v1/changes?limit=50&since=3" and body == b""
    assert api.session is not None
    message = wire.request_bytes(
        ORIGIN, method, "/api/v1/changes", "limit=50&since=3", api.session.account_id, api.session.device_id,
        int(headers[wire.HEADER_TIMESTAMP]), b64d(headers[wire.HEADER_NONCE]), wire.body_hash(body),
    )
    crypto_sign_verify_detached(b64d(headers[wire.HEADER_SIGNATURE]), message, signer.public_key)


def test_clock_skew_is_learnt_once_and_busy_is_retried() -> None:
    signer = NaclSigner.generate()
    script = Script(
        (401, {"code": "clock_skew", "detail": "", "server_time": 1_800_000_500}, {}),
        (503, {"code": "server_busy", "detail": ""}, {"Retry-After": "1"}),
        (200, {"changes": [], "cursor": 0, "more": False}, {}),
    )
    api = api_with(script, signer)
    run(api.pull(None, 10))
    stamps = [int(h[wire.HEADER_TIMESTAMP]) for _, _, h, _ in script.sent]
    assert stamps == [1_800_000_000, 1_800_000_500, 1_800_000_500]
    nonces = {h[wire.HEADER_NONCE] for _, _, h, _ in script.sent}
    assert len(nonces) == 3


def test_push_maps_results_and_a_stale_epoch_refuses_the_batch() -> None:
    signer = NaclSigner.generate()
    r1, r2 = sealed(randombytes(16)), sealed(randombytes(16), 2)
    script = Script(
        (200, {"results": [
            {"id": b64e(r1.record_id), "status": "stored", "revision": 1, "seq": 4},
            {"id": b64e(r2.record_id), "status": "conflict", "revision": 5},
        ]}, {}),
        (409, {"code": "stale_epoch", "detail": "", "bundle_version": 3, "write_epoch": 2}, {}),
    )
    api = api_with(script, signer)
    results = run(api.push([PushItem(r1, 0), PushItem(r2, 1)]))
    assert [(r.status, r.revision) for r in results] == [(PushStatus.ACCEPTED, 1), (PushStatus.CONFLICT, 5)]
    sent = json.loads(script.sent[0][3])["records"]
    assert sent[1] == {
        "id": b64e(r2.record_id), "base_revision": 1, "epoch": 1,
        "wrapped_key": b64e(r2.wrapped_key), "content": b64e(r2.content),
    }
    results = run(api.push([PushItem(r1, 0), PushItem(r2, 1)]))
    assert [(r.status, r.write_epoch) for r in results] == [(PushStatus.STALE_EPOCH, 2)] * 2


def test_errors_map_to_pycore_errors_and_only_an_explicit_step_up_key_answers_a_step_up() -> None:
    signer = NaclSigner.generate()
    login = SigningKeyPair.from_seed(randombytes(32))
    challenge, fresh = randombytes(32), randombytes(32)
    script = Script(
        (409, {"code": "stale_bundle", "detail": "Another device changed the account keys first."}, {}),
        (403, {"code": "step_up_required", "detail": "", "challenge": b64e(challenge), "action": "update_factors"}, {}),
        (200, {"challenge": b64e(challenge)}, {}),
        (403, {"code": "step_up_failed", "detail": "", "challenge": b64e(fresh)}, {}),
        (200, {"version": 3}, {}),
        (403, {"code": "device_revoked", "detail": "This device was removed from the account."}, {}),
    )
    api = api_with(script, signer)
    with pytest.raises(StaleBundle):
        run(api.publish_bundle(2, b"bundle", None))
    # A plain request the relay wants stepped up is not signed by anything kept in memory: it fails.
    with pytest.raises(RelayError) as refused:
        run(api.publish_bundle(2, b"bundle", None))
    assert refused.value.code == "step_up_required" and wire.HEADER_STEP_UP not in script.sent[1][2]
    # The explicit key signs the challenge it fetched, then (once) the fresh one of a step_up_failed answer.
    key = StepUpKey("login", login)
    run(api.update_factors(2, b"bundle", key))
    first, second = script.sent[3], script.sent[4]
    assert first[3] == second[3]
    kind, sent_challenge, signature = second[2][wire.HEADER_STEP_UP].split(".")
    assert kind == "login" and b64d(sent_challenge) == fresh
    assert api.session is not None
    statement = wire.step_up_statement(
        ORIGIN, "update_factors", api.session.account_id, api.session.device_id, fresh, second[3]
    )
    crypto_sign_verify_detached(b64d(signature), statement, login.public)
    with pytest.raises(RelayError) as info:
        run(api.account())
    assert info.value.code == "device_revoked" and info.value.status == 403
