"""The database: WAL mode, schema on first start, and a busy database answering 503 (never 500)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import select

from backend import store
from tests.backend.apps import make_app
from tests.backend.helpers import Account, RelayClient, flask_transport, record


def db_file(app) -> Path:
    return Path(app.config["DATA_DIR"]) / "vellum.sqlite3"


def test_wal_and_schema(app) -> None:
    conn = sqlite3.connect(db_file(app))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= {
        "accounts",
        "bundles",
        "devices",
        "records",
        "wrapped_keys",
        "challenges",
        "nonces",
        "rate_limits",
        "server_secrets",
    }
    assert conn.execute("SELECT count(*) FROM server_secrets").fetchone()[0] == 1
    conn.close()


def test_second_start_keeps_state(tmp_path, clock) -> None:
    first = make_app(tmp_path, clock)
    relay = RelayClient(flask_transport(first.test_client()), clock=clock)
    acc = Account()
    assert relay.register(acc).status == 201
    with first.app_context():
        secret = store.get_secret(store.DECOY_SECRET)
    first.extensions["vellum_engine"].dispose()
    second = make_app(tmp_path, clock)
    relay = RelayClient(flask_transport(second.test_client()), clock=clock)
    assert relay.signed(acc, "GET", "/api/v1/account").status == 200
    with second.app_context():
        assert store.get_secret(store.DECOY_SECRET) == secret
        with store.read() as conn:
            assert conn.execute(select(store.accounts.c.username)).scalars().all() == [acc.username]
    second.extensions["vellum_engine"].dispose()


def test_busy_database_is_a_503(tmp_path, clock) -> None:
    app = make_app(tmp_path, clock, DB_BUSY_TIMEOUT=0.2)
    relay = RelayClient(flask_transport(app.test_client()), clock=clock)
    acc = Account()
    assert relay.register(acc).status == 201
    blocker = sqlite3.connect(db_file(app), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        r = relay.push(acc, [record()])
        assert (r.status, r.code) == (503, "server_busy")
        assert r.headers["retry-after"] == "1"
        r = relay.call("POST", "/api/v1/auth/challenge")
        assert (r.status, r.code) == (503, "server_busy")
        assert relay.call("GET", "/api/v1/health").status == 200  # readers are not blocked (WAL)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert relay.push(acc, [record()]).status == 200
    app.extensions["vellum_engine"].dispose()
