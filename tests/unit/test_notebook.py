"""The notebook service: the list from the sealed index, reconcile after sync, search, export and import."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from pycore import index
from pycore.errors import DecryptionError
from pycore.kdf import DEFAULT_PARAMS
from pycore.sync.notebook import Notebook
from tests.unit.sync_support import run, setup


class MemoryIndexStore:
    def __init__(self) -> None:
        self.shards: dict[int, bytes] = {}
        self.writes = 0

    async def load_index(self) -> dict[int, bytes]:
        return dict(self.shards)

    async def save_index(self, shards: Mapping[int, bytes]) -> None:
        self.writes += 1
        self.shards.update(shards)


def test_list_comes_from_the_index_without_opening_notes() -> None:
    _, _, (laptop, _) = setup()
    store = MemoryIndexStore()
    book = Notebook(laptop.engine, store)

    async def go() -> None:
        await book.load()
        ids = [await book.save(f"Title {i}", f"body {i} marker-{i}") for i in range(30)]
        await book.delete(ids[0])
        # A fresh notebook on the same device (after a lock) lists everything from the shards alone.
        again = Notebook(laptop.engine, store)
        items = await again.load()
        assert {i.title for i in items} == {f"Title {i}" for i in range(1, 30)}
        assert items[0].title == "Title 29", "newest first"
        assert all(b"marker" not in blob and b"Title" not in blob for blob in store.shards.values())
        assert await again.reconcile() == 0, "nothing to fix: the index was up to date"

    run(go())


def test_reconcile_picks_up_synced_notes_and_rebuilds_a_bad_shard() -> None:
    _, _, (laptop, phone) = setup()
    laptop_book, phone_store = Notebook(laptop.engine, MemoryIndexStore()), MemoryIndexStore()
    phone_book = Notebook(phone.engine, phone_store)

    async def go() -> None:
        for i in range(20):
            await laptop_book.save(f"Shared {i}", "text")
        await laptop_book.sync()
        await phone_book.load()
        await phone_book.sync()
        assert len(phone_book.items()) == 20
        # Damage one shard: it is refused on load and rebuilt from the notes by reconcile.
        number = next(iter(phone_store.shards))
        blob = phone_store.shards[number]
        phone_store.shards[number] = blob[:-1] + bytes([blob[-1] ^ 1])
        fresh = Notebook(phone.engine, phone_store)
        before = await fresh.load()
        assert len(before) < 20
        await fresh.reconcile()
        assert len(fresh.items()) == 20
        results = index.open_shards(fresh._keys, *fresh._scope_ids, phone_store.shards)
        assert not any(isinstance(r, Exception) for r in results.values())

    run(go())


def test_search_titles_and_bodies() -> None:
    _, _, (laptop, _) = setup()
    book = Notebook(laptop.engine, MemoryIndexStore())

    async def go() -> None:
        await book.load()
        a = await book.save("Groceries", "apples and Pears")
        b = await book.save("Trip", "pack the pear knife")
        await book.save("Other", "nothing here")
        assert set(await book.search("pear")) == {a, b}
        assert await book.search("PEARS apples") == [a]
        assert await book.search("groceries") == [a]
        await book.save("Groceries", "only milk", a)
        assert await book.search("apples") == []

    run(go())


def test_export_import_round_trip() -> None:
    _, _, (laptop, phone) = setup()
    book, other = Notebook(laptop.engine, MemoryIndexStore()), Notebook(phone.engine, MemoryIndexStore())

    async def go() -> None:
        await book.load()
        await other.load()
        for i in range(5):
            await book.save(f"N{i}", f"body {i}")
        data = await book.export_encrypted("export secret", now=1, params=DEFAULT_PARAMS)
        with pytest.raises(DecryptionError):
            await other.import_encrypted(data, "wrong secret")
        assert other.items() == []
        assert await other.import_encrypted(data, "export secret") == 5
        assert sorted(i.title for i in other.items()) == [f"N{i}" for i in range(5)]
        text = await book.export_plaintext()
        assert "# N3" in text and "body 3" in text

    run(go())
