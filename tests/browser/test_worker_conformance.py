"""The crypto worker in Chromium gives the same answers as CPython.

- every frozen protocol vector (tests/vectors/*/*.json) through tests/conformance/vectors_suite.py, inside the worker;
- the external vectors (Wycheproof, BIP39, Argon2id) through tests/conformance/primitives_suite.py, inside the worker;
- records sealed in CPython (PyNaCl) open in the browser (libsodium.js), and the other way round;
- requests signed in the browser by the WebCrypto Ed25519 device key verify with PyNaCl and at the real relay.

The suites and the protocol-level commands reach a testing worker (``/worker/crypto-worker.js?testing=1``, made by
tests/browser/helpers.py next to the app's own) as the test wheel, and the vectors as JSON data; the page never sends
Python.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import nacl.exceptions
import nacl.signing
import pytest
import requests

from pycore import account, envelope
from pycore.envelope import PlainRecord, RecordScope, RecordType, SealedRecord
from pycore.errors import VellumError
from pycore.public import wire
from tests.backend.helpers import Account, public, sign
from tests.backend.live import LiveRelay
from tests.browser.conftest import AppPage
from tests.browser.helpers import ROOT, TESTING_WORKER_JS, b64d, b64e, result
from tests.conformance import primitives_suite, vectors_suite

VECTOR_FILES = sorted((ROOT / "tests" / "vectors").glob("*/*.json"))
PASSPHRASE = "a correct horse in the browser"


def _cpython_outcome(case: dict[str, Any]) -> str:
    try:
        vectors_suite.run_case(case)
    except AssertionError as exc:
        return f"fail: {exc}"
    except VellumError as exc:
        return f"error: {exc.code}"
    return "pass"


def test_worker_runs_pycore_on_libsodium_js(app: AppPage) -> None:
    status = result(app.page, "status")
    assert status["backend"] == "libsodium.js"
    assert status["platform"] == "emscripten"
    assert status["python"].startswith("3.14.")
    assert status["libsodium"].startswith("1.0.")
    # The testing worker runs the same build (plus the test wheel) on the same libsodium.js.
    testing = result(app.page, "status", testing=True)
    for key in ("backend", "platform", "python", "libsodium", "pycore", "spec"):
        assert testing[key] == status[key], key


def test_frozen_protocol_vectors_agree(app: AppPage) -> None:
    cases = [json.loads(path.read_text()) for path in VECTOR_FILES]
    assert len(cases) >= 70
    got = result(app.page, "vectors.run", {"cases": cases})
    expected = {f"{case['family']}/{case['name']}": _cpython_outcome(case) for case in cases}
    assert set(expected.values()) == {"pass"}, "CPython itself fails a frozen vector"
    assert got["results"] == expected
    assert got["counts"] == vectors_suite.run_all(cases)


def test_external_vectors_agree(app: AppPage, external_vectors: dict[str, Any]) -> None:
    got = result(app.page, "primitives.run_suite", {"vectors": external_vectors})["summaries"]
    assert got == primitives_suite.run_all(external_vectors)
    assert got == primitives_suite.EXPECTED_SUMMARIES


@pytest.fixture(scope="module")
def shared_account(app: AppPage) -> dict[str, Any]:
    """An account created in CPython, unlocked in the browser worker with its passphrase."""
    new = account.create_account(PASSPHRASE, now=int(time.time()))
    unlocked = result(
        app.page,
        "account.unlock_passphrase",
        {"bundle": b64e(new.unlocked.public.encoded), "passphrase": PASSPHRASE},
    )["account"]
    assert b64d(unlocked["account_id"]) == new.unlocked.account_id
    assert unlocked["version"] == 1 and unlocked["write_epoch"] == 1
    return {"bundle": new.unlocked, "summary": unlocked}


def _sealed_json(record: SealedRecord) -> dict[str, Any]:
    return {
        "id": b64e(record.record_id),
        "revision": record.revision,
        "epoch": record.epoch,
        "wrapped_key": b64e(record.wrapped_key),
        "content": b64e(record.content),
    }


def test_records_sealed_in_cpython_open_in_the_browser(app: AppPage, shared_account: dict[str, Any]) -> None:
    bundle = shared_account["bundle"]
    payloads = [b"", b"x", secrets.token_bytes(1024), "ünïcode note".encode(), secrets.token_bytes(70_000)]
    plain = [PlainRecord(envelope.new_record_id(), 1, envelope.NO_PREVIOUS, RecordType.NOTE, p) for p in payloads]
    sealed = envelope.seal_records(bundle.scope, bundle.write_key, plain)
    forged = SealedRecord(sealed[0].record_id, 1, 1, sealed[1].wrapped_key, sealed[0].content)  # a swapped key
    opened = result(app.page, "records.open_batch", {"records": [*map(_sealed_json, sealed), _sealed_json(forged)]})
    records = opened["records"]
    assert [r["ok"] for r in records] == [True] * len(payloads) + [False]
    assert [b64d(r["payload"]) for r in records[:-1]] == payloads
    assert [b64d(r["id"]) for r in records[:-1]] == [p.record_id for p in plain]
    assert [b64d(r["content_hash"]) for r in records[:-1]] == [s.content_hash for s in sealed]
    assert records[-1]["code"] == "decryption_failed"


def test_records_sealed_in_the_browser_open_in_cpython(app: AppPage, shared_account: dict[str, Any]) -> None:
    bundle = shared_account["bundle"]
    payloads = [b"", secrets.token_bytes(1024), b"tombstone payload ignored"]
    items: list[dict[str, Any]] = [{"type": "note", "payload": b64e(p)} for p in payloads[:2]]
    record_id = envelope.new_record_id()
    first = envelope.seal_record(
        bundle.scope, bundle.write_key, PlainRecord(record_id, 1, envelope.NO_PREVIOUS, RecordType.NOTE, b"v1")
    )
    items.append(
        {"type": "tombstone", "id": b64e(record_id), "revision": 2, "prev_hash": b64e(first.content_hash),
         "payload": b64e(payloads[2])}
    )
    sealed_json = result(app.page, "records.seal_batch", {"records": items})["records"]
    sealed = [
        SealedRecord(b64d(r["id"]), r["revision"], r["epoch"], b64d(r["wrapped_key"]), b64d(r["content"]))
        for r in sealed_json
    ]
    scope = RecordScope(bundle.account_id, bundle.keyring.collection_id)
    opened = envelope.open_records(scope, bundle.keyring.keys, sealed)
    assert not [o for o in opened if isinstance(o, VellumError)], opened
    assert [o.payload for o in opened[:2]] == payloads[:2]  # type: ignore[union-attr]
    assert opened[2].record_type == RecordType.TOMBSTONE and opened[2].deleted  # type: ignore[union-attr]
    envelope.HighWater(1, first.content_hash).check(sealed[2])  # the browser's revision 2 chains onto CPython's 1
    assert len({r["id"] for r in sealed_json}) == 3 and all(r["epoch"] == 1 for r in sealed_json)


def _request_bytes(origin: str, path: str, account_id: bytes, headers: dict[str, str], body: bytes = b"") -> bytes:
    return wire.request_bytes(
        origin, "GET", path, "", account_id, b64d(headers[wire.HEADER_DEVICE]), int(headers[wire.HEADER_TIMESTAMP]),
        b64d(headers[wire.HEADER_NONCE]), wire.body_hash(body),
    )


def test_webcrypto_signatures_verify_with_pynacl(app: AppPage) -> None:
    device = result(app.page, "device.init")
    signing_public = b64d(device["signing_public"])
    account_id = secrets.token_bytes(16)
    origin = "http://localhost:8000"
    headers = result(
        app.page,
        "device.sign_request",
        {"origin": origin, "method": "GET", "path": "/api/v1/account", "account_id": b64e(account_id)},
    )["headers"]
    verify = nacl.signing.VerifyKey(signing_public)
    message = _request_bytes(origin, "/api/v1/account", account_id, headers)
    verify.verify(message, b64d(headers[wire.HEADER_SIGNATURE]))
    other_path = _request_bytes(origin, "/api/v1/accounts", account_id, headers)
    with pytest.raises(nacl.exceptions.BadSignatureError):
        verify.verify(other_path, b64d(headers[wire.HEADER_SIGNATURE]))
    # A login co-signature binds the device's own id and key.
    challenge = secrets.token_bytes(wire.CHALLENGE_SIZE)
    signed = result(
        app.page,
        "device.sign_login",
        {"origin": origin, "action": "login", "account_id": b64e(account_id), "challenge": b64e(challenge)},
    )
    statement = wire.login_statement(origin, "login", account_id, challenge, b64d(device["device_id"]), signing_public)
    verify.verify(statement, b64d(signed["signature"]))


def test_relay_accepts_a_device_registered_and_signing_from_the_browser(app: AppPage, relay: LiveRelay) -> None:
    """Register with the browser's device key (its co-signature on the statement), then make signed requests."""
    device = result(app.page, "device.init")
    device_id, signing_public = b64d(device["device_id"]), b64d(device["signing_public"])
    acc = Account()
    challenge = b64d(requests.post(relay.base_url + "/api/v1/auth/challenge", timeout=10).json()["challenge"])
    statement = wire.login_statement(relay.origin, "register", acc.account_id, challenge, device_id, signing_public)
    device_signature = result(
        app.page,
        "device.sign_login",
        {
            "origin": relay.origin,
            "action": "register",
            "account_id": b64e(acc.account_id),
            "challenge": b64e(challenge),
        },
    )["signature"]
    payload = {
        "username": acc.username,
        "account_id": b64e(acc.account_id),
        "login_public": b64e(public(acc.login_key)),
        "recovery_login_public": b64e(public(acc.recovery_key)),
        "device": {"id": device["device_id"], "signing_public": device["signing_public"], "name": "Chromium"},
        "bundle": b64e(acc.chain[0]),
        "challenge": b64e(challenge),
        "login_signature": b64e(sign(acc.login_key, statement)),
        "recovery_login_signature": b64e(sign(acc.recovery_key, statement)),
        "device_signature": device_signature,
    }
    registered = requests.post(relay.base_url + "/api/v1/accounts", json=payload, timeout=10)
    assert registered.status_code == 201, registered.text

    def signed_get(path: str, sign_path: str | None = None) -> requests.Response:
        headers = result(
            app.page,
            "device.sign_request",
            {"origin": relay.origin, "method": "GET", "path": sign_path or path, "account_id": b64e(acc.account_id)},
        )["headers"]
        return requests.get(relay.base_url + path, headers=headers, timeout=10)

    answer = signed_get("/api/v1/account")
    assert answer.status_code == 200, answer.text
    assert answer.json()["device_id"] == device["device_id"]
    refused = signed_get("/api/v1/account", sign_path="/api/v1/devices")  # signed for another path
    assert refused.status_code == 401, refused.text


