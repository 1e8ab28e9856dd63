"""Test-side client for the relay: builds valid account bundles with PyNaCl and signs requests with ``pycore.wire``.

The relay never opens slots or the keyring, so the bundles here hold random box keys and opaque bytes; only the
public structure, the chain and the signatures are real. ``RelayClient`` speaks to either the Flask test client or a
live server (``requests``), so the same helpers drive the unit tests here and the end-to-end tests later.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import nacl.signing

from pycore.kdf import Argon2idParams
from pycore.public import bundle_public as bp
from pycore.public import wire
from pycore.public.codec import b64d, b64e

ORIGIN = "http://localhost:8000"


def sign(key: nacl.signing.SigningKey, message: bytes) -> bytes:
    return key.sign(message).signature


def new_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


def public(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


# --- bundles ----------------------------------------------------------------------------------------------------------


def passphrase_entry(
    salt: bytes | None = None, params: Argon2idParams | None = None, slot_id: bytes | None = None
) -> bp.FactorEntry:
    return bp.FactorEntry(
        slot_id=slot_id or secrets.token_bytes(16),
        type=bp.FactorType.PASSPHRASE,
        box_public=secrets.token_bytes(32),
        meta=bp.PassphraseMeta(salt or secrets.token_bytes(16), params or Argon2idParams()),
        slot=secrets.token_bytes(96),
    )


def recovery_entry() -> bp.FactorEntry:
    return bp.FactorEntry(
        slot_id=secrets.token_bytes(16),
        type=bp.FactorType.RECOVERY,
        box_public=secrets.token_bytes(32),
        meta=bp.RecoveryMeta(),
        slot=secrets.token_bytes(96),
    )


def device_entry(device_id: bytes, signing_public: bytes, name: str = "remembered") -> bp.FactorEntry:
    return bp.FactorEntry(
        slot_id=secrets.token_bytes(16),
        type=bp.FactorType.DEVICE,
        box_public=secrets.token_bytes(32),
        meta=bp.DeviceMeta(device_id, signing_public, name),
        slot=secrets.token_bytes(96),
    )


def reseal(entries: Sequence[bp.FactorEntry]) -> list[bp.FactorEntry]:
    """Same factors, fresh slot bytes (what a new account key does)."""
    return [dataclasses.replace(e, slot=secrets.token_bytes(96)) for e in entries]


def build_bundle(
    *,
    account_id: bytes,
    version: int,
    prev_hash: bytes,
    identity: nacl.signing.SigningKey,
    factors: Sequence[bp.FactorEntry],
    write_epoch: int = 1,
    keyring: bytes | None = None,
    handover_by: nacl.signing.SigningKey | None = None,
    min_writer_version: int = 1,
) -> bytes:
    header = bp.BundleHeader(
        account_id=account_id,
        version=version,
        prev_hash=prev_hash,
        min_writer_version=min_writer_version,
        write_epoch=write_epoch,
        identity_public=public(identity),
    )
    body = bp.encode_body(header, list(factors), keyring if keyring is not None else secrets.token_bytes(64))
    signature = sign(identity, bp.signed_message(body))
    handover = sign(handover_by, bp.handover_message(body)) if handover_by is not None else None
    return bp.encode_bundle(body, signature, handover)


# --- client-side account ----------------------------------------------------------------------------------------------


@dataclass
class Device:
    device_id: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    key: nacl.signing.SigningKey = field(default_factory=new_key)
    name: str = "test device"

    @property
    def signing_public(self) -> bytes:
        return public(self.key)

    def describe(self) -> dict[str, str]:
        return {"id": b64e(self.device_id), "signing_public": b64e(self.signing_public), "name": self.name}


@dataclass
class Account:
    """What a client knows: keys, factors and the bundle chain it built."""

    username: str = field(default_factory=lambda: "user-" + secrets.token_hex(6))
    account_id: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    login_key: nacl.signing.SigningKey = field(default_factory=new_key)
    recovery_key: nacl.signing.SigningKey = field(default_factory=new_key)
    identity: nacl.signing.SigningKey = field(default_factory=new_key)
    factors: list[bp.FactorEntry] = field(default_factory=lambda: [passphrase_entry(), recovery_entry()])
    write_epoch: int = 1
    chain: list[bytes] = field(default_factory=list)
    device: Device = field(default_factory=Device)
    identities: dict[bytes, nacl.signing.SigningKey] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.identities[public(self.identity)] = self.identity
        if not self.chain:
            self.chain.append(
                build_bundle(
                    account_id=self.account_id,
                    version=1,
                    prev_hash=bytes(32),
                    identity=self.identity,
                    factors=self.factors,
                    write_epoch=self.write_epoch,
                )
            )

    @property
    def version(self) -> int:
        return len(self.chain)

    @property
    def current(self) -> bp.PublicBundle:
        return bp.parse_bundle(self.chain[-1])

    @property
    def passphrase_factor(self) -> bp.FactorEntry:
        return next(f for f in self.factors if f.type == bp.FactorType.PASSPHRASE)

    def next_bundle(
        self,
        *,
        factors: Sequence[bp.FactorEntry] | None = None,
        write_epoch: int | None = None,
        new_identity: bool = False,
        handover: bool | None = None,
        commit: bool = False,
        **overrides: Any,
    ) -> bytes:
        """The next version; ``commit`` adopts it locally (call after the relay stored it)."""
        identity = new_key() if new_identity else self.identity
        self.identities[public(identity)] = identity
        use_handover = new_identity if handover is None else handover
        new_factors = list(self.factors if factors is None else factors)
        raw = build_bundle(
            account_id=overrides.pop("account_id", self.account_id),
            version=overrides.pop("version", self.version + 1),
            prev_hash=overrides.pop("prev_hash", self.current.hash),
            identity=overrides.pop("identity", identity),
            factors=new_factors,
            write_epoch=self.write_epoch if write_epoch is None else write_epoch,
            handover_by=self.identity if use_handover else None,
            **overrides,
        )
        if commit:
            self.adopt(raw, identity)
        return raw

    def adopt(self, raw: bytes, identity: nacl.signing.SigningKey | None = None) -> None:
        """Take ``raw`` as the newest version (its identity key must be one this account built)."""
        parsed = bp.parse_bundle(raw)
        self.chain.append(raw)
        self.factors = list(parsed.factors)
        self.write_epoch = parsed.header.write_epoch
        self.identity = identity or self.identities[parsed.header.identity_public]


# --- transport --------------------------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        try:
            data = self.json
        except ValueError:
            return None
        return data.get("code") if isinstance(data, dict) else None

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:300]!r})"


Transport = Callable[[str, str, bytes, dict[str, str]], Reply]
"""(method, path with query, body, headers) -> Reply"""


def flask_transport(client: Any) -> Transport:
    def send(method: str, target: str, body: bytes, headers: dict[str, str]) -> Reply:
        r = client.open(target, method=method, data=body, headers=headers)
        return Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.get_data())

    return send


def requests_transport(base_url: str) -> Transport:
    import requests

    session = requests.Session()

    def send(method: str, target: str, body: bytes, headers: dict[str, str]) -> Reply:
        r = session.request(method, base_url + target, data=body, headers=headers, timeout=30)
        return Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)

    return send


class RelayClient:
    """Signs and sends requests the way a Vellum client does."""

    def __init__(self, transport: Transport, origin: str = ORIGIN, clock: Callable[[], float] = time.time) -> None:
        self.send = transport
        self.origin = origin
        self.clock = clock

    # raw ------------------------------------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        body: bytes | None = None,
        query: dict[str, Any] | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        data = body if body is not None else (dumps(payload) if payload is not None else b"")
        q = query if isinstance(query, str) else urlencode(query or {})
        target = path + ("?" + q if q else "")
        all_headers = {"Content-Type": "application/json"} if data else {}
        all_headers.update(headers or {})
        return self.send(method, target, data, all_headers)

    def signature_headers(
        self,
        account: Account,
        device: Device,
        method: str,
        path: str,
        query: str,
        body: bytes,
        *,
        timestamp: int | None = None,
        nonce: bytes | None = None,
    ) -> dict[str, str]:
        ts = int(self.clock()) if timestamp is None else timestamp
        nonce = nonce or secrets.token_bytes(wire.NONCE_SIZE)
        message = wire.request_bytes(
            self.origin, method, path, query, account.account_id, device.device_id, ts, nonce, wire.body_hash(body)
        )
        return wire.signature_headers(account.account_id, device.device_id, ts, nonce, sign(device.key, message))

    def signed(
        self,
        account: Account,
        method: str,
        path: str,
        payload: Any = None,
        *,
        device: Device | None = None,
        body: bytes | None = None,
        query: dict[str, Any] | str | None = None,
        step_up: str | None = None,
        headers: dict[str, str] | None = None,
        **sig: Any,
    ) -> Reply:
        data = body if body is not None else (dumps(payload) if payload is not None else b"")
        q = query if isinstance(query, str) else urlencode(query or {})
        h = self.signature_headers(account, device or account.device, method, path, q, data, **sig)
        if step_up is not None:
            h[wire.HEADER_STEP_UP] = step_up
        h.update(headers or {})
        return self.call(method, path, body=data, query=q, headers=h)

    # flows ----------------------------------------------------------------------------------------------------------

    def challenge(self) -> bytes:
        r = self.call("POST", "/api/v1/auth/challenge")
        assert r.status == 200, r
        return b64d(r.json["challenge"])

    def register_payload(self, account: Account, challenge: bytes | None = None) -> dict[str, Any]:
        challenge = challenge if challenge is not None else self.challenge()
        d = account.device
        statement = wire.login_statement(
            self.origin, "register", account.account_id, challenge, d.device_id, d.signing_public
        )
        return {
            "username": account.username,
            "account_id": b64e(account.account_id),
            "login_public": b64e(public(account.login_key)),
            "recovery_login_public": b64e(public(account.recovery_key)),
            "device": d.describe(),
            "bundle": b64e(account.chain[0]),
            "challenge": b64e(challenge),
            "login_signature": b64e(sign(account.login_key, statement)),
            "recovery_login_signature": b64e(sign(account.recovery_key, statement)),
            "device_signature": b64e(sign(d.key, statement)),
        }

    def register(self, account: Account) -> Reply:
        return self.call("POST", "/api/v1/accounts", self.register_payload(account))

    def login_payload(
        self,
        account: Account,
        device: Device,
        *,
        action: str = "login",
        key: nacl.signing.SigningKey | None = None,
        challenge: bytes | None = None,
    ) -> dict[str, Any]:
        challenge = challenge if challenge is not None else self.challenge()
        if key is None:
            key = account.login_key if action == "login" else account.recovery_key
        statement = wire.login_statement(
            self.origin, action, account.account_id, challenge, device.device_id, device.signing_public
        )
        return {
            "account_id": b64e(account.account_id),
            "challenge": b64e(challenge),
            "device": device.describe(),
            "signature": b64e(sign(key, statement)),
            "device_signature": b64e(sign(device.key, statement)),
        }

    def login(self, account: Account, device: Device, *, action: str = "login", **kw: Any) -> Reply:
        path = "/api/v1/login" if action == "login" else "/api/v1/recovery-login"
        return self.call("POST", path, self.login_payload(account, device, action=action, **kw))

    def step_up_challenge(self, account: Account, device: Device | None = None) -> bytes:
        r = self.signed(account, "POST", "/api/v1/step-up/challenge", device=device)
        assert r.status == 200, r
        return b64d(r.json["challenge"])

    def step_up(
        self,
        account: Account,
        action: str,
        body: bytes,
        *,
        kind: str = "login",
        device: Device | None = None,
        challenge: bytes | None = None,
        key: nacl.signing.SigningKey | None = None,
    ) -> str:
        """The Vellum-Step-Up header value for this exact body."""
        device = device or account.device
        challenge = challenge if challenge is not None else self.step_up_challenge(account, device)
        if key is None:
            key = account.login_key if kind == "login" else account.recovery_key
        statement = wire.step_up_statement(self.origin, action, account.account_id, device.device_id, challenge, body)
        return wire.step_up_header(kind, challenge, sign(key, statement))

    def put_bundle(self, account: Account, raw: bytes, *, expected: int | None = None, step_up: bool = False) -> Reply:
        body = dumps({"expected_version": account.version if expected is None else expected, "bundle": b64e(raw)})
        header = self.step_up(account, "update_factors", body) if step_up else None
        return self.signed(account, "PUT", "/api/v1/bundle", body=body, step_up=header)

    def push(self, account: Account, records: list[dict[str, Any]], device: Device | None = None) -> Reply:
        return self.signed(account, "POST", "/api/v1/records", {"records": records}, device=device)


def record(
    record_id: bytes | None = None, *, base: int = 0, epoch: int = 1, content: bytes | None = None, key: bytes = b""
) -> dict[str, Any]:
    return {
        "id": b64e(record_id or secrets.token_bytes(16)),
        "base_revision": base,
        "epoch": epoch,
        "wrapped_key": b64e(key or secrets.token_bytes(72)),
        "content": b64e(content if content is not None else secrets.token_bytes(64)),
    }
