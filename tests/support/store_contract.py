"""The store contract: one suite that every ``pycore.sync.types.Store`` runs, so the stores cannot drift apart.

Derived from the ``Store`` protocol and ``Batch``'s documentation (pycore/sync/types.py) and from what the stores do:
reads give back exactly what commits wrote; a commit changes only what its batch names (a record's base, outbox entry
and quarantine note independently; the cursor and the bundle only when given) and is all or nothing; ``scan`` and
``outbox`` page in record-id order strictly after ``after``; another handle on the same storage (a second SQLite
connection, another tab's IndexedDB connection) reads what was committed. ``IDB_CASES`` add what the browser's
``IdbStore`` promises on top: settings, the bundle pin and the index shards in its meta and index stores, ``clear``,
the counts, and noticing another tab's commits.

Who runs it:
- tests/unit/test_store_contract.py: ``MemoryStore`` (tests/support/memory.py), the CPython client's ``SqliteStore``,
  and ``IdbStore`` over ``FakeIdb`` (tests/support/fake_idb.py);
- tests/browser/test_idb_store_contract.py: ``IdbStore`` over the real web/worker/idb-store.js in Chromium.

Each case is an async function of a ``Subject``. A case never waits on anything but the store, so a driver without an
event loop can run it too (the browser test does: Playwright's synchronous API cannot run inside one).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from pycore.app.browser.idb import META_BUNDLE, META_CURSOR, META_PIN, META_SETTINGS, IdbStore, StoreCounts, decode_pin
from pycore.bundle import FactorSpec, create_bundle, next_version
from pycore.envelope import HASH_SIZE, RECORD_ID_SIZE, SealedRecord
from pycore.errors import FormatError, VellumError
from pycore.factors import BoxKeyPair
from pycore.kdf import DEFAULT_PARAMS
from pycore.public.bundle_public import FactorType, PassphraseMeta, Pin, parse_bundle
from pycore.sync.types import Batch, LocalRecord, OutboxEntry, Quarantine, StoreMeta


@dataclass
class Subject:
    """A store under test and what the contract needs around it."""

    store: Any  # a pycore.sync.types.Store; an IdbStore for IDB_CASES
    # While entered, commits fail inside the store's own transaction, after some of their writes were placed.
    failing: Callable[[], AbstractContextManager[None]]
    error: type[BaseException] | tuple[type[BaseException], ...]  # what such a failed commit raises
    other: Callable[[], Any] | None = None  # another handle on the same storage; None: the store is the object itself


Case = Callable[[Subject], Awaitable[None]]
STORE_CASES: dict[str, Case] = {}
IDB_CASES: dict[str, Case] = {}


def _store_case(case: Case) -> Case:
    STORE_CASES[case.__name__] = case
    return case


def _idb_case(case: Case) -> Case:
    IDB_CASES[case.__name__] = case
    return case


# --- IdbStore subjects (FakeIdb, the real module) ---------------------------------------------------------------------


class FailingCommits:
    """Wraps an object with web/worker/idb-store.js's calls. While ``armed``, each commit carries one more record after
    the real ones, with an id the module refuses: the module must then abort a transaction that already holds writes
    (the way a quota or I/O error would end it), and nothing of the batch may remain."""

    def __init__(self, js: Any) -> None:
        self.js = js
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.js, name)

    async def commit(self, clear: bool, records: Any = (), meta: Any = (), index: Any = ()) -> Any:
        if self.armed:
            records = [*records, [bytes(RECORD_ID_SIZE - 1), b"refused", False, False]]
        return await self.js.commit(clear, records, meta, index)

    @contextmanager
    def failing(self) -> Iterator[None]:
        self.armed = True
        try:
            yield
        finally:
            self.armed = False


def idb_subject(js: Any, other_js: Callable[[], Any]) -> Subject:
    """``IdbStore`` over ``js``; ``other_js()`` gives the calls of another connection to the same database."""
    wrapped = FailingCommits(js)
    return Subject(IdbStore(wrapped), wrapped.failing, VellumError, lambda: IdbStore(other_js()))


# --- values -----------------------------------------------------------------------------------------------------------


def new_ids(count: int) -> list[bytes]:
    return [secrets.token_bytes(RECORD_ID_SIZE) for _ in range(count)]


def sealed(rid: bytes, revision: int = 1, epoch: int = 1, size: int = 100) -> SealedRecord:
    return SealedRecord(rid, revision, epoch, secrets.token_bytes(77), secrets.token_bytes(size))


def edit(rid: bytes, revision: int = 2, *, new: bool = False, sent: int = 0) -> OutboxEntry:
    """A local edit: revision ``revision`` built on the one before it (none for a new record)."""
    base = None if new else sealed(rid, revision - 1)
    hashes = tuple(secrets.token_bytes(HASH_SIZE) for _ in range(sent))
    return OutboxEntry(sealed(rid, 1 if new else revision), base, 1_800_000_000_000 + revision, hashes)


def refused(rid: bytes, reason: str = "record_fork") -> Quarantine:
    return Quarantine(rid, reason, 3, 1_800_000_000_123)


@cache
def bundles() -> tuple[bytes, bytes]:
    """Two successive versions of one account's bundle, encoded (no Argon2id: the passphrase factor is random)."""
    meta = PassphraseMeta(secrets.token_bytes(16), DEFAULT_PARAMS)
    box = BoxKeyPair.from_seed(secrets.token_bytes(32))
    spec = FactorSpec(secrets.token_bytes(16), FactorType.PASSPHRASE, box.public, meta)
    first = create_bundle([spec], now=1_800_000_000)
    return first.public.encoded, next_version(first).public.encoded


