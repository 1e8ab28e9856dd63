"""Replays Vellum's own frozen vectors (``tests/vectors/<family>/*.json``): one case per file, with an ``expect`` field
("success" or the pycore error code the case must raise).

Pure Python, stdlib + pycore only, no pytest: the same functions run in CPython (tests/unit/test_vectors.py) and inside
Pyodide against the libsodium.js backend. ``run_case`` returns quietly or raises AssertionError.
"""

from __future__ import annotations

import base64
from typing import Any

from pycore import account, bundle, envelope, export, factors, index, recovery, slots
from pycore.errors import VellumError
from pycore.kdf import Argon2idParams
from pycore.public import bundle_public, wire


def b(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _expect(case: dict[str, Any], fn: Any) -> Any:
    expect = case["expect"]
    try:
        result = fn()
    except VellumError as exc:
        assert expect == exc.code, f"{case['name']}: expected {expect}, got {exc.code} ({exc.message})"
        return None
    assert expect == "success", f"{case['name']}: expected {expect}, got success"
    return result


def _scope(i: dict[str, Any]) -> envelope.RecordScope:
    return envelope.RecordScope(b(i["account_id"]), b(i["collection_id"]))


def _sealed(r: dict[str, Any]) -> envelope.SealedRecord:
    return envelope.SealedRecord(b(r["record_id"]), r["revision"], r["epoch"], b(r["wrapped_key"]), b(r["content"]))


def run_envelope(case: dict[str, Any]) -> None:
    i = case["input"]
    keys = {int(k): b(v) for k, v in i["epoch_keys"].items()}
    sealed = _sealed(i["record"])

    def go() -> envelope.OpenedRecord:
        hw = i.get("high_water")
        if hw is not None:
            envelope.HighWater(hw["revision"], b(hw["content_hash"])).check(sealed)
        return envelope.open_record(_scope(i), keys, sealed)

    opened = _expect(case, go)
    if opened is not None:
        out = case["output"]
        assert opened.record_type == out["record_type"], case["name"]
        assert opened.payload == b(out["payload"]), case["name"]
        assert opened.content_hash == b(out["content_hash"]), case["name"]


def _login_factor(i: dict[str, Any]) -> factors.LoginFactorKeys:
    if i["factor"] == "passphrase":
        params = Argon2idParams(i["opslimit"], i["memlimit_kib"])
        return factors.passphrase_keys(i["passphrase"], b(i["salt"]), params)
    return factors.recovery_keys(recovery.entropy_from_phrase(i["words"]))


def _factor_box(i: dict[str, Any]) -> factors.BoxKeyPair:
    kind = i["factor"]
    if kind in ("passphrase", "recovery"):
        return _login_factor(i).box
    if kind == "passkey":
        return factors.passkey_keys(b(i["prf_output"]))
    if kind == "device":
        return factors.BoxKeyPair.from_seed(b(i["device_seed"]))
    raise AssertionError(f"unknown factor {kind}")


def run_slot(case: dict[str, Any]) -> None:
    i = case["input"]
    box = _factor_box(i)
    assert box.public == b(i["box_public"]), f"{case['name']}: factor public key differs"
    if "login_public" in i:
        assert _login_factor(i).login.public == b(i["login_public"]), f"{case['name']}: login key differs"
    ak = _expect(case, lambda: slots.open_slot(b(i["account_id"]), b(i["slot_id"]), b(i["slot"]), box))
    if ak is not None:
        assert ak == b(case["output"]["account_key"]), case["name"]


def run_bundle(case: dict[str, Any]) -> None:
    i = case["input"]
    pin = None
    if i.get("pin"):
        p = i["pin"]
        pin = bundle_public.Pin(p["version"], b(p["hash"]), b(p["identity_public"]))
    chain = [b(x) for x in i["chain"]]

    def go() -> Any:
        newer = bundle_public.verify_chain(pin, chain, bundle.verify_signature, account_id=b(i["account_id"]))
        if "passphrase" in i and newer:
            return account.unlock_with_passphrase(newer[-1], i["passphrase"]).bundle
        return newer

    out = _expect(case, go)
    if out is not None and "output" in case:
        o = case["output"]
        assert isinstance(out, bundle.UnlockedBundle)
        assert out.version == o["version"], case["name"]
        assert out.keyring.active.epoch == o["write_epoch"], case["name"]
        assert out.account_key == b(o["account_key"]), case["name"]
        assert bundle.fingerprint(out.public.header.identity_public) == o["fingerprint"], case["name"]


def run_recovery(case: dict[str, Any]) -> None:
    i = case["input"]
    entropy = _expect(case, lambda: recovery.entropy_from_phrase(i["phrase"]))
    if entropy is not None:
        assert entropy == b(case["output"]["entropy"]), case["name"]
        assert " ".join(recovery.phrase_from_entropy(entropy)) == case["output"]["words"], case["name"]


def run_wire(case: dict[str, Any]) -> None:
    i = case["input"]
    kind = i["kind"]
    if kind == "request":
        message = wire.request_bytes(
            i["origin"],
            i["method"],
            i["path"],
            i["query"],
            b(i["account_id"]),
            b(i["device_id"]),
            i["timestamp"],
            b(i["nonce"]),
            wire.body_hash(b(i["body"])),
        )
    elif kind == "login":
        message = wire.login_statement(
            i["origin"], i["action"], b(i["account_id"]), b(i["challenge"]), b(i["device_id"]), b(i["device_public"])
        )
    else:
        message = wire.step_up_statement(
            i["origin"], i["action"], b(i["account_id"]), b(i["device_id"]), b(i["challenge"]), b(i["body"])
        )
    o = case["output"]
    assert message == b(o["message"]), f"{case['name']}: canonical bytes differ"
    for signer in o["signatures"]:
        key = factors.SigningKeyPair.from_seed(b(signer["seed"]))
        assert key.public == b(signer["public"]), case["name"]
        assert key.sign(message) == b(signer["signature"]), f"{case['name']}: signature differs"
        bundle.verify_signature(b(signer["signature"]), message, key.public)


def run_index(case: dict[str, Any]) -> None:
    i = case["input"]
    keys = index.IndexKeys.from_account_key(b(i["account_key"]))
    number = i["number"]

    def go() -> list[index.IndexEntry]:
        result = index.open_shards(keys, b(i["account_id"]), b(i["collection_id"]), {number: b(i["shard"])})[number]
        if isinstance(result, VellumError):
            raise result
        return result

    entries = _expect(case, go)
    if entries is not None:
        o = case["output"]
        assert index.shard_generation(b(i["shard"])) == o["generation"], case["name"]
        got = [
            {
                "record_id": e(x.record_id),
                "revision": x.revision,
                "content_hash": e(x.content_hash),
                "updated_at": x.updated_at,
                "title": x.title,
                "snippet": x.snippet,
                "flags": x.flags,
            }
            for x in entries
        ]
        assert got == o["entries"], case["name"]


def run_export(case: dict[str, Any]) -> None:
    i = case["input"]
    info = _expect(case, lambda: export.read_export(b(i["file"]), i["passphrase"]))
    if info is not None:
        o = case["output"]
        assert info.created_at == o["created_at"], case["name"]
        got = [{"id": n.record_id, "title": n.title, "body": n.body, "updated_at": n.updated_at} for n in info.notes]
        assert got == o["notes"], case["name"]


RUNNERS = {
    "envelope": run_envelope,
    "slot": run_slot,
    "bundle": run_bundle,
    "recovery": run_recovery,
    "wire": run_wire,
    "index": run_index,
    "export": run_export,
}


def run_case(case: dict[str, Any]) -> None:
    RUNNERS[case["family"]](case)


def run_all(cases: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for case in cases:
        run_case(case)
        counts[case["family"]] = counts.get(case["family"], 0) + 1
    return counts
