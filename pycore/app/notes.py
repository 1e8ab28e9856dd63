"""The notes commands of the app (docs/worker-api.md, "Notes"): list, open, save, delete, search, export, import.

``Notes`` acts on the runtime's open session (``pycore.app.runtime``):

- After unlocking, the list comes from the sealed index (no note opened); the notebook then reconciles it with the
  records in the background (``start_reconcile``) and the next list waits for that.
- A save states the revision the page's text started from. When another edit landed meanwhile (a sync, another tab),
  the one merge policy of ``pycore.merge.resolve`` — the one the sync engine applies to a lost push — decides: a
  three-way merge, or the page's text as a conflicted copy beside the other edit.
- Every read-decide-commit step holds the store lock (``Runtime.writing``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from pycore.app.runtime import Runtime
from pycore.app.settings import check_passphrase
from pycore.envelope import RecordType, SealedRecord, open_records
from pycore.errors import NotFound, VellumError
from pycore.merge import resolve
from pycore.notes import Note, decode_note
from pycore.public.codec import b64e
from pycore.sync.notebook import ListItem
from pycore.sync.types import LocalRecord

MAX_SERVED = 64  # note versions handed to the page, kept as merge ancestors for its next save
FULL_RECONCILE = 2000  # after a sync that changed more records than this, check the whole index (one scan)


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def list_item(item: ListItem) -> dict[str, Any]:
    return {
        "id": b64e(item.record_id),
        "title": item.title,
        "snippet": item.snippet,
        "updated_at": item.updated_at,
        "conflicted": item.conflicted,
        "pending": item.pending,
        "quarantine": item.quarantine,
    }


class Notes:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._reconciling: asyncio.Task[None] | None = None
        self._served: dict[tuple[bytes, int], tuple[bytes, Note]] = {}  # (id, revision) -> (content hash, note)

    def __repr__(self) -> str:
        return f"Notes(served={len(self._served)})"

    def forget(self) -> None:
        """On lock: stop the background check and drop what the page was served."""
        task, self._reconciling = self._reconciling, None
        if task is not None and not task.done():
            task.cancel()
        self._served = {}

    # --- the list -----------------------------------------------------------------------------------------------------

    def start_reconcile(self) -> None:
        """The list was served from the sealed index; check it against the records in the background."""
        self._reconciling = asyncio.ensure_future(self._reconcile_quietly())

    async def _reconcile_quietly(self) -> None:
        try:
            async with self.rt.writing():
                if self.rt.session is not None:
                    with self.rt.timed("unlock_reconcile"):
                        await self.rt.session.notebook.reconcile()
        except Exception:  # noqa: S110 (the next notes.list or sync reconciles again)
            pass

    async def settle(self) -> None:
        """Wait for the background check, if one runs."""
        task = self._reconciling
        if task is not None:
            self._reconciling = None
            await task

    async def items(self, *, fresh: bool = True) -> list[dict[str, Any]]:
        session = self.rt.require()
        store = self.rt.store
        if fresh:
            await self.settle()
            await store.counts()  # notices another tab's writes
            if store.foreign_writes:
                async with self.rt.writing():
                    store.foreign_writes = False
                    await session.notebook.reconcile()
        return [list_item(item) for item in session.notebook.items()]

    async def list(self) -> dict[str, Any]:
        return {"notes": await self.items()}

    async def after_sync(self, account_key_changed: bool) -> None:
        """Bring the list up to what a sync changed: the index re-sealed under a new account key, then the records the
        sync touched (or everything, after another tab's writes or a very large sync)."""
        session = self.rt.require()
        store = self.rt.store
        await self.settle()
        async with self.rt.writing():
            if account_key_changed:
                await session.notebook.reseal_index()  # the index keys come from the account key
            touched = store.take_touched()
            with self.rt.timed("sync_reconcile"):
                await store.counts()  # notices another tab's writes
                if store.foreign_writes or len(touched) > FULL_RECONCILE:
                    store.foreign_writes = False
                    await session.notebook.reconcile()
                elif touched:
                    await session.notebook.refresh(touched)  # what this sync changed, only

    # --- one note -----------------------------------------------------------------------------------------------------

    async def _head(self, record_id: bytes) -> tuple[SealedRecord, Note, LocalRecord] | None:
        """The note as this device shows it (the local edit, else the last accepted revision), opened."""
        session = self.rt.require()
        local = (await self.rt.store.get([record_id])).get(record_id)
        if local is None or local.head is None:
            return None
        bundle = session.unlocked.bundle
        opened = open_records(bundle.scope, bundle.keyring.keys, [local.head])[0]
        if isinstance(opened, VellumError):
            raise opened
        if opened.record_type != RecordType.NOTE:
            return None
        return local.head, decode_note(opened.payload), local

    def _serve(self, record_id: bytes, head: SealedRecord, note: Note) -> None:
        """Remember what the page was given (the ancestor of a later save that must merge)."""
        key = (record_id, head.revision)
        self._served.pop(key, None)
        self._served[key] = (head.content_hash, note)
        while len(self._served) > MAX_SERVED:
            self._served.pop(next(iter(self._served)))

    async def get(self, record_id: bytes) -> dict[str, Any]:
        found = await self._head(record_id)
        if found is None:
            raise NotFound("this note is not on this device")
        head, note, local = found
        self._serve(record_id, head, note)
        return {
            "id": b64e(record_id),
            "title": note.title,
            "body": note.body,
            "updated_at": note.updated_at,
            "revision": head.revision,
            "pending": local.pending is not None,
            "quarantine": local.quarantine.reason if local.quarantine is not None else None,
        }

    async def save(
        self, title: str, body: str, record_id: bytes | None, base_revision: int | None = None
    ) -> dict[str, Any]:
        """Save; with ``base_revision`` (the revision the page's text started from), an edit that landed meanwhile is
        resolved by ``pycore.merge.resolve``: merged, or the page's text becomes a conflicted copy."""
        session = self.rt.require()
        out: dict[str, Any] = {}
        async with self.rt.writing():
            if record_id is not None and base_revision is not None:
                found = await self._head(record_id)
                served = self._served.get((record_id, base_revision))
                if found is not None:
                    head, theirs, _ = found
                    moved = head.revision != base_revision or (served is not None and served[0] != head.content_hash)
                    if moved and (theirs.title, theirs.body) != (title, body):
                        now = self.rt.now_ms()
                        ours = Note(title, body, now)
                        outcome = resolve(
                            served[1] if served is not None else None,
                            ours,
                            theirs,
                            device_name=session.settings.device_name,
                            now_ms=now,
                        )
                        if outcome.copy is not None:
                            copy_id = await session.notebook.save(outcome.copy.title, outcome.copy.body)
                            out = {"conflicted_copy_of": b64e(record_id)}
                            record_id, title = copy_id, outcome.copy.title
                        elif outcome.merged is not None:
                            title, body = outcome.merged.title, outcome.merged.body
                            out = {"merged": {"title": title, "body": body}}
            if "conflicted_copy_of" not in out:
                record_id = await session.notebook.save(title, body, record_id)
            assert record_id is not None
            found = await self._head(record_id)
        revision = None
        if found is not None:
            self._serve(record_id, found[0], found[1])
            revision = found[0].revision
        return {"id": b64e(record_id), "pending_count": self.rt.store.last.outbox, "revision": revision, **out}

    async def delete(self, record_id: bytes) -> dict[str, Any]:
        session = self.rt.require()
        async with self.rt.writing():
            view = await session.engine.note(record_id)
            if view is None:
                raise NotFound("this note is not on this device")
            await session.notebook.delete(record_id)
        undo = {"id": b64e(record_id), "title": view.note.title, "body": view.note.body}
        return {"pending_count": self.rt.store.last.outbox, "undo": undo}

    async def search(self, query: str) -> dict[str, Any]:
        session = self.rt.require()
        await self.settle()
        async with self.rt.writing():  # the search loads bodies into the notebook's cache
            ids = await session.notebook.search(query)
        return {"ids": [b64e(rid) for rid in ids]}

    # --- in and out ---------------------------------------------------------------------------------------------------

    async def export_encrypted(self, passphrase: str) -> dict[str, Any]:
        session = self.rt.require()
        check_passphrase(passphrase)
        now = self.rt.now_ms()
        data = await session.notebook.export_encrypted(passphrase, now=now // 1000)
        return {"file": data, "filename": f"vellum-{_date(now)}.vellum"}

    async def export_plaintext(self) -> dict[str, Any]:
        session = self.rt.require()
        text = await session.notebook.export_plaintext()
        return {"text": text, "filename": f"vellum-{_date(self.rt.now_ms())}.md"}

    async def import_encrypted(self, data: bytes, passphrase: str) -> dict[str, Any]:
        session = self.rt.require()
        await self.settle()
        async with self.rt.writing():
            count = await session.notebook.import_encrypted(data, passphrase)
        return {"imported": count}
