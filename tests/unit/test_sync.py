"""The sync engine against the in-memory relay double: edits, merges, conflicted copies, deletes, epochs, quarantine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from pycore.envelope import PlainRecord, RecordType, SealedRecord, open_record, seal_record
from pycore.errors import FormatError, NetworkError, SyncError
from pycore.notes import Note, conflicted_copy_title, decode_note, encode_note
from pycore.primitives import randombytes
from pycore.sync.types import PushItem, PushResult

from .sync_support import Device, device, rewrap_on_relay, rotate, run, setup


async def settle(*devices: Device) -> None:
    for _ in range(2):
        for d in devices:
            await d.sync()


def test_a_note_written_offline_reaches_another_device() -> None:
    _relay, _, (laptop, phone) = setup()

    async def go() -> None:
        laptop.transport.offline = True
        rid = await laptop.engine.save_note("Groceries", "milk\neggs")
        with pytest.raises(NetworkError):
            await laptop.sync()
        assert (await laptop.engine.note(rid)).pending  # type: ignore[union-attr]
        laptop.transport.offline = False
        report = await laptop.sync()
        assert report.pushed == 1
        await phone.sync()
        assert await phone.notes() == {rid: ("Groceries", "milk\neggs")}
        view = await laptop.engine.note(rid)
        assert view is not None and not view.pending

    run(go())


def test_non_overlapping_edits_merge_everywhere() -> None:
    relay, _, (laptop, phone) = setup()

    async def go() -> None:
        rid = await laptop.engine.save_note("Plan", "one\ntwo\nthree\nfour")
        await settle(laptop, phone)
        await laptop.engine.save_note("Plan", "ONE\ntwo\nthree\nfour", rid)
        await phone.engine.save_note("Plan", "one\ntwo\nthree\nFOUR", rid)
        await laptop.sync()
        report = await phone.sync()
        assert report.merged == 1 and not report.conflicted_copies
        await settle(laptop, phone)
        expected = {rid: ("Plan", "ONE\ntwo\nthree\nFOUR")}
        assert await laptop.notes() == expected
        assert await phone.notes() == expected
        assert relay.rows[rid].record.revision == 3

    run(go())


def test_overlapping_edits_keep_the_relays_version_and_a_conflicted_copy() -> None:
    _relay, _, (laptop, phone) = setup()

    async def go() -> None:
        rid = await laptop.engine.save_note("Plan", "one\ntwo")
        await settle(laptop, phone)
        await laptop.engine.save_note("Plan", "one\nLAPTOP", rid)
        await phone.engine.save_note("Plan", "one\nPHONE", rid)
        await laptop.sync()
        report = await phone.sync()
        assert len(report.conflicted_copies) == 1
        copy_id = report.conflicted_copies[0]
        await settle(laptop, phone)
        notes = await laptop.notes()
        assert notes == await phone.notes()
        assert notes[rid] == ("Plan", "one\nLAPTOP")
        title, body = notes[copy_id]
        assert title.startswith("Plan (conflicted copy from phone, ") and body == "one\nPHONE"

    run(go())


def test_an_edit_wins_over_a_concurrent_delete_either_way() -> None:
    _relay, _, (laptop, phone) = setup()

    async def go() -> None:
        a = await laptop.engine.save_note("A", "a")
        b = await laptop.engine.save_note("B", "b")
        await settle(laptop, phone)
        # a: deleted on the laptop (pushed first), edited on the phone -> resurrected with the edit.
        await laptop.engine.delete(a)
        await phone.engine.save_note("A", "a edited", a)
        # b: edited on the laptop (pushed first), deleted on the phone -> the delete is dropped.
        await laptop.engine.save_note("B", "b edited", b)
        await phone.engine.delete(b)
        await laptop.sync()
        report = await phone.sync()
        assert report.resurrected == 1 and report.deletes_dropped == 1
        await settle(laptop, phone)
        expected = {a: ("A", "a edited"), b: ("B", "b edited")}
        assert await laptop.notes() == expected == await phone.notes()

    run(go())


def test_deletes_propagate() -> None:
    relay, _, (laptop, phone) = setup()

    async def go() -> None:
        rid = await laptop.engine.save_note("Gone", "soon")
        await settle(laptop, phone)
        await phone.engine.delete(rid)
        await settle(phone, laptop)
        assert await laptop.notes() == {} == await phone.notes()
        assert relay.rows[rid].record.revision == 2

    run(go())


def test_stale_epoch_adopts_the_bundle_and_reseals_the_outbox() -> None:
    relay, _, (laptop, phone) = setup()

    async def go() -> None:
        rid = await phone.engine.save_note("Offline", "written before the rotation")
        await laptop.sync()
        new_epoch = rotate(relay, laptop)
        report = await phone.sync()
        assert report.pushed == 1 and report.bundle_version == 2
        assert relay.rows[rid].record.epoch == new_epoch
        assert phone.store.bundle == relay.bundles[-1]
        await laptop.sync()
        assert await laptop.notes() == {rid: ("Offline", "written before the rotation")}

    run(go())


def test_records_under_an_unknown_epoch_fetch_the_bundle_first() -> None:
    relay, _, (laptop, phone) = setup()

    async def go() -> None:
        await laptop.engine.refresh_bundle()
        rotate(relay, laptop)
        await laptop.engine.refresh_bundle()
        rid = await laptop.engine.save_note("New epoch", "x")
        await laptop.sync()
        report = await phone.sync()
        assert not report.quarantined and report.bundle_version == 2
        assert await phone.notes() == {rid: ("New epoch", "x")}

    run(go())


def test_key_only_updates_are_adopted_after_they_open_and_garbage_is_ignored() -> None:
    relay, _, (laptop, phone) = setup()

    async def go() -> None:
        rid = await laptop.engine.save_note("Keys", "content")
        await settle(laptop, phone)
        new_epoch = rotate(relay, laptop)
        await laptop.engine.refresh_bundle()
        assert rewrap_on_relay(relay, laptop) == 1
        report = await phone.sync()
        assert report.keys_adopted == 1
        assert phone.store.records[rid].epoch == new_epoch
        # A relay serving a garbage re-wrap (same revision and content, a newer epoch) changes nothing.
        good = relay.rows[rid].record
        relay.serve(replace(good, epoch=new_epoch + 1, wrapped_key=good.wrapped_key[:13] + randombytes(56)))
        report = await phone.sync()
        assert report.keys_refused == 1 and not report.quarantined
        assert phone.store.records[rid] == good
        assert await phone.notes() == {rid: ("Keys", "content")}

    run(go())


def test_a_rewrap_racing_an_edit_is_superseded_and_the_edit_survives() -> None:
    relay, _, (laptop, phone) = setup()

    async def go() -> None:
        rid = await laptop.engine.save_note("Race", "v1")
        await settle(laptop, phone)
        rotate(relay, laptop)
        await laptop.engine.refresh_bundle()
        bundle = laptop.engine.unlocked.bundle
        from pycore.envelope import rewrap_records

        stale_rewrap = rewrap_records(bundle.scope, bundle.keyring.keys, bundle.write_key, [relay.rows[rid].record])
        await phone.engine.save_note("Race", "v2", rid)
        await phone.sync()  # meets stale_epoch, adopts, reseals, pushes revision 2
        assert relay.put_key_updates([r for r in stale_rewrap if isinstance(r, SealedRecord)]) == [False]
        await settle(laptop, phone)
        assert await laptop.notes() == {rid: ("Race", "v2")} == await phone.notes()

    run(go())


def test_a_record_that_fails_to_open_is_quarantined_and_the_last_good_one_kept() -> None:
    relay, account, (laptop, phone) = setup()

    async def go() -> None:
        rid = await laptop.engine.save_note("Good", "kept")
        await settle(laptop, phone)
        good = relay.rows[rid].record
        # A forged next revision: right header, sealed under a key the account does not have.
        from pycore.envelope import EpochKey

        forged = seal_record(
            account.bundle.scope,
            EpochKey(good.epoch, randombytes(32)),
            PlainRecord(rid, 2, good.content_hash, RecordType.TOMBSTONE, b""),
        )
        relay.serve(forged)
        report = await phone.sync()
        assert report.quarantined == [rid]
        assert phone.store.quarantined[rid].reason == "decryption_failed"
        views = await phone.views()
        assert [(v.note.body, v.quarantine) for v in views] == [("kept", "decryption_failed")]
        # A good later revision clears the quarantine.
        relay.serve(good)  # rollback to revision 1 under a new sequence number: refused
        report = await phone.sync()
        assert phone.store.quarantined[rid].reason == "decryption_failed"  # same revision 1 == base: no news
        plain = PlainRecord(rid, 2, good.content_hash, RecordType.NOTE, encode_note(Note("Good", "fixed", 1)))
        relay.serve(seal_record(account.bundle.scope, account.bundle.write_key, plain))
        await phone.sync()
        assert rid not in phone.store.quarantined
        assert await phone.notes() == {rid: ("Good", "fixed")}

    run(go())


def test_rollback_and_fork_are_refused() -> None:
    relay, account, (laptop, phone) = setup()

    async def go() -> None:
        rid = await laptop.engine.save_note("N", "1")
        await laptop.sync()
        first = relay.rows[rid].record
        await laptop.engine.save_note("N", "2", rid)
        await settle(laptop, phone)
        relay.serve(first)
        report = await phone.sync()
        assert report.quarantined == [rid] and phone.store.quarantined[rid].reason == "record_rollback"
        fork = seal_record(
            account.bundle.scope,
            account.bundle.write_key,
            PlainRecord(rid, 2, first.content_hash, RecordType.NOTE, encode_note(Note("N", "forked", 1))),
        )
        relay.serve(fork)
        await phone.sync()
        assert phone.store.quarantined[rid].reason == "record_fork"
        assert await phone.notes() == {rid: ("N", "2")}

    run(go())


def test_an_edit_on_a_quarantined_record_becomes_a_conflicted_copy() -> None:
    relay, _account, (laptop, phone) = setup()

    async def go() -> None:
        rid = await laptop.engine.save_note("N", "1")
        await settle(laptop, phone)
        good = relay.rows[rid].record
        await phone.engine.save_note("N", "my edit", rid)
        broken = replace(good, revision=2, content=good.content)  # header says 1: bad format
        relay.serve(broken)
        report = await phone.sync()
        assert report.quarantined == [rid] and len(report.conflicted_copies) == 1
        notes = await phone.notes()
        assert notes[rid] == ("N", "1")
        assert notes[report.conflicted_copies[0]][1] == "my edit"

    run(go())


def test_a_lost_push_answer_does_not_duplicate_or_lose_anything() -> None:
    relay, _, (laptop, phone) = setup()

    async def go() -> None:
        rid = await laptop.engine.save_note("Lost", "answer")
        laptop.transport.lose_answers = True
        with pytest.raises(NetworkError):
            await laptop.sync()
        laptop.transport.lose_answers = False
        report = await laptop.sync()
        assert not report.conflicted_copies and not laptop.store.outbox_entries
        assert len(relay.rows) == 1 and relay.rows[rid].record.revision == 1
        await phone.sync()
        assert await phone.notes() == {rid: ("Lost", "answer")}

    run(go())


@pytest.mark.parametrize("send_current", [False, True])
def test_conflicts_resolve_with_or_without_the_current_version_in_the_answer(send_current: bool) -> None:
    relay, _, (laptop, phone) = setup()
    relay.send_current_on_conflict = send_current

    async def go() -> None:
        rid = await laptop.engine.save_note("T", "a\nb")
        await settle(laptop, phone)
        await laptop.engine.save_note("T", "A\nb", rid)
        await phone.engine.save_note("T", "a\nB", rid)
        await laptop.sync()
        await settle(phone, laptop)
        assert await laptop.notes() == {rid: ("T", "A\nB")} == await phone.notes()

    run(go())


def test_an_edit_made_while_its_push_is_in_flight_is_not_lost() -> None:
    _relay, _account, (laptop, phone) = setup()

    async def go() -> None:
        rid = await laptop.engine.save_note("Typing", "first")
        inner = laptop.transport

        class EditDuringPush:
            def __getattr__(self, name: str) -> object:
                return getattr(inner, name)

            async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
                await laptop.engine.save_note("Typing", "first second", rid)
                return await inner.push(items)

        laptop.engine.transport = EditDuringPush()
        await laptop.sync()
        laptop.engine.transport = inner
        assert laptop.store.outbox_entries[rid].record.revision == 2
        await laptop.sync()
        await phone.sync()
        assert await phone.notes() == {rid: ("Typing", "first second")}

    run(go())


def test_pushes_go_in_batches() -> None:
    _relay, _, (laptop, phone) = setup(push_batch=100, pull_limit=64)

    async def go() -> None:
        for i in range(250):
            await laptop.engine.save_note(f"n{i}", "x")
        before = laptop.transport.requests
        report = await laptop.sync()
        assert report.pushed == 250
        assert laptop.transport.requests - before == 1 + 3  # one (empty) pull page, three pushes
        report = await phone.sync()
        assert report.pulled == 250 and len(await phone.notes()) == 250

    run(go())


def test_a_relay_that_keeps_saying_stale_epoch_stops_sync() -> None:
    relay, _, (laptop,) = setup(("laptop",))

    async def go() -> None:
        await laptop.engine.save_note("x", "y")
        relay.write_epoch = 99
        with pytest.raises(SyncError) as info:
            await laptop.sync()
        assert info.value.code == "stale_epoch"
        assert laptop.store.outbox_entries

    run(go())


def test_a_new_device_catches_up_from_the_start() -> None:
    relay, account, (laptop,) = setup(("laptop",))

    async def go() -> None:
        ids = [await laptop.engine.save_note(f"n{i}", str(i)) for i in range(5)]
        await laptop.engine.delete(ids[0])
        await laptop.sync()
        tablet = device(relay, account, "tablet")
        await tablet.sync()
        assert await tablet.notes() == await laptop.notes()
        assert len(await tablet.notes()) == 4
        opened = open_record(account.bundle.scope, account.bundle.keyring.keys, relay.rows[ids[1]].record)
        assert decode_note(opened.payload).body == "1"

    run(go())


def test_note_payloads_are_canonical() -> None:
    note = Note("Tïtle", "body\n", 5)
    raw = encode_note(note)
    assert raw == '{"body":"body\\n","title":"Tïtle","updated_at":5}'.encode()
    assert decode_note(raw) == note
    for bad in (b'{"title":"a","body":"b"}', b'{"body":"b","title":"a","updated_at":1,"x":1}', b"[]",
                b'{"title":"a","body":"b","updated_at":1}', b'{"body":"b","title":"a","updated_at":true}'):
        with pytest.raises(FormatError):
            decode_note(bad)
    title = conflicted_copy_title("", "phone", 1_800_000_000_000)
    assert title == "Untitled (conflicted copy from phone, 2027-01-15 08:00 UTC)"
    assert len(conflicted_copy_title("x" * 5000, "p", 0)) == 1024


def test_typing_on_after_a_lost_answer_is_not_a_conflict_with_oneself() -> None:
    relay, _, (laptop, phone) = setup()

    async def go() -> None:
        rid = await laptop.engine.save_note("Draft", "first")
        await settle(laptop, phone)
        await laptop.engine.save_note("Draft", "second", rid)
        laptop.transport.lose_answers = True  # the relay stores revision 2; the laptop never hears so
        with pytest.raises(NetworkError):
            await laptop.sync()
        laptop.transport.lose_answers = False
        assert laptop.store.outbox_entries[rid].sent
        await laptop.engine.save_note("Draft", "third", rid)  # the same line again
        report = await laptop.sync()
        assert not report.conflicted_copies and report.merged == 0
        await phone.sync()
        assert await laptop.notes() == {rid: ("Draft", "third")} == await phone.notes()
        assert relay.rows[rid].record.revision == 3

    run(go())