async def everything(store: Any) -> tuple[StoreMeta, list[LocalRecord], list[OutboxEntry]]:
    """What the store holds, as its reads tell it."""
    return await store.meta(), await store.scan(None, 10_000), await store.outbox(None, 10_000)


async def scan_in_pages(store: Any, limit: int) -> list[bytes]:
    ids: list[bytes] = []
    after = None
    while page := await store.scan(after, limit):
        assert len(page) <= limit
        ids += [r.record_id for r in page]
        after = page[-1].record_id
    return ids


async def outbox_in_pages(store: Any, limit: int) -> list[OutboxEntry]:
    entries: list[OutboxEntry] = []
    after = None
    while page := await store.outbox(after, limit):
        assert len(page) <= limit
        entries += page
        after = page[-1].record_id
    return entries


# --- every Store ------------------------------------------------------------------------------------------------------


@_store_case
async def an_empty_store_holds_nothing(s: Subject) -> None:
    assert await s.store.meta() == StoreMeta(None, None)
    assert await s.store.get(new_ids(2)) == {}
    assert await s.store.get([]) == {}
    assert await s.store.scan(None, 10) == []
    assert await s.store.outbox(None, 10) == []


@_store_case
async def what_a_commit_writes_reads_back(s: Subject) -> None:
    based, edited, new, quarantined, both, missing = new_ids(6)
    base = SealedRecord(based, 2**40 + 1, 2**32 - 1, secrets.token_bytes(77), secrets.token_bytes(64 * 1024))
    edited_base, edited_entry = sealed(edited, 4), edit(edited, 5, sent=2)
    new_entry = edit(new, new=True)
    note = refused(quarantined, "decryption_failed: ünïcödé ✓")
    both_base, both_note = sealed(both, 7), refused(both)
    v1, _ = bundles()
    await s.store.commit(
        Batch(
            records={based: base, edited: edited_base, both: both_base},
            outbox={edited: edited_entry, new: new_entry},
            quarantine={quarantined: note, both: both_note},
            cursor="cursor-1",
            bundle=v1,
        )
    )
    expected = {
        based: LocalRecord(based, base),
        edited: LocalRecord(edited, edited_base, edited_entry),
        new: LocalRecord(new, None, new_entry),
        quarantined: LocalRecord(quarantined, None, None, note),
        both: LocalRecord(both, both_base, None, both_note),
    }
    assert await s.store.get([*expected, missing, based]) == expected
    assert await s.store.get([missing]) == {}
    assert await s.store.meta() == StoreMeta("cursor-1", v1)
    assert await s.store.scan(None, 10) == [expected[rid] for rid in sorted(expected)]
    assert await s.store.outbox(None, 10) == [e for _, e in sorted([(edited, edited_entry), (new, new_entry)])]


