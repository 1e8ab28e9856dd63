"""Test-only worker commands: the protocol-level ones (account, device keys, records) and the conformance suites.

They ship only in the test wheel (``vellum_testing``, built by ``tests/browser/helpers.py``) that test and benchmark
pages load explicitly (``/worker/crypto-worker.js?testing=1``); ``register`` adds them to one worker's table. A
production page's worker never has them: it answers ``unknown_command`` (tests/browser/test_worker_errors.py).
"""

from __future__ import annotations

import importlib
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from pycore import primitives
from pycore.app.worker import Args, Handler, Worker
from pycore.errors import BadRequest, DeviceKeyUnavailable, Locked, Unavailable, VellumError
from pycore.public import wire

CONFORMANCE_MODULES = {
    "vectors": "tests.conformance.vectors_suite",
    "primitives": "tests.conformance.primitives_suite",
}


@dataclass
class _State:
    """What the protocol commands hold for one worker (apart from the app's session): memory only."""

    unlocked: Any = field(default=None, repr=False)  # pycore.account.Unlocked
    device: Any = None  # pycore.app.browser.webcrypto.DeviceInfo

    def require_unlocked(self) -> Any:
        if self.unlocked is None:
            raise Locked("Unlock the account first.")
        return self.unlocked


_STATES: weakref.WeakKeyDictionary[Worker, _State] = weakref.WeakKeyDictionary()


def _state(worker: Worker) -> _State:
    return _STATES.setdefault(worker, _State())


def _device_module(worker: Worker) -> Any:
    if worker.device_js is None:
        raise Unavailable("This worker has no WebCrypto device keys.")
    return worker.device_js


async def _device(worker: Worker) -> Any:
    from pycore.app.browser import webcrypto

    state = _state(worker)
    if state.device is None:
        found = await webcrypto.load_device(_device_module(worker))
        if found is None:
            raise DeviceKeyUnavailable("This device has no device key yet.")
        state.device = found
    return state.device


# --- commands: account ------------------------------------------------------------------------------------------------


def _summary(unlocked: Any) -> dict[str, Any]:
    from pycore.bundle import fingerprint

    bundle = unlocked.bundle
    return {
        "account_id": bundle.account_id,
        "version": bundle.version,
        "write_epoch": bundle.keyring.active.epoch,
        "fingerprint": fingerprint(bundle.public.header.identity_public),
        "bundle_hash": bundle.public.hash,
    }


def _parse_bundle(args: Args) -> Any:
    from pycore.public.bundle_public import MAX_BUNDLE_SIZE, parse_bundle

    return parse_bundle(args.binary("bundle", max_size=MAX_BUNDLE_SIZE))


async def account_create(worker: Worker, args: Args) -> dict[str, Any]:
    from pycore import account

    passphrase = args.text("passphrase", max_length=1024)
    now = args.integer("now", default=int(time.time()))
    new = account.create_account(passphrase, now=now)
    pass_slot = new.unlocked.public.passphrase.slot_id
    _state(worker).unlocked = account.Unlocked(new.unlocked, pass_slot, new.passphrase.box, new.passphrase)
    return {
        "account": _summary(_state(worker).unlocked),
        "bundle": new.unlocked.public.encoded,
        "recovery_phrase": new.recovery_phrase,
        "login_public": new.passphrase.login.public,
        "recovery_login_public": new.recovery.login.public,
    }


async def account_unlock_passphrase(worker: Worker, args: Args) -> dict[str, Any]:
    from pycore import account

    passphrase = args.text("passphrase", max_length=1024)
    unlocked = account.unlock_with_passphrase(_parse_bundle(args), passphrase)
    _state(worker).unlocked = unlocked
    return {"account": _summary(unlocked)}


async def account_unlock_device(worker: Worker, args: Args) -> dict[str, Any]:
    from pycore import account
    from pycore.app.browser import webcrypto as browser

    blob = args.binary("wrapped", max_size=1024)
    public = _parse_bundle(args)
    device = await _device(worker)
    wrapper = browser.WebCryptoDeviceWrapper(_device_module(worker))
    unlocked = await account.unlock_with_device(public, device.device_id, wrapper, blob)
    _state(worker).unlocked = unlocked
    return {"account": _summary(unlocked)}


async def account_lock(worker: Worker, args: Args) -> dict[str, Any]:
    _state(worker).unlocked = None
    return {"locked": True}


# --- commands: device keys --------------------------------------------------------------------------------------------


def _device_answer(info: Any) -> dict[str, Any]:
    return {"device_id": info.device_id, "signing_public": info.signing_public, "created": info.created}


