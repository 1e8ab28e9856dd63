"""Shared set-up for the sync tests: a cheap account (no Argon2id), devices on an in-memory relay, rotation helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from pycore import kdf
from pycore.account import Unlocked
from pycore.bundle import FactorSpec, create_bundle, next_version
from pycore.envelope import SealedRecord, rewrap_records
from pycore.factors import BoxKeyPair
from pycore.primitives import randombytes
from pycore.public.bundle_public import FactorType, PassphraseMeta
from pycore.sync.engine import NoteView, SyncEngine, SyncReport
from tests.support.memory import MemoryRelay, MemoryStore, MemoryTransport

NOW = 1_800_000_000.0
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def new_account() -> Unlocked:
    """A bundle with a passphrase factor whose key pair is random (no Argon2id: these tests are about sync)."""
    box = BoxKeyPair.from_seed(randombytes(32))
    meta = PassphraseMeta(randombytes(16), kdf.DEFAULT_PARAMS)
    spec = FactorSpec(randombytes(16), FactorType.PASSPHRASE, box.public, meta)
    return Unlocked(create_bundle([spec], now=int(NOW)), spec.slot_id, box)


@dataclass
class Device:
    name: str
    store: MemoryStore
    transport: MemoryTransport
    engine: SyncEngine

    async def sync(self) -> SyncReport:
        return await self.engine.sync()

    async def notes(self) -> dict[bytes, tuple[str, str]]:
        return {v.record_id: (v.note.title, v.note.body) for v in await self.engine.notes()}

    async def views(self) -> list[NoteView]:
        return await self.engine.notes()


class Clock:
    def __init__(self, start: float = NOW) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def device(
    relay: MemoryRelay, account: Unlocked, name: str, clock: Clock | None = None, store: Any = None, **options: Any
) -> Device:
    store = store if store is not None else MemoryStore()
    transport = relay.transport()
    engine = SyncEngine(store, transport, account, device_name=name, clock=clock or Clock(), **options)
    return Device(name, store, transport, engine)


def setup(names: tuple[str, ...] = ("laptop", "phone"), **options: Any) -> tuple[MemoryRelay, Unlocked, list[Device]]:
    account = new_account()
    relay = MemoryRelay(account.bundle.public.encoded)
    return relay, account, [device(relay, account, n, **options) for n in names]


def rotate(relay: MemoryRelay, dev: Device) -> int:
    """A routine rotation published by ``dev`` (which must hold the relay's newest bundle): the new write epoch."""
    current = dev.engine.unlocked.bundle
    newer = next_version(current, keyring=current.keyring.with_new_epoch(int(NOW)))
    relay.put_bundle(newer.public.encoded)
    return newer.keyring.active.epoch


def rewrap_on_relay(relay: MemoryRelay, dev: Device) -> int:
    """Key-only re-wrap of every record below the write epoch, as the rotation helper does it; the number stored."""
    bundle = dev.engine.unlocked.bundle
    write = bundle.write_key
    below = relay.records_below_epoch(write.epoch, None, 10_000)
    rewrapped = rewrap_records(bundle.scope, bundle.keyring.keys, write, below)
    updates = [r for r in rewrapped if isinstance(r, SealedRecord)]
    return sum(relay.put_key_updates(updates))
