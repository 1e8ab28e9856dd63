"""The relay's state, written with SQLAlchemy Core: SQLite in WAL mode by default, PostgreSQL-ready.

Everything shared between workers lives here: accounts, bundle versions, devices, records and their wrapped keys,
challenges, request nonces, rate-limit counters and the decoy secret. Writers open their transaction with
``BEGIN IMMEDIATE`` on SQLite (take the write lock first, wait up to the busy timeout) so a compare-and-swap never
meets a stale snapshot; every compare-and-swap is also a conditional ``UPDATE`` checked by its row count, which is
what keeps it correct on PostgreSQL. A signed request's nonce is written inside the request's own write transaction
(``defer_write``), or in one of its own when the request writes nothing or its writes roll back.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from flask import current_app, g
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError, OperationalError

from pycore.public import limits

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", LargeBinary(16), primary_key=True),
    Column("username", String(limits.USERNAME_MAX_LENGTH), nullable=False, unique=True),
    Column("login_public", LargeBinary(32), nullable=False),
    Column("recovery_public", LargeBinary(32), nullable=False),
    # Copied from the current bundle on every bundle write, so prelogin and the epoch check need no parsing.
    Column("bundle_version", BigInteger, nullable=False),
    Column("write_epoch", BigInteger, nullable=False),
    Column("kdf_salt", LargeBinary(16), nullable=False),
    Column("kdf_opslimit", Integer, nullable=False),
    Column("kdf_memlimit_kib", Integer, nullable=False),
    Column("change_seq", BigInteger, nullable=False),  # last sequence number handed to a record change
    Column("created_at", BigInteger, nullable=False),
)

bundles = Table(
    "bundles",
    metadata,
    Column("account_id", LargeBinary(16), primary_key=True),
    Column("version", BigInteger, primary_key=True),
    Column("hash", LargeBinary(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("account_id", LargeBinary(16), primary_key=True),
    Column("device_id", LargeBinary(16), primary_key=True),
    Column("signing_public", LargeBinary(32), nullable=False),
    Column("name", String(512), nullable=False),
    Column("added_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
)

records = Table(
    "records",
    metadata,
    Column("account_id", LargeBinary(16), primary_key=True),
    Column("record_id", LargeBinary(16), primary_key=True),
    Column("revision", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    # The newest wrapped key of the current revision (also kept in wrapped_keys).
    Column("key_epoch", BigInteger, nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("records_by_seq", "account_id", "seq", unique=True),
    Index("records_by_epoch", "account_id", "key_epoch", "record_id"),
)

wrapped_keys = Table(
    "wrapped_keys",
    metadata,
    Column("account_id", LargeBinary(16), primary_key=True),
    Column("record_id", LargeBinary(16), primary_key=True),
    Column("revision", BigInteger, primary_key=True),
    Column("epoch", BigInteger, primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

challenges = Table(
    "challenges",
    metadata,
    Column("challenge", LargeBinary(32), primary_key=True),
    Column("purpose", String(16), nullable=False),  # "auth" (register/login) or "step_up"
    Column("account_id", LargeBinary(16), nullable=True),
    Column("device_id", LargeBinary(16), nullable=True),
    Column("expires_at", BigInteger, nullable=False),
    Index("challenges_by_expiry", "expires_at"),
)

nonces = Table(
    "nonces",
    metadata,
    Column("account_id", LargeBinary(16), primary_key=True),
    Column("device_id", LargeBinary(16), primary_key=True),
    Column("nonce", LargeBinary(16), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Index("nonces_by_expiry", "expires_at"),
)

rate_limits = Table(
    "rate_limits",
    metadata,
    Column("bucket", String(128), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("rate_limits_by_expiry", "expires_at"),
)

server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

ACCOUNT_TABLES = (records, wrapped_keys, bundles, devices, nonces, challenges)
DECOY_SECRET = "decoy"  # noqa: S105 (the row name; the value is random, in the database)
PURGE_INTERVAL = 60


# --- engine -----------------------------------------------------------------------------------------------------------


def make_engine(url: str, busy_timeout: float = 10.0) -> Engine:
    """An engine with parameters hidden from error messages (they would hold ciphertext and keys)."""
    if not url.startswith("sqlite"):
        return create_engine(url, hide_parameters=True, pool_pre_ping=True)
    engine = create_engine(url, hide_parameters=True, connect_args={"timeout": busy_timeout})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module: we emit BEGIN ourselves (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("vellum_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def init_db(engine: Engine) -> None:
    """Create the schema and the decoy secret if missing; safe when several processes start at once."""
    for attempt in range(3):
        try:
            with engine.connect() as conn:
                conn.execution_options(vellum_write=True)
                with conn.begin():
                    metadata.create_all(conn, checkfirst=True)
                    have = conn.execute(
                        select(server_secrets.c.name).where(server_secrets.c.name == DECOY_SECRET)
                    ).first()
                    if have is None:
                        conn.execute(insert(server_secrets).values(name=DECOY_SECRET, value=secrets.token_bytes(32)))
            return
        except (OperationalError, IntegrityError):
            # Another process created the same table or secret first (PostgreSQL has no BEGIN IMMEDIATE).
            if attempt == 2:
                raise
            time.sleep(0.2)


# --- per-request access -----------------------------------------------------------------------------------------------


def engine() -> Engine:
    eng: Engine = current_app.extensions["vellum_engine"]
    return eng


def get_db() -> Connection:
    """The request's connection, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = engine().connect()
    conn: Connection = g.db
    return conn


def close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