@_store_case
async def a_commit_changes_only_what_its_batch_names(s: Subject) -> None:
    rid, only_edit, never = new_ids(3)
    first, entry, note = sealed(rid, 1), edit(rid, 2, sent=1), refused(rid)
    await s.store.commit(Batch(records={rid: first}, outbox={rid: entry}, quarantine={rid: note}))
    assert (await s.store.get([rid]))[rid] == LocalRecord(rid, first, entry, note)
    await s.store.commit(Batch(outbox={rid: None}))  # the edit was accepted elsewhere: the base and the note stay
    assert (await s.store.get([rid]))[rid] == LocalRecord(rid, first, None, note)
    second = sealed(rid, 2)
    await s.store.commit(Batch(records={rid: second}))  # a newer base replaces the old one; the note stays
    assert (await s.store.get([rid]))[rid] == LocalRecord(rid, second, None, note)
    await s.store.commit(Batch(quarantine={rid: None}))
    assert (await s.store.get([rid]))[rid] == LocalRecord(rid, second)
    again, replaced = edit(rid, 3), edit(rid, 3, sent=2)
    await s.store.commit(Batch(outbox={rid: again}))
    await s.store.commit(Batch(outbox={rid: replaced}))  # a new entry replaces the queued one
    assert (await s.store.get([rid]))[rid] == LocalRecord(rid, second, replaced)
    # A record with nothing left is gone from every read; removing what was never there is no change.
    await s.store.commit(Batch(outbox={only_edit: edit(only_edit, new=True)}))
    await s.store.commit(Batch(outbox={only_edit: None, never: None}, quarantine={never: None}))
    assert await s.store.get([only_edit, never]) == {}
    assert [r.record_id for r in await s.store.scan(None, 10)] == [rid]
    assert await s.store.outbox(None, 10) == [replaced]


@_store_case
async def scan_pages_through_every_record_in_id_order(s: Subject) -> None:
    ids = new_ids(15)
    for chunk in (ids[:5], ids[5:10], ids[10:]):  # several commits, each with ids in no particular order
        await s.store.commit(
            Batch(
                records={rid: sealed(rid) for rid in chunk[0::3]},
                outbox={rid: edit(rid, new=True) for rid in chunk[1::3]},
                quarantine={rid: refused(rid) for rid in chunk[2::3]},
            )
        )
    ordered = sorted(ids)
    assert [r.record_id for r in await s.store.scan(None, 100)] == ordered
    assert await scan_in_pages(s.store, 4) == ordered
    assert [r.record_id for r in await s.store.scan(ordered[6], 3)] == ordered[7:10]
    assert await s.store.scan(ordered[-1], 10) == []
    assert [r.record_id for r in await s.store.scan(bytes(RECORD_ID_SIZE), 100)] == ordered
    assert await s.store.scan(b"\xff" * RECORD_ID_SIZE, 10) == []


@_store_case
async def the_outbox_pages_in_id_order(s: Subject) -> None:
    ids = new_ids(12)
    queued = {rid: edit(rid, 2 + i, sent=i % 3) for i, rid in enumerate(ids) if i % 2 == 0}
    others = [rid for rid in ids if rid not in queued]
    await s.store.commit(
        Batch(
            records={rid: sealed(rid) for rid in ids},
            outbox=dict(queued),
            quarantine={rid: refused(rid) for rid in others[:3]},
        )
    )
    expected = [queued[rid] for rid in sorted(queued)]
    assert await s.store.outbox(None, 100) == expected
    assert await outbox_in_pages(s.store, 4) == expected
    assert await s.store.outbox(expected[1].record_id, 2) == expected[2:4]
    assert await s.store.outbox(expected[-1].record_id, 10) == []
    for after in sorted(ids)[:4]:  # queued or not, the page starts at the next queued id
        assert await s.store.outbox(after, 100) == [e for e in expected if e.record_id > after]


