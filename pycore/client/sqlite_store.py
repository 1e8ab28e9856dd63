"""The sync engine's ``Store`` in one SQLite file (CPython client): ciphertext only, one transaction per batch.

Tables: ``records`` (the last revision accepted from the relay: the high-water mark), ``outbox`` (sealed local edits
with the version each started from), ``quarantine`` (why a served revision was refused), and ``meta`` (the feed
cursor, the newest adopted bundle, and the client's non-secret settings). Nothing here is plaintext or a key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pycore.envelope import HASH_SIZE, SealedRecord
from pycore.sync.types import Batch, LocalRecord, OutboxEntry, Quarantine, StoreMeta

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    record_id BLOB PRIMARY KEY, revision INTEGER NOT NULL, epoch INTEGER NOT NULL,
    wrapped_key BLOB NOT NULL, content BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    record_id BLOB PRIMARY KEY, revision INTEGER NOT NULL, epoch INTEGER NOT NULL,
    wrapped_key BLOB NOT NULL, content BLOB NOT NULL,
    base_revision INTEGER, base_epoch INTEGER, base_wrapped_key BLOB, base_content BLOB,
    queued_at INTEGER NOT NULL, sent BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine (
    record_id BLOB PRIMARY KEY, reason TEXT NOT NULL, revision INTEGER NOT NULL, at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
"""
CHUNK = 500  # ids per IN (...) query
Row = tuple[Any, ...]


class SqliteStore:
    """Implements ``pycore.sync.Store``. Calls are synchronous underneath (a local file, short transactions)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.executescript(SCHEMA)

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- settings (the client's, not the engine's) ----------------------------------------------------------------

    def get_setting(self, name: str) -> bytes | None:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    def set_settings(self, values: dict[str, bytes]) -> None:
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", list(values.items()))

    # --- Store ----------------------------------------------------------------------------------------------------

    async def meta(self) -> StoreMeta:
        cursor = self.get_setting("sync.cursor")
        return StoreMeta(cursor.decode("ascii") if cursor is not None else None, self.get_setting("sync.bundle"))

    @staticmethod
    def _sealed(row: Row) -> SealedRecord:
        rid, revision, epoch, wrapped_key, content = row[:5]
        return SealedRecord(bytes(rid), int(revision), int(epoch), bytes(wrapped_key), bytes(content))

    @classmethod
    def _outbox_entry(cls, row: Row) -> OutboxEntry:
        b_revision, b_epoch, b_wrapped_key, b_content, queued_at, sent = row[5:]
        merge_base = None
        if b_content is not None:
            merge_base = cls._sealed((row[0], b_revision, b_epoch, b_wrapped_key, b_content))
        hashes = tuple(bytes(sent[i : i + HASH_SIZE]) for i in range(0, len(sent), HASH_SIZE))
        return OutboxEntry(cls._sealed(row), merge_base, int(queued_at), hashes)

    def _select(self, table: str, columns: str, ids: Sequence[bytes]) -> list[Row]:
        rows: list[Row] = []
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {columns} FROM {table} WHERE record_id IN ({marks})"  # noqa: S608 (fixed names, bound ids)
            rows += self.db.execute(sql, chunk).fetchall()
        return rows

    _RECORD = "record_id, revision, epoch, wrapped_key, content"
    _OUTBOX = (
        "record_id, revision, epoch, wrapped_key, content, base_revision, base_epoch, base_wrapped_key, base_content, "
        "queued_at, sent"
    )
    _QUARANTINE = "record_id, reason, revision, at"

    def _load(self, ids: Sequence[bytes]) -> dict[bytes, LocalRecord]:
        bases = {bytes(r[0]): self._sealed(r) for r in self._select("records", self._RECORD, ids)}
        pending = {bytes(r[0]): self._outbox_entry(r) for r in self._select("outbox", self._OUTBOX, ids)}
        quarantined = {
            bytes(r[0]): Quarantine(bytes(r[0]), str(r[1]), int(r[2]), int(r[3]))
            for r in self._select("quarantine", self._QUARANTINE, ids)
        }
        out = {}
        for rid in ids:
            if rid in bases or rid in pending or rid in quarantined:
                out[rid] = LocalRecord(rid, bases.get(rid), pending.get(rid), quarantined.get(rid))
        return out

    async def get(self, record_ids: Sequence[bytes]) -> dict[bytes, LocalRecord]:
        return self._load(list(dict.fromkeys(record_ids)))

    async def scan(self, after: bytes | None, limit: int) -> list[LocalRecord]:
        query = (
            "SELECT record_id FROM (SELECT record_id FROM records UNION SELECT record_id FROM outbox "
            "UNION SELECT record_id FROM quarantine) WHERE record_id > ? ORDER BY record_id LIMIT ?"
        )
        ids = [bytes(r[0]) for r in self.db.execute(query, (after or b"", limit)).fetchall()]
        loaded = self._load(ids)
        return [loaded[rid] for rid in ids if rid in loaded]

    async def outbox(self, after: bytes | None, limit: int) -> list[OutboxEntry]:
        rows = self.db.execute(
            f"SELECT {self._OUTBOX} FROM outbox WHERE record_id > ? ORDER BY record_id LIMIT ?",  # noqa: S608
            (after or b"", limit),
        ).fetchall()
        return [self._outbox_entry(r) for r in rows]

    async def commit(self, batch: Batch) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO records (record_id, revision, epoch, wrapped_key, content) VALUES (?,?,?,?,?)",
                [(r.record_id, r.revision, r.epoch, r.wrapped_key, r.content) for r in batch.records.values()],
            )
            db.executemany(
                "DELETE FROM outbox WHERE record_id = ?", [(rid,) for rid, e in batch.outbox.items() if e is None]
            )
            rows = []
            for entry in batch.outbox.values():
                if entry is None:
                    continue
                r, b = entry.record, entry.merge_base
                rows.append(
                    (
                        r.record_id, r.revision, r.epoch, r.wrapped_key, r.content,
                        b.revision if b else None, b.epoch if b else None, b.wrapped_key if b else None,
                        b.content if b else None, entry.queued_at, b"".join(entry.sent),
                    )
                )
            sql = f"INSERT OR REPLACE INTO outbox ({self._OUTBOX}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608 (fixed)
            db.executemany(sql, rows)
            db.executemany(
                "DELETE FROM quarantine WHERE record_id = ?",
                [(rid,) for rid, q in batch.quarantine.items() if q is None],
            )
            db.executemany(
                "INSERT OR REPLACE INTO quarantine (record_id, reason, revision, at) VALUES (?,?,?,?)",
                [(q.record_id, q.reason, q.revision, q.at) for q in batch.quarantine.values() if q is not None],
            )
            if batch.cursor is not None:
                db.execute(
                    "INSERT OR REPLACE INTO meta (name, value) VALUES ('sync.cursor', ?)", (batch.cursor.encode(),)
                )
            if batch.bundle is not None:
                db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('sync.bundle', ?)", (batch.bundle,))
