"""The app behind the crypto worker's app commands (docs/worker-api.md): register, sign in, unlock, notes, sync.

One ``App`` per worker holds at most one unlocked account (``Session``). It wires pycore's pieces to the browser's
(``pycore.app.browser``): ``Notebook`` and ``SyncEngine`` over the IndexedDB store, ``RelayApi`` over ``fetch`` with the
device's WebCrypto Ed25519 key, the device's AES-GCM key for "remember this device". Nothing here re-implements the
protocol; it decides the order of the steps and what is kept where.

- Register and sign-in talk to the relay; unlocking a known device does not (the last adopted bundle is stored
  locally with its pin, and checked against it): passphrase → Argon2id → passphrase slot, or the remembered device
  factor unwrapped by the device's non-extractable AES-GCM key.
- After unlocking, the list comes from the sealed index (no note opened); the notebook reconciles in the background
  and ``notes_list`` waits for that.
- Writes seal first, then commit the record and its outbox entry in one IndexedDB transaction (``IdbStore.commit``).
- ``sync_now`` reports "offline" as a status, never as an error.
- Local settings (``LocalSettings``) are ids, names, times and the *wrapped* device factor: no key in the clear,
  nothing about a note.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pycore import account, factors, kdf
from pycore.account import Unlocked
from pycore.app.browser.fetch import FetchHttp
from pycore.app.browser.idb import META_BUNDLE, META_PIN, META_SETTINGS, IdbStore, decode_pin
from pycore.app.browser.webcrypto import DeviceInfo, WebCryptoDeviceWrapper, WebCryptoSigner, ensure_device, load_device
from pycore.bundle import (
    UnlockedBundle,
    fingerprint,
    new_factor_spec,
    next_version,
    open_bundle,
    verify_signature,
)
from pycore.envelope import RecordType, SealedRecord, open_records
from pycore.errors import BundleError, DecryptionError, FormatError, NetworkError, RelayError, StaleBundle, VellumError
from pycore.factors import passphrase_keys
from pycore.lifecycle.rotate import DEFAULT_ROTATION_DAYS
from pycore.merge import merge_notes
from pycore.notes import MAX_TITLE_LENGTH, Note, conflicted_copy_title, decode_note
from pycore.public import bundle_public, wire
from pycore.public.bundle_public import DeviceMeta, FactorType, PassphraseMeta, PublicBundle
from pycore.public.codec import b64d, b64e
from pycore.sync.engine import SyncEngine
from pycore.sync.notebook import ListItem, Notebook
from pycore.sync.relay_api import HttpFunction, RelayApi
from pycore.sync.relay_api import Session as ApiSession
from pycore.sync.types import Batch, LocalRecord

if TYPE_CHECKING:
    from pycore.app.keys import AppKeys

SETTINGS_FORMAT_V1 = 1
MIN_PASSPHRASE_LENGTH = 10
MAX_PASSPHRASE_LENGTH = 1024
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,127}")
MAX_DEVICE_NAME = 128
PULL_LIMIT = 1000  # the relay's largest change-feed page: fewer round trips on a first sync
PUSH_BATCH = 256  # the relay's largest push
MAX_SERVED = 64  # note versions handed to the page, kept as merge ancestors for its next save
FULL_RECONCILE = 2000  # after a sync that changed more records than this, check the whole index (one scan)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")

QUARANTINE_MESSAGES = {
    "decryption_failed": "This version could not be decrypted with the keys on this device; the last good version is "
    "shown.",
    "record_rollback": "The server sent an older version than this device has seen; the newer one is kept.",
    "record_fork": "The server sent a conflicting history for this note; the last good version is kept.",
}
QUARANTINE_FALLBACK = "The newest version of this note could not be used here; the last good version is shown."


class AppError(VellumError):
    """The app cannot do that now."""

    code = "app_error"


def _err(code: str, message: str) -> AppError:
    return AppError(message, code=code)


# --- local settings ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalSettings:
    """What this browser profile remembers about its account, stored as JSON in IndexedDB. Public or wrapped only."""

    username: str
    account_id: bytes
    device_id: bytes
    device_name: str
    relay_origin: str
    joined_at: int  # ms
    device_factor: bytes | None = field(default=None, repr=False)  # the device factor's seed, wrapped by WebCrypto
    clock_offset: float = 0.0  # relay time - local time, seconds
    last_sync_at: int | None = None  # ms
    rotation_days: int = DEFAULT_ROTATION_DAYS  # routine key rotation every n days (0: never), pycore.app_keys
    queued_rotation: bytes | None = None  # a routine rotation asked for offline (lifecycle.QueuedRotation), public

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": SETTINGS_FORMAT_V1,
                "username": self.username,
                "account_id": b64e(self.account_id),
                "device_id": b64e(self.device_id),
                "device_name": self.device_name,
                "relay_origin": self.relay_origin,
                "joined_at": self.joined_at,
                "device_factor": b64e(self.device_factor) if self.device_factor is not None else None,
                "clock_offset": self.clock_offset,
                "last_sync_at": self.last_sync_at,
                "rotation_days": self.rotation_days,
                "queued_rotation": b64e(self.queued_rotation) if self.queued_rotation is not None else None,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> LocalSettings:
        try:
            v = json.loads(data.decode("utf-8"))
            if not isinstance(v, dict) or v.get("format") != SETTINGS_FORMAT_V1:
                raise FormatError("the stored settings have an unknown format")
            factor = v.get("device_factor")
            offset = v.get("clock_offset", 0.0)
            last = v.get("last_sync_at")
            days = v.get("rotation_days", DEFAULT_ROTATION_DAYS)
            queued = v.get("queued_rotation")
            return cls(
                str(v["username"]),
                b64d(v["account_id"], size=wire.ACCOUNT_ID_SIZE),
                b64d(v["device_id"], size=wire.DEVICE_ID_SIZE),
                str(v["device_name"]),
                str(v["relay_origin"]),
                int(v["joined_at"]),
                b64d(factor) if isinstance(factor, str) else None,
                float(offset) if isinstance(offset, int | float) else 0.0,
                int(last) if isinstance(last, int) else None,
                days if isinstance(days, int) and not isinstance(days, bool) and days >= 0 else DEFAULT_ROTATION_DAYS,
                b64d(queued) if isinstance(queued, str) else None,
            )
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            raise FormatError("the stored settings are damaged") from None


# --- checks -----------------------------------------------------------------------------------------------------------


def normalize_username(name: str) -> str:
    """As the relay does it: NFKC, trimmed, lower case, then ``[a-z0-9][a-z0-9._@+-]{0,127}``."""
    out = unicodedata.normalize("NFKC", name).strip().lower()
    if not USERNAME_PATTERN.fullmatch(out):
        raise _err(
            "bad_username",
            "Usernames use letters, digits and . _ @ + - (up to 128), starting with a letter or a digit.",
        )
    return out


def check_passphrase(passphrase: str) -> None:
    if len(passphrase.strip()) < MIN_PASSPHRASE_LENGTH:
        raise _err(
            "weak_passphrase",
            f"Choose a passphrase of at least {MIN_PASSPHRASE_LENGTH} characters; a few unrelated words work well.",
        )


def relay_origin_of(value: str | None, page_origin: str) -> str:
    """The relay's origin: the page's unless configured. Plain HTTP only for this machine."""
    if not value:
        return page_origin.rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise _err("bad_request", "The relay address must be an origin such as https://vellum.example.")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise _err("insecure_relay", "The relay must use HTTPS (plain HTTP only for localhost).")
    return f"{parts.scheme}://{parts.netloc}"


def _stored_bundle(meta: Mapping[str, bytes], settings: LocalSettings) -> PublicBundle:
    """The last bundle this device adopted, checked against the pin stored with it."""
    raw, pin_raw = meta.get(META_BUNDLE), meta.get(META_PIN)
    if raw is None or pin_raw is None:
        raise BundleError("This device holds no account keys; sign in again.")
    public = bundle_public.parse_bundle(raw)
    pin = decode_pin(pin_raw)
    if public.account_id != settings.account_id:
        raise BundleError("The account keys on this device belong to another account; sign in again.")
    if not bundle_public.check_against_pin(pin, public):
        raise BundleError("The account keys on this device do not match what it pinned; sign in again.")
    try:
        verify_signature(public.signature, bundle_public.signed_message(public.body), pin.identity_public)
    except Exception:
        raise BundleError("The account keys on this device do not verify; sign in again.") from None
    return public


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def list_item(item: ListItem) -> dict[str, Any]:
    return {
        "id": b64e(item.record_id),
        "title": item.title,
        "snippet": item.snippet,
        "updated_at": item.updated_at,
        "conflicted": item.conflicted,
        "pending": item.pending,
        "quarantine": item.quarantine,
        "quarantine_message": quarantine_message(item.quarantine),
    }


def quarantine_message(code: str | None) -> str | None:
    if code is None:
        return None
    return QUARANTINE_MESSAGES.get(code, QUARANTINE_FALLBACK)


# --- the session ------------------------------------------------------------------------------------------------------


@dataclass
class Session:
    """An unlocked account in this worker. Never serialised; locking drops it (and the page ends the worker)."""

    settings: LocalSettings
    device: DeviceInfo
    api: RelayApi = field(repr=False)
    engine: SyncEngine = field(repr=False)
    notebook: Notebook = field(repr=False)

    @property
    def unlocked(self) -> Unlocked:
        return self.engine.unlocked


@dataclass
class SyncState:
    online: bool | None = None
    last_error: dict[str, str] | None = None


class App:
    def __init__(
        self,
        *,
        idb: Any,
        fetch: Any,
        device: Any,
        origin: str,
        runtime: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = IdbStore(idb)
        self.http: HttpFunction = FetchHttp(fetch)
        self.device_js = device
        self.runtime_js = runtime
        self.page_origin = origin.rstrip("/")
        self.clock = clock
        self.session: Session | None = None
        self.sync_state = SyncState()
        self._recovery_words: list[str] | None = None
        self._book = asyncio.Lock()  # one notebook change at a time: reconcile, save, delete, search, import
        self._reconciling: asyncio.Task[None] | None = None
        self._served: dict[tuple[bytes, int], tuple[bytes, Note]] = {}  # (id, revision) -> (content hash, note)
        self.timings: dict[str, float] = {}  # ms of the last steps (sign-in, unlock, sync), for the benchmark
        from pycore.app.keys import AppKeys  # the key lifecycle (it builds on this module)

        self.keys: AppKeys = AppKeys(self)

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round((time.perf_counter() - started) * 1000, 1)

    def __repr__(self) -> str:
        return f"App(unlocked={self.session is not None})"

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def require(self) -> Session:
        if self.session is None:
            raise _err("locked", "Unlock the account first.")
        return self.session

    async def _settings(self) -> tuple[LocalSettings | None, dict[str, bytes]]:
        meta = await self.store.load_meta()
        raw = meta.get(META_SETTINGS)
        return (LocalSettings.decode(raw) if raw is not None else None), meta

    # --- status -------------------------------------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        settings, meta = await self._settings()
        fingerprint_of: str | None = None
        if self.session is not None:
            settings = self.session.settings
            fingerprint_of = fingerprint(self.session.unlocked.bundle.public.header.identity_public)
        elif settings is not None and META_BUNDLE in meta:
            try:
                fingerprint_of = fingerprint(bundle_public.parse_bundle(meta[META_BUNDLE]).header.identity_public)
            except VellumError:
                fingerprint_of = None
        features: dict[str, Any] = {"module_worker": True, "ed25519": None, "persistent_storage": None}
        if self.runtime_js is not None and hasattr(self.runtime_js, "features"):
            try:
                features.update(json.loads(str(await self.runtime_js.features())))
            except Exception:  # noqa: S110 (a probe that failed says nothing)
                pass
        features["webauthn_prf"] = None  # a page API: the page probes it
        state = "new" if settings is None else ("unlocked" if self.session is not None else "locked")
        return {
            "state": state,
            "username": settings.username if settings else None,
            "device_name": settings.device_name if settings else None,
            "remembered": bool(settings and settings.device_factor is not None),
            "relay_origin": settings.relay_origin if settings else self.page_origin,
            "fingerprint": fingerprint_of,
            "features": features,
        }

    # --- joining: register and sign in --------------------------------------------------------------------------------

    async def _device_for(self, old: LocalSettings | None, account_id: bytes | None) -> DeviceInfo:
        """This profile's device keys for joining ``account_id``. Another account never reuses them (the relay would
        see one device in two accounts): they are replaced, after checking the old account has no unsent edits. Its
        local data is only dropped once the new account is in (``_join``)."""
        if old is not None and old.account_id == account_id:
            return await ensure_device(self.device_js)
        if old is not None:
            counts = await self.store.counts()
            if counts.outbox:
                raise _err(
                    "unsynced_changes",
                    f"This browser still holds {counts.outbox} unsynced change(s) of {old.username}. "
                    "Unlock as them and sync first.",
                )
        await self.device_js.forget()
        return await ensure_device(self.device_js)

    def _api(self, relay_origin: str, clock_offset: float = 0.0) -> RelayApi:
        api = RelayApi(self.http, relay_origin, relay_origin, clock=self.clock, step_up=self._step_up)
        api.clock_offset = clock_offset
        return api

    async def _step_up(self, action: str, challenge: bytes, body: bytes) -> tuple[str, bytes]:
        session = self.require()
        login = session.unlocked.login
        if login is None:
            raise _err("step_up_required", "Confirm with your passphrase to do this.")
        s = session.settings
        statement = wire.step_up_statement(s.relay_origin, action, s.account_id, s.device_id, challenge, body)
        return "login", login.login.sign(statement)

    async def register(
        self, username: str, passphrase: str, device_name: str, relay_origin: str | None = None
    ) -> dict[str, Any]:
        username = normalize_username(username)
        check_passphrase(passphrase)
        origin = relay_origin_of(relay_origin, self.page_origin)
        old, _ = await self._settings()
        await self.lock()
        api = self._api(origin)
        await api.health()  # unreachable: a network error before anything is created
        device = await self._device_for(old, None)
        signer = WebCryptoSigner(self.device_js, device)
        now_ms = self._now_ms()
        new = account.create_account(passphrase, now=now_ms // 1000)
        account_id = new.unlocked.account_id
        await api.register_account(
            username,
            new,
            device_id=device.device_id,
            device_public=device.signing_public,
            device_name=device_name,
            device_sign=signer.sign,
        )
        slot_id = new.unlocked.public.passphrase.slot_id
        unlocked = Unlocked(new.unlocked, slot_id, new.passphrase.box, new.passphrase)
        settings = LocalSettings(
            username, account_id, device.device_id, device_name, origin, now_ms, clock_offset=api.clock_offset
        )
        await self._join(settings, device, api, unlocked, replace_local=True)
        self._recovery_words = new.recovery_phrase
        return {
            "recovery_words": list(new.recovery_phrase),
            "fingerprint": fingerprint(new.unlocked.public.header.identity_public),
            "username": username,
            "relay_origin": origin,
            "created_at": now_ms,
        }

    async def recovery_confirmed(self, words: Mapping[str, str]) -> dict[str, Any]:
        if self._recovery_words is None:
            raise _err("recovery_unavailable", "The recovery phrase is no longer held here; make a new recovery kit.")
        if not words:
            raise _err("bad_request", "Give at least one word of the recovery phrase.")
        for key, word in sorted(words.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0):
            position = int(key) if key.isdigit() else 0
            if not 1 <= position <= len(self._recovery_words):
                raise _err("bad_request", f"There is no word {key} in a recovery phrase.")
            if str(word).strip().lower() != self._recovery_words[position - 1]:
                raise _err("recovery_mismatch", f"Word {position} does not match the recovery phrase.")
        self._recovery_words = None
        return {"ok": True}

    async def sign_in(
        self, username: str, passphrase: str, device_name: str, remember: bool, relay_origin: str | None = None
    ) -> dict[str, Any]:
        username = normalize_username(username)
        origin = relay_origin_of(relay_origin, self.page_origin)
        old, meta = await self._settings()
        await self.lock()
        api = self._api(origin, old.clock_offset if old else 0.0)
        await api.health()
        account_id, salt, opslimit, memlimit_kib = await api.prelogin(username)
        with self._timed("sign_in_argon2id"):
            keys = passphrase_keys(passphrase, salt, kdf.Argon2idParams(opslimit, memlimit_kib))  # refuses weak ones
        known = old is not None and old.account_id == account_id and old.relay_origin == origin
        device = await self._device_for(old, account_id if known else None)
        device = await self._login(api, account_id, keys.login, device, device_name)
        latest = await self._latest_bundle(api, account_id, old if known else None, meta)
        entry = latest.passphrase
        entry_meta = entry.meta
        if isinstance(entry_meta, PassphraseMeta) and entry_meta.salt == salt and entry.box_public == keys.box.public:
            unlocked = Unlocked(open_bundle(latest, entry.slot_id, keys.box), entry.slot_id, keys.box, keys)
        else:  # the relay's prelogin answer and the bundle disagree: trust the signed bundle
            unlocked = account.unlock_with_passphrase(latest, passphrase)
        same_device = known and old is not None and old.device_id == device.device_id
        keep_factor = old.device_factor if same_device and old is not None else None  # wrapped for that device only
        settings = LocalSettings(
            username, account_id, device.device_id, device_name, origin,
            old.joined_at if known and old is not None else self._now_ms(),
            device_factor=keep_factor, clock_offset=api.clock_offset,
            last_sync_at=old.last_sync_at if known and old is not None else None,
        )
        await self._join(settings, device, api, unlocked, replace_local=not known)
        remembered = await self._remember_quietly(remember)
        with self._timed("sign_in_first_sync"):
            sync = await self.sync_now()
        return {"notes": await self._items(), "sync": sync, "remembered": remembered}

    async def _latest_bundle(
        self, api: RelayApi, account_id: bytes, known: LocalSettings | None, meta: Mapping[str, bytes]
    ) -> PublicBundle:
        """The newest bundle version: what the relay serves after this browser's pin (checked against it: rollback,
        fork, signatures), or the stored one when nothing is newer. ``known`` is this browser's settings for the same
        account and relay, if any."""
        pin = decode_pin(meta[META_PIN]) if known is not None and META_PIN in meta else None
        chain = await api.bundle_chain(pin.version if pin is not None else 0)
        versions = bundle_public.verify_chain(pin, chain, verify_signature, account_id=account_id)
        if versions:
            return versions[-1]
        if known is not None:
            return _stored_bundle(meta, known)
        raise BundleError("The relay served no account keys.")

    async def _login(
        self,
        api: RelayApi,
        account_id: bytes,
        login_key: factors.SigningKeyPair,
        device: DeviceInfo,
        name: str,
        action: str = "login",
    ) -> DeviceInfo:
        """Log this device in with the login key (``action`` "login") or the recovery login key ("recovery_login")."""
        for attempt in (1, 2):
            challenge = await api.challenge()
            statement = wire.login_statement(
                api.origin, action, account_id, challenge, device.device_id, device.signing_public
            )
            try:
                await api.login(
                    action,
                    {
                        "account_id": b64e(account_id),
                        "challenge": b64e(challenge),
                        "device": {"id": b64e(device.device_id), "signing_public": b64e(device.signing_public),
                                   "name": name},
                        "signature": b64e(login_key.sign(statement)),
                        "device_signature": b64e(await WebCryptoSigner(self.device_js, device).sign(statement)),
                    },
                )
            except RelayError as exc:
                if exc.code == "login_failed" and action == "recovery_login":
                    raise DecryptionError(
                        "That username and recovery phrase do not match (or the phrase is from an older kit).",
                        code="wrong_recovery_phrase",
                    ) from None
                if exc.code == "login_failed":
                    raise DecryptionError(
                        "That username and passphrase do not match.", code="wrong_passphrase"
                    ) from None
                if exc.code in ("device_revoked", "device_exists") and attempt == 1:
                    # This profile's device id cannot come back: new device keys, a new id.
                    await self.device_js.forget()
                    device = await ensure_device(self.device_js)
                    continue
                raise
            api.session = ApiSession(account_id, device.device_id, WebCryptoSigner(self.device_js, device))
            return device
        raise AssertionError("unreachable")

    async def _join(
        self, settings: LocalSettings, device: DeviceInfo, api: RelayApi, unlocked: Unlocked, *, replace_local: bool
    ) -> None:
        """Store the settings and the bundle (with its pin) in one commit — dropping another account's local data in
        the same transaction — then open the session."""
        batch = Batch(bundle=unlocked.bundle.public.encoded)
        await self.store.commit(batch, settings=settings.encode(), clear=replace_local)
        self._open(settings, device, api, unlocked)
        assert self.session is not None
        await self.store.counts()
        # Data kept from before (a known device) is checked whole after the first sync; a fresh store needs no more
        # than what that sync brings.
        self.store.foreign_writes = not replace_local
        await self.session.notebook.load()

    def _open(self, settings: LocalSettings, device: DeviceInfo, api: RelayApi, unlocked: Unlocked) -> None:
        api.session = ApiSession(settings.account_id, device.device_id, WebCryptoSigner(self.device_js, device))
        engine = SyncEngine(
            self.store, api, unlocked, device_name=settings.device_name, clock=self.clock,
            push_batch=PUSH_BATCH, pull_limit=PULL_LIMIT,
        )
        self.session = Session(settings, device, api, engine, Notebook(engine, self.store))
        self.sync_state = SyncState()

    async def _save_settings(self, settings: LocalSettings) -> None:
        session = self.require()
        session.settings = settings
        await self.store.save_settings(settings.encode())

    # --- unlocking a known device -------------------------------------------------------------------------------------

    async def _known(self) -> tuple[LocalSettings, PublicBundle, DeviceInfo]:
        settings, meta = await self._settings()
        if settings is None:
            raise _err("no_account", "This browser has no Vellum account yet: sign in or create one.")
        public = _stored_bundle(meta, settings)
        device = await load_device(self.device_js)
        if device is None or device.device_id != settings.device_id:
            raise _err("device_key_unavailable", "This browser's device key is gone; sign in again.")
        return settings, public, device

    async def unlock(self, passphrase: str, remember: bool) -> dict[str, Any]:
        settings, public, device = await self._known()
        with self._timed("unlock_open_bundle"):
            try:
                unlocked = account.unlock_with_passphrase(public, passphrase)
            except DecryptionError as exc:  # changed on another device? (needs the relay)
                unlocked = await self.keys.unlock_newer(settings, public, device, exc, passphrase=passphrase)
        return await self._unlocked(settings, device, unlocked, remember=remember)

    async def unlock_device(self) -> dict[str, Any]:
        with self._timed("unlock_device_total"):
            return await self._unlock_device()

    async def _unlock_device(self) -> dict[str, Any]:
        with self._timed("unlock_known"):
            settings, public, device = await self._known()
        if settings.device_factor is None:
            raise _err("not_remembered", "This device is not remembered; unlock with your passphrase.")
        if public.device_factor(device.device_id) is None:
            raise _err("not_remembered", "This device is no longer remembered by the account; use your passphrase.")
        wrapper = WebCryptoDeviceWrapper(self.device_js)
        with self._timed("unlock_open_bundle"):
            unlocked = await account.unlock_with_device(public, device.device_id, wrapper, settings.device_factor)
        return await self._unlocked(settings, device, unlocked, remember=False)

    async def _unlocked(
        self, settings: LocalSettings, device: DeviceInfo, unlocked: Unlocked, *, remember: bool
    ) -> dict[str, Any]:
        await self.lock()
        self._open(settings, device, self._api(settings.relay_origin, settings.clock_offset), unlocked)
        session = self.require()
        await self.store.counts()  # where the store is now: the reconcile below covers what came before
        self.store.foreign_writes = False
        with self._timed("unlock_load_index"):
            await session.notebook.load()
        with self._timed("unlock_list"):
            items = await self._items(fresh=False)
        # The list above came from the sealed index; the notebook now checks it against the records.
        self._reconciling = asyncio.ensure_future(self._reconcile_quietly())
        out: dict[str, Any] = {"notes": items, "reconciling": True}
        if remember:
            out["remembered"] = await self._remember_quietly(True)
        return out

    async def _reconcile_quietly(self) -> None:
        try:
            async with self._book:
                if self.session is not None:
                    with self._timed("unlock_reconcile"):
                        await self.session.notebook.reconcile()
        except Exception:  # noqa: S110 (the next notes.list or sync reconciles again)
            pass

    async def _settle(self) -> None:
        task = self._reconciling
        if task is not None:
            self._reconciling = None
            await task

    async def lock(self) -> dict[str, Any]:
        task, self._reconciling = self._reconciling, None
        if task is not None and not task.done():
            task.cancel()
        self.session = None
        self._recovery_words = None
        self._served = {}
        self.keys.forget()
        self.sync_state = SyncState()
        return {"ok": True}

    # --- remember this device -----------------------------------------------------------------------------------------

    async def _remember_quietly(self, wanted: bool) -> bool:
        """Turn "remember this device" on when asked; False (and the session stays) when it cannot be done now."""
        session = self.require()
        if not wanted:
            return session.settings.device_factor is not None
        try:
            await self.remember()
        except VellumError as exc:  # offline, a refused step-up, a device key that cannot wrap: stay unlocked
            self.sync_state.last_error = {"code": exc.code, "message": exc.message}
            return False
        return True

    async def remember(self) -> None:
        """A device slot in a new bundle version (published with a passphrase step-up), its seed wrapped by the
        device's WebCrypto AES-GCM key and kept in the settings."""
        session = self.require()
        current = session.unlocked.bundle
        device = session.device
        if session.settings.device_factor is not None and current.public.device_factor(device.device_id):
            return
        wrapper = WebCryptoDeviceWrapper(self.device_js)
        for attempt in (1, 2):
            current = session.unlocked.bundle
            box, blob = await factors.new_device_factor(wrapper, device.device_id)
            spec = new_factor_spec(
                FactorType.DEVICE,
                box.public,
                DeviceMeta(device.device_id, device.signing_public, session.settings.device_name[:MAX_DEVICE_NAME]),
            )
            kept = [f for f in current.public.factors if not _is_device(f.meta, device.device_id)]
            new: UnlockedBundle = next_version(current, factors=[*kept, spec])
            try:
                await session.api.publish_bundle(current.version, new.public.encoded, None)
            except StaleBundle:
                if attempt == 2:
                    raise
                await session.engine.refresh_bundle()
                continue
            await session.engine.adopt(new)
            await self._save_settings(replace(session.settings, device_factor=blob))
            return

    # --- notes --------------------------------------------------------------------------------------------------------

    async def _items(self, *, fresh: bool = True) -> list[dict[str, Any]]:
        session = self.require()
        if fresh:
            await self._settle()
            await self.store.counts()  # notices another tab's writes
            if self.store.foreign_writes:
                async with self._book:
                    self.store.foreign_writes = False
                    await session.notebook.reconcile()
        return [list_item(item) for item in session.notebook.items()]

    async def notes_list(self) -> dict[str, Any]:
        return {"notes": await self._items()}

    async def _head(self, record_id: bytes) -> tuple[SealedRecord, Note, LocalRecord] | None:
        """The note as this device shows it (the local edit, else the last accepted revision), opened."""
        session = self.require()
        local = (await self.store.get([record_id])).get(record_id)
        if local is None or local.head is None:
            return None
        bundle = session.unlocked.bundle
        opened = open_records(bundle.scope, bundle.keyring.keys, [local.head])[0]
        if isinstance(opened, VellumError):
            raise opened
        if opened.record_type != RecordType.NOTE:
            return None
        return local.head, decode_note(opened.payload), local

    def _serve(self, record_id: bytes, head: SealedRecord, note: Note) -> None:
        """Remember what the page was given (the ancestor of a later save that must merge)."""
        key = (record_id, head.revision)
        self._served.pop(key, None)
        self._served[key] = (head.content_hash, note)
        while len(self._served) > MAX_SERVED:
            self._served.pop(next(iter(self._served)))

    async def notes_get(self, record_id: bytes) -> dict[str, Any]:
        found = await self._head(record_id)
        if found is None:
            raise _err("not_found", "This note is not on this device (it may have been deleted).")
        head, note, local = found
        self._serve(record_id, head, note)
        reason = local.quarantine.reason if local.quarantine is not None else None
        return {
            "id": b64e(record_id),
            "title": note.title,
            "body": note.body,
            "updated_at": note.updated_at,
            "revision": head.revision,
            "pending": local.pending is not None,
            "quarantine": reason,
            "quarantine_message": quarantine_message(reason),
        }

    async def notes_save(
        self, title: str, body: str, record_id: bytes | None, base_revision: int | None = None
    ) -> dict[str, Any]:
        """Save; with ``base_revision`` (the revision the page's text started from), an edit that landed meanwhile
        (a sync, another tab) is merged three-way instead of overwritten — or, when both changed the same lines,
        the page's text becomes a conflicted copy and the other edit stays."""
        session = self.require()
        if len(title) > MAX_TITLE_LENGTH:
            raise _err("bad_request", f"A title has at most {MAX_TITLE_LENGTH} characters.")
        out: dict[str, Any] = {}
        async with self._book:
            if record_id is not None and base_revision is not None:
                found = await self._head(record_id)
                served = self._served.get((record_id, base_revision))
                if found is not None:
                    head, theirs, _ = found
                    moved = head.revision != base_revision or (served is not None and served[0] != head.content_hash)
                    if moved and (theirs.title, theirs.body) != (title, body):
                        ours = Note(title, body, self._now_ms())
                        merged = merge_notes(served[1], ours, theirs) if served is not None else None
                        if merged is None:
                            copy_title = conflicted_copy_title(title, session.settings.device_name, self._now_ms())
                            copy_id = await session.notebook.save(copy_title, body)
                            out = {"conflicted_copy_of": b64e(record_id)}
                            record_id, title = copy_id, copy_title
                        else:
                            title, body = merged.title, merged.body
                            out = {"merged": {"title": title, "body": body}}
            if "conflicted_copy_of" not in out:
                record_id = await session.notebook.save(title, body, record_id)
            assert record_id is not None
            found = await self._head(record_id)
        revision = None
        if found is not None:
            self._serve(record_id, found[0], found[1])
            revision = found[0].revision
        return {"id": b64e(record_id), "pending_count": self.store.last.outbox, "revision": revision, **out}

    async def notes_delete(self, record_id: bytes) -> dict[str, Any]:
        session = self.require()
        view = await session.engine.note(record_id)
        if view is None:
            raise _err("not_found", "This note is not on this device (it may have been deleted).")
        async with self._book:
            await session.notebook.delete(record_id)
        undo = {"id": b64e(record_id), "title": view.note.title, "body": view.note.body}
        return {"pending_count": self.store.last.outbox, "undo": undo}

    async def notes_search(self, query: str) -> dict[str, Any]:
        session = self.require()
        await self._settle()
        async with self._book:
            ids = await session.notebook.search(query)
        return {"ids": [b64e(rid) for rid in ids]}

    # --- sync ---------------------------------------------------------------------------------------------------------

    async def sync_now(self) -> dict[str, Any]:
        session = self.require()
        before = session.unlocked.bundle.account_key
        self.store.take_touched()  # local edits before this point are in the index already
        try:
            with self._timed("sync_keys"):
                await self.keys.before_sync()  # a rotation queued offline; the account keys' newer versions
            with self._timed("sync_engine"):
                await session.engine.sync()
        except NetworkError as exc:
            self.sync_state = SyncState(False, {"code": exc.code, "message": exc.message})
        except VellumError as exc:
            self.sync_state = SyncState(True, {"code": exc.code, "message": exc.message})
        else:
            self.sync_state = SyncState(True, None)
            settings = replace(session.settings, last_sync_at=self._now_ms(), clock_offset=session.api.clock_offset)
            await self._save_settings(settings)
        await self._settle()
        async with self._book:
            if session.unlocked.bundle.account_key != before:
                await session.notebook.reseal_index()  # the index keys come from the account key
            touched = self.store.take_touched()
            with self._timed("sync_reconcile"):
                await self.store.counts()  # notices another tab's writes
                if self.store.foreign_writes or len(touched) > FULL_RECONCILE:
                    self.store.foreign_writes = False
                    await session.notebook.reconcile()
                elif touched:
                    await session.notebook.refresh(touched)  # what this sync changed, only
        return await self.sync_status()

    async def sync_status(self) -> dict[str, Any]:
        session = self.require()
        counts = await self.store.counts()
        return {
            "online": self.sync_state.online,
            "pending_count": counts.outbox,
            "last_success_at": session.settings.last_sync_at,
            "last_error": self.sync_state.last_error,
            "conflicts": sum(1 for item in session.notebook.items() if item.conflicted),
            "quarantined": counts.quarantine,
        }

    # --- settings -----------------------------------------------------------------------------------------------------

    async def devices_list(self) -> dict[str, Any]:
        session = self.require()
        out = []
        for d in await session.api.devices():
            added, seen, revoked = d.get("added_at"), d.get("last_seen_at"), d.get("revoked_at")
            out.append(
                {
                    "id": str(d.get("id", "")),
                    "name": str(d.get("name", "")),
                    "added_at": added * 1000 if isinstance(added, int) else None,
                    "last_seen_at": seen * 1000 if isinstance(seen, int) else None,
                    "revoked": revoked is not None,
                    "this_device": d.get("current") is True,
                }
            )
        return {"devices": out}

    async def devices_rename(self, name: str) -> dict[str, Any]:
        session = self.require()
        name = name.strip()
        if not name or len(name) > MAX_DEVICE_NAME:
            raise _err("bad_request", f"A device name has 1 to {MAX_DEVICE_NAME} characters.")
        await session.api.call("PATCH", f"/devices/{b64e(session.device.device_id)}", body={"name": name})
        session.engine.device_name = name
        await self._save_settings(replace(session.settings, device_name=name))
        return {"ok": True}

    async def export_encrypted(self, passphrase: str) -> dict[str, Any]:
        session = self.require()
        check_passphrase(passphrase)
        now = self._now_ms()
        data = await session.notebook.export_encrypted(passphrase, now=now // 1000)
        return {"file": data, "filename": f"vellum-{_date(now)}.vellum"}

    async def export_plaintext(self) -> dict[str, Any]:
        session = self.require()
        text = await session.notebook.export_plaintext()
        return {"text": text, "filename": f"vellum-{_date(self._now_ms())}.md"}

    async def import_encrypted(self, data: bytes, passphrase: str) -> dict[str, Any]:
        session = self.require()
        await self._settle()
        async with self._book:
            count = await session.notebook.import_encrypted(data, passphrase)
        return {"imported": count}


def _is_device(meta: Any, device_id: bytes) -> bool:
    return isinstance(meta, DeviceMeta) and meta.device_id == device_id