@_store_case
async def the_cursor_and_the_bundle_change_only_when_given(s: Subject) -> None:
    v1, v2 = bundles()
    rid = new_ids(1)[0]
    await s.store.commit(Batch(cursor="1"))
    assert await s.store.meta() == StoreMeta("1", None)
    await s.store.commit(Batch(bundle=v1))
    assert await s.store.meta() == StoreMeta("1", v1)
    await s.store.commit(Batch(records={rid: sealed(rid)}))
    await s.store.commit(Batch())  # an empty batch is a commit of nothing
    assert await s.store.meta() == StoreMeta("1", v1)
    await s.store.commit(Batch(cursor="2", bundle=v2))
    assert await s.store.meta() == StoreMeta("2", v2)
    assert [r.record_id for r in await s.store.scan(None, 10)] == [rid]


@_store_case
async def a_failed_commit_writes_nothing(s: Subject) -> None:
    v1, v2 = bundles()
    kept, edited, queued, fresh = new_ids(4)
    await s.store.commit(
        Batch(
            records={kept: sealed(kept), edited: sealed(edited)},
            outbox={edited: edit(edited), queued: edit(queued, new=True)},
            quarantine={kept: refused(kept)},
            cursor="before",
            bundle=v1,
        )
    )
    before = await everything(s.store)
    change = Batch(
        records={kept: sealed(kept, 2), fresh: sealed(fresh)},
        outbox={edited: None, fresh: edit(fresh)},
        quarantine={kept: None, queued: refused(queued)},
        cursor="after",
        bundle=v2,
    )
    with s.failing(), pytest.raises(s.error):
        await s.store.commit(change)
    assert await everything(s.store) == before
    assert await s.store.get([fresh]) == {}
    # The same batch is fine on its own: what failed was the planted failure, and it left nothing behind.
    await s.store.commit(change)
    meta, records, outbox = await everything(s.store)
    assert meta == StoreMeta("after", v2)
    assert {r.record_id for r in records} == {kept, edited, queued, fresh}
    assert [e.record_id for e in outbox] == sorted([queued, fresh])


@_store_case
async def another_handle_reads_what_was_committed(s: Subject) -> None:
    if s.other is None:
        pytest.skip("this store keeps nothing outside the object itself")
    ids = new_ids(3)
    v1, _ = bundles()
    await s.store.commit(
        Batch(
            records={ids[0]: sealed(ids[0])},
            outbox={ids[1]: edit(ids[1], new=True)},
            quarantine={ids[2]: refused(ids[2])},
            cursor="9",
            bundle=v1,
        )
    )
    other = s.other()
    assert await everything(other) == await everything(s.store)
    await other.commit(Batch(outbox={ids[1]: None}, cursor="10"))
    assert await s.store.meta() == StoreMeta("10", v1)
    assert await s.store.outbox(None, 10) == []


# --- IdbStore: settings, pin, index, clear, counts, other tabs --------------------------------------------------------


@_idb_case
async def settings_the_bundle_and_its_pin_live_in_meta(s: Subject) -> None:
    v1, v2 = bundles()
    store: IdbStore = s.store
    await store.commit(Batch(cursor="7", bundle=v1), settings=b"settings-1")
    pin1 = Pin.of(parse_bundle(v1))
    meta = await store.load_meta()
    assert set(meta) == {META_CURSOR, META_BUNDLE, META_PIN, META_SETTINGS}
    assert (meta[META_CURSOR], meta[META_BUNDLE], meta[META_SETTINGS]) == (b"7", v1, b"settings-1")
    assert decode_pin(meta[META_PIN]) == pin1
    await store.save_settings(b"settings-2")
    meta = await store.load_meta()
    assert meta[META_SETTINGS] == b"settings-2" and decode_pin(meta[META_PIN]) == pin1
    assert await store.meta() == StoreMeta("7", v1)
    await store.commit(Batch(bundle=v2))
    meta = await store.load_meta()
    assert decode_pin(meta[META_PIN]) == Pin.of(parse_bundle(v2)) and meta[META_SETTINGS] == b"settings-2"
    assert await store.meta() == StoreMeta("7", v2)