async def device_init(worker: Worker, args: Args) -> dict[str, Any]:
    from pycore.app.browser import webcrypto as browser

    info = await browser.ensure_device(_device_module(worker))
    _state(worker).device = info
    return _device_answer(info)


async def device_forget(worker: Worker, args: Args) -> dict[str, Any]:
    await _device_module(worker).forget()
    _state(worker).device = None
    return {"forgotten": True}


async def device_remember(worker: Worker, args: Args) -> dict[str, Any]:
    """Turn on "remember this device" for the account this worker holds, through the one builder
    (``lifecycle.remember_device``) against the in-memory relay: the next bundle version and the wrapped blob."""
    from pycore import lifecycle
    from pycore.app.browser import webcrypto
    from tests.support.memory import MemoryRelay

    state = _state(worker)
    unlocked = state.require_unlocked()
    passphrase = args.text("passphrase", max_length=1024)
    name = args.text("name", max_length=128)
    device = await _device(worker)
    relay = MemoryRelay(unlocked.bundle.public.encoded)
    confirmation = lifecycle.confirm_passphrase(unlocked.bundle.public, passphrase)
    new, blob = await lifecycle.remember_device(
        relay.transport(device.device_id), unlocked, confirmation, device_id=device.device_id,
        signing_public=device.signing_public, name=name,
        wrapper=webcrypto.WebCryptoDeviceWrapper(_device_module(worker)),
    )
    state.unlocked = new
    return {"bundle": new.bundle.public.encoded, "version": new.bundle.version, "wrapped": blob}


async def device_sign_login(worker: Worker, args: Args) -> dict[str, Any]:
    """The device's co-signature of a login statement (proof of possession); the statement binds this device."""
    from pycore.app.browser import webcrypto as browser

    action = args.text("action", max_length=32)
    if action not in wire.LOGIN_ACTIONS:
        raise BadRequest(f"action must be one of {sorted(wire.LOGIN_ACTIONS)}")
    origin = args.text("origin", max_length=256)
    account_id = args.binary("account_id", size=wire.ACCOUNT_ID_SIZE)
    challenge = args.binary("challenge", size=wire.CHALLENGE_SIZE)
    device = await _device(worker)
    statement = wire.login_statement(origin, action, account_id, challenge, device.device_id, device.signing_public)
    signature = await browser.WebCryptoSigner(_device_module(worker), device).sign(statement)
    return {"signature": signature, **_device_answer(device)}


async def device_sign_request(worker: Worker, args: Args) -> dict[str, Any]:
    """The signature headers of one relay request, signed by the device's Ed25519 key."""
    from pycore.app.browser import webcrypto as browser

    origin = args.text("origin", max_length=256)
    method = args.text("method", max_length=16)
    path = args.text("path", max_length=2048)
    query = args.text("query", max_length=8192, default="")
    account_id = args.binary("account_id", size=wire.ACCOUNT_ID_SIZE)
    timestamp = args.integer("timestamp", default=int(time.time()))
    nonce = args.binary("nonce", size=wire.NONCE_SIZE, default=None) or primitives.randombytes(wire.NONCE_SIZE)
    body_hash = wire.body_hash(args.binary("body", max_size=16 << 20, default=b""))
    device = await _device(worker)
    message = wire.request_bytes(origin, method, path, query, account_id, device.device_id, timestamp, nonce, body_hash)
    signature = await browser.WebCryptoSigner(_device_module(worker), device).sign(message)
    return {"headers": wire.signature_headers(account_id, device.device_id, timestamp, nonce, signature)}


# --- commands: records ------------------------------------------------------------------------------------------------

_RECORD_TYPES = {"tombstone": 0, "note": 1, "index_shard": 2}


def _sealed_json(record: Any) -> dict[str, Any]:
    return {
        "id": record.record_id,
        "revision": record.revision,
        "epoch": record.epoch,
        "wrapped_key": record.wrapped_key,
        "content": record.content,
    }


