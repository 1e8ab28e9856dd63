"""The app in Chromium with 10,000 notes of about 1 KiB: a new device's first sync, unlock to a usable list, saving a
note, search — the worker's app commands (docs/worker-api.md) against the real relay, measured from the page.

Set-up: the CPython client (``pycore.client``) registers an account on a real ``vellum serve`` and pushes the notes;
then a fresh Chromium profile signs in with "remember this device" (prelogin, Argon2id, login co-signed by the
WebCrypto device key, the bundle chain, the first sync of every note, the sealed index built). Measured, each from the
page (``performance.now()`` around the worker call, so messaging and the list's JSON are included):

- ``first_sync_ms``: ``app.sign_in`` on the new device, whole (budget <= 15 s); ``worker_timings`` say where it went;
- ``unlock_device_ms``: a fresh worker (as after "Lock") unlocks with the remembered device slot and answers the list
  from the sealed index (budget <= 2 s, aim < 0.5 s); ``reconciled_list_ms``: the ``notes.list`` right after, which
  waits for the notebook to check the index against the records; ``unlock_passphrase_ms`` the same with Argon2id;
- ``save_ms``: ``notes.save`` of a 1 KiB note (seal + one IndexedDB transaction, and the note's index shard), p50 /
  p95 / max over ``saves`` (budget p95 <= 50 ms);
- ``search_first_ms`` (opens every body once) and ``search_warm_ms`` (budget <= 200 ms once warm);
- ``sync_push_ms`` (the saves pushed) and ``sync_idle_ms`` (nothing to do).

Numbers only; the budgets are compared in the report, never asserted.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NOTES = 10_000
NOTE_SIZE = 1024
SAVES = 100
UNLOCKS = 3
WARM_SEARCHES = 5
PASSPHRASE = "benchmark passphrase, not a secret"
WORDS = (
    "river stone lamp paper orbit maple cedar violet harbor signal copper meadow lantern quartz willow ember "
    "falcon garden island jasmine kettle ladder mirror nectar oyster pepper quiver ribbon saddle tunnel"
).split()

_TIMED = """async ([cmd, args]) => {
  const t = performance.now();
  const result = await window.__appWorker.call(cmd, args);
  return { ms: performance.now() - t, result };
}"""

_FRESH_WORKER = """async () => {
  const { CryptoWorker } = await import("/worker-client.js");
  window.__appWorker.terminate();
  window.__appWorker = new CryptoWorker("/worker/crypto-worker.js");
  await window.__appWorker.ready();
  await window.__appWorker.call("app.status");  // what the page asks first, at start-up
  return true;
}"""

_SAVES = """async ({ bodies }) => {
  const out = [];
  for (const [i, body] of bodies.entries()) {
    const t = performance.now();
    await window.__appWorker.call("notes.save", { title: `Bench save ${i}`, body });
    out.push(performance.now() - t);
  }
  return out;
}"""


def _body(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


async def _seed(base_url: str, origin: str, username: str, count: int) -> dict[str, float]:
    from pycore.client.client import Client

    rng = random.Random(7)
    started = time.perf_counter()
    client = await Client.register(base_url, username, PASSPHRASE, origin=origin, device_name="Seeder")
    for i in range(count):
        title = f"Note {i:05d} {rng.choice(WORDS)}"
        body = _body(rng, NOTE_SIZE - len(title)) + (" needle-4242" if i % 1000 == 0 else "")
        await client.save_note(title, body)
    saved = time.perf_counter()
    report = await client.sync()
    client.close()
    assert report.pushed == count, report
    return {"seed_save_s": round(saved - started, 1), "seed_push_s": round(time.perf_counter() - saved, 1)}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


def require_browser() -> str:
    """Debian's Chromium launcher, once the web assets are built (the browser benchmarks need both)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("Debian's chromium is not installed (apt-get install -y chromium)")
    if not (ROOT / "web" / "vendor" / "asset-manifest.json").is_file():
        raise RuntimeError("web/vendor is not built: run `make web-assets`")
    return chromium


