"""The key-lifecycle side of the app behind the crypto worker (docs/worker-api.md, "Key lifecycle"): change the
passphrase, recover with the recovery phrase (on a new or a known browser), a new recovery kit, "remember this device"
on and off, passkeys, revoking a device, routine rotation and its background work.

``AppKeys`` belongs to one ``pycore.app.session.App`` and works on its session. It decides the order of the steps and
what is kept where; the protocol is ``pycore.lifecycle`` over the session's ``RelayApi`` (its ``LifecycleBackend``):

- Every change of who can unlock the account starts with ``lifecycle.confirm``: the newest bundle version is fetched
  (and verified against this device's pin: ``keyring_rollback`` / ``keyring_fork``), the passphrase just typed is
  checked against it (one Argon2id; ``wrong_passphrase`` before any change is sent) and becomes the step-up key.
- A flow answers only after the relay accepted the new version. ``_use`` then hands it to the sync engine (which
  stores it with its pin), keeps the factor this device now holds, re-seals queued edits when the write epoch moved and
  re-seals the note index when the account key changed (the index keys come from it).
- Background work (the re-wrap after a routine rotation, the re-encryption after a revocation) runs one page per
  ``rotation_continue`` call, so the page drives it between other commands and a closed tab loses nothing: the intent
  is in the keyring and progress is the relay's per-record epochs.
- Before every sync (``before_sync``): a rotation queued offline is published (unless another device rotated since),
  then the newest bundle version is adopted (``lifecycle.follow``) — a passphrase changed elsewhere, a revocation, a
  rotation. ``unlock_again`` when this device's unlock method is gone after an account-key rotation.

Recovery holds its state in memory between ``recover_start`` (the phrase checked locally, then the recovery login and
the bundle) and ``recover_finish`` (the new passphrase, published with a step-up signed by the recovery login key);
nothing is stored before the new passphrase is in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pycore import account, lifecycle, primitives, recovery, rotation
from pycore.account import Unlocked
from pycore.app.browser.webcrypto import DeviceInfo, WebCryptoDeviceWrapper, WebCryptoSigner
from pycore.app.session import (
    MAX_DEVICE_NAME,
    AppError,
    LocalSettings,
    _stored_bundle,
    check_passphrase,
    normalize_username,
    relay_origin_of,
)
from pycore.bundle import fingerprint, verify_signature
from pycore.envelope import SealedRecord
from pycore.errors import DecryptionError, NetworkError, StaleBundle, UnlockAgain, VellumError
from pycore.factors import open_device_factor, recovery_keys
from pycore.keyring import IntentKind
from pycore.public import bundle_public
from pycore.public.bundle_public import FactorType, PublicBundle
from pycore.public.codec import b64e
from pycore.sync.relay_api import HttpFunction, HttpResponse, RelayApi
from pycore.sync.relay_api import Session as ApiSession
from pycore.sync.types import Batch

if TYPE_CHECKING:
    from pycore.app.session import App

DAY_MS = 86_400_000
MAX_ROTATION_DAYS = 3650
ROTATION_BATCH = rotation.DEFAULT_BATCH  # records per ``rotation_continue`` call (the relay lists up to 1000)
MAX_ROTATION_BATCH = 1000
ALL_EPOCHS = 2**32  # above any write epoch (u32): "records below it" is every current record at the relay
MAX_PASSKEY_NAME = 128
DEFAULT_PASSKEY_NAME = "Passkey"
DEFAULT_RECOVERED_NAME = "This browser"


def _err(code: str, message: str) -> AppError:
    return AppError(message, code=code)


# --- measuring: local work and the network apart ----------------------------------------------------------------------


class TimedHttp:
    """The app's ``HttpFunction`` with the time spent waiting for the relay added up, so a command's local work (its
    total minus that) can be told from its network time (the benchmark reads them from ``App.timings``)."""

    def __init__(self, inner: HttpFunction) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.requests = 0

    def __repr__(self) -> str:
        return f"TimedHttp({self.inner!r})"

    async def __call__(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        started = time.perf_counter()
        try:
            return await self.inner(method, url, headers, body)
        finally:
            self.seconds += time.perf_counter() - started
            self.requests += 1


# --- one page of background work --------------------------------------------------------------------------------------


class _OnePage:
    """Rotation's backend for one page of the background work: the first listing of records below the write epoch
    starts after ``after`` and every later one is empty, so ``rotation.rewrap_all`` / ``reencrypt_all`` do exactly one
    page and return. Everything else goes to the relay as it is."""

    def __init__(self, api: RelayApi, after: bytes | None) -> None:
        self.api = api
        self.after = after
        self.page: list[SealedRecord] | None = None

    async def bundle_chain(self, since_version: int) -> list[bytes]:
        return await self.api.bundle_chain(since_version)

    async def publish_bundle(self, expected_version: int, bundle: bytes, rotation: rotation.Rotation | None) -> None:
        await self.api.publish_bundle(expected_version, bundle, rotation)

    async def records_below_epoch(self, epoch: int, after: bytes | None, limit: int) -> list[SealedRecord]:
        if self.page is not None:
            return []
        self.page = await self.api.records_below_epoch(epoch, self.after, limit)
        return self.page

    async def put_key_updates(self, updates: Sequence[SealedRecord]) -> list[bool]:
        return await self.api.put_key_updates(updates)

    async def put_records(self, records: Sequence[tuple[int, SealedRecord]]) -> list[bool]:
        return await self.api.put_records(records)


# --- recovery in progress ---------------------------------------------------------------------------------------------


@dataclass
class _Recovery:
    """Between ``recover_start`` and ``recover_finish``: the device logged in with the recovery login key and the newest
    bundle opened with the recovery phrase's slot. Memory only; a lock drops it."""

    username: str
    origin: str
    account_id: bytes
    device: DeviceInfo
    device_name: str
    api: RelayApi = field(repr=False)
    unlocked: Unlocked = field(repr=False)
    old: LocalSettings | None  # this browser's settings for the same account (a known device), else None


