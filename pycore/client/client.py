"""``Client``: a small CPython client for tests, benchmarks and scripts — register, log in (also on a new device),
unlock offline on a known device, write/delete/list notes, sync.

Everything goes through the same pieces the browser uses: ``pycore.account`` for keys, ``RelayApi`` for the relay's
API, ``SyncEngine`` for sync. Storage is a SQLite file plus the device's request key in a 0600 file
(``data_dir``), or memory only (``data_dir=None``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycore import account, bundle_public, kdf, primitives, wire
from pycore.account import Unlocked
from pycore.bundle import open_bundle, verify_signature
from pycore.bundle_public import PassphraseMeta
from pycore.client.memory import MemoryStore
from pycore.client.relay_api import HttpFunction, RelayApi, Session
from pycore.client.signer import NaclSigner
from pycore.client.sqlite_store import SqliteStore
from pycore.codec import b64e
from pycore.errors import BundleError, VellumError
from pycore.factors import LoginFactorKeys, passphrase_keys, recovery_keys
from pycore.recovery import entropy_from_phrase
from pycore.sync import Batch, NoteView, Store, SyncEngine, SyncReport

DB_FILE = "vellum-client.sqlite3"
KEY_FILE = "device.key"
DEFAULT_DEVICE_NAME = "Vellum CLI"


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
                raise VellumError(f"This data directory holds no Vellum client ({name} is missing).", code="no_client")
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
        return MemoryStore()
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
        **engine_options: Any,
    ) -> None:
        self.api = api
        self.store = store
        self.settings = settings
        self.signer = signer
        self.recovery_phrase: list[str] | None = None  # shown once, after register
        api.session = Session(settings.account_id, settings.device_id, signer)
        api.step_up = self._step_up
        self.engine = SyncEngine(store, api, unlocked, device_name=settings.device_name, clock=clock, **engine_options)

    def __repr__(self) -> str:
        return f"Client(username={self.settings.username!r}, device={self.settings.device_name!r})"

    @property
    def account_id(self) -> bytes:
        return self.settings.account_id

    @property
    def device_id(self) -> bytes:
        return self.settings.device_id

    async def _step_up(self, action: str, challenge: bytes, body: bytes) -> tuple[str, bytes]:
        login = self.engine.unlocked.login
        if login is None:
            raise VellumError("Confirm with your passphrase to do this.", code="step_up_required")
        s = self.settings
        statement = wire.step_up_statement(s.origin, action, s.account_id, s.device_id, challenge, body)
        return "login", login.login.sign(statement)

    async def _persist(self, data_dir: str | Path | None) -> None:
        await self.store.commit(Batch(bundle=self.engine.unlocked.bundle.public.encoded))
        if isinstance(self.store, SqliteStore) and data_dir is not None:
            self.signer.save(Path(data_dir) / KEY_FILE)
            self.store.set_settings(self.settings.encode())

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
        challenge = await api.challenge()
        statement = wire.login_statement(origin, "register", account_id, challenge, device_id, signer.public_key)
        await api.register(
            {
                "username": username,
                "account_id": b64e(account_id),
                "login_public": b64e(new.passphrase.login.public),
                "recovery_login_public": b64e(new.recovery.login.public),
                "device": {"id": b64e(device_id), "signing_public": b64e(signer.public_key), "name": device_name},
                "bundle": b64e(new.unlocked.public.encoded),
                "challenge": b64e(challenge),
                "login_signature": b64e(new.passphrase.login.sign(statement)),
                "recovery_login_signature": b64e(new.recovery.login.sign(statement)),
                "device_signature": b64e(await signer.sign(statement)),
            }
        )
        slot_id = new.unlocked.public.passphrase.slot_id
        unlocked = Unlocked(new.unlocked, slot_id, new.passphrase.box, new.passphrase)
        settings = ClientSettings(base_url, origin, username, account_id, device_id, device_name)
        client = cls(
            api=api, store=_open_storage(data_dir), unlocked=unlocked, settings=settings, signer=signer, clock=clock,
            **engine_options,
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
            raise VellumError("A passphrase or a recovery phrase is needed to log in.", code="login_failed")
        signer = NaclSigner.generate()
        device_id = primitives.randombytes(wire.DEVICE_ID_SIZE)
        challenge = await api.challenge()
        statement = wire.login_statement(origin, action, account_id, challenge, device_id, signer.public_key)
        await api.login(
            action,
            {
                "account_id": b64e(account_id),
                "challenge": b64e(challenge),
                "device": {"id": b64e(device_id), "signing_public": b64e(signer.public_key), "name": device_name},
                "signature": b64e(keys.login.sign(statement)),
                "device_signature": b64e(await signer.sign(statement)),
            },
        )
        api.session = Session(account_id, device_id, signer)
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
            **engine_options,
        )
        await client._persist(data_dir)
        return client

    @classmethod
    async def open(
        cls,
        data_dir: str | Path,
        passphrase: str,
        *,
        http: HttpFunction | None = None,
        clock: Callable[[], float] = time.time,
        **engine_options: Any,
    ) -> Client:
        """Unlock a known device offline: the bundle this device last adopted, opened with the passphrase."""
        store = SqliteStore(Path(data_dir) / DB_FILE)
        settings = ClientSettings.decode(store)
        raw = store.get_setting("sync.bundle")
        if raw is None:
            raise BundleError("This data directory holds no account bundle.")
        unlocked = account.unlock_with_passphrase(bundle_public.parse_bundle(raw), passphrase)
        signer = NaclSigner.load(Path(data_dir) / KEY_FILE)
        api = _api(settings.base_url, settings.origin, http, clock)
        return cls(
            api=api, store=store, unlocked=unlocked, settings=settings, signer=signer, clock=clock, **engine_options
        )

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
        return await self.engine.sync()

    def close(self) -> None:
        close = getattr(self.api, "close", None)
        if callable(close):
            close()
        if isinstance(self.store, SqliteStore):
            self.store.close()