@_idb_case
async def index_shards_are_kept_by_number(s: Subject) -> None:
    store: IdbStore = s.store
    a, b, c, d = (secrets.token_bytes(300 + i) for i in range(4))
    assert await store.load_index() == {}
    await store.save_index({5: b, 0: a})
    assert await store.load_index() == {0: a, 5: b}
    await store.save_index({5: c, 7: d})  # the shards named are replaced, the others stay
    assert await store.load_index() == {0: a, 5: c, 7: d}
    assert store.last.generation == 0, "index shards are not records: no change for other tabs to notice"


@_idb_case
async def clear_forgets_the_account_data(s: Subject) -> None:
    store: IdbStore = s.store
    v1, _ = bundles()
    ids = new_ids(3)
    await store.commit(
        Batch(
            records={ids[0]: sealed(ids[0])},
            outbox={ids[1]: edit(ids[1], new=True)},
            quarantine={ids[2]: refused(ids[2])},
            cursor="3",
            bundle=v1,
        ),
        settings=b"settings",
    )
    await store.save_index({0: b"shard"})
    await store.clear()
    assert await everything(store) == (StoreMeta(None, None), [], [])
    assert await store.load_meta() == {} and await store.load_index() == {}
    assert await store.counts() == StoreCounts(0, 0, 0)
    assert not store.foreign_writes and store.take_touched() == set()
    # And it is a store like a new one afterwards.
    await store.commit(Batch(records={ids[0]: sealed(ids[0])}))
    assert store.last == StoreCounts(1, 0, 0) and not store.foreign_writes


@_idb_case
async def the_counts_follow_each_commit(s: Subject) -> None:
    store: IdbStore = s.store
    ids = new_ids(5)
    await store.commit(
        Batch(
            records={rid: sealed(rid) for rid in ids},
            outbox={rid: edit(rid) for rid in ids[:3]},
            quarantine={ids[4]: refused(ids[4])},
        )
    )
    assert store.last == StoreCounts(1, 3, 1) == await store.counts()
    await store.save_settings(b"settings")
    await store.save_index({1: b"shard"})
    await store.commit(Batch(cursor="5"))
    assert store.last == StoreCounts(1, 3, 1), "only commits of records move the generation"
    await store.commit(Batch(outbox={ids[0]: None}, quarantine={ids[4]: None, ids[3]: refused(ids[3])}))
    assert store.last == StoreCounts(2, 2, 1) == await store.counts()
    assert not store.foreign_writes
    assert store.take_touched() == set(ids) and store.take_touched() == set()


@_idb_case
async def another_tabs_commits_are_noticed(s: Subject) -> None:
    assert s.other is not None
    mine: IdbStore = s.store
    mine_ids, their_ids = new_ids(2), new_ids(2)
    await mine.commit(Batch(records={mine_ids[0]: sealed(mine_ids[0])}))
    assert not mine.foreign_writes
    theirs: IdbStore = s.other()
    await theirs.commit(Batch(records={their_ids[0]: sealed(their_ids[0])}))
    await mine.counts()
    assert mine.foreign_writes, "a look at the counts notices the other tab's commit"
    mine.foreign_writes = False
    await mine.commit(Batch(records={mine_ids[1]: sealed(mine_ids[1])}))
    assert not mine.foreign_writes, "nothing happened in between"
    await theirs.commit(Batch(records={their_ids[1]: sealed(their_ids[1])}))
    await mine.commit(Batch(records={mine_ids[0]: sealed(mine_ids[0], 2)}))
    assert mine.foreign_writes, "a commit notices one that landed since this tab's last"
    assert mine.take_touched() == set(mine_ids) and theirs.take_touched() == set(their_ids)
    assert {r.record_id for r in await mine.scan(None, 10)} == {*mine_ids, *their_ids}


@_idb_case
async def record_ids_are_16_bytes(s: Subject) -> None:
    store: IdbStore = s.store
    short = bytes(RECORD_ID_SIZE - 1)
    with pytest.raises(FormatError):
        await store.get([short])
    with pytest.raises(VellumError) as refused_commit:
        await store.commit(Batch(records={short: sealed(short)}, cursor="never"))
    assert refused_commit.value.code == "storage_error"
    assert await everything(store) == (StoreMeta(None, None), [], [])
