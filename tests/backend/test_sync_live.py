"""End-to-end sync against a real ``vellum serve`` (2 workers, SQLite): the CPython client, the sync engine and the
relay's actual rules — registration, a second device, push and pull, concurrent writers, rotation with key-only
updates racing edits, clock skew, and offline unlock."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pycore import rotation
from pycore.client.client import Client
from pycore.envelope import RecordType
from pycore.errors import NetworkError, RelayError
from pycore.sync.types import PushItem, PushStatus
from tests.backend.live import LiveRelay

PASSPHRASE = "correct horse battery staple"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def username() -> str:
    return "sync-" + secrets.token_hex(6)


async def pair(live: LiveRelay, **options: Any) -> tuple[Client, Client]:
    name = username()
    laptop = await Client.register(live.base_url, name, PASSPHRASE, origin=live.origin, device_name="laptop", **options)
    phone = await Client.login(live.base_url, name, PASSPHRASE, origin=live.origin, device_name="phone", **options)
    return laptop, phone


async def texts(client: Client) -> dict[bytes, tuple[str, str]]:
    return {v.record_id: (v.note.title, v.note.body) for v in await client.notes()}


def test_register_second_device_push_and_pull(live_relay: LiveRelay) -> None:
    async def go() -> None:
        laptop, phone = await pair(live_relay)
        assert laptop.recovery_phrase is not None and len(laptop.recovery_phrase) == 24
        rid = await laptop.save_note("Secret title 7f3a", "first line\nsecond line")
        report = await laptop.sync()
        assert report.pushed == 1
        report = await phone.sync()
        assert report.pulled == 1 and not report.quarantined
        assert await texts(phone) == {rid: ("Secret title 7f3a", "first line\nsecond line")}
        await phone.delete(rid)
        await phone.sync()
        await laptop.sync()
        assert await texts(laptop) == {}
        laptop.close()
        phone.close()

    run(go())
    # The relay holds ciphertext only.
    db = sqlite3.connect(live_relay.data_dir / "vellum.sqlite3")
    blobs = b"".join(bytes(row[0]) for row in db.execute("SELECT content FROM records"))
    db.close()
    assert blobs and b"Secret title 7f3a" not in blobs and b"second line" not in blobs


def test_concurrent_conflicting_writes_one_wins_the_other_merges(live_relay: LiveRelay) -> None:
    async def go() -> None:
        laptop, phone = await pair(live_relay)
        rid = await laptop.save_note("Shared", "alpha\nbeta\ngamma\ndelta")
        await laptop.sync()
        await phone.sync()
        await laptop.save_note("Shared", "ALPHA\nbeta\ngamma\ndelta", rid)
        await phone.save_note("Shared", "alpha\nbeta\ngamma\nDELTA", rid)
        # Both push revision 2 on base 1 at once: the relay's compare-and-swap lets exactly one through.
        outbox = [(await c.store.outbox(None, 10))[0] for c in (laptop, phone)]
        results = await asyncio.gather(
            laptop.api.push([PushItem(outbox[0].record, 1)]), phone.api.push([PushItem(outbox[1].record, 1)])
        )
        statuses = sorted(r[0].status for r in results)
        assert statuses == [PushStatus.ACCEPTED, PushStatus.CONFLICT]
        # The engines then settle it: the loser merges (the edits do not overlap) and pushes revision 3.
        for _ in range(2):
            await asyncio.gather(laptop.sync(), phone.sync())
        expected = {rid: ("Shared", "ALPHA\nbeta\ngamma\nDELTA")}
        assert await texts(laptop) == expected == await texts(phone)
        record = await laptop.api.get_record(rid)
        assert record is not None and record.revision == 3
        laptop.close()
        phone.close()

    run(go())


def test_concurrent_overlapping_edits_leave_a_conflicted_copy(live_relay: LiveRelay) -> None:
    async def go() -> None:
        laptop, phone = await pair(live_relay)
        rid = await laptop.save_note("Plan", "one line")
        await laptop.sync()
        await phone.sync()
        await laptop.save_note("Plan", "laptop's line", rid)
        await phone.save_note("Plan", "phone's line", rid)
        await asyncio.gather(laptop.sync(), phone.sync())
        for _ in range(2):
            await laptop.sync()
            await phone.sync()
        notes = await texts(laptop)
        assert notes == await texts(phone) and len(notes) == 2
        bodies = sorted(body for _, body in notes.values())
        assert bodies == ["laptop's line", "phone's line"]
        copies = [title for rid2, (title, _) in notes.items() if rid2 != rid]
        assert copies[0].startswith("Plan (conflicted copy from ")
        laptop.close()
        phone.close()

    run(go())


async def rotate(client: Client) -> rotation.Holder:
    """A routine rotation by ``client`` (new write epoch), adopted by its engine."""
    u = client.engine.unlocked
    holder = rotation.Holder(u.bundle, u.box, u.slot_id)
    routine = rotation.Rotation(rotation.RotationKind.ROUTINE)
    holder = await rotation.rotate(client.api, holder, routine, now=int(time.time()))
    await client.engine.adopt(holder.bundle)
    return holder


def test_rotation_key_only_updates_racing_edits_never_lose_content(live_relay: LiveRelay) -> None:
    async def go() -> None:
        laptop, phone = await pair(live_relay)
        ids = [await laptop.save_note(f"n{i}", f"body {i}") for i in range(40)]
        await laptop.sync()
        await phone.sync()
        # The phone edits under epoch 1 while the laptop rotates to epoch 2 and re-wraps everything, concurrently.
        await phone.save_note("n0", "edited on the phone", ids[0])
        await phone.save_note("n5", "also edited", ids[5])
        await phone.delete(ids[1])
        holder = await rotate(laptop)
        progress, _ = await asyncio.gather(rotation.rewrap_all(laptop.api, holder.bundle, batch=7), phone.sync())
        assert not progress.failed and progress.done + progress.superseded >= 37
        # A re-wrap for a revision that has moved on is refused by the relay (superseded), never stored.
        moved = await laptop.api.get_record(ids[0])
        assert moved is not None and moved.revision == 2 and moved.epoch == 2
        assert await laptop.api.put_key_updates([replace(moved, revision=1)]) == [False]
        await laptop.sync()
        report = await phone.sync()
        assert not report.quarantined
        expected = {rid: (f"n{i}", f"body {i}") for i, rid in enumerate(ids)}
        expected[ids[0]] = ("n0", "edited on the phone")
        expected[ids[5]] = ("n5", "also edited")
        del expected[ids[1]]
        assert await texts(laptop) == expected == await texts(phone)
        assert laptop.engine.unlocked.bundle.version == phone.engine.unlocked.bundle.version == 2
        below = await laptop.api.records_below_epoch(2, None, 100)
        if below:  # records the re-wrap raced past: one more pass finishes them
            await rotation.rewrap_all(laptop.api, holder.bundle)
        assert await laptop.api.records_below_epoch(2, None, 100) == []
        laptop.close()
        phone.close()

    run(go())


def test_a_garbage_rewrap_never_destroys_content(live_relay: LiveRelay) -> None:
    async def go() -> None:
        laptop, phone = await pair(live_relay)
        rid = await laptop.save_note("Keep me", "precious")
        await laptop.sync()
        await phone.sync()
        await rotate(laptop)
        current = await laptop.api.get_record(rid)
        assert current is not None
        garbage = replace(current, epoch=2, wrapped_key=current.wrapped_key[:13] + secrets.token_bytes(56))
        # The relay cannot tell (it holds no keys) and stores it; devices refuse to adopt it.
        assert await laptop.api.put_key_updates([garbage]) == [True]
        report = await phone.sync()
        assert report.keys_refused == 1 and not report.quarantined
        assert await texts(phone) == {rid: ("Keep me", "precious")}
        # An edit on top of it is a new revision with a fresh key: everything opens again everywhere.
        await phone.save_note("Keep me", "precious, edited", rid)
        await phone.sync()
        await laptop.sync()
        assert await texts(laptop) == {rid: ("Keep me", "precious, edited")}
        laptop.close()
        phone.close()

    run(go())


def test_clock_skew_is_learnt_and_requests_succeed(live_relay: LiveRelay) -> None:
    async def go() -> None:
        laptop, _ = await pair(live_relay)
        skewed = await Client.login(
            live_relay.base_url,
            laptop.settings.username,
            PASSPHRASE,
            origin=live_relay.origin,
            clock=lambda: time.time() - 3600,
        )
        await skewed.save_note("Late clock", "x")
        report = await skewed.sync()
        assert report.pushed == 1 and abs(skewed.api.clock_offset - 3600) < 120
        await laptop.sync()
        assert [v.note.title for v in await laptop.notes()] == ["Late clock"]

    run(go())


def test_wrong_passphrase_is_refused(live_relay: LiveRelay) -> None:
    async def go() -> None:
        laptop, _ = await pair(live_relay)
        with pytest.raises(RelayError) as info:
            await Client.login(live_relay.base_url, laptop.settings.username, "not it", origin=live_relay.origin)
        assert info.value.code == "login_failed"

    run(go())


def test_a_known_device_unlocks_and_edits_offline(live_relay: LiveRelay, tmp_path: Path) -> None:
    async def go() -> None:
        name = username()
        data = tmp_path / "laptop"
        laptop = await Client.register(live_relay.base_url, name, PASSPHRASE, origin=live_relay.origin, data_dir=data)
        rid = await laptop.save_note("Persisted", "on disk")
        await laptop.sync()
        laptop.close()
        assert (data / "device.key").stat().st_mode & 0o077 == 0
        # Reopen with the relay unreachable: unlock from the stored bundle, read and write, sync later.
        offline = await Client.open(data, PASSPHRASE, http=None)
        offline.api.base_url = "http://127.0.0.1:9"
        assert await texts(offline) == {rid: ("Persisted", "on disk")}
        await offline.save_note("Persisted", "on disk\nedited offline", rid)
        with pytest.raises(NetworkError):
            await offline.sync()
        offline.api.base_url = live_relay.base_url
        assert (await offline.sync()).pushed == 1
        phone = await Client.login(live_relay.base_url, name, PASSPHRASE, origin=live_relay.origin)
        await phone.sync()
        assert await texts(phone) == {rid: ("Persisted", "on disk\nedited offline")}
        record = await phone.api.get_record(rid)
        assert record is not None and record.revision == 2
        opened = phone.engine._open([record])[0]
        assert not isinstance(opened, Exception) and opened.record_type == RecordType.NOTE
        offline.close()
        phone.close()

    run(go())


def test_a_new_device_logs_in_with_the_recovery_phrase(live_relay: LiveRelay) -> None:
    async def go() -> None:
        name = username()
        laptop = await Client.register(live_relay.base_url, name, PASSPHRASE, origin=live_relay.origin)
        rid = await laptop.save_note("Recovered", "still here")
        await laptop.sync()
        assert laptop.recovery_phrase is not None
        spare = await Client.login(
            live_relay.base_url, name, recovery_phrase=laptop.recovery_phrase, origin=live_relay.origin,
            device_name="spare",
        )
        await spare.sync()
        assert await texts(spare) == {rid: ("Recovered", "still here")}
        names = sorted(d["name"] for d in await spare.api.devices())
        assert names == ["Vellum CLI", "spare"]
        laptop.close()
        spare.close()

    run(go())
