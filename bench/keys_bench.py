"""The key lifecycle in Chromium with 10,000 notes of about 1 KiB: the worker's ``keys.*`` commands (docs/worker-api.md,
"Key lifecycle") against a real ``vellum serve``, measured from the page, with the worker's own split of each command
into local work and time spent waiting for the relay (``Runtime.timings`` of pycore/app/runtime.py:
``keys_<cmd>_local_ms`` / ``_network_ms``).

Set-up: the CPython client (``pycore.client``) registers an account and pushes the notes (its device, "Seeder", is the
one revoked below); a fresh Chromium profile signs in (first sync of every note). Then, in this order:

- ``passphrase_change``: ``keys.change_passphrase`` (confirm the current passphrase: one Argon2id; derive the new one:
  another; publish with a step-up), against its budget of 2 x Argon2id + 200 ms, Argon2id being the worker's own
  ``sign_in_argon2id``;
- ``rewrap_rotation``: ``keys.rotate`` (a new write epoch) and the background re-wrap of every note, driven like the
  page drives it — ``keys.rotation_continue`` in a loop until ``finished`` (budget: local work <= 2 s);
- ``revocation``: ``keys.revoke_device`` of the seeder (new account key, epoch and identity key, every remaining slot
  re-sealed, published with the revocation; budget: local work <= 1 s), with its phases;
- ``reencrypt``: "Re-encrypt all notes" after the revocation, the same loop (budget <= 20 s, and the main thread never
  blocked > 100 ms: a ``PerformanceObserver('longtask')`` in the page, and a 10 ms timer's worst gap);
- the ``sync.now`` after each (the re-wrapped keys and re-encrypted revisions coming back): sync, reported apart.

Numbers only; the budgets are compared in the report, never asserted. ``python -m bench.run keys`` writes
bench/results/keys.json; ``python -m bench.keys_bench [notes]`` prints them.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NOTES = 10_000
BATCH = 500
PASSPHRASE_CHANGES = 3
OTHER_PASSPHRASE = "another benchmark passphrase"

_TIMED = """async ([cmd, args]) => {
  const t = performance.now();
  const result = await window.__appWorker.call(cmd, args);
  return { ms: performance.now() - t, result };
}"""

# Long tasks on the page's main thread, and the worst lateness of a 10 ms timer, from now on.
_WATCH = """() => {
  window.__longtasks = [];
  window.__observer?.disconnect();
  window.__observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longtasks.push(e.duration);
  });
  window.__observer.observe({ type: "longtask" });
  clearInterval(window.__ticker);
  window.__gap = 0;
  let last = performance.now();
  window.__ticker = setInterval(() => {
    const now = performance.now();
    window.__gap = Math.max(window.__gap, now - last - 10);
    last = now;
  }, 10);
  return true;
}"""

_WATCHED = """() => {
  clearInterval(window.__ticker);
  const tasks = window.__longtasks ?? [];
  return { longtasks: tasks.length, longest_task_ms: tasks.length ? Math.max(...tasks) : 0,
           worst_timer_gap_ms: window.__gap ?? null };
}"""

# The page's loop: one page of background work per call, until finished; per call its time and the worker's split.
_CONTINUE_LOOP = """async ({ batch }) => {
  const steps = [];
  const started = performance.now();
  for (let i = 0; i < 1000; i++) {
    const t = performance.now();
    const r = await window.__appWorker.call("keys.rotation_continue", { batch });
    const ms = performance.now() - t;
    const timings = (await window.__appWorker.call("status")).app_timings_ms ?? {};
    steps.push({ ms, done: r.done, total: r.total, finished: r.finished, failed: r.failed,
                 local: timings.keys_rotation_continue_local_ms, network: timings.keys_rotation_continue_network_ms,
                 page: timings.keys_rotation_page, finish: r.finished ? timings.keys_rotation_finish : null });
    if (r.finished) break;
  }
  return { wall_ms: performance.now() - started, steps };
}"""


def _r(value: float) -> float:
    return round(value, 1)


def _split(timings: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "worker_ms": timings.get(f"keys_{name}_ms"),
        "local_ms": timings.get(f"keys_{name}_local_ms"),
        "network_ms": timings.get(f"keys_{name}_network_ms"),
        "requests": timings.get(f"keys_{name}_requests"),
    }


def _loop_summary(loop: dict[str, Any]) -> dict[str, Any]:
    steps = loop["steps"]
    local = sum(s["local"] or 0 for s in steps)
    network = sum(s["network"] or 0 for s in steps)
    return {
        "calls": len(steps),
        "done": steps[-1]["done"] if steps else 0,
        "total": steps[-1]["total"] if steps else 0,
        "failed": steps[-1]["failed"] if steps else 0,
        "wall_ms": _r(loop["wall_ms"]),  # the page's loop, with a status call per step
        "calls_ms": _r(sum(s["ms"] for s in steps)),
        "local_ms": _r(local),
        "network_ms": _r(network),
        "slowest_call_ms": _r(max((s["ms"] for s in steps), default=0)),
        "finish_ms": next((s["finish"] for s in steps if s["finish"] is not None), None),
    }


def run(notes: int = NOTES, batch: int = BATCH) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from bench.app_bench import PASSPHRASE, _seed, require_browser
    from tests.backend.live import run_relay
    from tests.browser.helpers import CHROMIUM_ARGS
    from tests.browser.test_worker_app import AppWorker

    chromium = require_browser()

    out: dict[str, Any] = {"notes": notes, "note_size": 1024, "batch": batch}
    username = "keys-bench-" + secrets.token_hex(4)
    with tempfile.TemporaryDirectory(prefix="vellum-keys-bench-") as tmp, run_relay(Path(tmp) / "relay") as relay:
        out.update(asyncio.run(_seed(relay.base_url, relay.origin, username, notes)))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                app = AppWorker(browser.new_context(), relay.origin)

                def timed(cmd: str, args: Any = None) -> tuple[float, Any]:
                    answer = app.page.evaluate(_TIMED, [cmd, args or {}])
                    return _r(answer["ms"]), answer["result"]

                def timings() -> dict[str, Any]:
                    return dict(app.ok("status").get("app_timings_ms", {}))

                sign_in = {"username": username, "passphrase": PASSPHRASE, "device_name": "Bench browser",
                           "remember": False}
                out["first_sync_ms"], signed = timed("app.sign_in", sign_in)
                assert len(signed["notes"]) == notes, signed["sync"]
                argon2id = float(timings()["sign_in_argon2id"])
                out["argon2id_ms"] = argon2id

                # --- passphrase change: 2 x Argon2id + 200 ms ---------------------------------------------------
                runs = []
                current, new = PASSPHRASE, OTHER_PASSPHRASE
                for _ in range(PASSPHRASE_CHANGES):
                    ms, answer = timed("keys.change_passphrase", {"current": current, "new": new})
                    assert answer["ok"], answer
                    t = timings()
                    runs.append({"page_ms": ms, **_split(t, "change_passphrase"),
                                 "confirm": _split(t, "confirm"), "change": _split(t, "change_passphrase_flow")})
                    current, new = new, current
                passphrase = current
                out["passphrase_change"] = {
                    "budget_ms": _r(2 * argon2id + 200),
                    "page_ms_median": _r(statistics.median(r["page_ms"] for r in runs)),
                    "local_ms_median": _r(statistics.median(r["local_ms"] for r in runs)),
                    "network_ms_median": _r(statistics.median(r["network_ms"] for r in runs)),
                    "runs": runs,
                }

                # --- routine rotation and the background re-wrap ------------------------------------------------
                ms, rotated = timed("keys.rotate")
                assert rotated["queued"] is False, rotated
                out["rotate"] = {"page_ms": ms, **_split(timings(), "rotate")}
                app.page.evaluate(_WATCH)
                loop = app.page.evaluate(_CONTINUE_LOOP, {"batch": batch})
                out["rewrap_rotation"] = {**_loop_summary(loop), **app.page.evaluate(_WATCHED)}
                ms, synced = timed("sync.now")
                assert synced["last_error"] is None, synced
                t = timings()
                out["rewrap_rotation"]["sync_after"] = {"page_ms": ms, "keys_ms": t.get("sync_keys"),
                                                        "engine_ms": t.get("sync_engine"),
                                                        "reconcile_ms": t.get("sync_reconcile")}

                # --- revocation (new account key + epoch + identity, slots re-sealed) -------------------------------
                seeder = next(d["id"] for d in app.ok("devices.list")["devices"] if d["name"] == "Seeder")
                ms, revoked = timed("keys.revoke_device", {"passphrase": passphrase, "device_id": seeder,
                                                           "reencrypt": True})
                assert revoked["ok"] and revoked["pending"], revoked
                t = timings()
                split = _split(t, "revoke_device")
                out["revocation"] = {
                    "page_ms": ms,
                    **split,
                    "confirm": _split(t, "confirm"),  # the chain verified + one Argon2id (the step-up passphrase)
                    "flow": _split(t, "revoke_device_flow"),  # the new version built and published with the revocation
                    "adopt_ms": t.get("keys_adopt"),  # stored with its pin, outbox re-sealed
                    "reseal_index_ms": t.get("keys_reseal_index"),  # the note index under the new account key
                }
                confirm_local = t.get("keys_confirm_local_ms")
                if split["local_ms"] is not None and confirm_local is not None:
                    # The revocation's own local work: everything but the step-up's Argon2id and chain check.
                    out["revocation"]["local_without_confirm_ms"] = _r(split["local_ms"] - confirm_local)

                # --- "Re-encrypt all notes", page by page, the main thread watched ------------------------------
                app.page.evaluate(_WATCH)
                loop = app.page.evaluate(_CONTINUE_LOOP, {"batch": batch})
                out["reencrypt"] = {**_loop_summary(loop), **app.page.evaluate(_WATCHED)}
                ms, synced = timed("sync.now")
                assert synced["last_error"] is None, synced
                t = timings()
                out["reencrypt"]["sync_after"] = {"page_ms": ms, "keys_ms": t.get("sync_keys"),
                                                  "engine_ms": t.get("sync_engine"),
                                                  "reconcile_ms": t.get("sync_reconcile")}
                listed = app.ok("notes.list")["notes"]
                assert len(listed) == notes, len(listed)
                out["memory"] = app.ok("status")["runtime"]["memory"]
            finally:
                browser.close()
    return out


if __name__ == "__main__":
    import json

    count = int(sys.argv[1]) if len(sys.argv) > 1 else NOTES
    print(json.dumps(run(count), indent=2))
