"""The key-lifecycle commands of the app (docs/worker-api.md, "Key lifecycle"): change the passphrase, a new recovery
kit, "remember this device" on and off, passkeys, revoking a device, routine rotation and its background work, and the
follow before every sync.

``Keys`` acts on the runtime's open session (``pycore.app.runtime``); the protocol is ``pycore.lifecycle``, one builder
per action, over the session's ``RelayApi`` (its ``LifecycleBackend``) — the same builders the CPython client and the
tests use:

- Every change of who can unlock the account starts with a step-up: ``lifecycle.confirm`` fetches the newest bundle
  version (verified against this device's pin: ``keyring_rollback`` / ``keyring_fork``) and checks the passphrase
  just typed against it (one Argon2id; ``wrong_passphrase`` before any change is sent). That confirmation signs the
  one stepped-up request and is then dropped; nothing kept from unlocking signs a step-up.
- A flow answers only after the relay accepted the new version; ``Runtime.use`` then hands it to the sync engine,
  re-seals queued edits under a new write epoch and the note index under a new account key. The whole command holds
  the store lock (``Runtime.writing``).
- Background work (the re-wrap after a routine rotation, the re-encryption after a revocation) runs one page per
  ``rotation_continue`` call, so the page drives it between other commands and a closed tab loses nothing: the intent
  is in the keyring and progress is the relay's per-record epochs.
- Before every sync (``before_sync``): a rotation queued offline is published (unless another device rotated since),
  then the newest bundle version is adopted (``lifecycle.follow``) — a passphrase changed elsewhere, a revocation, a
  rotation. ``unlock_again`` when this device's unlock method is gone after an account-key rotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from pycore import lifecycle, rotation
from pycore.account import Unlocked
from pycore.app.browser.webcrypto import WebCryptoDeviceWrapper
from pycore.app.runtime import Runtime
from pycore.app.settings import check_passphrase, existing_username, stored_bundle
from pycore.bundle import fingerprint
from pycore.envelope import SealedRecord
from pycore.errors import BadRequest, NetworkError, NotFound, PasskeyExists, StaleBundle, UnlockAgain
from pycore.keyring import IntentKind
from pycore.public import limits
from pycore.public.bundle_public import FactorType, PublicBundle
from pycore.public.codec import b64e
from pycore.sync.relay_api import RelayApi

DAY_MS = 86_400_000
MAX_ROTATION_DAYS = 3650
ROTATION_BATCH = rotation.DEFAULT_BATCH  # records per ``rotation_continue`` call (the relay lists up to 1000)
MAX_ROTATION_BATCH = limits.FEED_MAX_LIMIT
ALL_EPOCHS = 2**32  # above any write epoch (u32): "records below it" is every current record at the relay
DEFAULT_PASSKEY_NAME = "Passkey"


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


@dataclass
class _RotationRun:
    """Where this worker is in the background work of one write epoch (records it could not open are passed)."""

    epoch: int
    after: bytes | None = None
    failed: int = 0


class Keys:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._run: _RotationRun | None = None

    def __repr__(self) -> str:
        return f"Keys(background={self._run is not None})"

    def forget(self) -> None:
        """On lock: drop where the background work was."""
        self._run = None

    async def _confirm(self, passphrase: str) -> tuple[Unlocked, lifecycle.Confirmation]:
        """The step-up: the newest version fetched and verified, the passphrase checked against it (one Argon2id), and
        that version adopted with it."""
        session = self.rt.require()
        async with self.rt.measured("confirm"):
            unlocked, confirmation = await lifecycle.confirm(
                session.api, session.engine.unlocked, passphrase=passphrase
            )
        await self.rt.use(unlocked)
        return session.engine.unlocked, confirmation

    def _fingerprint(self) -> str:
        return fingerprint(self.rt.require().unlocked.bundle.public.header.identity_public)

    # --- before a sync ------------------------------------------------------------------------------------------------

    async def before_sync(self) -> None:
        """Publish a rotation queued offline, else adopt the newest bundle version. Raises what the sync reports:
        ``network_error``, ``unlock_again``, ``keyring_rollback`` / ``keyring_fork`` / ``bad_bundle`` (the version in
        use stays; the notes are not synced with a relay that serves those)."""
        session = self.rt.require()
        async with self.rt.writing():
            queued = session.settings.queued_rotation
            if queued is not None:
                request = lifecycle.QueuedRotation.decode(queued)
                new = await lifecycle.run_queued(session.api, session.engine.unlocked, request, now=self.rt.now())
                await self.rt.use(new)
                await self.rt.save_settings(replace(session.settings, queued_rotation=None))
                return
            try:
                new = await lifecycle.follow(session.api, session.engine.unlocked)
            except UnlockAgain:
                # Unlocked with a factor that is gone (say, the old passphrase) on a remembered device: the device
                # factor opens the new version (its slot was re-sealed with every other one).
                held = await self.rt.device_factor()
                if held is None:
                    raise
                new = await lifecycle.follow(session.api, held)
            if new.bundle.version != session.engine.unlocked.bundle.version:
                await self.rt.use(new)

    # --- passphrase ---------------------------------------------------------------------------------------------------

    async def change_passphrase(self, current: str, new: str, may_be_known: bool) -> dict[str, Any]:
        check_passphrase(new)
        session = self.rt.require()
        async with self.rt.writing(), self.rt.measured("change_passphrase"):
            unlocked, confirmation = await self._confirm(current)
            async with self.rt.measured("change_passphrase_flow"):
                changed = await lifecycle.change_passphrase(
                    session.api, unlocked, confirmation, new, passphrase_may_be_known=may_be_known
                )
            await self.rt.use(changed)
        return {"ok": True, "rotated": may_be_known, "fingerprint": self._fingerprint()}

    # --- recovery kit ---------------------------------------------------------------------------------------------

    async def new_recovery_kit(self, passphrase: str) -> dict[str, Any]:
        """A new phrase (shown once; ``app.recovery_confirmed`` checks it like at registration). The account key
        rotates, so the old phrase opens nothing current."""
        session = self.rt.require()
        async with self.rt.writing(), self.rt.measured("new_recovery_kit"):
            unlocked, confirmation = await self._confirm(passphrase)
            new, words = await lifecycle.new_recovery_kit(session.api, unlocked, confirmation)
            await self.rt.use(new)
        self.rt.recovery_words = list(words)
        return {"recovery_words": list(words), "fingerprint": self._fingerprint()}

    # --- remember this device -------------------------------------------------------------------------------------

    async def remember(self, passphrase: str, on: bool) -> dict[str, Any]:
        """On: a device slot whose key is wrapped by this browser's non-extractable WebCrypto key. Off: the slot is
        dropped and the account key rotates (the wrapped key would still open the old versions the relay keeps)."""
        session = self.rt.require()
        device = session.device
        async with self.rt.writing():
            listed = session.unlocked.bundle.public.device_factor(device.device_id) is not None
            remembered = listed and session.settings.device_factor is not None
            if on == remembered and (on or not listed):
                return {"remembered": remembered}
            async with self.rt.measured("remember"):
                unlocked, confirmation = await self._confirm(passphrase)
                if on:
                    await self.remember_confirmed(unlocked, confirmation)
                else:
                    new = await lifecycle.forget_device(session.api, unlocked, confirmation, device.device_id)
                    await self.rt.save_settings(replace(session.settings, device_factor=None))
                    await self.rt.use(new)
        return {"remembered": on}

    async def remember_confirmed(self, unlocked: Unlocked, confirmation: lifecycle.Confirmation) -> None:
        """``lifecycle.remember_device`` with a confirmation already made (the passphrase typed to sign in or unlock,
        or the new one chosen in a recovery): a slot that replaces this device's old one rotates the account key."""
        session = self.rt.require()
        device = session.device
        async with self.rt.writing():
            new, blob = await lifecycle.remember_device(
                session.api,
                unlocked,
                confirmation,
                device_id=device.device_id,
                signing_public=device.signing_public,
                name=session.settings.device_name[: limits.DEVICE_NAME_MAX_LENGTH],
                wrapper=WebCryptoDeviceWrapper(self.rt.device_js),
            )
            await self.rt.use(new)
            await self.rt.save_settings(replace(session.settings, device_factor=blob))

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
        return {"passkeys": self._passkeys(self.rt.require().unlocked.bundle.public)}

    async def passkey_options(self, username: str | None) -> dict[str, Any]:
        """What the unlock screen needs for "Unlock with passkey" (public metadata), while locked too: from the session,
        else from the bundle stored in this browser. Empty for another username or a browser without an account."""
        rt = self.rt
        if rt.session is not None:
            settings = rt.session.settings
            public = rt.session.unlocked.bundle.public
        else:
            stored, meta = await rt.load_settings()
            if stored is None:
                return {"passkeys": []}
            settings, public = stored, stored_bundle(meta, stored)
        if username is not None and username.strip() and existing_username(username) != settings.username:
            return {"passkeys": []}
        return {"passkeys": self._passkeys(public)}

    async def add_passkey(
        self, passphrase: str, name: str, credential_id: bytes, prf_salt: bytes, prf_output: bytes, rp_id: str | None
    ) -> dict[str, Any]:
        """A passkey slot from the WebAuthn PRF output the page got for ``prf_salt`` (it is used here once, never
        kept). The relay gets only the public metadata."""
        session = self.rt.require()
        name = name.strip()[: limits.PASSKEY_NAME_MAX_LENGTH] or DEFAULT_PASSKEY_NAME
        rp = rp_id or urlsplit(self.rt.page_origin).hostname or "localhost"
        if len(rp.encode()) > 253 or len(name.encode()) > 256:
            raise BadRequest("the passkey's name or relying party is too long")
        async with self.rt.writing():
            for p in lifecycle.passkeys(session.unlocked.bundle.public):
                if p.credential_id == credential_id:
                    raise PasskeyExists("this passkey already unlocks the account")
            async with self.rt.measured("add_passkey"):
                unlocked, confirmation = await self._confirm(passphrase)
                new, slot_id = await lifecycle.add_passkey(
                    session.api,
                    unlocked,
                    confirmation,
                    prf_output=prf_output,
                    credential_id=credential_id,
                    prf_salt=prf_salt,
                    rp_id=rp,
                    name=name,
                )
                await self.rt.use(new)
        return {"slot_id": b64e(slot_id)}

    async def remove_passkey(self, passphrase: str, slot_id: bytes) -> dict[str, Any]:
        """Drop a passkey slot; the account key rotates (the passkey would still open the versions the relay keeps)."""
        session = self.rt.require()
        async with self.rt.writing():
            entry = session.unlocked.bundle.public.factor(slot_id)
            if entry is None or entry.type != FactorType.PASSKEY:
                raise NotFound("that passkey is not an unlock method of this account")
            async with self.rt.measured("remove_passkey"):
                unlocked, confirmation = await self._confirm(passphrase)
                await self.rt.use(await lifecycle.remove_passkey(session.api, unlocked, confirmation, slot_id))
        return {"ok": True}

    # --- revocation -------------------------------------------------------------------------------------------------

    async def revoke_device(self, passphrase: str, device_id: bytes, reencrypt: bool) -> dict[str, Any]:
        """Revoke another device: the relay refuses it from now on, and in the same transaction a version with a new
        account key, write epoch and identity key (so a new fingerprint), re-sealed to every remaining factor. With
        ``reencrypt`` the older notes are then re-encrypted by ``rotation_continue`` calls."""
        session = self.rt.require()
        if device_id == session.device.device_id:
            raise BadRequest("this is the device in use; another device can revoke it")
        async with self.rt.writing(), self.rt.measured("revoke_device"):
            unlocked, confirmation = await self._confirm(passphrase)
            async with self.rt.measured("revoke_device_flow"):
                new = await lifecycle.revoke_device(
                    session.api, unlocked, confirmation, device_id, now=self.rt.now(), reencrypt=reencrypt
                )
            await self.rt.use(new)
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
        session = self.rt.require()
        async with self.rt.writing(), self.rt.measured("rotate"):
            if session.settings.queued_rotation is not None:
                return {"queued": True, "epoch": session.unlocked.bundle.write_key.epoch}
            new, queued = await lifecycle.request_rotation(
                session.api, session.engine.unlocked, now=self.rt.now(), rewrap=rewrap
            )
            if queued is not None:
                await self.rt.save_settings(replace(session.settings, queued_rotation=queued.encode()))
                return {"queued": True, "epoch": session.unlocked.bundle.write_key.epoch}
            await self.rt.use(new)
        return {"queued": False, "epoch": session.unlocked.bundle.write_key.epoch}

    async def _progress(self, epoch: int) -> dict[str, Any]:
        """Read from the relay: how many current records are still under an older epoch, and how many there are."""
        api = self.rt.require().api
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
        session = self.rt.require()
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
            "due": every > 0 and not queued and lifecycle.rotation_due(keyring, self.rt.now(), every),
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
        session = self.rt.require()
        async with self.rt.writing(), self.rt.measured("rotation_continue"):
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
                with self.rt.timed("keys_rotation_page"):
                    progress = await step(view, unlocked.bundle, batch=batch)
            except StaleBundle:  # the write epoch moved on meanwhile (another device rotated): follow, then go on
                await self.rt.use(await lifecycle.follow(session.api, session.engine.unlocked))
                return {
                    **await self._progress(session.unlocked.bundle.write_key.epoch),
                    "finished": False,
                    "pending": bool(session.unlocked.bundle.keyring.intents),
                    "failed": run.failed,
                }
            if view.page:
                run.after = view.page[-1].record_id
                run.failed += len(progress.failed)
                finished = False
            else:  # nothing left after our place: a last sweep from the start, then clear the intents
                with self.rt.timed("keys_rotation_finish"):
                    new, final = await lifecycle.finish_rotation(session.api, unlocked, batch=batch)
                await self.rt.use(new)
                run.failed = final.failed
                self._run = None
                finished = True
            pending = bool(session.unlocked.bundle.keyring.intents)
            progress_now = await self._progress(session.unlocked.bundle.write_key.epoch)
        return {**progress_now, "finished": finished, "pending": pending, "failed": run.failed}

    async def set_schedule(self, every_days: int) -> dict[str, Any]:
        """Routine rotation every ``every_days`` days on this device (0: never); the page starts a due one."""
        session = self.rt.require()
        if not 0 <= every_days <= MAX_ROTATION_DAYS:
            raise BadRequest(f"rotate every 0 (never) to {MAX_ROTATION_DAYS} days")
        await self.rt.save_settings(replace(session.settings, rotation_days=every_days))
        status = await self.rotation_status()
        return {"every_days": every_days, "due_at": status["due_at"], "due": status["due"]}