async def records_seal_batch(worker: Worker, args: Args) -> dict[str, Any]:
    """Seal many records under the account's write epoch: two batched AEAD calls for the whole batch."""
    from pycore import envelope

    bundle = _state(worker).require_unlocked().bundle
    plain = []
    for item in args.objects("records"):
        kind = item.text("type", max_length=16, default="note")
        if kind not in _RECORD_TYPES:
            raise BadRequest(f"type must be one of {sorted(_RECORD_TYPES)}")
        revision = item.integer("revision", low=1, default=1)
        if revision == 1:
            prev_hash = item.binary("prev_hash", size=envelope.HASH_SIZE, default=envelope.NO_PREVIOUS)
        else:  # a later revision chains onto the content hash of the one before; no silent default
            prev_hash = item.binary("prev_hash", size=envelope.HASH_SIZE)
        record_id = item.binary("id", size=envelope.RECORD_ID_SIZE, default=None) or envelope.new_record_id()
        payload = item.binary("payload", max_size=envelope.MAX_CONTENT_SIZE // 2)
        record_type = envelope.RecordType(_RECORD_TYPES[kind])
        plain.append(envelope.PlainRecord(record_id, revision, prev_hash, record_type, payload))
    sealed = envelope.seal_records(bundle.scope, bundle.write_key, plain)
    return {"records": [_sealed_json(record) for record in sealed]}


async def records_open_batch(worker: Worker, args: Args) -> dict[str, Any]:
    """Open many records; each answer is the record or the pycore error that refused it (one bad record never stops
    the others)."""
    from pycore import envelope

    bundle = _state(worker).require_unlocked().bundle
    sealed = [
        envelope.SealedRecord(
            item.binary("id", size=envelope.RECORD_ID_SIZE),
            item.integer("revision", low=1),
            item.integer("epoch", low=1, high=2**32 - 1),
            item.binary("wrapped_key", max_size=1024),
            item.binary("content", max_size=envelope.MAX_CONTENT_SIZE),
        )
        for item in args.objects("records")
    ]
    names = {value: name for name, value in _RECORD_TYPES.items()}
    out: list[dict[str, Any]] = []
    for record, opened in zip(sealed, envelope.open_records(bundle.scope, bundle.keyring.keys, sealed), strict=True):
        if isinstance(opened, VellumError):
            out.append({"ok": False, "id": record.record_id, "code": opened.code, "message": opened.message})
        else:
            out.append(
                {
                    "ok": True,
                    "id": opened.record_id,
                    "revision": opened.revision,
                    "epoch": opened.epoch,
                    "type": names[int(opened.record_type)],
                    "payload": opened.payload,
                    "content_hash": opened.content_hash,
                }
            )
    return {"records": out}


# --- commands: conformance ------------------------------------------------------------------------------


def _conformance(name: str) -> Any:
    try:
        return importlib.import_module(CONFORMANCE_MODULES[name])
    except ImportError:
        raise Unavailable("The conformance suites are not installed in this worker (test builds only).") from None


async def vectors_run(worker: Worker, args: Args) -> dict[str, Any]:
    """Replay frozen protocol vectors (tests/vectors/*/*.json, passed in as data) through the shared suite."""
    suite = _conformance("vectors")
    results: dict[str, str] = {}
    counts: dict[str, int] = {}
    for case in args.array("cases", max_items=1000):
        known = isinstance(case, dict) and isinstance(case.get("name"), str) and case.get("family") in suite.RUNNERS
        if not known:
            raise BadRequest("each case needs a name and a known family")
        try:
            suite.run_case(case)
            outcome = "pass"
        except AssertionError as exc:
            outcome = f"fail: {exc}"
        except VellumError as exc:
            outcome = f"error: {exc.code}"
        results[f"{case['family']}/{case['name']}"] = outcome
        counts[case["family"]] = counts.get(case["family"], 0) + 1
    return {"results": results, "counts": counts}


class ConformanceFailed(VellumError):
    """A conformance suite found a primitive that disagrees with its vectors (test pages only)."""

    code = "conformance_failed"


async def primitives_run_suite(worker: Worker, args: Args) -> dict[str, Any]:
    """The shared primitives suite over external vectors (Wycheproof, BIP39, Argon2id), passed in as parsed JSON."""
    suite = _conformance("primitives")
    vectors = args.mapping("vectors")
    missing = sorted({*suite.VECTOR_FILES, *suite.COMMITTED_VECTOR_FILES} - set(vectors))
    if missing:
        raise BadRequest(f"missing vector sets {missing}")
    try:
        return {"summaries": suite.run_all(vectors)}
    except AssertionError as exc:
        raise ConformanceFailed(str(exc)[:500]) from None




TEST_COMMANDS: dict[str, Handler] = {
    "account.create": account_create,
    "account.unlock_passphrase": account_unlock_passphrase,
    "account.unlock_device": account_unlock_device,
    "account.lock": account_lock,
    "device.init": device_init,
    "device.forget": device_forget,
    "device.remember": device_remember,
    "device.sign_login": device_sign_login,
    "device.sign_request": device_sign_request,
    "records.seal_batch": records_seal_batch,
    "records.open_batch": records_open_batch,
    "vectors.run": vectors_run,
    "primitives.run_suite": primitives_run_suite,
}


def register(worker: Worker) -> Worker:
    """Add the test commands to this worker's table (test and benchmark pages only)."""
    worker.commands.update(TEST_COMMANDS)
    return worker
