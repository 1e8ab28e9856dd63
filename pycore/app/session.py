"""How a session starts and ends in the crypto worker (docs/worker-api.md, "Session"): register, sign in, recover,
unlock a known device (passphrase, remembered device, passkey), lock; and what runs on an open one: sync, devices.

``App`` is the one object the worker's command table talks to. It owns the ``Runtime`` (the shared state and the store
lock), ``Notes`` (``app.notes``) and ``Keys`` (``app.keys``), and decides the order of the steps; the protocol is
pycore's (``account`` to create and unlock, ``lifecycle`` for every change of who can unlock, ``sync`` for the rest).

- Register, sign-in and recovery talk to the relay; unlocking a known device does not (the last adopted bundle is
  stored locally with its pin, and checked against it): passphrase → Argon2id → passphrase slot, the remembered device
  factor unwrapped by the device's non-extractable AES-GCM key, or a passkey's PRF output. When the stored version
  does not open, a version changed on another device is looked for at the relay (``_unlock_newer``).
- "Remember this device" while signing in, unlocking or recovering is ``lifecycle.remember_device`` confirmed by the
  passphrase just typed (``Keys.remember_confirmed``); it is skipped quietly when it cannot be done now.
- Recovery holds its state in memory between ``recover_start`` (the phrase checked locally, then the recovery login
  and the bundle) and ``recover_finish`` (the new passphrase, published with a step-up signed by the recovery login
  key); nothing is stored before the new passphrase is in.
- ``sync_now`` reports "offline" as a status, never as an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pycore import account, kdf, lifecycle, recovery
from pycore.account import Unlocked
from pycore.app.browser.idb import META_BUNDLE, META_PIN, decode_pin
from pycore.app.browser.webcrypto import DeviceInfo, WebCryptoDeviceWrapper, ensure_device, load_device
from pycore.app.keys import Keys
from pycore.app.notes import Notes
from pycore.app.runtime import Runtime, SyncState
from pycore.app.settings import (
    LocalSettings,
    check_passphrase,
    existing_username,
    new_username,
    relay_origin_of,
    stored_bundle,
)
from pycore.bundle import fingerprint, open_bundle, verify_signature
from pycore.errors import (
    BadRequest,
    BundleError,
    DecryptionError,
    DeviceKeyUnavailable,
    NetworkError,
    NoAccount,
    NotFound,
    NotRemembered,
    RecoveryMismatch,
    RecoveryNotStarted,
    RecoveryUnavailable,
    RelayError,
    UnsyncedChanges,
    VellumError,
    WrongPassphrase,
    WrongRecoveryPhrase,
)
from pycore.factors import SigningKeyPair, passphrase_keys, recovery_keys
from pycore.public import bundle_public, limits
from pycore.public.bundle_public import FactorType, PassphraseMeta, PublicBundle
from pycore.public.codec import b64e
from pycore.sync.relay_api import RelayApi
from pycore.sync.types import Batch

DEFAULT_RECOVERED_NAME = "This browser"


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


class App:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.notes = Notes(rt)
        self.keys = Keys(rt)
        self._recovery: _Recovery | None = None

    @classmethod
    def in_browser(cls, **pieces: Any) -> App:
        """The app over the browser's pieces (``Runtime``'s keyword arguments: idb, fetch, device, origin, ...)."""
        return cls(Runtime(**pieces))

    def __repr__(self) -> str:
        return f"App(unlocked={self.rt.session is not None})"

    # --- status -------------------------------------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        rt = self.rt
        settings, meta = await rt.load_settings()
        fingerprint_of: str | None = None
        if rt.session is not None:
            settings = rt.session.settings
            fingerprint_of = fingerprint(rt.session.unlocked.bundle.public.header.identity_public)
        elif settings is not None and META_BUNDLE in meta:
            try:
                fingerprint_of = fingerprint(bundle_public.parse_bundle(meta[META_BUNDLE]).header.identity_public)
            except VellumError:
                fingerprint_of = None
        features: dict[str, Any] = {"module_worker": True, "ed25519": None, "persistent_storage": None}
        if rt.runtime_js is not None and hasattr(rt.runtime_js, "features"):
            try:
                features.update(json.loads(str(await rt.runtime_js.features())))
            except Exception:  # noqa: S110 (a probe that failed says nothing)
                pass
        features["webauthn_prf"] = None  # a page API: the page probes it
        state = "new" if settings is None else ("unlocked" if rt.session is not None else "locked")
        return {
            "state": state,
            "username": settings.username if settings else None,
            "device_name": settings.device_name if settings else None,
            "remembered": bool(settings and settings.device_factor is not None),
            "relay_origin": settings.relay_origin if settings else rt.page_origin,
            "fingerprint": fingerprint_of,
            "features": features,
            "limits": limits.for_ui(),
        }

    # --- joining: register, sign in, recover --------------------------------------------------------------------------

    async def _device_for(self, old: LocalSettings | None, account_id: bytes | None) -> DeviceInfo:
        """This profile's device keys for joining ``account_id``. Another account never reuses them (the relay would
        see one device in two accounts): they are replaced, after checking the old account has no unsent edits. Its
        local data is only dropped once the new account is in (``_join``)."""
        device_js = self.rt.device_js
        if old is not None and old.account_id == account_id:
            return await ensure_device(device_js)
        if old is not None:
            counts = await self.rt.store.counts()
            if counts.outbox:
                raise UnsyncedChanges(f"{counts.outbox} unsynced change(s) of another account")
        await device_js.forget()
        return await ensure_device(device_js)

    async def register(
        self, username: str, passphrase: str, device_name: str, relay_origin: str | None = None
    ) -> dict[str, Any]:
        rt = self.rt
        username = new_username(username)
        check_passphrase(passphrase)
        origin = relay_origin_of(relay_origin, rt.page_origin)
        old, _ = await rt.load_settings()
        await self.lock()
        api = rt.api(origin)
        await api.health()  # unreachable: a network error before anything is created
        device = await self._device_for(old, None)
        now_ms = rt.now_ms()
        new = account.create_account(passphrase, now=now_ms // 1000)
        account_id = new.unlocked.account_id
        await api.register_account(
            username,
            new,
            device_id=device.device_id,
            device_public=device.signing_public,
            device_name=device_name,
            device_sign=rt.signer(device).sign,
        )
        slot_id = new.unlocked.public.passphrase.slot_id
        unlocked = Unlocked(new.unlocked, slot_id, new.passphrase.box, new.passphrase)
        settings = LocalSettings(
            username, account_id, device.device_id, device_name, origin, now_ms, clock_offset=api.clock_offset
        )
        await self._join(settings, device, api, unlocked, replace_local=True)
        rt.recovery_words = list(new.recovery_phrase)
        return {
            "recovery_words": list(new.recovery_phrase),
            "fingerprint": fingerprint(new.unlocked.public.header.identity_public),
            "username": username,
            "relay_origin": origin,
            "created_at": now_ms,
        }

    async def recovery_confirmed(self, words: Mapping[str, str]) -> dict[str, Any]:
        held = self.rt.recovery_words
        if held is None:
            raise RecoveryUnavailable("the recovery phrase is no longer held here")
        if not words:
            raise BadRequest("give at least one word of the recovery phrase")
        for key, word in sorted(words.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0):
            position = int(key) if key.isdigit() else 0
            if not 1 <= position <= len(held):
                raise BadRequest(f"there is no word {key} in a recovery phrase")
            if str(word).strip().lower() != held[position - 1]:
                raise RecoveryMismatch(f"word {position} does not match")
        self.rt.recovery_words = None
        return {"ok": True}

    async def sign_in(
        self, username: str, passphrase: str, device_name: str, remember: bool, relay_origin: str | None = None
    ) -> dict[str, Any]:
        rt = self.rt
        username = existing_username(username)
        origin = relay_origin_of(relay_origin, rt.page_origin)
        old, meta = await rt.load_settings()
        await self.lock()
        api = rt.api(origin, old.clock_offset if old else 0.0)
        await api.health()
        account_id, salt, opslimit, memlimit_kib = await api.prelogin(username)
        with rt.timed("sign_in_argon2id"):
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
            username,
            account_id,
            device.device_id,
            device_name,
            origin,
            old.joined_at if known and old is not None else rt.now_ms(),
            device_factor=keep_factor,
            clock_offset=api.clock_offset,
            last_sync_at=old.last_sync_at if known and old is not None else None,
        )
        await self._join(settings, device, api, unlocked, replace_local=not known)
        remembered = await self._remember_quietly(remember, unlocked)
        with rt.timed("sign_in_first_sync"):
            sync = await self.sync_now()
        return {"notes": await self.notes.items(), "sync": sync, "remembered": remembered}

    async def recover_start(
        self, username: str, words: Sequence[str] | str, device_name: str | None, relay_origin: str | None
    ) -> dict[str, Any]:
        """Check the phrase locally (``unknown_word`` with its position and suggestions, ``bad_checksum``,
        ``wrong_word_count`` — before any request), log this browser in with the recovery login key and open the
        newest bundle with the recovery slot. Nothing is stored yet."""
        rt = self.rt
        if isinstance(words, str):
            words = recovery.split_phrase(words)
        keys = recovery_keys(recovery.entropy_from_phrase(words))
        username = existing_username(username)
        origin = relay_origin_of(relay_origin, rt.page_origin)
        old, meta = await rt.load_settings()
        await self.lock()
        async with rt.measured("recover_start"):
            api = rt.api(origin, old.clock_offset if old else 0.0)
            await api.health()
            account_id, _, _, _ = await api.prelogin(username)
            known = old is not None and old.account_id == account_id and old.relay_origin == origin
            name = (device_name or "").strip()[: limits.DEVICE_NAME_MAX_LENGTH] or (
                old.device_name if known and old is not None else DEFAULT_RECOVERED_NAME
            )
            device = await self._device_for(old, account_id if known else None)
            device = await self._login(api, account_id, keys.login, device, name, action="recovery_login")
            latest = await self._latest_bundle(api, account_id, old if known else None, meta)
            unlocked = account.unlock_with_recovery(latest, words)
        self._recovery = _Recovery(username, origin, account_id, device, name, api, unlocked, old if known else None)
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
        rt = self.rt
        pending = self._recovery
        if pending is None:
            raise RecoveryNotStarted("no recovery in progress")
        check_passphrase(new_passphrase)
        confirmation = lifecycle.confirmation_of(pending.unlocked)
        if confirmation is None:
            raise RecoveryNotStarted("no recovery in progress")
        async with rt.measured("recover_finish"):
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
            old.joined_at if old is not None else rt.now_ms(),
            device_factor=old.device_factor if same_device and old is not None else None,
            clock_offset=pending.api.clock_offset,
            last_sync_at=old.last_sync_at if old is not None else None,
            rotation_days=old.rotation_days if old is not None else lifecycle.DEFAULT_ROTATION_DAYS,
        )
        self._recovery = None
        await self._join(settings, device, pending.api, new, replace_local=old is None)
        name = (device_name or "").strip()
        if name and name != settings.device_name:
            await self.devices_rename(name)
        remembered = await self._remember_quietly(remember, new)
        with rt.timed("recover_first_sync"):
            sync = await self.sync_now()
        return {"notes": await self.notes.items(), "sync": sync, "remembered": remembered}

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
            return stored_bundle(meta, known)
        raise BundleError("the relay served no account keys")

    async def _login(
        self,
        api: RelayApi,
        account_id: bytes,
        login_key: SigningKeyPair,
        device: DeviceInfo,
        name: str,
        action: str = "login",
    ) -> DeviceInfo:
        """Log this device in with the login key (``action`` "login") or the recovery login key ("recovery_login")."""
        for attempt in (1, 2):
            try:
                await api.log_in(
                    action,
                    account_id,
                    login_key,
                    device_id=device.device_id,
                    signer=self.rt.signer(device),
                    device_public=device.signing_public,
                    device_name=name,
                )
            except RelayError as exc:
                if exc.code == "login_failed" and action == "recovery_login":
                    raise WrongRecoveryPhrase("the relay refused the recovery login") from None
                if exc.code == "login_failed":
                    raise WrongPassphrase("the relay refused the login") from None
                if exc.code in ("device_revoked", "device_exists") and attempt == 1:
                    # This profile's device id cannot come back: new device keys, a new id.
                    await self.rt.device_js.forget()
                    device = await ensure_device(self.rt.device_js)
                    continue
                raise
            return device
        raise AssertionError("unreachable")

    async def _join(
        self, settings: LocalSettings, device: DeviceInfo, api: RelayApi, unlocked: Unlocked, *, replace_local: bool
    ) -> None:
        """Store the settings and the bundle (with its pin) in one commit — dropping another account's local data in
        the same transaction — then open the session."""
        store = self.rt.store
        async with self.rt.writing():
            await store.commit(
                Batch(bundle=unlocked.bundle.public.encoded), settings=settings.encode(), clear=replace_local
            )
            session = self.rt.open(settings, device, api, unlocked)
            await store.counts()
            # Data kept from before (a known device) is checked whole after the first sync; a fresh store needs no more
            # than what that sync brings.
            store.foreign_writes = not replace_local
            await session.notebook.load()

    async def _remember_quietly(self, wanted: bool, unlocked: Unlocked) -> bool:
        """Turn "remember this device" on when asked, confirmed by the passphrase just typed (``unlocked`` holds its
        keys); False (and the session stays) when it cannot be done now."""
        session = self.rt.require()
        if not wanted:
            return session.settings.device_factor is not None
        listed = session.unlocked.bundle.public.device_factor(session.device.device_id) is not None
        if listed and session.settings.device_factor is not None:
            return True
        confirmation = lifecycle.confirmation_of(unlocked)
        try:
            if confirmation is None:
                raise NotRemembered("no passphrase was typed to confirm this")
            await self.keys.remember_confirmed(session.engine.unlocked, confirmation)
        except VellumError as exc:  # offline, a refused step-up, a device key that cannot wrap: stay unlocked
            self.rt.sync_state.last_error = {"code": exc.code, "message": exc.message}
            return False
        return True

    # --- unlocking a known device -------------------------------------------------------------------------------------

    async def _known(self) -> tuple[LocalSettings, PublicBundle, DeviceInfo]:
        settings, meta = await self.rt.load_settings()
        if settings is None:
            raise NoAccount("this browser has no account yet")
        public = stored_bundle(meta, settings)
        device = await load_device(self.rt.device_js)
        if device is None or device.device_id != settings.device_id:
            raise DeviceKeyUnavailable("this browser's device key is gone")
        return settings, public, device

    async def unlock(self, passphrase: str, remember: bool) -> dict[str, Any]:
        settings, public, device = await self._known()
        with self.rt.timed("unlock_open_bundle"):
            try:
                unlocked = account.unlock_with_passphrase(public, passphrase)
            except DecryptionError as exc:  # changed on another device? (needs the relay)
                unlocked = await self._unlock_newer(settings, public, device, exc, passphrase=passphrase)
        out = await self._unlocked(settings, device, unlocked)
        if remember:
            out["remembered"] = await self._remember_quietly(True, unlocked)
        return out

    async def unlock_device(self) -> dict[str, Any]:
        rt = self.rt
        with rt.timed("unlock_device_total"):
            with rt.timed("unlock_known"):
                settings, public, device = await self._known()
            if settings.device_factor is None or public.device_factor(device.device_id) is None:
                raise NotRemembered("this device is not remembered by the account")
            wrapper = WebCryptoDeviceWrapper(rt.device_js)
            with rt.timed("unlock_open_bundle"):
                unlocked = await account.unlock_with_device(public, device.device_id, wrapper, settings.device_factor)
            return await self._unlocked(settings, device, unlocked)

    async def unlock_passkey(self, slot_id: bytes, prf_output: bytes) -> dict[str, Any]:
        """Unlock this browser's account with a passkey's PRF output (offline from the stored bundle; a passkey added
        on another device is looked up at the relay)."""
        settings, public, device = await self._known()
        entry = public.factor(slot_id)
        with self.rt.timed("unlock_open_bundle"):
            if entry is None or entry.type != FactorType.PASSKEY:
                missing = NotFound("that passkey is not an unlock method of this account (here, yet)")
                unlocked = await self._unlock_newer(settings, public, device, missing, passkey=(slot_id, prf_output))
            else:
                unlocked = account.unlock_with_passkey(public, slot_id, prf_output)
        return await self._unlocked(settings, device, unlocked)

    async def _unlock_newer(
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
        changed (added) on another device. Online, open the newest version the relay serves after the stored one —
        verified against the stored pin, fetched with this device's key — and store it; else (or if that does not
        open either) raise ``error``."""
        api = self.rt.signed_api(settings, device)
        try:
            chain = await api.bundle_chain(public.version)
        except NetworkError:
            raise error from None
        newer = bundle_public.verify_chain(
            bundle_public.Pin.of(public), chain, verify_signature, account_id=settings.account_id
        )
        if not newer:
            raise error
        try:
            if passphrase is not None:
                unlocked = account.unlock_with_passphrase(newer[-1], passphrase)
            elif passkey is not None:
                unlocked = account.unlock_with_passkey(newer[-1], passkey[0], passkey[1])
            else:
                raise error
        except DecryptionError:
            raise error from None
        await self.rt.store.commit(Batch(bundle=unlocked.bundle.public.encoded))
        return unlocked

    async def _unlocked(self, settings: LocalSettings, device: DeviceInfo, unlocked: Unlocked) -> dict[str, Any]:
        rt = self.rt
        await self.lock()
        session = rt.open(settings, device, rt.api(settings.relay_origin, settings.clock_offset), unlocked)
        await rt.store.counts()  # where the store is now: the reconcile below covers what came before
        rt.store.foreign_writes = False
        with rt.timed("unlock_load_index"):
            await session.notebook.load()
        with rt.timed("unlock_list"):
            items = await self.notes.items(fresh=False)
        # The list above came from the sealed index; the notebook now checks it against the records.
        self.notes.start_reconcile()
        return {"notes": items, "reconciling": True}

    async def lock(self) -> dict[str, Any]:
        self.notes.forget()
        self.keys.forget()
        self._recovery = None
        self.rt.close()
        return {"ok": True}

    # --- sync ---------------------------------------------------------------------------------------------------------

    async def sync_now(self) -> dict[str, Any]:
        rt = self.rt
        session = rt.require()
        before = session.unlocked.bundle.account_key
        rt.store.take_touched()  # local edits before this point are in the index already
        try:
            with rt.timed("sync_keys"):
                await self.keys.before_sync()  # a rotation queued offline; the account keys' newer versions
            with rt.timed("sync_engine"):
                await session.engine.sync()
        except NetworkError as exc:
            rt.sync_state = SyncState(False, {"code": exc.code, "message": exc.message})
        except VellumError as exc:
            rt.sync_state = SyncState(True, {"code": exc.code, "message": exc.message})
        else:
            rt.sync_state = SyncState(True, None)
            settings = replace(session.settings, last_sync_at=rt.now_ms(), clock_offset=session.api.clock_offset)
            await rt.save_settings(settings)
        await self.notes.after_sync(session.unlocked.bundle.account_key != before)
        return await self.sync_status()

    async def sync_status(self) -> dict[str, Any]:
        rt = self.rt
        session = rt.require()
        counts = await rt.store.counts()
        return {
            "online": rt.sync_state.online,
            "pending_count": counts.outbox,
            "last_success_at": session.settings.last_sync_at,
            "last_error": rt.sync_state.last_error,
            "conflicts": sum(1 for item in session.notebook.items() if item.conflicted),
            "quarantined": counts.quarantine,
        }

    # --- devices ------------------------------------------------------------------------------------------------------

    async def devices_list(self) -> dict[str, Any]:
        session = self.rt.require()
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
        session = self.rt.require()
        name = name.strip()
        if not name or len(name) > limits.DEVICE_NAME_MAX_LENGTH:
            raise BadRequest(f"a device name has 1 to {limits.DEVICE_NAME_MAX_LENGTH} characters")
        await session.api.call("PATCH", f"/devices/{b64e(session.device.device_id)}", body={"name": name})
        session.engine.device_name = name
        await self.rt.save_settings(replace(session.settings, device_name=name))
        return {"ok": True}
