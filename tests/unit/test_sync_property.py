"""Never lose an edit: any interleaving of offline edits on two or three devices, any sync order (with rotations,
key-only re-wraps and lost answers thrown in), then everyone syncs until quiescent:

- every device shows the same notes, and they are what the relay holds;
- every piece of text an edit wrote survives — merged into its note or in a conflicted copy — unless some device
  deliberately removed it after seeing it (replaced that line, renamed the note, deleted the note).

Each edit writes unique tokens (``t17``), so survival is checked token by token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycore.envelope import RecordType, open_records
from pycore.errors import NetworkError, VellumError
from pycore.notes import decode_note
from tests.support.memory import MemoryRelay

from .sync_support import Clock, Device, device, new_account, rewrap_on_relay, rotate, run

TOKEN = re.compile(r"\bt\d+\b")

def _op(kind: str, *ranges: int) -> st.SearchStrategy[tuple[object, ...]]:
    return st.tuples(st.just(kind), st.integers(0, 2), *(st.integers(0, r) for r in ranges))


# Weighted by repetition: mostly edits, enough syncs to interleave, now and then a rotation or a re-wrap.
op = st.one_of(
    _op("create"),
    *[_op("insert", 7, 9)] * 4,
    *[_op("replace", 7, 9)] * 3,
    _op("retitle", 7),
    _op("delete", 7),
    *[_op("sync")] * 3,
    _op("lost_answer_sync"),
    _op("rotate"),
    _op("rewrap"),
)

@dataclass
class World:
    relay: MemoryRelay
    devices: list[Device]
    counter: int = 0
    written: set[str] = field(default_factory=set)
    killed: set[str] = field(default_factory=set)

    def token(self) -> str:
        self.counter += 1
        tok = f"t{self.counter}"
        self.written.add(tok)
        return tok


async def apply(world: World, step: tuple[object, ...]) -> None:
    kind = step[0]
    dev = world.devices[int(step[1]) % len(world.devices)]  # type: ignore[call-overload]
    engine = dev.engine
    if kind == "create":
        await engine.save_note(world.token(), world.token())
        return
    if kind in ("sync", "lost_answer_sync"):
        dev.transport.lose_answers = kind == "lost_answer_sync"
        try:
            await dev.sync()
        except NetworkError:
            pass
        finally:
            dev.transport.lose_answers = False
        return
    if kind == "rotate":
        await engine.refresh_bundle()
        rotate(world.relay, dev)
        return
    if kind == "rewrap":
        await engine.refresh_bundle()
        rewrap_on_relay(world.relay, dev)
        return
    # Chosen by content, not by (random) record id, so that an example replays exactly.
    views = sorted(await engine.notes(), key=lambda v: (v.note.title, v.note.body, v.record_id))
    if not views:
        return
    view = views[int(step[2]) % len(views)]  # type: ignore[call-overload]
    title, lines = view.note.title, view.note.body.split("\n") if view.note.body else []
    if kind == "insert":
        lines.insert(int(step[3]) % (len(lines) + 1), world.token())  # type: ignore[call-overload]
    elif kind == "replace" and lines:
        i = int(step[3]) % len(lines)  # type: ignore[call-overload]
        world.killed.update(TOKEN.findall(lines[i]))
        lines[i] = world.token()
    elif kind == "retitle":
        world.killed.update(TOKEN.findall(title))
        title = world.token()
    elif kind == "delete":
        world.killed.update(TOKEN.findall(title + "\n" + view.note.body))
        await engine.delete(view.record_id)
        return
    else:
        return
    await engine.save_note(title, "\n".join(lines), view.record_id)


async def quiesce(world: World) -> None:
    for _ in range(12):
        for dev in world.devices:
            await dev.sync()
        cursors = {dev.store.cursor for dev in world.devices}
        if cursors == {str(world.relay.seq)} and not any(dev.store.outbox_entries for dev in world.devices):
            return
    raise AssertionError("the devices did not reach a quiescent state")


async def scenario(n_devices: int, steps: list[tuple[object, ...]]) -> None:
    account = new_account()
    relay = MemoryRelay(account.bundle.public.encoded)
    clock = Clock()
    world = World(relay, [device(relay, account, f"device{i}", clock) for i in range(n_devices)])
    # Start from a few notes every device has, so that edits meet each other.
    for i in range(n_devices):
        await apply(world, ("create", i))
    await quiesce(world)
    for step in steps:
        await apply(world, step)
    await quiesce(world)

    states = [await dev.notes() for dev in world.devices]
    for state in states[1:]:
        assert state == states[0]
    for dev in world.devices:
        assert not dev.store.quarantined

    # What the relay holds, opened with the newest keys, is what every device shows.
    newest = world.devices[0].engine.unlocked.bundle
    rows = [row.record for row in relay.rows.values()]
    on_relay = {}
    for opened in open_records(newest.scope, newest.keyring.keys, rows):
        assert not isinstance(opened, VellumError)
        if opened.record_type == RecordType.NOTE:
            note = decode_note(opened.payload)
            on_relay[opened.record_id] = (note.title, note.body)
    assert on_relay == states[0]

    surviving = set()
    for title, body in states[0].values():
        surviving.update(TOKEN.findall(title + "\n" + body))
    lost = world.written - world.killed - surviving
    assert not lost, f"edits lost: {sorted(lost)}"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_devices=st.integers(2, 3), steps=st.lists(op, min_size=10, max_size=80))
def test_no_edit_is_ever_lost_and_everyone_agrees(n_devices: int, steps: list[tuple[object, ...]]) -> None:
    run(scenario(n_devices, steps))
