"""``Client``: a small CPython client for tests, benchmarks and scripts — register, log in (also on a new device, also
with the recovery phrase), unlock offline on a known device (passphrase, remembered device, passkey), write/delete/list
notes, sync, and the key lifecycle: change the passphrase, new recovery kit, remember this device, passkeys, revoke a
device, rotate keys.

Everything goes through the same pieces the browser uses: ``pycore.account`` for keys, ``pycore.lifecycle`` for the
key-lifecycle flows, ``RelayApi`` for the relay's API, ``SyncEngine`` for sync. Storage is a SQLite file plus the
device's request key in a 0600 file (``data_dir``), or memory only (``data_dir=None``). "Remember this device" keeps the
device factor's private key wrapped by ``SoftwareDeviceWrapper`` under a key in another 0600 file — unlike the browser's
non-extractable WebCrypto key, whoever can read the data directory can use it (the remedy is the same: revoke).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pycore import account, kdf, lifecycle, primitives
from pycore.account import Unlocked
from pycore.bundle import open_bundle, verify_signature
from pycore.client.signer import NaclSigner
from pycore.client.sqlite_store import SqliteStore
from pycore.errors import (
    BundleError,
    DecryptionError,
    LoginFailed,
    NetworkError,
    NoClient,
    NotRemembered,
    UnlockAgain,
    VellumError,
)
from pycore.factors import LoginFactorKeys, SoftwareDeviceWrapper, passphrase_keys, recovery_keys
from pycore.public import bundle_public, wire
from pycore.public.bundle_public import PassphraseMeta, Pin, PublicBundle
from pycore.recovery import entropy_from_phrase
from pycore.rotation import DEFAULT_BATCH
from pycore.sync.engine import NoteView, SyncEngine, SyncReport
from pycore.sync.relay_api import HttpFunction, RelayApi, Session
from pycore.sync.types import Batch, Store

DB_FILE = "vellum-client.sqlite3"
KEY_FILE = "device.key"
WRAP_KEY_FILE = "device-wrap.key"  # the SoftwareDeviceWrapper key of "remember this device"
DEVICE_FACTOR = "client.device_factor"  # the wrapped device factor (empty: not remembered)
QUEUED_ROTATION = "client.queued_rotation"  # a routine rotation requested offline (empty: none)
DEFAULT_DEVICE_NAME = "Vellum CLI"


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class ClientSettings:
    base_url: str
    origin: str
    username: str
    account_id: bytes
    device_id: bytes
    device_name: str

    def encode(self) -> dict[str, bytes]:
        return {
            "client.base_url": self.base_url.encode(),
            "client.origin": self.origin.encode(),
            "client.username": self.username.encode(),
            "client.account_id": self.account_id,
            "client.device_id": self.device_id,
            "client.device_name": self.device_name.encode(),
        }

    @classmethod
    def decode(cls, store: SqliteStore) -> ClientSettings:
        def get(name: str) -> bytes:
            value = store.get_setting(name)
            if value is None:
                raise NoClient(f"This data directory holds no Vellum client ({name} is missing).")
            return value

        return cls(
            get("client.base_url").decode(),
            get("client.origin").decode(),
            get("client.username").decode(),
            get("client.account_id"),
            get("client.device_id"),
            get("client.device_name").decode(),
        )


def _open_storage(data_dir: str | Path | None) -> Store:
    if data_dir is None:
        return SqliteStore(":memory:")  # the same store, kept in memory (product code has no test doubles)
    path = Path(data_dir)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = SqliteStore(path / DB_FILE)
    (path / DB_FILE).chmod(0o600)  # ciphertext only, but nobody else's business
    return store


def _api(base_url: str, origin: str | None, http: HttpFunction | None, clock: Callable[[], float]) -> RelayApi:
    if http is None:
        from pycore.client.http_transport import HttpTransport

        return HttpTransport(base_url, origin, clock=clock)
    return RelayApi(http, base_url, origin or base_url, clock=clock)


class Client:
    def __init__(
        self,
        *,
        api: RelayApi,
        store: Store,
        unlocked: Unlocked,
        settings: ClientSettings,
        signer: NaclSigner,
        clock: Callable[[], float] = time.time,
        data_dir: str | Path | None = None,
        **engine_options: Any,
    ) -> None:
        self.api = api
        self.store = store
        self.settings = settings
        self.signer = signer
        self.clock = clock
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.recovery_phrase: list[str] | None = None  # shown once, after register or a new recovery kit
        # Why the relay's newest bundle version was not adopted at the last sync (the last good one stays in use).
        self.bundle_warning: VellumError | None = None
        self._memory_settings: dict[str, bytes] = {}  # settings of a memory-only client
        self._wrap_key: bytes | None = None
        api.session = Session(settings.account_id, settings.device_id, signer)
        self.engine = SyncEngine(store, api, unlocked, device_name=settings.device_name, clock=clock, **engine_options)

    def __repr__(self) -> str:
        return f"Client(username={self.settings.username!r}, device={self.settings.device_name!r})"

    @property
    def account_id(self) -> bytes:
        return self.settings.account_id

    @property
    def device_id(self) -> bytes:
        return self.settings.device_id

    async def _persist(self, data_dir: str | Path | None) -> None:
        await self.store.commit(Batch(bundle=self.engine.unlocked.bundle.public.encoded))
        if isinstance(self.store, SqliteStore) and data_dir is not None:
            self.signer.save(Path(data_dir) / KEY_FILE)
            self.store.set_settings(self.settings.encode())

    # --- local settings -------------------------------------------------------------------------------------------

    def _get_setting(self, name: str) -> bytes | None:
        value = self.store.get_setting(name) if isinstance(self.store, SqliteStore) else self._memory_settings.get(name)
        return value or None

    def _set_setting(self, name: str, value: bytes | None) -> None:
        if isinstance(self.store, SqliteStore):
            self.store.set_settings({name: value or b""})
        else:
            self._memory_settings[name] = value or b""

    def _wrapper(self) -> SoftwareDeviceWrapper:
        if self._wrap_key is None:
            path = self.data_dir / WRAP_KEY_FILE if self.data_dir is not None else None
            if path is not None and path.exists():
                self._wrap_key = path.read_bytes()
            else:
                self._wrap_key = primitives.randombytes(primitives.AEAD_KEY_SIZE)
                if path is not None:
                    _write_secret(path, self._wrap_key)
        return SoftwareDeviceWrapper(self._wrap_key)

    # --- entry points -------------------------------------------------------------------------------------------

    @classmethod
    async def register(
        cls,
        base_url: str,
        username: str,
        passphrase: str,
        *,
        origin: str | None = None,
        device_name: str = DEFAULT_DEVICE_NAME,
        data_dir: str | Path | None = None,
        params: kdf.Argon2idParams = kdf.DEFAULT_PARAMS,
        http: HttpFunction | None = None,
        clock: Callable[[], float] = time.time,
        **engine_options: Any,
    ) -> Client:
        """A new account with this device as its first device. ``client.recovery_phrase`` holds the 24 words."""
        origin = origin or base_url
        api = _api(base_url, origin, http, clock)
        new = account.create_account(passphrase, now=int(clock()), params=params)
        signer = NaclSigner.generate()
        device_id = primitives.randombytes(wire.DEVICE_ID_SIZE)
        account_id = new.unlocked.account_id
        await api.register_account(
            username,
            new,
            device_id=device_id,
            device_public=signer.public_key,
            device_name=device_name,
            device_sign=signer.sign,
        )
        slot_id = new.unlocked.public.passphrase.slot_id
        unlocked = Unlocked(new.unlocked, slot_id, new.passphrase.box, new.passphrase)
        settings = ClientSettings(base_url, origin, username, account_id, device_id, device_name)
        client = cls(
            api=api, store=_open_storage(data_dir), unlocked=unlocked, settings=settings, signer=signer, clock=clock,
            data_dir=data_dir, **engine_options,
        )
        client.recovery_phrase = new.recovery_phrase
        await client._persist(data_dir)
        return client

    @classmethod
    async def login(
        cls,
        base_url: str,
        username: str,
        passphrase: str | None = None,
        *,
        recovery_phrase: Sequence[str] | str | None = None,
        origin: str | None = None,
        device_name: str = DEFAULT_DEVICE_NAME,
        data_dir: str | Path | None = None,
        http: HttpFunction | None = None,
        clock: Callable[[], float] = time.time,
        **engine_options: Any,
    ) -> Client:
        """Log a new device in with the passphrase (or the recovery phrase), fetch and verify the bundle chain (trust
        on first use: compare the fingerprint with the recovery kit), and open the newest version."""
        origin = origin or base_url
        api = _api(base_url, origin, http, clock)
        account_id, salt, opslimit, memlimit_kib = await api.prelogin(username)
        keys: LoginFactorKeys
        if recovery_phrase is not None:
            action = "recovery_login"
            keys = recovery_keys(entropy_from_phrase(recovery_phrase))
        elif passphrase is not None:
            action = "login"
            params = kdf.Argon2idParams(opslimit, memlimit_kib)  # refuses anything below the floor
            keys = passphrase_keys(passphrase, salt, params)
        else:
            raise LoginFailed("A passphrase or a recovery phrase is needed to log in.")
        signer = NaclSigner.generate()
        device_id = primitives.randombytes(wire.DEVICE_ID_SIZE)
        await api.log_in(
            action, account_id, keys.login, device_id=device_id, signer=signer, device_public=signer.public_key,
            device_name=device_name,
        )
        chain = await api.bundle_chain(0)
        versions = bundle_public.verify_chain(None, chain, verify_signature, account_id=account_id)
        if not versions:
            raise BundleError("The relay served no account bundle.")
        latest = versions[-1]
        if action == "recovery_login":
            assert recovery_phrase is not None
            unlocked = account.unlock_with_recovery(latest, recovery_phrase)
        else:
            entry = latest.passphrase
            meta = entry.meta
            if isinstance(meta, PassphraseMeta) and meta.salt == salt and entry.box_public == keys.box.public:
                unlocked = Unlocked(open_bundle(latest, entry.slot_id, keys.box), entry.slot_id, keys.box, keys)
            else:
                unlocked = account.unlock_with_passphrase(latest, passphrase or "")
        settings = ClientSettings(base_url, origin, username, account_id, device_id, device_name)
        client = cls(
            api=api, store=_open_storage(data_dir), unlocked=unlocked, settings=settings, signer=signer, clock=clock,
            data_dir=data_dir, **engine_options,
        )
        await client._persist(data_dir)
        return client

    @classmethod
    async def open(
        cls,
        data_dir: str | Path,
        passphrase: str | None = None,
        *,
        passkey: tuple[bytes, bytes] | None = None,
        http: HttpFunction | None = None,
        clock: Callable[[], float] = time.time,
        **engine_options: Any,
    ) -> Client:
        """Unlock a known device offline: the bundle this device last adopted, opened with the passphrase, a passkey
        (``(slot id, PRF output)``) or — with neither — this device's remembered key.

        If the passphrase does not open that bundle but the relay can be reached, the passphrase may have been changed
        on another device: the newer versions are fetched (with this device's request key), verified against this
        device's pin, and the newest is opened with the passphrase instead."""
        store = SqliteStore(Path(data_dir) / DB_FILE)
        settings = ClientSettings.decode(store)
        raw = store.get_setting("sync.bundle")
        if raw is None:
            raise BundleError("This data directory holds no account bundle.")
        public = bundle_public.parse_bundle(raw)
        signer = NaclSigner.load(Path(data_dir) / KEY_FILE)
        api = _api(settings.base_url, settings.origin, http, clock)
        if passphrase is not None:
            try:
                unlocked = account.unlock_with_passphrase(public, passphrase)
            except DecryptionError as exc:
                api.session = Session(settings.account_id, settings.device_id, signer)
                unlocked = await cls._unlock_newer(api, public, passphrase, exc)
                await store.commit(Batch(bundle=unlocked.bundle.public.encoded))
        elif passkey is not None:
            unlocked = account.unlock_with_passkey(public, passkey[0], passkey[1])
        else:
            blob = store.get_setting(DEVICE_FACTOR)
            key_path = Path(data_dir) / WRAP_KEY_FILE
            if not blob or not key_path.exists():
                raise NotRemembered("This device is not remembered; unlock with your passphrase.")
            wrapper = SoftwareDeviceWrapper(key_path.read_bytes())
            unlocked = await account.unlock_with_device(public, settings.device_id, wrapper, blob)
        return cls(
            api=api, store=store, unlocked=unlocked, settings=settings, signer=signer, clock=clock, data_dir=data_dir,
            **engine_options,
        )

    @staticmethod
    async def _unlock_newer(api: RelayApi, stored: PublicBundle, passphrase: str, error: DecryptionError) -> Unlocked:
        try:
            chain = await api.bundle_chain(stored.version)
        except NetworkError:
            raise error from None
        newer = bundle_public.verify_chain(Pin.of(stored), chain, verify_signature, account_id=stored.account_id)
        if not newer:
            raise error
        return account.unlock_with_passphrase(newer[-1], passphrase)

    # --- notes ----------------------------------------------------------------------------------------------------

    async def save_note(self, title: str, body: str, record_id: bytes | None = None) -> bytes:
        return await self.engine.save_note(title, body, record_id)

    async def delete(self, record_id: bytes) -> None:
        await self.engine.delete(record_id)

    async def notes(self) -> list[NoteView]:
        return await self.engine.notes()

    async def note(self, record_id: bytes) -> NoteView | None:
        return await self.engine.note(record_id)

    async def sync(self) -> SyncReport:
        """Publish a rotation queued offline, follow the bundle chain (a version that is refused — rollback, fork, or
        one that does not open — is kept out and reported in ``bundle_warning``; ``UnlockAgain`` when this device's
        unlock method is gone after an account-key rotation), then sync notes."""
        await self._run_queued()
        try:
            await self.refresh_bundle()
            self.bundle_warning = None
        except UnlockAgain:
            raise
        except BundleError as exc:
            self.bundle_warning = exc
        return await self.engine.sync()

    # --- the key lifecycle ----------------------------------------------------------------------------------------

    @property
    def unlocked(self) -> Unlocked:
        return self.engine.unlocked

    @property
    def public_bundle(self) -> bundle_public.PublicBundle:
        return self.engine.unlocked.bundle.public

    def _now(self) -> int:
        return int(self.clock())

    async def _use(self, unlocked: Unlocked) -> None:
        """Hand a new bundle version (and the factor this device now holds) to the sync engine, which stores it; queued
        edits under an older epoch are re-sealed at once."""
        epoch = self.engine.unlocked.bundle.write_key.epoch
        await self.engine.adopt_unlocked(unlocked)
        if unlocked.bundle.write_key.epoch != epoch:
            await self.engine.reseal_outbox()

    async def refresh_bundle(self) -> bool:
        """Adopt the newest bundle version the relay serves; True if there was one. Raises ``keyring_rollback``,
        ``keyring_fork``, ``bad_bundle`` (nothing adopted) or ``UnlockAgain``."""
        before = self.engine.unlocked.bundle.version
        await self._use(await lifecycle.follow(self.api, self.engine.unlocked))
        return self.engine.unlocked.bundle.version != before

    async def unlock_again(self, passphrase: str) -> None:
        """After ``UnlockAgain``: confirm the (new) passphrase against the newest version and adopt it."""
        unlocked, _ = await lifecycle.confirm(self.api, self.engine.unlocked, passphrase=passphrase)
        if unlocked.bundle.version == self.engine.unlocked.bundle.version:
            unlocked = await lifecycle.follow(self.api, unlocked)
        await self._use(unlocked)

    async def _confirm(
        self, passphrase: str | None, recovery_phrase: Sequence[str] | str | None
    ) -> tuple[Unlocked, lifecycle.Confirmation]:
        unlocked, confirmation = await lifecycle.confirm(
            self.api, self.engine.unlocked, passphrase=passphrase, recovery_phrase=recovery_phrase
        )
        await self._use(unlocked)
        return unlocked, confirmation

    async def change_passphrase(
        self,
        new_passphrase: str,
        *,
        current_passphrase: str | None = None,
        recovery_phrase: Sequence[str] | str | None = None,
        passphrase_may_be_known: bool = False,
    ) -> None:
        """Change the passphrase, confirming the current one — or the recovery phrase, after a recovery login."""
        unlocked, confirmation = await self._confirm(current_passphrase, recovery_phrase)
        new = await lifecycle.change_passphrase(
            self.api, unlocked, confirmation, new_passphrase, passphrase_may_be_known=passphrase_may_be_known
        )
        await self._use(new)

    async def new_recovery_kit(
        self, *, current_passphrase: str | None = None, recovery_phrase: Sequence[str] | str | None = None
    ) -> list[str]:
        """A new recovery phrase (also in ``recovery_phrase``): the old one opens nothing current any more."""
        unlocked, confirmation = await self._confirm(current_passphrase, recovery_phrase)
        new, words = await lifecycle.new_recovery_kit(self.api, unlocked, confirmation)
        await self._use(new)
        self.recovery_phrase = words
        return words

    @property
    def remembered(self) -> bool:
        listed = self.public_bundle.device_factor(self.device_id) is not None
        return listed and self._get_setting(DEVICE_FACTOR) is not None

    async def remember_device(self, on: bool, *, current_passphrase: str) -> None:
        """Turn "remember this device" on (unlock without the passphrase: ``Client.open(data_dir)``) or off."""
        if on == self.remembered:
            return
        unlocked, confirmation = await self._confirm(current_passphrase, None)
        if on:
            new, blob = await lifecycle.remember_device(
                self.api, unlocked, confirmation, device_id=self.device_id, signing_public=self.signer.public_key,
                name=self.settings.device_name, wrapper=self._wrapper(),
            )
            self._set_setting(DEVICE_FACTOR, blob)
        else:
            new = await lifecycle.forget_device(self.api, unlocked, confirmation, self.device_id)
            self._set_setting(DEVICE_FACTOR, None)
        await self._use(new)

    def passkeys(self) -> list[lifecycle.PasskeyInfo]:
        return lifecycle.passkeys(self.public_bundle)

    async def add_passkey(
        self,
        prf_output: bytes,
        *,
        current_passphrase: str,
        name: str = "Passkey",
        credential_id: bytes | None = None,
        prf_salt: bytes | None = None,
        rp_id: str | None = None,
    ) -> bytes:
        """Add a passkey given its PRF output (32 bytes; in CPython tests, simulated); returns its slot id."""
        unlocked, confirmation = await self._confirm(current_passphrase, None)
        new, slot_id = await lifecycle.add_passkey(
            self.api, unlocked, confirmation, prf_output=prf_output,
            credential_id=credential_id or primitives.randombytes(16),
            prf_salt=prf_salt or primitives.randombytes(bundle_public.PRF_SALT_SIZE),
            rp_id=rp_id or urlsplit(self.settings.origin).hostname or "localhost", name=name,
        )
        await self._use(new)
        return slot_id

    async def remove_passkey(self, slot_id: bytes, *, current_passphrase: str) -> None:
        unlocked, confirmation = await self._confirm(current_passphrase, None)
        await self._use(await lifecycle.remove_passkey(self.api, unlocked, confirmation, slot_id))

    async def devices(self) -> list[dict[str, Any]]:
        return await self.api.devices()

    async def revoke_device(
        self,
        device_id: bytes,
        *,
        current_passphrase: str | None = None,
        recovery_phrase: Sequence[str] | str | None = None,
        reencrypt: bool = False,
        on_progress: Callable[[lifecycle.RotationProgress], None] | None = None,
    ) -> lifecycle.RotationProgress | None:
        """Revoke another device (new account key, epoch and identity key); with ``reencrypt`` also re-encrypt every
        older note now (``on_progress`` per batch)."""
        unlocked, confirmation = await self._confirm(current_passphrase, recovery_phrase)
        new = await lifecycle.revoke_device(
            self.api, unlocked, confirmation, device_id, now=self._now(), reencrypt=reencrypt
        )
        await self._use(new)
        if reencrypt:
            return await self.finish_rotation(on_progress=on_progress)
        return None

    async def leave(self) -> None:
        """This device leaves the account (its own revocation: no step-up)."""
        await self.api.revoke_self()

    async def rotate_keys(self, *, rewrap: bool = True) -> bool:
        """A routine rotation (new write epoch; ``finish_rotation`` re-wraps older notes). Offline it is queued and
        published by the next ``sync``: returns False then."""
        new, queued = await lifecycle.request_rotation(self.api, self.engine.unlocked, now=self._now(), rewrap=rewrap)
        if queued is not None:
            self._set_setting(QUEUED_ROTATION, queued.encode())
            return False
        await self._use(new)
        return True

    @property
    def queued_rotation(self) -> lifecycle.QueuedRotation | None:
        raw = self._get_setting(QUEUED_ROTATION)
        return lifecycle.QueuedRotation.decode(raw) if raw else None

    async def _run_queued(self) -> None:
        queued = self.queued_rotation
        if queued is None:
            return
        await self._use(await lifecycle.run_queued(self.api, self.engine.unlocked, queued, now=self._now()))
        self._set_setting(QUEUED_ROTATION, None)

    async def finish_rotation(
        self,
        *,
        batch: int = DEFAULT_BATCH,
        on_progress: Callable[[lifecycle.RotationProgress], None] | None = None,
    ) -> lifecycle.RotationProgress:
        """Re-wrap (or re-encrypt) what the keyring's rotation intents ask for, from wherever any device left off."""
        new, progress = await lifecycle.finish_rotation(
            self.api, self.engine.unlocked, batch=batch, on_progress=on_progress
        )
        await self._use(new)
        return progress

    async def rotation_status(self) -> lifecycle.RotationStatus:
        return await lifecycle.rotation_status(self.api, self.engine.unlocked)

    def rotation_due(self, every_days: int = lifecycle.DEFAULT_ROTATION_DAYS) -> bool:
        return lifecycle.rotation_due(self.engine.unlocked.bundle.keyring, self._now(), every_days)

    def close(self) -> None:
        close = getattr(self.api, "close", None)
        if callable(close):
            close()
        if isinstance(self.store, SqliteStore):
            self.store.close()
