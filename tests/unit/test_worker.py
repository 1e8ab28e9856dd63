"""The crypto worker's command table (pycore/app/worker.py, plus the test commands of tests/support/worker_commands.py)
and the WebCrypto adapters (pycore/app/browser/webcrypto.py) in CPython.

The browser tests (tests/browser) run the same table inside Pyodide with the real WebCrypto keys; here a stand-in for
``web/worker/webcrypto.js`` (XChaCha20-Poly1305 and PyNaCl Ed25519 in place of AES-GCM and WebCrypto Ed25519, same
contract) checks the dispatch, the error mapping and the flows quickly.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nacl.signing
import pytest

from pycore import account, envelope, primitives
from pycore.app.browser import ffi, webcrypto
from pycore.app.worker import COMMANDS, Worker
from pycore.errors import DecryptionError, DeviceKeyUnavailable
from pycore.kdf import Argon2idParams
from pycore.public import wire
from pycore.public.codec import b64d, b64e
from tests.support.worker_commands import TEST_COMMANDS, register

PASSPHRASE = "worker unit tests"


class FakeWebCrypto:
    """The contract of web/worker/webcrypto.js: async functions, bytes in and out, JavaScript errors by name."""

    def __init__(self) -> None:
        self.record: dict[str, Any] | None = None

    async def load(self) -> Any:
        return None if self.record is None else SimpleNamespace(**self.record, created=False)

    async def create(self, device_id: bytes) -> Any:
        if self.record is None:
            key = nacl.signing.SigningKey.generate()
            self.record = {"deviceId": bytes(device_id), "signPublic": bytes(key.verify_key), "createdAt": 1}
            self._wrap_key, self._sign_key = secrets.token_bytes(32), key
            return SimpleNamespace(**self.record, created=True)
        return await self.load()

    async def forget(self) -> None:
        self.record = None

    async def wrap(self, secret: bytes, aad: bytes) -> bytes:
        self._need()
        iv = secrets.token_bytes(12)
        nonce = iv + bytes(12)
        return iv + primitives.crypto_aead_xchacha20poly1305_ietf_encrypt(secret, aad, nonce, self._wrap_key)

    async def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        self._need()
        try:
            return primitives.crypto_aead_xchacha20poly1305_ietf_decrypt(
                blob[12:], aad, blob[:12] + bytes(12), self._wrap_key
            )
        except Exception:
            raise ffi.JsException("OperationError", "") from None

    async def sign(self, message: bytes) -> bytes:
        self._need()
        return bytes(self._sign_key.sign(message).signature)

    def _need(self) -> None:
        if self.record is None:
            raise ffi.JsException("InvalidStateError", "no keys")


def run(worker: Worker, cmd: Any, args: Any = None) -> dict[str, Any]:
    reply = json.loads(asyncio.run(worker.handle_json(json.dumps({"cmd": cmd, "args": args}))))
    assert set(reply) in ({"ok", "result"}, {"ok", "error"}), reply
    return reply  # type: ignore[no-any-return]


def ok(worker: Worker, cmd: str, args: Any = None) -> Any:
    reply = run(worker, cmd, args)
    assert reply["ok"], reply
    return reply["result"]


def code(worker: Worker, cmd: Any, args: Any = None) -> str:
    reply = run(worker, cmd, args)
    assert reply["ok"] is False, reply
    return str(reply["error"]["code"])


@pytest.fixture
def worker() -> Worker:
    return register(Worker(device_js=FakeWebCrypto()))


@pytest.fixture(scope="module")
def light_account() -> account.NewAccount:
    return account.create_account(PASSPHRASE, now=int(time.time()), params=Argon2idParams())


def test_ping_status_and_unknown(worker: Worker) -> None:
    assert ok(worker, "ping") == {"pong": True}
    status = ok(worker, "status")
    assert status["backend"] == "pynacl" and status["unlocked"] is False
    assert code(worker, "exec", {"source": "import os"}) == "unknown_command"
    assert code(worker, None) == "bad_request"
    assert code(worker, "ping", "not an object") == "bad_request"
    assert json.loads(asyncio.run(worker.handle_json("{not json")))["error"]["code"] == "bad_request"
    assert json.loads(asyncio.run(worker.handle_json("[1]")))["error"]["code"] == "bad_request"


def test_records_round_trip_and_lock(worker: Worker, light_account: account.NewAccount) -> None:
    bundle = b64e(light_account.unlocked.public.encoded)
    assert code(worker, "records.seal_batch", {"records": []}) == "locked"
    assert code(worker, "account.unlock_passphrase", {"bundle": bundle, "passphrase": "wrong"}) == "wrong_passphrase"
    summary = ok(worker, "account.unlock_passphrase", {"bundle": bundle, "passphrase": PASSPHRASE})["account"]
    assert b64d(summary["account_id"]) == light_account.unlocked.account_id
    payloads = [b"", b"note", secrets.token_bytes(3000)]
    sealed = ok(worker, "records.seal_batch", {"records": [{"payload": b64e(p)} for p in payloads]})["records"]
    opened = ok(worker, "records.open_batch", {"records": sealed})["records"]
    assert [b64d(r["payload"]) for r in opened] == payloads
    # The same bytes open with the keyring in plain pycore.
    unlocked = light_account.unlocked
    records = [
        envelope.SealedRecord(b64d(r["id"]), r["revision"], r["epoch"], b64d(r["wrapped_key"]), b64d(r["content"]))
        for r in sealed
    ]
    assert [o.payload for o in envelope.open_records(unlocked.scope, unlocked.keyring.keys, records)] == payloads  # type: ignore[union-attr]
    tampered = dict(sealed[1], content=b64e(b64d(sealed[1]["content"])[:-1] + b"\x00"))
    assert ok(worker, "records.open_batch", {"records": [tampered]})["records"][0]["code"] == "decryption_failed"
    assert ok(worker, "account.lock")["locked"] is True
    assert code(worker, "records.open_batch", {"records": sealed}) == "locked"


def test_device_keys_remember_and_sign(worker: Worker) -> None:
    assert code(worker, "device.sign_login", {
        "origin": "o", "action": "login", "account_id": b64e(bytes(16)), "challenge": b64e(bytes(32)),
    }) == "device_key_unavailable"
    device = ok(worker, "device.init")
    assert device["created"] is True and ok(worker, "device.init")["created"] is False
    created = ok(worker, "account.create", {"passphrase": PASSPHRASE})
    assert len(created["recovery_phrase"]) == 24
    remembered = ok(worker, "device.remember", {"passphrase": PASSPHRASE, "name": "unit"})
    ok(worker, "account.lock")
    unlocked = ok(worker, "account.unlock_device", {"bundle": remembered["bundle"], "wrapped": remembered["wrapped"]})
    assert unlocked["account"]["account_id"] == created["account"]["account_id"]
    blob = bytearray(b64d(remembered["wrapped"]))
    blob[20] ^= 1
    assert code(worker, "account.unlock_device", {"bundle": remembered["bundle"], "wrapped": b64e(bytes(blob))}) == (
        "decryption_failed"
    )

    account_id = secrets.token_bytes(16)
    headers = ok(worker, "device.sign_request", {
        "origin": "http://localhost:8000", "method": "POST", "path": "/api/v1/records", "query": "b=2&a=1",
        "account_id": b64e(account_id), "body": b64e(b"{}"), "timestamp": 1_800_000_000,
    })["headers"]
    message = wire.request_bytes(
        "http://localhost:8000", "POST", "/api/v1/records", "b=2&a=1", account_id, b64d(device["device_id"]),
        1_800_000_000, b64d(headers[wire.HEADER_NONCE]), wire.body_hash(b"{}"),
    )
    nacl.signing.VerifyKey(b64d(device["signing_public"])).verify(message, b64d(headers[wire.HEADER_SIGNATURE]))
    assert ok(worker, "device.forget")["forgotten"] is True
    assert code(worker, "device.remember", {"passphrase": PASSPHRASE, "name": "gone"}) == "device_key_unavailable"


def test_without_device_module_device_commands_are_unavailable() -> None:
    bare = register(Worker())
    assert code(bare, "device.init") == "unavailable"


def test_the_production_table_has_no_test_commands() -> None:
    """The app contract only (docs/worker-api.md): protocol, conformance and bench commands come from the test wheel."""
    production = Worker(device_js=FakeWebCrypto())
    for cmd in ("device.sign_request", "records.open_batch", "account.create", "conformance.install", "vectors.run"):
        assert code(production, cmd) == "unknown_command"
    assert not set(TEST_COMMANDS) & set(COMMANDS)


def test_conformance_commands_in_cpython(worker: Worker) -> None:
    vectors = Path(__file__).resolve().parents[1] / "vectors"
    cases = [json.loads(p.read_text()) for p in sorted(vectors.glob("*/*.json"))]
    got = ok(worker, "vectors.run", {"cases": cases})
    assert set(got["results"].values()) == {"pass"}
    assert code(worker, "primitives.run_suite", {"vectors": {"x": 1}}) == "bad_request"


def test_every_command_answers_garbage_with_a_typed_error(worker: Worker) -> None:
    untyped = []
    for cmd in worker.commands:
        for args in ({"records": "x"}, {"passphrase": 5}, {"bundle": "!!"}, {"cases": {}}, {"vectors": []}):
            reply = run(worker, cmd, args)
            if not reply["ok"] and reply["error"]["code"] == "internal_error":
                untyped.append((cmd, args, reply["error"]))
    assert untyped == []
    assert ok(worker, "ping") == {"pong": True}


def test_adapters_map_javascript_errors() -> None:
    fake = FakeWebCrypto()
    info = asyncio.run(webcrypto.ensure_device(fake))
    wrapper = webcrypto.WebCryptoDeviceWrapper(fake)
    blob = asyncio.run(wrapper.wrap(b"k" * 32, b"aad"))
    assert len(blob) == 12 + 32 + 16
    assert asyncio.run(wrapper.unwrap(blob, b"aad")) == b"k" * 32
    with pytest.raises(DecryptionError):
        asyncio.run(wrapper.unwrap(blob, b"other aad"))
    with pytest.raises(DecryptionError):
        asyncio.run(wrapper.unwrap(b"short", b"aad"))
    signer = webcrypto.WebCryptoSigner(fake, info)
    assert signer.public_key == info.signing_public and signer.device_id == info.device_id
    assert len(asyncio.run(signer.sign(b"m"))) == 64
    asyncio.run(fake.forget())
    with pytest.raises(DeviceKeyUnavailable):
        asyncio.run(signer.sign(b"m"))
    assert "non-extractable" in repr(wrapper)


def test_native_arguments_take_bytes_and_answer_bytes(worker: Worker, light_account: account.NewAccount) -> None:
    """What binary messages reach (Worker.handle after Pyodide's to_py): bytes in, bytes out, same checks."""
    bundle = light_account.unlocked.public.encoded
    args = {"bundle": memoryview(bundle), "passphrase": PASSPHRASE}
    unlocked = asyncio.run(worker.handle("account.unlock_passphrase", args))
    assert unlocked["ok"] and unlocked["result"]["account"]["account_id"] == light_account.unlocked.account_id
    sealed = asyncio.run(worker.handle("records.seal_batch", {"records": [{"payload": b"raw bytes"}]}))["result"]
    assert isinstance(sealed["records"][0]["content"], bytes)
    opened = asyncio.run(worker.handle("records.open_batch", sealed))["result"]["records"][0]
    assert opened["payload"] == b"raw bytes"
    short = dict(sealed["records"][0], id=bytes(15))
    assert asyncio.run(worker.handle("records.open_batch", {"records": [short]}))["error"]["code"] == "bad_request"
