"""The one runtime behind the crypto worker's app commands: what the session, notes and keys modules share.

``Runtime`` holds the browser's pieces (``pycore.app.browser``: the IndexedDB store, ``fetch`` timed by ``TimedHttp``,
the device's WebCrypto keys), at most one open account (``Session``: settings, device, ``RelayApi``, ``SyncEngine``,
``Notebook``), the sync state and the timings the benchmark reads. ``pycore.app.session.App`` starts and ends sessions;
``pycore.app.notes.Notes`` and ``pycore.app.keys.Keys`` act on the open one through this object's public methods.

Serialisation lives here and nowhere else (the page holds no lock list). Lock order — a task that holds one of these
takes only the ones after it:

1. ``SyncEngine``'s sync lock: one sync at a time in this worker (network between the steps, no store lock held).
2. ``Runtime.writing()`` = the store lock (``IdbStore.exclusive``): one Web Lock ("vellum-store") shared by every tab's
   worker, with an in-worker lock in front of it, re-entrant within one task. Every read-decide-commit step holds it:
   a note's save (read the head, merge, seal, commit), delete, import, the index's reconcile and re-seal, every key
   change (confirm, publish, adopt, re-seal the outbox and the index), the pre-sync follow, and inside the engine each
   local edit, pulled page and push result. So another tab's commit can never land between a read and its commit.

A key change holds the store lock across its relay round trips: another tab's save waits (its edit is kept in the
page meanwhile) rather than being sealed under a key that is being replaced.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from pycore import primitives
from pycore.account import Unlocked
from pycore.app.browser.fetch import FetchHttp
from pycore.app.browser.idb import META_SETTINGS, IdbStore
from pycore.app.browser.webcrypto import DeviceInfo, WebCryptoDeviceWrapper, WebCryptoSigner
from pycore.app.settings import LocalSettings
from pycore.errors import Locked, VellumError
from pycore.factors import open_device_factor
from pycore.public import limits
from pycore.sync.engine import SyncEngine
from pycore.sync.notebook import Notebook
from pycore.sync.relay_api import HttpFunction, HttpResponse, RelayApi
from pycore.sync.relay_api import Session as ApiSession


class TimedHttp:
    """The app's ``HttpFunction`` with the time spent waiting for the relay added up, so a command's local work (its
    total minus that) can be told from its network time (the benchmark reads them from ``Runtime.timings``)."""

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


class Runtime:
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
        self.http = TimedHttp(FetchHttp(fetch))
        self.device_js = device
        self.runtime_js = runtime
        self.page_origin = origin.rstrip("/")
        self.clock = clock
        self.session: Session | None = None
        self.sync_state = SyncState()
        self.recovery_words: list[str] | None = None  # shown once after register or a new kit, until confirmed
        self.timings: dict[str, float] = {}  # ms of the last steps (unlock, sync, key changes), for the benchmark

    def __repr__(self) -> str:
        return f"Runtime(unlocked={self.session is not None})"

    # --- time and measuring -------------------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round((time.perf_counter() - started) * 1000, 1)

    @asynccontextmanager
    async def measured(self, name: str) -> AsyncIterator[None]:
        """``timings``: ``keys_<name>_ms`` (whole), ``_network_ms`` (waiting for the relay), ``_local_ms``."""
        http = self.http
        started, waited, requests = time.perf_counter(), http.seconds, http.requests
        try:
            yield
        finally:
            total = time.perf_counter() - started
            network = http.seconds - waited
            self.timings[f"keys_{name}_ms"] = round(total * 1000, 1)
            self.timings[f"keys_{name}_network_ms"] = round(network * 1000, 1)
            self.timings[f"keys_{name}_local_ms"] = round((total - network) * 1000, 1)
            self.timings[f"keys_{name}_requests"] = http.requests - requests

    # --- the store lock -----------------------------------------------------------------------------------------------

    def writing(self) -> AbstractAsyncContextManager[None]:
        """The store lock (see the lock order above)."""
        return self.store.exclusive

    # --- settings and the relay ---------------------------------------------------------------------------------------

    async def load_settings(self) -> tuple[LocalSettings | None, dict[str, bytes]]:
        meta = await self.store.load_meta()
        raw = meta.get(META_SETTINGS)
        return (LocalSettings.decode(raw) if raw is not None else None), meta

    async def save_settings(self, settings: LocalSettings) -> None:
        session = self.require()
        session.settings = settings
        await self.store.save_settings(settings.encode())

    def api(self, relay_origin: str, clock_offset: float = 0.0) -> RelayApi:
        api = RelayApi(self.http, relay_origin, relay_origin, clock=self.clock)
        api.clock_offset = clock_offset
        return api

    def signed_api(self, settings: LocalSettings, device: DeviceInfo) -> RelayApi:
        """A ``RelayApi`` signing as this device (it works while locked: the device key is WebCrypto's)."""
        api = self.api(settings.relay_origin, settings.clock_offset)
        api.session = ApiSession(settings.account_id, device.device_id, self.signer(device))
        return api

    def signer(self, device: DeviceInfo) -> WebCryptoSigner:
        return WebCryptoSigner(self.device_js, device)

    # --- the session --------------------------------------------------------------------------------------------------

    def require(self) -> Session:
        if self.session is None:
            raise Locked("no account is unlocked in this worker")
        return self.session

    def open(self, settings: LocalSettings, device: DeviceInfo, api: RelayApi, unlocked: Unlocked) -> Session:
        api.session = ApiSession(settings.account_id, device.device_id, self.signer(device))
        engine = SyncEngine(
            self.store,
            api,
            unlocked,
            device_name=settings.device_name,
            clock=self.clock,
            push_batch=limits.BATCH_MAX_RECORDS,
            pull_limit=limits.FEED_MAX_LIMIT,
        )
        self.session = Session(settings, device, api, engine, Notebook(engine, self.store))
        self.sync_state = SyncState()
        return self.session

    def close(self) -> None:
        """Drop the session and everything held for it in memory."""
        self.session = None
        self.recovery_words = None
        self.sync_state = SyncState()

    async def use(self, new: Unlocked) -> None:
        """Keep the sync engine on ``new`` (a version the relay accepted, or one adopted from it) and on the factor this
        device now holds; re-seal queued edits under a new write epoch and the note index under a new account key.
        The caller holds the store lock."""
        session = self.require()
        engine = session.engine
        old = engine.unlocked.bundle
        if new.bundle.version < old.version:
            # A sync adopted a newer version meanwhile: stay on it, with the new factor if that version lists it.
            entry = old.public.factor(new.slot_id)
            if entry is not None and primitives.memcmp(entry.box_public, new.box.public):
                engine.use_factor(new)
            return
        with self.timed("keys_adopt"):
            await engine.adopt_unlocked(new)
            if new.bundle.write_key.epoch != old.write_key.epoch:
                await engine.reseal_outbox()
        if new.bundle.account_key != old.account_key:
            with self.timed("keys_reseal_index"):
                await session.notebook.reseal_index()  # the index keys come from the account key

    async def device_factor(self) -> Unlocked | None:
        """The session's bundle held with this device's remembered factor (unwrapped by its WebCrypto key), if the
        device is remembered and the bundle in use lists that factor."""
        session = self.require()
        blob = session.settings.device_factor
        unlocked = session.engine.unlocked
        entry = unlocked.bundle.public.device_factor(session.device.device_id)
        if blob is None or entry is None:
            return None
        try:
            box = await open_device_factor(WebCryptoDeviceWrapper(self.device_js), session.device.device_id, blob)
        except VellumError:
            return None
        if not primitives.memcmp(box.public, entry.box_public):
            return None
        return Unlocked(unlocked.bundle, entry.slot_id, box, unlocked.login)