def run(notes: int = NOTES, saves: int = SAVES) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from tests.backend.live import run_relay
    from tests.browser.helpers import CHROMIUM_ARGS
    from tests.browser.test_worker_app import AppWorker

    chromium = require_browser()

    out: dict[str, Any] = {"notes": notes, "note_size": NOTE_SIZE}
    username = "bench-" + secrets.token_hex(4)
    with tempfile.TemporaryDirectory(prefix="vellum-app-bench-") as tmp, run_relay(Path(tmp) / "relay") as relay:
        out.update(asyncio.run(_seed(relay.base_url, relay.origin, username, notes)))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                app = AppWorker(browser.new_context(), relay.origin)

                def timed(cmd: str, args: Any = None) -> tuple[float, Any]:
                    answer = app.page.evaluate(_TIMED, [cmd, args or {}])
                    return round(answer["ms"], 1), answer["result"]

                def worker_timings() -> dict[str, float]:
                    return dict(app.ok("status").get("app_timings_ms", {}))

                # A new device: sign in, first sync of every note, the sealed index built.
                sign_in = {"username": username, "passphrase": PASSPHRASE, "device_name": "Bench browser",
                           "remember": True}
                out["first_sync_ms"], signed = timed("app.sign_in", sign_in)
                assert len(signed["notes"]) == notes and signed["remembered"], signed["sync"]
                out["first_sync_worker_ms"] = worker_timings()

                # Unlock with the remembered device in a fresh worker (what "Lock" leaves), list first.
                unlocks, reconciled, phases = [], [], []
                for _ in range(UNLOCKS):
                    app.page.evaluate(_FRESH_WORKER)
                    ms, unlocked = timed("app.unlock_device")
                    assert len(unlocked["notes"]) == notes
                    unlocks.append(ms)
                    ms, listed = timed("notes.list")
                    assert len(listed["notes"]) == notes
                    reconciled.append(ms)
                    phases.append(worker_timings())
                out["unlock_device_ms"] = {"median": round(statistics.median(unlocks), 1), "runs": unlocks}
                out["reconciled_list_ms"] = {"median": round(statistics.median(reconciled), 1), "runs": reconciled}
                out["unlock_worker_ms"] = phases[-1]
                app.page.evaluate(_FRESH_WORKER)
                out["unlock_passphrase_ms"], _ = timed("app.unlock", {"passphrase": PASSPHRASE, "remember": False})
                timed("notes.list")

                # Search: the first opens every body; then warm.
                out["search_first_ms"], found = timed("notes.search", {"query": "needle-4242"})
                assert len(found["ids"]) == (notes + 999) // 1000, found
                warm = [timed("notes.search", {"query": q})[0] for q in ("needle-4242", "river stone", "harbor",
                                                                          "quartz willow ember", "nothing-matches")]
                out["search_warm_ms"] = {"median": round(statistics.median(warm), 1), "max": max(warm), "runs": warm}

                # Saving notes of 1 KiB.
                rng = random.Random(11)
                times = app.page.evaluate(_SAVES, {"bodies": [_body(rng, NOTE_SIZE) for _ in range(saves)]})
                out["save_ms"] = {"p50": _pct(times, 0.5), "p95": _pct(times, 0.95), "max": round(max(times), 1),
                                  "count": len(times)}

                out["sync_push_ms"], pushed = timed("sync.now")
                assert pushed["pending_count"] == 0 and pushed["online"], pushed
                out["sync_push_worker_ms"] = worker_timings()
                out["sync_idle_ms"], _ = timed("sync.now")
                out["sync_idle_worker_ms"] = worker_timings()
                out["memory"] = app.ok("status")["runtime"]["memory"]
            finally:
                browser.close()
    return out


if __name__ == "__main__":
    import json

    count = int(sys.argv[1]) if len(sys.argv) > 1 else NOTES
    print(json.dumps(run(count), indent=2))
