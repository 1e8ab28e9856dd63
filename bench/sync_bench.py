"""Sync throughput against a real ``vellum serve`` (2 workers, SQLite), with the CPython client end to end.

- push: 4 devices of one account each queue 2,500 notes of 1 KiB (sealed and committed locally first, timed apart),
  then sync at the same time: records/s over the wall time of the concurrent syncs, and per-batch (100 records)
  request latency p50/p99;
- pull: a fifth device logs in and syncs all 10,000 (feed pages, opening, high-water checks, SQLite commits):
  records/s and per-page latency p50/p99.

Numbers only, no pass/fail (budgets: push >= 2,000 records/s, pull >= 5,000 records/s). ``run()`` is what
``bench/run.py`` calls; ``python -m bench.sync_bench`` runs it alone and writes ``bench/results/sync.json``.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pycore.client.client import Client  # noqa: E402
from pycore.sync.types import ChangePage, PushItem, PushResult  # noqa: E402
from tests.backend.live import run_relay  # noqa: E402

PASSPHRASE = "benchmark passphrase, not a secret"
CLIENTS = 4
RECORDS = 10_000
RECORD_SIZE = 1024
PUSH_BATCH = 100
PULL_LIMIT = 1000


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _timed(samples: list[float], call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call(*args)
        finally:
            samples.append(time.perf_counter() - started)

    return wrapper


def _latency(samples: Sequence[float]) -> dict[str, float]:
    return {
        "count": len(samples),
        "p50_ms": round(_percentile(samples, 0.50) * 1000, 2),
        "p99_ms": round(_percentile(samples, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2) if samples else 0.0,
    }


def _body(i: int) -> str:
    # ~1 KiB of text that does not compress to nothing (the relay stores it padded and sealed anyway).
    return (f"note {i} " + secrets.token_hex(RECORD_SIZE // 2))[:RECORD_SIZE]


async def _bench(base_url: str, origin: str, data: Path) -> dict[str, Any]:
    name = "bench-" + secrets.token_hex(4)
    options = {"push_batch": PUSH_BATCH, "pull_limit": PULL_LIMIT}
    first = await Client.register(
        base_url, name, PASSPHRASE, origin=origin, device_name="bench-0", data_dir=data / "c0", **options
    )
    clients = [first] + [
        await Client.login(base_url, name, PASSPHRASE, origin=origin, device_name=f"bench-{i}", data_dir=data / f"c{i}",
                           **options)
        for i in range(1, CLIENTS)
    ]
    per_client = RECORDS // CLIENTS

    # Local writes: seal + one commit per note (what typing into the app costs), timed apart from the network.
    started = time.perf_counter()
    for c, client in enumerate(clients):
        for i in range(per_client):
            await client.save_note(f"bench {c}/{i}", _body(i))
    local_seconds = time.perf_counter() - started

    push_samples: list[float] = []
    for client in clients:
        client.engine.transport = _Timed(client.api, push=push_samples)
    started = time.perf_counter()
    reports = await asyncio.gather(*(client.sync() for client in clients))
    push_seconds = time.perf_counter() - started
    pushed = sum(r.pushed for r in reports)

    reader = await Client.login(
        base_url, name, PASSPHRASE, origin=origin, device_name="bench-reader", data_dir=data / "reader", **options
    )
    pull_samples: list[float] = []
    reader.engine.transport = _Timed(reader.api, pull=pull_samples)
    started = time.perf_counter()
    report = await reader.sync()
    pull_seconds = time.perf_counter() - started
    pulled_notes = len(await reader.notes())

    for client in [*clients, reader]:
        client.close()
    return {
        "setup": {
            "relay": "vellum serve, 2 gunicorn workers, SQLite (WAL)",
            "clients": CLIENTS,
            "records": RECORDS,
            "record_bytes": RECORD_SIZE,
            "push_batch": PUSH_BATCH,
            "pull_limit": PULL_LIMIT,
            "client_store": "SQLite file per device",
        },
        "local_write": {"records_per_s": round(RECORDS / local_seconds), "seconds": round(local_seconds, 3)},
        "push": {
            "records": pushed,
            "seconds": round(push_seconds, 3),
            "records_per_s": round(pushed / push_seconds),
            "batch_latency": _latency(push_samples),
            "budget_records_per_s": 2000,
        },
        "pull": {
            "records": report.pulled,
            "notes_opened": pulled_notes,
            "seconds": round(pull_seconds, 3),
            "records_per_s": round(report.pulled / pull_seconds),
            "page_latency": _latency(pull_samples),
            "budget_records_per_s": 5000,
        },
    }


class _Timed:
    """The client's transport, with push and/or pull request times recorded."""

    def __init__(self, inner: Any, *, push: list[float] | None = None, pull: list[float] | None = None) -> None:
        self._inner = inner
        self._push = _timed(push, inner.push) if push is not None else inner.push
        self._pull = _timed(pull, inner.pull) if pull is not None else inner.pull

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        result: list[PushResult] = await self._push(items)
        return result

    async def pull(self, cursor: str | None, limit: int) -> ChangePage:
        page: ChangePage = await self._pull(cursor, limit)
        return page


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vellum-sync-bench-") as tmp:
        with run_relay(Path(tmp) / "relay", workers=2) as relay:
            return asyncio.run(_bench(relay.base_url, relay.origin, Path(tmp) / "clients"))


def main() -> int:
    from bench.run import write_result

    write_result("sync", run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
