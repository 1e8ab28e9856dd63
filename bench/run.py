"""`make bench`: run every benchmark and write its numbers to bench/results/<name>.json (and print them).

Benchmarks report numbers; they never pass or fail. The budgets they are compared with are in the issues and the
closing notes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = {
    "pycore": "bench.pycore_bench",
    "sync": "bench.sync_bench",
    "lifecycle": "bench.lifecycle_bench",
    "browser": "bench.browser_bench",
    "app": "bench.app_bench",
    "keys": "bench.keys_bench",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    args = parser.parse_args()
    for name in args.names or list(BENCHMARKS):
        module = importlib.import_module(BENCHMARKS[name])
        started = time.time()
        write_result(name, module.run(), started)
    return 0


def write_result(name: str, numbers: dict[str, object], started: float | None = None) -> Path:
    """Write one benchmark's numbers to bench/results/<name>.json with the machine they were measured on."""
    RESULTS.mkdir(exist_ok=True)
    record = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started if started is not None else time.time())),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()},
        "results": numbers,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{name}: {json.dumps(numbers)}\n  -> {path}")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    raise SystemExit(main())