@contextmanager
def transaction(*, write: bool) -> Iterator[Connection]:
    """A transaction on the request's connection; write transactions take SQLite's write lock up front.

    A write deferred with ``defer_write`` runs first inside the request's next write transaction and is committed or
    rolled back with it (it stays pending when the transaction rolls back).
    """
    conn = get_db()
    conn.execution_options(vellum_write=write)
    deferred = g.get("vellum_deferred") if write else None
    with conn.begin():
        if deferred is not None:
            deferred(conn)
        yield conn
    if deferred is not None and g.get("vellum_deferred") is deferred:
        g.vellum_deferred = None


def read() -> AbstractContextManager[Connection]:
    """A read transaction (a consistent snapshot)."""
    return transaction(write=False)


def write() -> AbstractContextManager[Connection]:
    """A write transaction: on SQLite, BEGIN IMMEDIATE (waits up to the busy timeout for the write lock)."""
    return transaction(write=True)


def defer_write(fn: Callable[[Connection], None]) -> None:
    """Have ``fn`` run at the start of this request's next write transaction, so that it commits with it.

    Whatever happens, call ``flush_deferred`` before answering: it runs ``fn`` on its own if no write transaction of
    the request committed it (the request wrote nothing, or its writes rolled back).
    """
    g.vellum_deferred = fn


def flush_deferred() -> None:
    """Run the pending deferred write in a transaction of its own, if one is still pending."""
    if g.get("vellum_deferred") is not None:
        with write():
            pass


def drop_deferred() -> None:
    """Forget the pending deferred write (it has nothing left to do)."""
    g.vellum_deferred = None


def now() -> int:
    return int(current_app.config["CLOCK"]())


# --- shared small state -----------------------------------------------------------------------------------------------


def get_secret(name: str) -> bytes:
    cache: dict[str, bytes] = current_app.extensions.setdefault("vellum_secrets", {})
    if name not in cache:
        with read() as conn:
            value = conn.execute(select(server_secrets.c.value).where(server_secrets.c.name == name)).scalar_one()
        cache[name] = bytes(value)
    return cache[name]


def issue_challenge(
    conn: Connection, purpose: str, ttl: int, *, account_id: bytes | None = None, device_id: bytes | None = None
) -> tuple[bytes, int]:
    challenge = secrets.token_bytes(32)
    expires_at = now() + ttl
    conn.execute(
        insert(challenges).values(
            challenge=challenge, purpose=purpose, account_id=account_id, device_id=device_id, expires_at=expires_at
        )
    )
    return challenge, expires_at


def spend_challenge(
    conn: Connection, challenge: bytes, purpose: str, *, account_id: bytes | None = None, device_id: bytes | None = None
) -> bool:
    """Delete the challenge if it is live and matches; True when it did (a challenge is spent by its first use)."""
    c = challenges.c
    stmt = delete(challenges).where(c.challenge == challenge, c.purpose == purpose, c.expires_at >= now())
    stmt = stmt.where(c.account_id.is_(None) if account_id is None else c.account_id == account_id)
    stmt = stmt.where(c.device_id.is_(None) if device_id is None else c.device_id == device_id)
    return conn.execute(stmt).rowcount == 1


def nonce_seen(conn: Connection, account_id: bytes, device_id: bytes, nonce: bytes) -> bool:
    """Whether a request nonce is already kept (a read: the early answer to a replay of a finished request)."""
    c = nonces.c
    seen = conn.execute(
        select(c.nonce).where(c.account_id == account_id, c.device_id == device_id, c.nonce == nonce)
    ).first()
    return seen is not None


def record_nonce(conn: Connection, account_id: bytes, device_id: bytes, nonce: bytes, expires_at: int) -> bool:
    """Remember a request nonce in a write transaction; False if it was already kept (a replay).

    One statement where the database can skip a duplicate key (SQLite, PostgreSQL); the primary key is the arbiter,
    so two copies of one request on two workers cannot both be recorded.
    """
    values = {"account_id": account_id, "device_id": device_id, "nonce": nonce, "expires_at": expires_at}
    skip_duplicate = _INSERT_NONCE.get(conn.dialect.name)
    if skip_duplicate is not None:
        return conn.execute(skip_duplicate, values).rowcount == 1
    if nonce_seen(conn, account_id, device_id, nonce):
        return False
    conn.execute(insert(nonces), values)
    return True


_INSERT_NONCE = {
    "sqlite": sqlite_dialect.insert(nonces).on_conflict_do_nothing(),
    "postgresql": postgresql_dialect.insert(nonces).on_conflict_do_nothing(),
}


def hit_rate_limit(conn: Connection, bucket: str, limit: int, window: int) -> int | None:
    """Count one request in a fixed window; the seconds to wait when over the limit, else None."""
    t = now()
    start = t - t % window
    c = rate_limits.c
    count = conn.execute(select(c.count).where(c.bucket == bucket, c.window_start == start)).scalar()
    if count is None:
        conn.execute(insert(rate_limits).values(bucket=bucket, window_start=start, count=1, expires_at=start + window))
        return None
    if count >= limit:
        return max(1, start + window - t)
    conn.execute(update(rate_limits).where(c.bucket == bucket, c.window_start == start).values(count=c.count + 1))
    return None


def maybe_purge() -> None:
    """Drop expired challenges, nonces and rate-limit windows, at most once a minute per process."""
    state = current_app.extensions.setdefault("vellum_purge", {"last": 0.0})
    t = now()
    if t - state["last"] < PURGE_INTERVAL:
        return
    state["last"] = t
    with write() as conn:
        conn.execute(delete(challenges).where(challenges.c.expires_at < t))
        conn.execute(delete(nonces).where(nonces.c.expires_at < t))
        conn.execute(delete(rate_limits).where(rate_limits.c.expires_at < t))