@dataclass
class _RotationRun:
    """Where this worker is in the background work of one write epoch (records it could not open are passed)."""

    epoch: int
    after: bytes | None = None
    failed: int = 0


class AppKeys:
    def __init__(self, app: App) -> None:
        self.app = app
        self.http = TimedHttp(app.http)
        app.http = self.http  # every RelayApi the app makes from now on is timed
        self._lock = asyncio.Lock()  # one key change at a time (and not during the pre-sync follow)
        self._recovery: _Recovery | None = None
        self._run: _RotationRun | None = None

    def __repr__(self) -> str:
        return f"AppKeys(recovering={self._recovery is not None})"

    def forget(self) -> None:
        """On lock: drop the recovery in progress and where the background work was."""
        self._recovery = None
        self._run = None

    # --- helpers --------------------------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self.app.clock())

    @asynccontextmanager
    async def _measured(self, name: str) -> AsyncIterator[None]:
        """``App.timings``: ``keys_<name>_ms`` (whole), ``_network_ms`` (waiting for the relay), ``_local_ms``."""
        started, waited, requests = time.perf_counter(), self.http.seconds, self.http.requests
        try:
            yield
        finally:
            total = time.perf_counter() - started
            network = self.http.seconds - waited
            timings = self.app.timings
            timings[f"keys_{name}_ms"] = round(total * 1000, 1)
            timings[f"keys_{name}_network_ms"] = round(network * 1000, 1)
            timings[f"keys_{name}_local_ms"] = round((total - network) * 1000, 1)
            timings[f"keys_{name}_requests"] = self.http.requests - requests

    def _timed(self, name: str) -> AbstractContextManager[None]:
        return self.app._timed(f"keys_{name}")

    async def _use(self, new: Unlocked) -> None:
        """Keep the sync engine on ``new`` (a version the relay accepted, or one adopted from it) and on the factor this
        device now holds; re-seal queued edits under a new write epoch and the note index under a new account key."""
        session = self.app.require()
        engine = session.engine
        old = engine.unlocked.bundle
        if new.bundle.version < old.version:
            # A sync adopted a newer version meanwhile: stay on it, with the new factor if that version lists it.
            entry = old.public.factor(new.slot_id)
            if entry is not None and primitives.memcmp(entry.box_public, new.box.public):
                engine.use_factor(new)
            return
        with self._timed("adopt"):
            await engine.adopt_unlocked(new)
            if new.bundle.write_key.epoch != old.write_key.epoch:
                await engine.reseal_outbox()
        if new.bundle.account_key != old.account_key:
            with self._timed("reseal_index"):
                async with self.app._book:
                    await session.notebook.reseal_index()

    async def _confirm(self, passphrase: str) -> tuple[Unlocked, lifecycle.Confirmation]:
        """The step-up: the newest version fetched and verified, the passphrase checked against it (one Argon2id), and
        that version adopted with it."""
        session = self.app.require()
        async with self._measured("confirm"):
            unlocked, confirmation = await lifecycle.confirm(
                session.api, session.engine.unlocked, passphrase=passphrase
            )
        await self._use(unlocked)
        return session.engine.unlocked, confirmation

    def _fingerprint(self) -> str:
        return fingerprint(self.app.require().unlocked.bundle.public.header.identity_public)

    # --- before a sync, and unlocking after a change elsewhere ----------------------------------------------------

    async def before_sync(self) -> None:
        """Publish a rotation queued offline, else adopt the newest bundle version. Raises what the sync reports:
        ``network_error``, ``unlock_again``, ``keyring_rollback`` / ``keyring_fork`` / ``bad_bundle`` (the version in
        use stays; the notes are not synced with a relay that serves those)."""
        session = self.app.require()
        async with self._lock:
            queued = session.settings.queued_rotation
            if queued is not None:
                request = lifecycle.QueuedRotation.decode(queued)
                new = await lifecycle.run_queued(session.api, session.engine.unlocked, request, now=self._now())
                await self._use(new)
                await self.app._save_settings(replace(session.settings, queued_rotation=None))
                return
            try:
                new = await lifecycle.follow(session.api, session.engine.unlocked)
            except UnlockAgain:
                # Unlocked with a factor that is gone (say, the old passphrase) on a remembered device: the device
                # factor opens the new version (its slot was re-sealed with every other one).
                held = await self._device_factor()
                if held is None:
                    raise
                new = await lifecycle.follow(session.api, held)
            if new.bundle.version != session.engine.unlocked.bundle.version:
                await self._use(new)

    async def _device_factor(self) -> Unlocked | None:
        """The session's bundle held with this device's remembered factor (unwrapped by its WebCrypto key), if the
        device is remembered and the bundle in use lists that factor."""
        session = self.app.require()
        blob = session.settings.device_factor
        unlocked = session.engine.unlocked
        entry = unlocked.bundle.public.device_factor(session.device.device_id)
        if blob is None or entry is None:
            return None
        wrapper = WebCryptoDeviceWrapper(self.app.device_js)
        try:
            box = await open_device_factor(wrapper, session.device.device_id, blob)
        except VellumError:
            return None
        if not primitives.memcmp(box.public, entry.box_public):
            return None
        return Unlocked(unlocked.bundle, entry.slot_id, box, unlocked.login)

    async def _newer(self, settings: LocalSettings, public: PublicBundle, device: DeviceInfo) -> PublicBundle | None:
        """The newest version the relay serves after the stored one, verified against the stored pin (signed with this
        device's key, so it works while locked); ``None`` when there is none or the relay cannot be reached."""
        api = self.app._api(settings.relay_origin, settings.clock_offset)
        api.session = ApiSession(settings.account_id, device.device_id, WebCryptoSigner(self.app.device_js, device))
        try:
            chain = await api.bundle_chain(public.version)
        except NetworkError:
            return None
        newer = bundle_public.verify_chain(
            bundle_public.Pin.of(public), chain, verify_signature, account_id=settings.account_id
        )
        return newer[-1] if newer else None

    async def unlock_newer(
        self,
        settings: LocalSettings,
        public: PublicBundle,
        device: DeviceInfo,
        error: VellumError,
        *,
        passphrase: str | None = None,
        passkey: tuple[bytes, bytes] | None = None,
    ) -> Unlocked:
        """The stored version did not open with this passphrase (or does not list this passkey): it may have been
        changed (added) on another device. Online, open the newest verified version instead and store it; else (or if
        that does not open either) raise ``error``."""
        latest = await self._newer(settings, public, device)
        if latest is None:
            raise error
        try:
            if passphrase is not None:
                unlocked = account.unlock_with_passphrase(latest, passphrase)
            elif passkey is not None:
                unlocked = account.unlock_with_passkey(latest, passkey[0], passkey[1])
            else:
                raise error
        except DecryptionError:
            raise error from None
        await self.app.store.commit(Batch(bundle=unlocked.bundle.public.encoded))
        return unlocked

    # --- passphrase ---------------------------------------------------------------------------------------------------

    async def change_passphrase(self, current: str, new: str, may_be_known: bool) -> dict[str, Any]:
        check_passphrase(new)
        session = self.app.require()
        async with self._lock, self._measured("change_passphrase"):
            unlocked, confirmation = await self._confirm(current)
            async with self._measured("change_passphrase_flow"):
                changed = await lifecycle.change_passphrase(
                    session.api, unlocked, confirmation, new, passphrase_may_be_known=may_be_known
                )
            await self._use(changed)
        return {"ok": True, "rotated": may_be_known, "fingerprint": self._fingerprint()}

    # --- recovery -----------------------------------------------------------------------------------------------------

    async def recover_start(
        self, username: str, words: Sequence[str] | str, device_name: str | None, relay_origin: str | None
    ) -> dict[str, Any]:
        """Check the phrase locally (``unknown_word`` with its position and suggestions, ``bad_checksum``,
        ``wrong_word_count`` — before any request), log this browser in with the recovery login key and open the
        newest bundle with the recovery slot. Nothing is stored yet."""
        if isinstance(words, str):
            words = recovery.split_phrase(words)
        keys = recovery_keys(recovery.entropy_from_phrase(words))
        username = normalize_username(username)
        origin = relay_origin_of(relay_origin, self.app.page_origin)
        app = self.app
        old, meta = await app._settings()
        await app.lock()
        async with self._measured("recover_start"):
            api = app._api(origin, old.clock_offset if old else 0.0)
            await api.health()
            account_id, _, _, _ = await api.prelogin(username)
            known = old is not None and old.account_id == account_id and old.relay_origin == origin
            name = (device_name or "").strip()[:MAX_DEVICE_NAME] or (
                old.device_name if known and old is not None else DEFAULT_RECOVERED_NAME
            )
            device = await app._device_for(old, account_id if known else None)
            device = await app._login(api, account_id, keys.login, device, name, action="recovery_login")
            latest = await app._latest_bundle(api, account_id, old if known else None, meta)
            unlocked = account.unlock_with_recovery(latest, words)
        self._recovery = _Recovery(
            username, origin, account_id, device, name, api, unlocked, old if known else None
        )
        return {
            "username": username,
            "fingerprint": fingerprint(latest.header.identity_public),
            "needs_new_passphrase": True,
        }

    async def recover_finish(
        self, new_passphrase: str, device_name: str | None, remember: bool, may_be_known: bool
    ) -> dict[str, Any]:
        """The new passphrase, published with a step-up signed by the recovery login key; then this browser joins the
        account (a known browser keeps its notes), optionally remembers itself, and syncs."""
        pending = self._recovery
        if pending is None:
            raise _err("recovery_not_started", "Enter your recovery phrase first.")
        check_passphrase(new_passphrase)
        app = self.app
        confirmation = lifecycle.confirmation_of(pending.unlocked)
        if confirmation is None:
            raise _err("recovery_not_started", "Enter your recovery phrase first.")
        async with self._measured("recover_finish"):
            new = await lifecycle.change_passphrase(
                pending.api, pending.unlocked, confirmation, new_passphrase, passphrase_may_be_known=may_be_known
            )
        old, device = pending.old, pending.device
        same_device = old is not None and old.device_id == device.device_id
        settings = LocalSettings(
            pending.username,
            pending.account_id,
            device.device_id,
            pending.device_name,
            pending.origin,
            old.joined_at if old is not None else app._now_ms(),
            device_factor=old.device_factor if same_device and old is not None else None,
            clock_offset=pending.api.clock_offset,
            last_sync_at=old.last_sync_at if old is not None else None,
            rotation_days=old.rotation_days if old is not None else lifecycle.DEFAULT_ROTATION_DAYS,
        )
        self._recovery = None
        await app._join(settings, device, pending.api, new, replace_local=old is None)
        name = (device_name or "").strip()
        if name and name != settings.device_name:
            await app.devices_rename(name)
        remembered = await app._remember_quietly(remember)
        with app._timed("recover_first_sync"):
            sync = await app.sync_now()
        return {"notes": await app._items(), "sync": sync, "remembered": remembered}

    # --- recovery kit ---------------------------------------------------------------------------------------------

    async def new_recovery_kit(self, passphrase: str) -> dict[str, Any]:
        """A new phrase (shown once; ``app.recovery_confirmed`` checks it like at registration). The account key
        rotates, so the old phrase opens nothing current."""
        session = self.app.require()
        async with self._lock, self._measured("new_recovery_kit"):
            unlocked, confirmation = await self._confirm(passphrase)
            new, words = await lifecycle.new_recovery_kit(session.api, unlocked, confirmation)
            await self._use(new)
        self.app._recovery_words = list(words)
        return {"recovery_words": list(words), "fingerprint": self._fingerprint()}

    # --- remember this device -------------------------------------------------------------------------------------

    async def remember(self, passphrase: str, on: bool) -> dict[str, Any]:
        """On: a device slot whose key is wrapped by this browser's non-extractable WebCrypto key. Off: the slot is
        dropped and the account key rotates (the wrapped key would still open the old versions the relay keeps)."""
        session = self.app.require()
        device = session.device
        async with self._lock:
            listed = session.unlocked.bundle.public.device_factor(device.device_id) is not None
            remembered = listed and session.settings.device_factor is not None
            if on == remembered and (on or not listed):
                return {"remembered": remembered}
            async with self._measured("remember"):
                unlocked, confirmation = await self._confirm(passphrase)
                if on:
                    new, blob = await lifecycle.remember_device(
                        session.api, unlocked, confirmation, device_id=device.device_id,
                        signing_public=device.signing_public, name=session.settings.device_name[:MAX_DEVICE_NAME],
                        wrapper=WebCryptoDeviceWrapper(self.app.device_js),
                    )
                    await self._use(new)
                    await self.app._save_settings(replace(session.settings, device_factor=blob))
                else:
                    new = await lifecycle.forget_device(session.api, unlocked, confirmation, device.device_id)
                    await self.app._save_settings(replace(session.settings, device_factor=None))
                    await self._use(new)
        return {"remembered": on}

    # --- passkeys -----------------------------------------------------------------------------------------------------

    @staticmethod
    def _passkeys(public: PublicBundle) -> list[dict[str, Any]]:
        return [
            {
                "slot_id": b64e(p.slot_id),
                "credential_id": b64e(p.credential_id),
                "prf_salt": b64e(p.prf_salt),
                "rp_id": p.rp_id,
                "name": p.name,
            }
            for p in lifecycle.passkeys(public)
        ]

    async def passkeys(self) -> dict[str, Any]:
        return {"passkeys": self._passkeys(self.app.require().unlocked.bundle.public)}

    async def passkey_options(self, username: str | None) -> dict[str, Any]:
        """What the unlock screen needs for "Unlock with passkey" (public metadata), while locked too: from the session,
        else from the bundle stored in this browser. Empty for another username or a browser without an account."""
        app = self.app
        if app.session is not None:
            settings = app.session.settings
            public = app.session.unlocked.bundle.public
        else:
            stored, meta = await app._settings()
            if stored is None:
                return {"passkeys": []}
            settings, public = stored, _stored_bundle(meta, stored)
        if username is not None and username.strip() and normalize_username(username) != settings.username:
            return {"passkeys": []}
        return {"passkeys": self._passkeys(public)}

    async def add_passkey(
        self, passphrase: str, name: str, credential_id: bytes, prf_salt: bytes, prf_output: bytes, rp_id: str | None
    ) -> dict[str, Any]:
        """A passkey slot from the WebAuthn PRF output the page got for ``prf_salt`` (it is used here once, never
        kept). The relay gets only the public metadata."""
        session = self.app.require()
        name = name.strip()[:MAX_PASSKEY_NAME] or DEFAULT_PASSKEY_NAME
        rp = rp_id or urlsplit(self.app.page_origin).hostname or "localhost"
        if len(rp.encode()) > 253 or len(name.encode()) > 256:
            raise _err("bad_request", "The passkey's name or relying party is too long.")
        async with self._lock:
            for p in lifecycle.passkeys(session.unlocked.bundle.public):
                if p.credential_id == credential_id:
                    raise _err("passkey_exists", "This passkey already unlocks the account.")
            async with self._measured("add_passkey"):
                unlocked, confirmation = await self._confirm(passphrase)
                new, slot_id = await lifecycle.add_passkey(
                    session.api, unlocked, confirmation, prf_output=prf_output, credential_id=credential_id,
                    prf_salt=prf_salt, rp_id=rp, name=name,
                )
                await self._use(new)
        return {"slot_id": b64e(slot_id)}

    async def remove_passkey(self, passphrase: str, slot_id: bytes) -> dict[str, Any]:
        """Drop a passkey slot; the account key rotates (the passkey would still open the versions the relay keeps)."""
        session = self.app.require()
        async with self._lock:
            entry = session.unlocked.bundle.public.factor(slot_id)
            if entry is None or entry.type != FactorType.PASSKEY:
                raise _err("not_found", "That passkey is not an unlock method of this account.")
            async with self._measured("remove_passkey"):
                unlocked, confirmation = await self._confirm(passphrase)
                await self._use(await lifecycle.remove_passkey(session.api, unlocked, confirmation, slot_id))
        return {"ok": True}

    async def unlock_passkey(self, slot_id: bytes, prf_output: bytes) -> dict[str, Any]:
        """Unlock this browser's account with a passkey's PRF output (offline from the stored bundle; a passkey added
        on another device is looked up at the relay)."""
        app = self.app
        settings, public, device = await app._known()
        entry = public.factor(slot_id)
        missing = _err("not_found", "That passkey is not an unlock method of this account (here, yet).")
        with app._timed("unlock_open_bundle"):
            if entry is None or entry.type != FactorType.PASSKEY:
                unlocked = await self.unlock_newer(settings, public, device, missing, passkey=(slot_id, prf_output))
            else:
                unlocked = account.unlock_with_passkey(public, slot_id, prf_output)
        return await app._unlocked(settings, device, unlocked, remember=False)

    # --- revocation -------------------------------------------------------------------------------------------------

    async def revoke_device(self, passphrase: str, device_id: bytes, reencrypt: bool) -> dict[str, Any]:
        """Revoke another device: the relay refuses it from now on, and in the same transaction a version with a new
        account key, write epoch and identity key (so a new fingerprint), re-sealed to every remaining factor. With
        ``reencrypt`` the older notes are then re-encrypted by ``rotation_continue`` calls."""
        session = self.app.require()
        if device_id == session.device.device_id:
            raise _err("bad_request", "This is the device in use; another device can revoke it.")
        async with self._lock, self._measured("revoke_device"):
            unlocked, confirmation = await self._confirm(passphrase)
            async with self._measured("revoke_device_flow"):
                new = await lifecycle.revoke_device(
                    session.api, unlocked, confirmation, device_id, now=self._now(), reencrypt=reencrypt
                )
            await self._use(new)
        bundle = session.unlocked.bundle
        return {
            "ok": True,
            "version": bundle.version,
            "fingerprint": self._fingerprint(),
            "pending": bool(bundle.keyring.intents),
        }

    # --- routine rotation -------------------------------------------------------------------------------------------

    async def rotate(self, rewrap: bool) -> dict[str, Any]:
        """A new write epoch now (older keys stay decrypt-only), with a re-wrap of older notes for
        ``rotation_continue``. Offline the request is kept and published by the next sync."""
        session = self.app.require()
        async with self._lock, self._measured("rotate"):
            if session.settings.queued_rotation is not None:
                return {"queued": True, "epoch": session.unlocked.bundle.write_key.epoch}
            new, queued = await lifecycle.request_rotation(
                session.api, session.engine.unlocked, now=self._now(), rewrap=rewrap
            )
            if queued is not None:
                await self.app._save_settings(replace(session.settings, queued_rotation=queued.encode()))
                return {"queued": True, "epoch": session.unlocked.bundle.write_key.epoch}
            await self._use(new)
        return {"queued": False, "epoch": session.unlocked.bundle.write_key.epoch}

    async def _progress(self, epoch: int) -> dict[str, Any]:
        """Read from the relay: how many current records are still under an older epoch, and how many there are."""
        api = self.app.require().api
        remaining = await api.count_below_epoch(epoch)
        total = max(remaining, await api.count_below_epoch(ALL_EPOCHS))
        done = total - remaining
        return {
            "done": done,
            "total": total,
            "remaining": remaining,
            "fraction": 1.0 if total == 0 else round(done / total, 4),
        }

    async def rotation_status(self) -> dict[str, Any]:
        session = self.app.require()
        keyring = session.unlocked.bundle.keyring
        settings = session.settings
        kinds = {i.kind for i in keyring.intents}
        every = settings.rotation_days
        queued = settings.queued_rotation is not None
        due_at = keyring.last_rotation_at * 1000 + every * DAY_MS if every > 0 else None
        out: dict[str, Any] = {
            "pending": bool(kinds),
            "kind": "reencrypt" if IntentKind.REENCRYPT in kinds else ("rewrap" if kinds else None),
            "queued": queued,
            "write_epoch": keyring.active.epoch,
            "last_rotation_at": keyring.last_rotation_at * 1000,
            "every_days": every,
            "due_at": due_at,
            "due": every > 0 and not queued and lifecycle.rotation_due(keyring, self._now(), every),
            "online": None,
            "done": 0,
            "total": 0,
            "remaining": 0,
            "fraction": 1.0,
        }
        if kinds:
            try:
                out.update(await self._progress(keyring.active.epoch))
                out["online"] = True
            except NetworkError:
                out.update({"online": False, "done": None, "total": None, "remaining": None, "fraction": None})
        return out

    async def rotation_continue(self, batch: int) -> dict[str, Any]:
        """One page of the background work the keyring's intents ask for (re-wrap, or re-encrypt after a revocation),
        then — once nothing is left — the version that clears them. ``finished`` when there is nothing more to do here
        (``failed`` > 0: records this device cannot open stayed, and so does the intent, for a device that can)."""
        session = self.app.require()
        async with self._lock, self._measured("rotation_continue"):
            unlocked = session.engine.unlocked
            intents = unlocked.bundle.keyring.intents
            epoch = unlocked.bundle.write_key.epoch
            if not intents:
                self._run = None
                return {**await self._progress(epoch), "finished": True, "pending": False, "failed": 0}
            run = self._run if self._run is not None and self._run.epoch == epoch else _RotationRun(epoch)
            self._run = run
            view = _OnePage(session.api, run.after)
            kinds = {i.kind for i in intents}
            step = rotation.reencrypt_all if IntentKind.REENCRYPT in kinds else rotation.rewrap_all
            try:
                with self._timed("rotation_page"):
                    progress = await step(view, unlocked.bundle, batch=batch)
            except StaleBundle:  # the write epoch moved on meanwhile (another device rotated): follow, then go on
                await self._use(await lifecycle.follow(session.api, session.engine.unlocked))
                return {**await self._progress(session.unlocked.bundle.write_key.epoch), "finished": False,
                        "pending": bool(session.unlocked.bundle.keyring.intents), "failed": run.failed}
            if view.page:
                run.after = view.page[-1].record_id
                run.failed += len(progress.failed)
                finished = False
            else:  # nothing left after our place: a last sweep from the start, then clear the intents
                with self._timed("rotation_finish"):
                    new, final = await lifecycle.finish_rotation(session.api, unlocked, batch=batch)
                await self._use(new)
                run.failed = final.failed
                self._run = None
                finished = True
            pending = bool(session.unlocked.bundle.keyring.intents)
            progress_now = await self._progress(session.unlocked.bundle.write_key.epoch)
        return {**progress_now, "finished": finished, "pending": pending, "failed": run.failed}

    async def set_schedule(self, every_days: int) -> dict[str, Any]:
        """Routine rotation every ``every_days`` days on this device (0: never); the page starts a due one."""
        session = self.app.require()
        if not 0 <= every_days <= MAX_ROTATION_DAYS:
            raise _err("bad_request", f"Rotate every 0 (never) to {MAX_ROTATION_DAYS} days.")
        await self.app._save_settings(replace(session.settings, rotation_days=every_days))
        status = await self.rotation_status()
        return {"every_days": every_days, "due_at": status["due_at"], "due": status["due"]}
