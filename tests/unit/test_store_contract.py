"""The store contract (tests/support/store_contract.py) against every store CPython can run: the in-memory one, the
CPython client's SQLite store, and the browser's ``IdbStore`` over ``FakeIdb`` (its codec for real, the JavaScript
object store in dictionaries). tests/browser/test_idb_store_contract.py runs it against the real IndexedDB module.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pycore.client.sqlite_store import SqliteStore
from tests.support.fake_idb import FakeIdb
from tests.support.memory import MemoryStore

# The cases assert in tests/support: have pytest explain their failures as it does in test files.
pytest.register_assert_rewrite("tests.support.store_contract")
from tests.support import store_contract as contract  # noqa: E402

STORES = ("memory", "sqlite", "idb")


def _memory() -> contract.Subject:
    store = MemoryStore()

    @contextmanager
    def failing() -> Iterator[None]:
        store.failing = True
        try:
            yield
        finally:
            store.failing = False

    return contract.Subject(store, failing, OSError)


def _sqlite(path: Path, opened: list[SqliteStore]) -> contract.Subject:
    def open_store() -> SqliteStore:
        opened.append(SqliteStore(path))
        return opened[-1]

    store = open_store()

    @contextmanager
    def failing() -> Iterator[None]:
        # The meta table is written last in a commit: a trigger there fails it after every other write was made.
        store.db.execute(
            "CREATE TEMP TRIGGER planted_failure BEFORE INSERT ON main.meta BEGIN SELECT RAISE(ABORT, 'planted'); END"
        )
        try:
            yield
        finally:
            store.db.execute("DROP TRIGGER temp.planted_failure")

    return contract.Subject(store, failing, sqlite3.IntegrityError, open_store)


def _idb() -> contract.Subject:
    idb = FakeIdb()
    return contract.idb_subject(idb, lambda: idb)


@pytest.fixture(params=STORES)
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[contract.Subject]:
    opened: list[SqliteStore] = []
    makers: dict[str, Callable[[], contract.Subject]] = {
        "memory": _memory,
        "sqlite": lambda: _sqlite(tmp_path / "store.sqlite3", opened),
        "idb": _idb,
    }
    yield makers[request.param]()
    for store in opened:
        store.close()


@pytest.fixture
def idb_subject() -> contract.Subject:
    return _idb()


@pytest.mark.parametrize("case", list(contract.STORE_CASES))
def test_store_contract(subject: contract.Subject, case: str) -> None:
    asyncio.run(contract.STORE_CASES[case](subject))


@pytest.mark.parametrize("case", list(contract.IDB_CASES))
def test_idb_store_contract(idb_subject: contract.Subject, case: str) -> None:
    asyncio.run(contract.IDB_CASES[case](idb_subject))
