"""The relay's HTTP API (docs/relay.md, ``/api/v1``) as signed requests and parsed answers, over any async HTTP call.

Pure Python and I/O-free: the caller hands in ``http(method, url, headers, body) -> HttpResponse`` (``requests`` in a
thread on CPython, ``fetch`` in the browser) and a ``Signer`` for the device key. ``RelayApi`` implements the sync
engine's ``Transport`` and rotation's ``RotationBackend``, so both run over it unchanged.

- Every call after login is signed per ``pycore.wire`` (origin, method, raw path, sorted query, account, device,
  timestamp, random 128-bit nonce, SHA-256 of the exact body). ``clock_skew`` answers carry the relay's time: the
  offset is kept and the request signed again, once.
- ``server_busy`` (503) and ``rate_limited`` (429) are retried after ``Retry-After`` (capped), a few times.
- Relay errors become ``RelayError`` with the relay's code; ``stale_bundle`` becomes ``StaleBundle``; a push refused
  with ``stale_epoch`` becomes a ``stale_epoch`` result for every record of the batch (the relay stores none of them).
- One step-up path: the lifecycle endpoints (``pycore.lifecycle.LifecycleBackend``) take an explicit ``StepUpKey``
  made from the passphrase or recovery phrase just typed, fetch a challenge first and send one stepped-up request
  (again once with the fresh challenge of a ``step_up_failed`` answer, say after it expired). Nothing signs a step-up
  with keys kept from unlocking: a plain request the relay wants stepped up fails with ``step_up_required``.
- ``bundle_chain`` asks from the version *before* ours, so the relay serves our pinned version again and a different
  one there (``keyring_fork``) or an older one (``keyring_rollback``) is caught by ``bundle_public.verify_chain``; a
  current version below ours is ``keyring_rollback`` too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

from pycore import primitives
from pycore.account import NewAccount
from pycore.envelope import RECORD_ID_SIZE, SealedRecord
from pycore.errors import BadResponse, FormatError, KeyringRollback, RelayError, StaleBundle, Unauthenticated
from pycore.factors import SigningKeyPair
from pycore.lifecycle.confirm import StepUpKey
from pycore.public import limits, wire
from pycore.public.codec import b64d, b64e
from pycore.sync.types import ChangePage, PushItem, PushResult, PushStatus, Signer

API = "/api/v1"
MAX_BATCH = limits.BATCH_MAX_RECORDS
MAX_FEED_LIMIT = limits.FEED_MAX_LIMIT
MAX_RETRY_WAIT = 5.0
MAX_ATTEMPTS = 4
MAX_SEQ = 2**53 - 1


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes


class HttpFunction(Protocol):
    """One HTTP exchange. Raises ``pycore.sync.NetworkError`` when the relay cannot be reached."""

    async def __call__(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpResponse: ...


@dataclass(frozen=True)
class Session:
    """Who signs: the account, this device's id and its request key."""

    account_id: bytes
    device_id: bytes
    signer: Signer


def _int(obj: Mapping[str, Any], name: str, low: int = 0) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_SEQ:
        raise FormatError(f"the relay's answer has a bad {name!r}")
    return value


def _bytes(obj: Mapping[str, Any], name: str, size: int | None = None) -> bytes:
    value = obj.get(name)
    if not isinstance(value, str):
        raise FormatError(f"the relay's answer has a bad {name!r}")
    return b64d(value, size=size)


def _record(obj: Any) -> SealedRecord:
    if not isinstance(obj, dict):
        raise FormatError("the relay's answer has a bad record")
    return SealedRecord(
        record_id=_bytes(obj, "id", RECORD_ID_SIZE),
        revision=_int(obj, "revision", 1),
        epoch=_int(obj, "epoch"),
        wrapped_key=_bytes(obj, "wrapped_key"),
        content=_bytes(obj, "content"),
    )


