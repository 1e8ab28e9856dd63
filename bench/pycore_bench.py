"""pycore in CPython: sealing and opening records, key-only re-wrap, Argon2id. Medians over several runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from pycore import envelope, kdf, primitives
from pycore.envelope import EpochKey, PlainRecord, RecordScope, RecordType

SCOPE = RecordScope(b"a" * 16, b"c" * 16)
KEY = EpochKey(1, primitives.randombytes(32))
KEY2 = EpochKey(2, primitives.randombytes(32))


def _median(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _records(count: int, size: int) -> list[PlainRecord]:
    payload = primitives.randombytes(size)
    return [
        PlainRecord(envelope.new_record_id(), 1, envelope.NO_PREVIOUS, RecordType.NOTE, payload) for _ in range(count)
    ]


def run(runs: int = 5) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": primitives.backend_name()}
    small = _records(10_000, 1024)
    sealed = envelope.seal_records(SCOPE, KEY, small)
    t_seal = _median(lambda: envelope.seal_records(SCOPE, KEY, small), runs)
    t_open = _median(lambda: envelope.open_records(SCOPE, {1: KEY.key}, sealed), runs)
    out["seal_1kib_records_per_s"] = round(len(small) / t_seal)
    out["open_1kib_records_per_s"] = round(len(small) / t_open)

    big = _records(200, 64 * 1024)
    sealed_big = envelope.seal_records(SCOPE, KEY, big)
    megabytes = len(big) * 64 * 1024 / 1e6
    out["seal_64kib_mb_per_s"] = round(megabytes / _median(lambda: envelope.seal_records(SCOPE, KEY, big), runs), 1)
    out["open_64kib_mb_per_s"] = round(
        megabytes / _median(lambda: envelope.open_records(SCOPE, {1: KEY.key}, sealed_big), runs), 1
    )

    keys = {1: KEY.key}
    out["rewrap_10000_records_s"] = round(_median(lambda: envelope.rewrap_records(SCOPE, keys, KEY2, sealed), runs), 3)

    salt = primitives.randombytes(16)
    params = kdf.DEFAULT_PARAMS
    out["argon2id_default_s"] = round(_median(lambda: kdf.derive_root("benchmark passphrase", salt, params), runs), 3)
    out["argon2id_params"] = {"opslimit": params.opslimit, "memlimit_kib": params.memlimit_kib}
    return out