# The testing worker (TESTING_WORKER_JS), with Uint8Arrays both ways.
BINARY_ROUND_TRIP = "async (payloads) => {\n  const worker = await (" + TESTING_WORKER_JS + ")();\n" + """\
  const toBytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const toB64 = (b) => btoa(String.fromCharCode(...b)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const binary = { binary: true };
  const sealed = await worker.call("records.seal_batch", { records: payloads.map((p) => ({ payload: toBytes(p) })) },
                                   binary);
  const opened = await worker.call("records.open_batch", { records: sealed.records }, binary);
  const refusal = async (cmd, args) => worker.call(cmd, args, binary).then(() => "accepted", (err) => err.code);
  return {
    sealedTypes: sealed.records.map((r) => [r.id, r.wrapped_key, r.content].every((v) => v instanceof Uint8Array)),
    sealed: sealed.records.map((r) => ({ id: toB64(r.id), revision: r.revision, epoch: r.epoch,
                                         wrapped_key: toB64(r.wrapped_key), content: toB64(r.content) })),
    opened: opened.records.map((r) => (r.ok && r.payload instanceof Uint8Array ? toB64(r.payload) : r.code)),
    shortId: await refusal("records.open_batch", { records: [{ ...sealed.records[0], id: new Uint8Array(15) }] }),
    bytesAsText: await refusal("account.unlock_passphrase",
                               { bundle: new Uint8Array(3), passphrase: new Uint8Array(3) }),
    notObject: await refusal("records.seal_batch", "nope"),
    nullArg: await refusal("device.sign_request", { origin: null }),
  };
}"""


def test_binary_messages_carry_bytes_as_uint8arrays(app: AppPage, shared_account: dict[str, Any]) -> None:
    """Bulk records travel as Uint8Arrays (no base64, no JSON) and give the same records CPython opens."""
    bundle = shared_account["bundle"]
    payloads = [b"", b"binary", secrets.token_bytes(1024), secrets.token_bytes(65536)]
    got = app.page.evaluate(BINARY_ROUND_TRIP, [b64e(p) for p in payloads])
    assert got["sealedTypes"] == [True] * len(payloads)
    assert [b64d(p) for p in got["opened"]] == payloads
    sealed = [
        SealedRecord(b64d(r["id"]), r["revision"], r["epoch"], b64d(r["wrapped_key"]), b64d(r["content"]))
        for r in got["sealed"]
    ]
    opened = envelope.open_records(bundle.scope, bundle.keyring.keys, sealed)
    assert [o.payload for o in opened] == payloads  # type: ignore[union-attr]
    assert (got["shortId"], got["bytesAsText"], got["notObject"], got["nullArg"]) == ("bad_request",) * 4