def _list(obj: Mapping[str, Any], name: str) -> list[Any]:
    value = obj.get(name)
    if not isinstance(value, list):
        raise FormatError(f"the relay's answer has a bad {name!r}")
    return value


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class RelayApi:
    def __init__(
        self,
        http: HttpFunction,
        base_url: str,
        origin: str,
        *,
        session: Session | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.origin = origin
        self.session = session
        self.clock = clock
        self.sleep = sleep
        self.clock_offset = 0.0  # relay time - local time, learnt from clock_skew answers

    def __repr__(self) -> str:
        return f"RelayApi({self.base_url!r}, origin={self.origin!r})"

    # --- one request ----------------------------------------------------------------------------------------------

    async def _headers(self, method: str, path: str, query: str, body: bytes) -> dict[str, str]:
        if self.session is None:
            raise Unauthenticated("This device is not logged in.")
        s = self.session
        timestamp = int(self.clock() + self.clock_offset)
        nonce = primitives.randombytes(wire.NONCE_SIZE)
        message = wire.request_bytes(
            self.origin, method, path, query, s.account_id, s.device_id, timestamp, nonce, wire.body_hash(body)
        )
        return wire.signature_headers(s.account_id, s.device_id, timestamp, nonce, await s.signer.sign(message))

    async def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int] | None = None,
        body: Any = None,
        signed: bool = True,
        step_up: tuple[str, StepUpKey] | None = None,
    ) -> Any:
        """Send one request to ``/api/v1{path}`` and return its JSON answer; relay errors raise ``RelayError``.

        With ``step_up`` (the action and the key just confirmed) the request carries a step-up proof signed by that
        key over a challenge fetched first."""
        full_path = API + path
        query_string = urlencode(sorted((k, str(v)) for k, v in (query or {}).items()))
        raw = dumps(body) if body is not None else b""
        url = self.base_url + full_path + (f"?{query_string}" if query_string else "")
        proof: str | None = None
        if step_up is not None:
            proof = self._proof(step_up, await self.step_up_challenge(), raw)
        proof_retried = skew_retried = False
        attempt = 0
        while True:
            attempt += 1
            headers = {"Accept": "application/json"}
            if raw:
                headers["Content-Type"] = "application/json"
            if signed:
                headers.update(await self._headers(method, full_path, query_string, raw))
            if proof is not None:
                headers[wire.HEADER_STEP_UP] = proof
            response = await self.http(method, url, headers, raw)
            if 200 <= response.status < 300:
                try:
                    return json.loads(response.body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    raise BadResponse("The relay's answer is not JSON.") from None
            error = self._error(response)
            if error.code == "clock_skew" and signed and not skew_retried and "server_time" in error.extra:
                skew_retried = True
                self.clock_offset = float(_int(error.extra, "server_time")) - self.clock()
                continue
            if error.code in ("server_busy", "rate_limited") and attempt < MAX_ATTEMPTS:
                await self.sleep(min(self._retry_after(response, error), MAX_RETRY_WAIT))
                continue
            if (
                error.code in ("step_up_failed", "step_up_required")
                and step_up is not None
                and not proof_retried
                and "challenge" in error.extra
            ):
                # The challenge expired or was spent (a retried request): sign the fresh one the relay sent, once.
                proof_retried = True
                proof = self._proof(step_up, _bytes(error.extra, "challenge", wire.CHALLENGE_SIZE), raw)
                continue
            if error.code == "stale_bundle":
                raise StaleBundle(error.message)
            raise error

    def _proof(self, step_up: tuple[str, StepUpKey], challenge: bytes, raw: bytes) -> str:
        if self.session is None:
            raise Unauthenticated("This device is not logged in.")
        s = self.session
        action, key = step_up
        statement = wire.step_up_statement(self.origin, action, s.account_id, s.device_id, challenge, raw)
        return wire.step_up_header(key.kind, challenge, key.sign(statement))

    @staticmethod
    def _error(response: HttpResponse) -> RelayError:
        try:
            data = json.loads(response.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            detail = f"The relay answered HTTP {response.status}."
            return BadResponse(detail, status=response.status)
        text = data.get("detail") if isinstance(data.get("detail"), str) else ""
        extra = {k: v for k, v in data.items() if k not in ("code", "detail")}
        return RelayError(str(text), code=data["code"], status=response.status, extra=extra)

    @staticmethod
    def _retry_after(response: HttpResponse, error: RelayError) -> float:
        value = response.headers.get("retry-after") or error.extra.get("retry_after")
        try:
            return max(0.05, float(value)) if value is not None else 1.0
        except (TypeError, ValueError):
            return 1.0

    # --- accounts (unsigned) --------------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("GET", "/health", signed=False)
        if "server_time" in answer:
            self.clock_offset = float(_int(answer, "server_time")) - self.clock()
        return answer

    async def challenge(self) -> bytes:
        answer = await self.call("POST", "/auth/challenge", body={}, signed=False)
        return _bytes(answer, "challenge", wire.CHALLENGE_SIZE)

    async def prelogin(self, username: str) -> tuple[bytes, bytes, int, int]:
        """(account id, passphrase salt, opslimit, memlimit KiB) — check the parameters before using them."""
        answer = await self.call("POST", "/prelogin", body={"username": username}, signed=False)
        kdf = answer.get("kdf")
        if not isinstance(kdf, dict):
            raise FormatError("the relay's prelogin answer has no parameters")
        account_id = _bytes(answer, "account_id", wire.ACCOUNT_ID_SIZE)
        return account_id, _bytes(kdf, "salt", 16), _int(kdf, "opslimit"), _int(kdf, "memlimit_kib")

    async def register(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("POST", "/accounts", body=dict(fields), signed=False)
        return answer

    async def register_account(
        self,
        username: str,
        new: NewAccount,
        *,
        device_id: bytes,
        device_public: bytes,
        device_name: str,
        device_sign: Callable[[bytes], Awaitable[bytes]],
    ) -> dict[str, Any]:
        """Register ``new`` with this device as its first: a fresh challenge, and the register statement signed by the
        login key, the recovery login key and the device key (proof of possession of all three)."""
        challenge = await self.challenge()
        account_id = new.unlocked.account_id
        statement = wire.login_statement(self.origin, "register", account_id, challenge, device_id, device_public)
        return await self.register(
            {
                "username": username,
                "account_id": b64e(account_id),
                "login_public": b64e(new.passphrase.login.public),
                "recovery_login_public": b64e(new.recovery.login.public),
                "device": {"id": b64e(device_id), "signing_public": b64e(device_public), "name": device_name},
                "bundle": b64e(new.unlocked.public.encoded),
                "challenge": b64e(challenge),
                "login_signature": b64e(new.passphrase.login.sign(statement)),
                "recovery_login_signature": b64e(new.recovery.login.sign(statement)),
                "device_signature": b64e(await device_sign(statement)),
            }
        )

    async def login(self, action: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        path = "/login" if action == "login" else "/recovery-login"
        answer: dict[str, Any] = await self.call("POST", path, body=dict(fields), signed=False)
        return answer

    async def log_in(
        self,
        action: str,
        account_id: bytes,
        login_key: SigningKeyPair,
        *,
        device_id: bytes,
        signer: Signer,
        device_public: bytes,
        device_name: str,
    ) -> None:
        """Log this device in with the login key (``action`` "login") or the recovery login key ("recovery_login"): a
        fresh challenge, the login statement signed by that key and by the device key; then sign as this device."""
        challenge = await self.challenge()
        statement = wire.login_statement(self.origin, action, account_id, challenge, device_id, device_public)
        await self.login(
            action,
            {
                "account_id": b64e(account_id),
                "challenge": b64e(challenge),
                "device": {"id": b64e(device_id), "signing_public": b64e(device_public), "name": device_name},
                "signature": b64e(login_key.sign(statement)),
                "device_signature": b64e(await signer.sign(statement)),
            },
        )
        self.session = Session(account_id, device_id, signer)

    # --- signed: account and devices ------------------------------------------------------------------------------

    async def account(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("GET", "/account")
        return answer

    async def devices(self) -> list[dict[str, Any]]:
        return _list(await self.call("GET", "/devices"), "devices")

    async def step_up_challenge(self) -> bytes:
        answer = await self.call("POST", "/step-up/challenge", body={})
        return _bytes(answer, "challenge", wire.CHALLENGE_SIZE)

    async def revoke_self(self) -> None:
        """This device leaves the account (no step-up); every later request of it gets ``device_revoked``."""
        if self.session is None:
            raise Unauthenticated("This device is not logged in.")
        await self.call("POST", f"/devices/{b64e(self.session.device_id)}/revoke", body={})

    # --- sync Transport -------------------------------------------------------------------------------------------

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        results: list[PushResult] = []
        for start in range(0, len(items), MAX_BATCH):
            results += await self._push(items[start : start + MAX_BATCH])
        return results

    async def _push(self, items: Sequence[PushItem]) -> list[PushResult]:
        body = {
            "records": [
                {
                    "id": b64e(i.record.record_id),
                    "base_revision": i.base_revision,
                    "epoch": i.record.epoch,
                    "wrapped_key": b64e(i.record.wrapped_key),
                    "content": b64e(i.record.content),
                }
                for i in items
            ]
        }
        try:
            answer = await self.call("POST", "/records", body=body)
        except RelayError as exc:
            if exc.code != "stale_epoch":
                raise
            epoch = exc.extra.get("write_epoch")
            relay_epoch = epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else 0
            return [PushResult(i.record.record_id, PushStatus.STALE_EPOCH, write_epoch=relay_epoch) for i in items]
        raw = _list(answer, "results")
        if len(raw) != len(items):
            raise BadResponse("The relay's answer did not match the records sent.")
        out = []
        for item, r in zip(items, raw, strict=True):
            if not isinstance(r, dict):
                raise FormatError("the relay's answer has a bad result")
            rid = _bytes(r, "id", RECORD_ID_SIZE)
            if rid != item.record.record_id:
                raise BadResponse("The relay's answer did not match the records sent.")
            status = r.get("status")
            if status == "stored":
                out.append(PushResult(rid, PushStatus.ACCEPTED, revision=_int(r, "revision")))
            elif status == "conflict":
                out.append(PushResult(rid, PushStatus.CONFLICT, revision=_int(r, "revision")))
            else:
                out.append(PushResult(rid, PushStatus.REJECTED, code=str(status)))
        return out

    async def pull(self, cursor: str | None, limit: int) -> ChangePage:
        since = int(cursor) if cursor and cursor.isdigit() else 0
        answer = await self.call("GET", "/changes", query={"since": since, "limit": min(limit, MAX_FEED_LIMIT)})
        changes = tuple(_record(c) for c in _list(answer, "changes"))
        more = answer.get("more")
        if not isinstance(more, bool):
            raise FormatError("the relay's answer has a bad 'more'")
        return ChangePage(changes, str(_int(answer, "cursor")), more)

    async def put_key_updates(self, updates: Sequence[SealedRecord]) -> list[bool]:
        out: list[bool] = []
        for start in range(0, len(updates), MAX_BATCH):
            chunk = updates[start : start + MAX_BATCH]
            keys = [
                {"id": b64e(u.record_id), "revision": u.revision, "epoch": u.epoch, "wrapped_key": b64e(u.wrapped_key)}
                for u in chunk
            ]
            body = {"keys": keys}
            raw = _list(await self.call("POST", "/records/keys", body=body), "results")
            if len(raw) != len(chunk):
                raise BadResponse("The relay's answer did not match the keys sent.")
            out += [isinstance(r, dict) and r.get("status") == "stored" for r in raw]
        return out

    async def bundle_chain(self, since_version: int) -> list[bytes]:
        """The versions after ``since_version`` — and ``since_version`` itself, so the caller's pin check sees what the
        relay now serves there. A relay whose current version is below ``since_version`` is rolling back."""
        out: list[bytes] = []
        since = max(0, since_version - 1)
        while True:
            answer = await self.call("GET", "/bundle", query={"since": since})
            if _int(answer, "current_version") < since_version:
                raise KeyringRollback(
                    "The server sent older account keys than this device has already seen. Nothing was changed; "
                    "try again later or contact the server's operator."
                )
            page = [b64d(b) if isinstance(b, str) else b"" for b in _list(answer, "bundles")]
            out += page
            since += len(page)
            if answer.get("more") is not True or not page:
                return out

    async def records_below_epoch(self, epoch: int, after: bytes | None, limit: int) -> list[SealedRecord]:
        query: dict[str, str | int] = {"epoch": epoch, "limit": min(limit, MAX_FEED_LIMIT)}
        if after is not None:
            query["after"] = b64e(after)
        answer = await self.call("GET", "/records/below-epoch", query=query)
        return [_record(r) for r in _list(answer, "records")]

    async def get_record(self, record_id: bytes) -> SealedRecord | None:
        try:
            return _record(await self.call("GET", f"/records/{b64e(record_id)}"))
        except RelayError as exc:
            if exc.code == "not_found":
                return None
            raise

    # --- the rest of rotation.RotationBackend ---------------------------------------------------------------------

    async def publish_bundle(self, expected_version: int, bundle: bytes, rotation: Any | None) -> None:
        """Compare-and-swap the bundle (``StaleBundle`` when another device won). A revocation goes through the
        device's revoke endpoint, so the relay revokes it in the same transaction."""
        body = {"expected_version": expected_version, "bundle": b64e(bundle)}
        device_id = getattr(rotation, "device_id", None)
        if isinstance(device_id, bytes):
            await self.call("POST", f"/devices/{b64e(device_id)}/revoke", body=body)
        else:
            await self.call("PUT", "/bundle", body=body)

    async def put_records(self, records: Sequence[tuple[int, SealedRecord]]) -> list[bool]:
        results = await self.push([PushItem(r, base) for base, r in records])
        if any(r.status == PushStatus.STALE_EPOCH for r in results):
            raise StaleBundle("stale_epoch")
        return [r.status == PushStatus.ACCEPTED for r in results]

    # --- pycore.lifecycle.LifecycleBackend: one stepped-up request each -------------------------------------------

    @staticmethod
    def _bundle_body(expected_version: int, bundle: bytes, **keys: bytes) -> dict[str, Any]:
        body: dict[str, Any] = {"expected_version": expected_version, "bundle": b64e(bundle)}
        body.update({name: b64e(value) for name, value in keys.items()})
        return body

    async def replace_login_key(
        self, expected_version: int, bundle: bytes, login_public: bytes, step_up: StepUpKey
    ) -> None:
        body = self._bundle_body(expected_version, bundle, login_public=login_public)
        await self.call(
            "POST", "/account/passphrase", body=body, step_up=("change_passphrase", step_up)
        )

    async def replace_recovery_key(
        self, expected_version: int, bundle: bytes, recovery_login_public: bytes, step_up: StepUpKey
    ) -> None:
        body = self._bundle_body(expected_version, bundle, recovery_login_public=recovery_login_public)
        await self.call(
            "POST", "/account/recovery-kit", body=body, step_up=("new_recovery_kit", step_up)
        )

    async def update_factors(self, expected_version: int, bundle: bytes, step_up: StepUpKey) -> None:
        body = self._bundle_body(expected_version, bundle)
        await self.call("PUT", "/bundle", body=body, step_up=("update_factors", step_up))

    async def revoke_device(self, device_id: bytes, expected_version: int, bundle: bytes, step_up: StepUpKey) -> None:
        body = self._bundle_body(expected_version, bundle)
        await self.call(
            "POST", f"/devices/{b64e(device_id)}/revoke", body=body, step_up=("revoke_device", step_up)
        )

    async def count_below_epoch(self, epoch: int) -> int:
        answer = await self.call("GET", "/records/below-epoch", query={"epoch": epoch, "limit": 1})
        return _int(answer, "remaining")
