"""Generate Vellum's own test vectors into tests/vectors/<family>/<name>.json — once. Then they are frozen.

Randomness comes from a seeded BLAKE2b stream through the primitives layer's private seam, so a rerun with --force
reproduces every byte except sealed boxes (libsodium draws their ephemeral keys itself): the vectors are checked by
opening and verifying, never by regenerating. Existing files are never overwritten without --force; new cases are added
as new files.

    python tools/make_vectors.py [--force]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pycore import (  # noqa: E402
    account,
    bundle,
    envelope,
    export,
    factors,
    index,
    primitives,
    recovery,
    slots,
)
from pycore.kdf import Argon2idParams  # noqa: E402
from pycore.public import bundle_public, wire  # noqa: E402

OUT = ROOT / "tests" / "vectors"
NOW = 1_790_000_000


def e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Drbg:
    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.counter = 0

    def __call__(self, size: int) -> bytes:
        out = b""
        while len(out) < size:
            out += hashlib.blake2b(self.seed + self.counter.to_bytes(8, "big"), digest_size=64).digest()
            self.counter += 1
        return out[:size]


CASES: list[dict[str, Any]] = []


def case(family: str, name: str, description: str, expect: str, inp: dict[str, Any], out: dict[str, Any] | None = None):
    c = {"family": family, "name": name, "description": description, "expect": expect, "input": inp}
    if out is not None:
        c["output"] = out
    CASES.append(c)


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


# --- envelopes --------------------------------------------------------------------------------------------------------


def envelopes() -> None:
    account_id, collection_id = primitives.randombytes(16), primitives.randombytes(16)
    scope = envelope.RecordScope(account_id, collection_id)
    k1, k2 = primitives.randombytes(32), primitives.randombytes(32)
    rid = primitives.randombytes(16)
    key1 = envelope.EpochKey(1, k1)
    note = json.dumps({"title": "Vector note", "body": "Hello, Vellum.\n"}).encode()
    r1 = envelope.seal_record(
        scope, key1, envelope.PlainRecord(rid, 1, envelope.NO_PREVIOUS, envelope.RecordType.NOTE, note)
    )
    note2 = json.dumps({"title": "Vector note", "body": "Hello again.\n"}).encode()
    r2 = envelope.seal_record(
        scope, key1, envelope.PlainRecord(rid, 2, r1.content_hash, envelope.RecordType.NOTE, note2)
    )
    r2_fork = envelope.seal_record(
        scope, key1, envelope.PlainRecord(rid, 2, r1.content_hash, envelope.RecordType.NOTE, b'{"title":"fork"}')
    )
    r2_other_parent = envelope.seal_record(
        scope, key1, envelope.PlainRecord(rid, 2, bytes(range(32)), envelope.RecordType.NOTE, note2)
    )
    tomb = envelope.seal_record(
        scope, key1, envelope.PlainRecord(rid, 3, r2.content_hash, envelope.RecordType.TOMBSTONE, b"")
    )
    r1_epoch2 = envelope.rewrap_records(scope, {1: k1}, envelope.EpochKey(2, k2), [r1])[0]
    assert isinstance(r1_epoch2, envelope.SealedRecord)
    other = envelope.seal_record(
        scope,
        key1,
        envelope.PlainRecord(primitives.randombytes(16), 1, envelope.NO_PREVIOUS, envelope.RecordType.NOTE, b"x"),
    )

    def rec(r: envelope.SealedRecord, **over: Any) -> dict[str, Any]:
        d = {
            "record_id": e(r.record_id),
            "revision": r.revision,
            "epoch": r.epoch,
            "wrapped_key": e(r.wrapped_key),
            "content": e(r.content),
        }
        d.update({k: e(v) if isinstance(v, bytes) else v for k, v in over.items()})
        return d

    base = {"account_id": e(account_id), "collection_id": e(collection_id), "epoch_keys": {"1": e(k1)}}

    def ok(name: str, desc: str, r: envelope.SealedRecord, rtype: int, payload: bytes, **extra: Any) -> None:
        case(
            "envelope",
            name,
            desc,
            "success",
            {**base, **extra, "record": rec(r)},
            {"record_type": rtype, "payload": e(payload), "content_hash": e(r.content_hash)},
        )

    ok("note-revision-1", "a note's first revision", r1, 1, note)
    ok(
        "note-revision-2",
        "the next revision, chained to the first",
        r2,
        1,
        note2,
        high_water={"revision": 1, "content_hash": e(r1.content_hash)},
    )
    ok("tombstone", "a sealed delete", tomb, 0, b"", high_water={"revision": 2, "content_hash": e(r2.content_hash)})
    case(
        "envelope",
        "rewrapped-to-epoch-2",
        "a key-only update to epoch 2 opens with the epoch-2 key",
        "success",
        {**base, "epoch_keys": {"1": e(k1), "2": e(k2)}, "record": rec(r1_epoch2)},
        {"record_type": 1, "payload": e(note), "content_hash": e(r1.content_hash)},
    )

    def bad(name: str, desc: str, expect: str, record: dict[str, Any], **extra: Any) -> None:
        case("envelope", name, desc, expect, {**base, **extra, "record": record})

    bad(
        "wrong-account",
        "the account id in the associated data differs",
        "decryption_failed",
        rec(r1),
        account_id=e(flip(account_id, 0)),
    )
    bad(
        "wrong-collection",
        "the collection id differs",
        "decryption_failed",
        rec(r1),
        collection_id=e(flip(collection_id, 5)),
    )
    bad(
        "moved-id", "the record served under another record id", "decryption_failed", rec(r1, record_id=other.record_id)
    )
    bad(
        "swapped-wrapped-key",
        "another record's wrapped key",
        "decryption_failed",
        rec(r1, wrapped_key=other.wrapped_key),
    )
    bad(
        "revision-metadata-mismatch",
        "the relay's revision number differs from the sealed one",
        "bad_format",
        rec(r1, revision=2),
    )
    c = bytearray(r1.content)
    c[3:11] = (2).to_bytes(8, "big")
    w = bytearray(r1.wrapped_key)
    w[5:13] = (2).to_bytes(8, "big")
    bad(
        "revision-altered",
        "revision changed consistently in every header",
        "decryption_failed",
        rec(r1, revision=2, content=bytes(c), wrapped_key=bytes(w)),
    )
    bad(
        "prev-hash-altered",
        "one bit of the previous-revision hash flipped",
        "decryption_failed",
        rec(r2, content=flip(r2.content, 11)),
    )
    bad(
        "forged-tombstone",
        "the deleted flag set on a note by the relay",
        "decryption_failed",
        rec(r1, content=flip(r1.content, 2)),
    )
    bad(
        "tombstone-flag-cleared",
        "the deleted flag cleared on a tombstone",
        "decryption_failed",
        rec(tomb, content=flip(tomb.content, 2)),
    )
    w = bytearray(r1.wrapped_key)
    w[1:5] = (2).to_bytes(4, "big")
    bad(
        "epoch-altered",
        "the wrapped key claims epoch 2 and the device has epoch 2",
        "decryption_failed",
        rec(r1, epoch=2, wrapped_key=bytes(w)),
        epoch_keys={"1": e(k1), "2": e(k2)},
    )
    bad("epoch-unknown", "sealed under an epoch this device does not have", "unknown_key", rec(r1_epoch2))
    bad(
        "wrong-epoch-key",
        "the epoch key is not the one it was sealed with",
        "decryption_failed",
        rec(r1),
        epoch_keys={"1": e(k2)},
    )
    bad(
        "ciphertext-bit-flip",
        "one bit of the content ciphertext flipped",
        "decryption_failed",
        rec(r1, content=flip(r1.content, len(r1.content) - 20)),
    )
    bad(
        "wrapped-key-bit-flip",
        "one bit of the wrapped key ciphertext flipped",
        "decryption_failed",
        rec(r1, wrapped_key=flip(r1.wrapped_key, 40)),
    )
    bad("content-truncated", "content cut short", "bad_format", rec(r1, content=r1.content[:60]))
    bad("wrapped-key-truncated", "wrapped key cut short", "bad_format", rec(r1, wrapped_key=r1.wrapped_key[:-1]))
    bad(
        "content-unknown-format",
        "a format byte from the future",
        "unsupported_version",
        rec(r1, content=b"\x02" + r1.content[1:]),
    )
    bad(
        "older-revision",
        "revision 1 served to a device that has seen revision 2",
        "record_rollback",
        rec(r1),
        high_water={"revision": 2, "content_hash": e(r2.content_hash)},
    )
    bad(
        "fork-same-revision",
        "a different revision 2 than the one this device has seen",
        "record_fork",
        rec(r2_fork),
        high_water={"revision": 2, "content_hash": e(r2.content_hash)},
    )
    bad(
        "fork-other-parent",
        "revision 2 that does not extend the revision 1 this device has",
        "record_fork",
        rec(r2_other_parent),
        high_water={"revision": 1, "content_hash": e(r1.content_hash)},
    )


# --- slots ------------------------------------------------------------------------------------------------------------


def slot_vectors() -> None:
    account_id, ak = primitives.randombytes(16), primitives.randombytes(32)
    floor = Argon2idParams()
    salt = primitives.randombytes(16)
    pp = factors.passphrase_keys("correct horse battery staple ✓", salt, floor)
    entropy = primitives.randombytes(32)
    rk = factors.recovery_keys(entropy)
    prf = primitives.randombytes(32)
    pk = factors.passkey_keys(prf)
    dseed = primitives.randombytes(32)
    dk = factors.BoxKeyPair.from_seed(dseed)
    entries = [
        (
            "passphrase",
            pp.box,
            {
                "passphrase": "correct horse battery staple ✓",
                "salt": e(salt),
                "opslimit": 3,
                "memlimit_kib": 65536,
                "login_public": e(pp.login.public),
            },
        ),
        (
            "recovery",
            rk.box,
            {"words": " ".join(recovery.phrase_from_entropy(entropy)), "login_public": e(rk.login.public)},
        ),
        ("passkey", pk, {"prf_output": e(prf)}),
        ("device", dk, {"device_seed": e(dseed)}),
    ]
    for kind, box, extra in entries:
        slot_id = primitives.randombytes(16)
        sealed = slots.seal_slot(account_id, slot_id, ak, box.public)
        base = {
            "factor": kind,
            "box_public": e(box.public),
            "account_id": e(account_id),
            "slot_id": e(slot_id),
            "slot": e(sealed),
            **extra,
        }
        case("slot", f"{kind}-slot", f"the {kind} factor opens its slot", "success", base, {"account_key": e(ak)})
        case(
            "slot",
            f"{kind}-slot-wrong-account",
            "the slot presented for another account",
            "decryption_failed",
            {**base, "account_id": e(flip(account_id, 3))},
        )
        case(
            "slot",
            f"{kind}-slot-wrong-slot-id",
            "the slot moved to another slot id",
            "decryption_failed",
            {**base, "slot_id": e(flip(slot_id, 7))},
        )
        case(
            "slot",
            f"{kind}-slot-bit-flip",
            "one bit of the sealed slot flipped",
            "decryption_failed",
            {**base, "slot": e(flip(sealed, 50))},
        )


# --- bundles ----------------------------------------------------------------------------------------------------------


def bundle_vectors() -> None:
    passphrase = "vector passphrase for bundles"
    new = account.create_account(passphrase, now=NOW)
    v1 = new.unlocked
    v2 = bundle.next_version(v1, keyring=v1.keyring.with_new_epoch(NOW + 1))
    v2_fork = bundle.next_version(v1, keyring=v1.keyring.with_new_epoch(NOW + 2))
    v3_identity = bundle.next_version(v2, new_identity=True, new_account_key=True)
    acc = e(v1.account_id)

    def pin(u: bundle.UnlockedBundle) -> dict[str, Any]:
        return {"version": u.version, "hash": e(u.public.hash), "identity_public": e(u.public.header.identity_public)}

    def out(u: bundle.UnlockedBundle) -> dict[str, Any]:
        return {
            "version": u.version,
            "write_epoch": u.keyring.active.epoch,
            "account_key": e(u.account_key),
            "fingerprint": bundle.fingerprint(u.public.header.identity_public),
        }

    def c(name: str, desc: str, expect: str, p: dict[str, Any] | None, chain: list[bytes], o: Any = None, unlock=True):
        inp = {"account_id": acc, "pin": p, "chain": [e(x) for x in chain]}
        if unlock:
            inp["passphrase"] = passphrase
        case("bundle", name, desc, expect, inp, o)

    c("first-use", "a new device accepts version 1 and opens it", "success", None, [v1.public.encoded], out(v1))
    c(
        "chain-v1-v2",
        "a routine rotation (new epoch) after the pinned version 1",
        "success",
        pin(v1),
        [v2.public.encoded],
        out(v2),
    )
    c(
        "identity-rotation",
        "version 3 hands the identity over to a new key (signed by both)",
        "success",
        pin(v2),
        [v3_identity.public.encoded],
        out(v3_identity),
    )
    c(
        "pinned-same",
        "the relay serves exactly the pinned version",
        "success",
        pin(v2),
        [v2.public.encoded],
        unlock=False,
    )
    c(
        "rolled-back",
        "version 1 served to a device pinned at version 2",
        "keyring_rollback",
        pin(v2),
        [v1.public.encoded],
    )
    c(
        "forked",
        "a different version 2 served to a device pinned at version 2",
        "keyring_fork",
        pin(v2),
        [v2_fork.public.encoded],
    )
    c(
        "bad-signature",
        "one bit of the identity signature flipped",
        "bad_bundle",
        pin(v1),
        [flip(v2.public.encoded, len(v2.public.encoded) - 2)],
    )
    c(
        "version-gap",
        "version 3 served to a device pinned at version 1",
        "bad_bundle",
        pin(v1),
        [v3_identity.public.encoded],
    )

    # Hand-built versions: the builder refuses to make these, a malicious relay or device would not.
    old_identity = v2.identity
    new_identity = v3_identity.identity

    def forge(
        base: bundle.UnlockedBundle,
        signer: factors.SigningKeyPair,
        handover: factors.SigningKeyPair | None,
        identity_public: bytes,
        prev: bundle.UnlockedBundle,
        params: tuple[int, int] | None = None,
        keyring_bytes: bytes | None = None,
    ) -> bytes:
        h = base.public.header
        header = bundle_public.BundleHeader(
            h.account_id, prev.version + 1, prev.public.hash, h.min_writer_version, h.write_epoch, identity_public
        )
        fs = list(base.public.factors)
        if params is not None:
            # Argon2idParams refuses weak values, so build the forged one around its check.
            weak = object.__new__(Argon2idParams)
            object.__setattr__(weak, "opslimit", params[0])
            object.__setattr__(weak, "memlimit_kib", params[1])
            p = fs[0]
            assert isinstance(p.meta, bundle_public.PassphraseMeta)
            fs[0] = dataclasses.replace(p, meta=bundle_public.PassphraseMeta(p.meta.salt, weak))
        body = bundle_public.encode_body(
            header, fs, keyring_bytes if keyring_bytes is not None else base.public.keyring
        )
        ho = handover.sign(bundle_public.handover_message(body)) if handover else None
        return bundle_public.encode_bundle(body, signer.sign(bundle_public.signed_message(body)), ho)

    c(
        "old-identity-after-rotation",
        "version 4 signed by the identity key that version 3 replaced",
        "bad_bundle",
        pin(v3_identity),
        [forge(v3_identity, old_identity, None, old_identity.public, v3_identity)],
    )
    c(
        "old-identity-claims-new",
        "version 4 naming the new identity but signed by the replaced key",
        "bad_bundle",
        pin(v3_identity),
        [forge(v3_identity, old_identity, None, new_identity.public, v3_identity)],
    )
    c(
        "missing-handover",
        "a new identity key without the previous key's signature",
        "bad_bundle",
        pin(v2),
        [forge(v3_identity, new_identity, None, new_identity.public, v2)],
    )
    c(
        "garbage-keyring",
        "a validly signed version whose keyring does not open",
        "bad_bundle",
        pin(v1),
        [forge(v1, v1.identity, None, v1.identity.public, v1, keyring_bytes=primitives.randombytes(200))],
    )
    fresh = account.create_account(passphrase, now=NOW)
    weak = forge(
        fresh.unlocked, fresh.unlocked.identity, None, fresh.unlocked.identity.public, fresh.unlocked, params=(2, 65536)
    )
    case(
        "bundle",
        "params-below-floor",
        "passphrase parameters below 64 MiB / t=3 (a downgrade)",
        "kdf_params",
        {
            "account_id": e(fresh.unlocked.account_id),
            "pin": pin(fresh.unlocked),
            "chain": [e(weak)],
            "passphrase": passphrase,
        },
    )
    weak_mem = forge(
        fresh.unlocked, fresh.unlocked.identity, None, fresh.unlocked.identity.public, fresh.unlocked, params=(3, 32768)
    )
    case(
        "bundle",
        "memory-below-floor",
        "32 MiB instead of 64 MiB",
        "kdf_params",
        {"account_id": e(fresh.unlocked.account_id), "pin": pin(fresh.unlocked), "chain": [e(weak_mem)]},
    )


# --- recovery phrases -------------------------------------------------------------------------------------------------


def recovery_vectors() -> None:
    for n, entropy in enumerate([bytes(32), bytes([0xFF]) * 32, primitives.randombytes(32)]):
        words = " ".join(recovery.phrase_from_entropy(entropy))
        case(
            "recovery",
            f"valid-{n}",
            "24 words back to 256 bits",
            "success",
            {"phrase": words},
            {"entropy": e(entropy), "words": words},
        )
    words = recovery.phrase_from_entropy(primitives.randombytes(32))
    typo = list(words)
    typo[6] = typo[6][:-1] + ("x" if typo[6][-1] != "x" else "y")
    case("recovery", "unknown-word", "word 7 mistyped", "unknown_word", {"phrase": " ".join(typo)})
    swapped = list(words)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    if swapped == words:
        swapped[0] = "zoo"
    case("recovery", "bad-checksum", "two words swapped", "bad_checksum", {"phrase": " ".join(swapped)})
    case("recovery", "wrong-count", "23 words", "wrong_word_count", {"phrase": " ".join(words[:23])})
    numbered = "\n".join(f"{i}. {w}," for i, w in enumerate(words, 1))
    case(
        "recovery",
        "pasted-numbered",
        "a pasted, numbered list",
        "success",
        {"phrase": numbered},
        {"entropy": e(recovery.entropy_from_phrase(words)), "words": " ".join(words)},
    )


# --- wire -------------------------------------------------------------------------------------------------------------


def wire_vectors() -> None:
    origin = "https://vellum.example"
    account_id, device_id = primitives.randombytes(16), primitives.randombytes(16)
    device = factors.SigningKeyPair.from_seed(primitives.randombytes(32))
    login = factors.SigningKeyPair.from_seed(primitives.randombytes(32))
    rec_login = factors.SigningKeyPair.from_seed(primitives.randombytes(32))

    def sig(k: factors.SigningKeyPair, m: bytes) -> dict[str, str]:
        return {"seed": e(k.seed), "public": e(k.public), "signature": e(k.sign(m))}

    reqs = [
        ("request-post", "POST", "/api/v1/records/push", "", b'{"records":[]}'),
        ("request-get-query", "GET", "/api/v1/changes", "since=42&limit=100", b""),
        ("request-query-encoding", "GET", "/api/v1/bundle", "b=%2Fx%20y&a=1&a=0", b""),
        ("request-unicode-path", "DELETE", "/api/v1/devices/%C3%A9t%C3%A9", "", b""),
    ]
    for name, method, path, query, body in reqs:
        nonce = primitives.randombytes(16)
        m = wire.request_bytes(
            origin, method, path, query, account_id, device_id, 1_790_000_123, nonce, wire.body_hash(body)
        )
        case(
            "wire",
            name,
            f"{method} {path}",
            "success",
            {
                "kind": "request",
                "origin": origin,
                "method": method,
                "path": path,
                "query": query,
                "account_id": e(account_id),
                "device_id": e(device_id),
                "timestamp": 1_790_000_123,
                "nonce": e(nonce),
                "body": e(body),
            },
            {"message": e(m), "signatures": [sig(device, m)]},
        )
    for action, key in (("login", login), ("recovery_login", rec_login), ("register", login)):
        challenge = primitives.randombytes(32)
        m = wire.login_statement(origin, action, account_id, challenge, device_id, device.public)
        case(
            "wire",
            f"statement-{action}",
            f"the {action} statement, co-signed by the device",
            "success",
            {
                "kind": "login",
                "origin": origin,
                "action": action,
                "account_id": e(account_id),
                "challenge": e(challenge),
                "device_id": e(device_id),
                "device_public": e(device.public),
            },
            {"message": e(m), "signatures": [sig(key, m), sig(device, m)]},
        )
    for action, key in (("change_passphrase", login), ("revoke_device", rec_login), ("new_recovery_kit", login)):
        challenge = primitives.randombytes(32)
        body = json.dumps({"action": action, "n": 1}).encode()
        m = wire.step_up_statement(origin, action, account_id, device_id, challenge, body)
        case(
            "wire",
            f"step-up-{action}",
            f"the step-up statement for {action}",
            "success",
            {
                "kind": "step_up",
                "origin": origin,
                "action": action,
                "account_id": e(account_id),
                "device_id": e(device_id),
                "challenge": e(challenge),
                "body": e(body),
            },
            {"message": e(m), "signatures": [sig(key, m)]},
        )


# --- note index shards ------------------------------------------------------------------------------------------------


def index_vectors() -> None:
    account_key, account_id, collection_id = (primitives.randombytes(n) for n in (32, 16, 16))
    keys = index.IndexKeys.from_account_key(account_key)
    entries = [
        index.IndexEntry(
            primitives.randombytes(16),
            i + 1,
            primitives.randombytes(32),
            NOW * 1000 + i,
            f"Note {i} — ünïcode",
            index.snippet_of("Body text  with\n spaces " * 3),
            i % 2,
        )
        for i in range(40)
    ]
    shards = index.group(keys, entries)
    number = max(shards, key=lambda n: len(shards[n]))
    blob = index.seal_shards(keys, account_id, collection_id, {number: shards[number]}, 7)[number]
    empty_number = next(n for n in range(index.SHARD_COUNT) if not shards[n])
    empty = index.seal_shards(keys, account_id, collection_id, {empty_number: []}, 1)[empty_number]

    def entry(x: index.IndexEntry) -> dict[str, Any]:
        return {
            "record_id": e(x.record_id),
            "revision": x.revision,
            "content_hash": e(x.content_hash),
            "updated_at": x.updated_at,
            "title": x.title,
            "snippet": x.snippet,
            "flags": x.flags,
        }

    base = {"account_key": e(account_key), "account_id": e(account_id), "collection_id": e(collection_id)}
    ordered = sorted(shards[number], key=lambda x: x.record_id)
    case(
        "index",
        "shard",
        "a shard with several entries",
        "success",
        {**base, "number": number, "shard": e(blob)},
        {"generation": 7, "entries": [entry(x) for x in ordered]},
    )
    case(
        "index",
        "empty-shard",
        "an empty shard",
        "success",
        {**base, "number": empty_number, "shard": e(empty)},
        {"generation": 1, "entries": []},
    )
    case(
        "index",
        "wrong-number",
        "a shard stored under another number",
        "bad_format",
        {**base, "number": (number + 1) % index.SHARD_COUNT, "shard": e(blob)},
    )
    header_moved = bytearray(blob)
    header_moved[1:3] = ((number + 1) % index.SHARD_COUNT).to_bytes(2, "big")
    case(
        "index",
        "renumbered",
        "the shard number changed in the header too",
        "decryption_failed",
        {**base, "number": (number + 1) % index.SHARD_COUNT, "shard": e(bytes(header_moved))},
    )
    case(
        "index",
        "older-generation-swapped",
        "the generation number altered",
        "decryption_failed",
        {**base, "number": number, "shard": e(flip(blob, 10))},
    )
    case(
        "index",
        "other-account",
        "a shard opened for another account",
        "decryption_failed",
        {**base, "account_id": e(flip(account_id, 0)), "number": number, "shard": e(blob)},
    )
    case(
        "index",
        "bit-flip",
        "one ciphertext bit flipped",
        "decryption_failed",
        {**base, "number": number, "shard": e(flip(blob, len(blob) - 5))},
    )


# --- export files -----------------------------------------------------------------------------------------------------


def export_vectors() -> None:
    notes = [
        export.ExportedNote(e(primitives.randombytes(16)), f"Exported {i}", f"Body {i}\nline two ✓", NOW * 1000 + i)
        for i in range(5)
    ]
    passphrase = "export passphrase"
    data = export.write_export(notes, passphrase, now=NOW)

    def c(name: str, desc: str, expect: str, blob: bytes, pw: str = passphrase, out: Any = None) -> None:
        case("export", name, desc, expect, {"passphrase": pw, "file": e(blob)}, out)

    c(
        "valid",
        "five notes",
        "success",
        data,
        out={
            "created_at": NOW,
            "notes": [{"id": n.record_id, "title": n.title, "body": n.body, "updated_at": n.updated_at} for n in notes],
        },
    )
    c("wrong-passphrase", "opened with another passphrase", "decryption_failed", data, pw="not the passphrase")
    c("truncated", "the last bytes cut off", "bad_format", data[:-3])
    c("header-altered", "the creation time changed", "decryption_failed", flip(data, export.HEADER_SIZE - 6))
    c("not-an-export", "some other file", "bad_format", b"PK\x03\x04 not vellum")
    weak = bytearray(data)
    weak[len(export.MAGIC) + 2 + 16 : len(export.MAGIC) + 2 + 20] = (1).to_bytes(4, "big")
    c("weak-parameters", "Argon2id t=1 in the header", "kdf_params", bytes(weak))
    two = export.write_export(notes[:1], passphrase, now=NOW)
    c(
        "chunk-swapped-from-other-file",
        "a chunk from another export",
        "decryption_failed",
        data[: export.HEADER_SIZE] + two[export.HEADER_SIZE :],
    )


FAMILIES: dict[str, Callable[[], None]] = {
    "envelope": envelopes,
    "slot": slot_vectors,
    "bundle": bundle_vectors,
    "recovery": recovery_vectors,
    "wire": wire_vectors,
    "index": index_vectors,
    "export": export_vectors,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="overwrite frozen files (never for released formats)")
    args = parser.parse_args()
    written = kept = 0
    for family, build in FAMILIES.items():
        primitives._random = Drbg(b"vellum/v1/vectors/" + family.encode())
        CASES.clear()
        build()
        folder = OUT / family
        folder.mkdir(parents=True, exist_ok=True)
        for c in CASES:
            path = folder / f"{c['name']}.json"
            if path.exists() and not args.force:
                kept += 1
                continue
            path.write_text(json.dumps(c, indent=1, ensure_ascii=False) + "\n")
            written += 1
    print(f"wrote {written} vector files, kept {kept} frozen ones")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
