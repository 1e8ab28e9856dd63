"""``FakeIdb``: web/worker/idb-store.js's exported calls over dictionaries, for unit tests of the browser runtime.

It is a stand-in for the JavaScript object store, not a second codec: it takes and gives the plain values the real
module does (what Pyodide's ``to_js`` / ``to_py`` make of them: lists, ``bytes``, ``None``, ``False``) and keeps each
stored value as the opaque bytes it was handed, in the real module's shape (``local[id]`` = ``{"b", "o", "q"}``,
``meta`` with the module's own ``generation`` counter, ``index`` by shard number). So every unit test that reaches
storage runs pycore/app/browser/idb.py's codec for real, and tests may damage a stored value to see what the codec
makes of it. Like the module, a commit is all or nothing and refuses what the module refuses (a record id that is not
16 bytes, a part that is not bytes / keep / delete), raising what Pyodide would raise: a ``JsException``.

The same store contract (tests/support/store_contract.py) runs against this and against the real module in Chromium
(tests/browser/test_idb_store_contract.py), so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from pycore.app.browser.ffi import JsException

ID_SIZE = 16
PARTS = ("b", "o", "q")  # base, outbox entry, quarantine note, in the order of the module's calls
GENERATION = "generation"


def _refuse(message: str) -> JsException:
    return JsException("TypeError", message)


def _id(value: Any) -> bytes:
    if not isinstance(value, bytes) or len(value) != ID_SIZE:
        raise _refuse(f"a record id is {ID_SIZE} bytes")
    return value


class FakeIdb:
    """web/worker/idb-store.js in dictionaries: the same calls, values and refusals, the same all-or-nothing commit."""

    def __init__(self) -> None:
        self.local: dict[bytes, dict[str, bytes]] = {}
        self.meta: dict[str, Any] = {}
        self.index: dict[int, bytes] = {}
        self._web_lock: asyncio.Lock | None = None  # made on first use, on the loop that runs the tabs

    async def acquireStoreLock(self) -> Callable[[], None]:
        # Web Locks' "vellum-store": one holder across every tab (worker) of this profile, the others wait in turn.
        if self._web_lock is None:
            self._web_lock = asyncio.Lock()
        await self._web_lock.acquire()
        return self._web_lock.release

    async def commit(
        self,
        clear: bool,
        records: Sequence[Sequence[Any]] = (),
        meta: Sequence[Sequence[Any]] = (),
        index: Sequence[Sequence[Any]] = (),
    ) -> SimpleNamespace:
        await asyncio.sleep(0)  # IndexedDB answers on a later task: other tabs' steps may run meanwhile
        # Changes go to copies, which replace the stored dictionaries only once every one of them was accepted.
        local = {} if clear is True else {k: dict(v) for k, v in self.local.items()}
        kept_meta = {} if clear is True else dict(self.meta)
        shards = {} if clear is True else dict(self.index)
        for name, value in meta:
            if not isinstance(name, str) or name == GENERATION:
                raise _refuse("a meta name is a string")
            if value is None:
                kept_meta.pop(name, None)
            elif isinstance(value, bytes):
                kept_meta[name] = value
            else:
                raise _refuse(f"meta {name} must be bytes or nothing")
        for number, blob in index:
            if not isinstance(number, int) or number < 0 or not isinstance(blob, bytes):
                raise _refuse("an index shard is a number and bytes")
            shards[number] = blob
        for record in records:
            rid, *parts = record
            rid = _id(rid)
            if len(parts) != len(PARTS):
                raise _refuse("a record is [id, base, outbox, quarantine]")
            entry = local.get(rid, {})
            for name, part in zip(PARTS, parts, strict=True):
                if isinstance(part, bytes):
                    entry[name] = part
                elif part is None:
                    entry.pop(name, None)
                elif part is not False:
                    raise _refuse(f"part {name} must be bytes, false (keep) or nothing (delete)")
            if entry:
                local[rid] = entry
            else:
                local.pop(rid, None)
        if records:
            kept_meta[GENERATION] = kept_meta.get(GENERATION, 0) + 1
        self.local, self.meta, self.index = local, kept_meta, shards
        counts = self._counts()
        return SimpleNamespace(generation=counts.generation, outbox=counts.outbox, quarantine=counts.quarantine)

    def _counts(self) -> SimpleNamespace:
        return SimpleNamespace(
            generation=self.meta.get(GENERATION, 0),
            outbox=sum(1 for v in self.local.values() if "o" in v),
            quarantine=sum(1 for v in self.local.values() if "q" in v),
            records=len(self.local),
        )

    def _parts(self, rid: bytes) -> list[bytes | None]:
        entry = self.local[rid]
        return [entry.get(name) for name in PARTS]

    async def get(self, ids: Sequence[Any]) -> list[list[bytes | None] | None]:
        await asyncio.sleep(0)  # IndexedDB answers on a later task: other tabs' steps may run meanwhile
        asked = [_id(rid) for rid in ids]
        return [self._parts(rid) if rid in self.local else None for rid in asked]

    async def scan(self, after: bytes | None, limit: int) -> list[list[bytes | None]]:
        await asyncio.sleep(0)  # IndexedDB answers on a later task: other tabs' steps may run meanwhile
        keys = sorted(k for k in self.local if after is None or k > _id(after))[:limit]
        return [[k, *self._parts(k)] for k in keys]

    async def outbox(self, after: bytes | None, limit: int) -> list[bytes]:
        await asyncio.sleep(0)  # IndexedDB answers on a later task: other tabs' steps may run meanwhile
        keys = sorted(k for k, v in self.local.items() if "o" in v and (after is None or k > _id(after)))[:limit]
        return [self.local[k]["o"] for k in keys]

    async def loadMeta(self) -> list[list[Any]]:
        await asyncio.sleep(0)  # IndexedDB answers on a later task: other tabs' steps may run meanwhile
        return [[name, value] for name, value in self.meta.items() if isinstance(value, bytes)]

    async def loadIndex(self) -> list[list[Any]]:
        await asyncio.sleep(0)  # IndexedDB answers on a later task: other tabs' steps may run meanwhile
        return [[number, blob] for number, blob in sorted(self.index.items())]

    async def counts(self) -> SimpleNamespace:
        await asyncio.sleep(0)  # IndexedDB answers on a later task: other tabs' steps may run meanwhile
        return self._counts()

    def everything(self) -> bytes:
        """Every byte stored, for the "nothing readable" checks."""
        parts = [b"".join(v.values()) for v in self.local.values()]
        parts += [v for v in self.meta.values() if isinstance(v, bytes)]
        parts += list(self.index.values())
        return b"|".join(parts)
