// The encryption engine: the crypto worker the page talks to. It starts at page load, before anyone types, and is
// replaced by a fresh one on every lock. `worker` is a live binding: importers always see the current one.

import { CryptoWorker } from "../worker-client.js";
import { byId } from "./dom.js";

const WORKER_URL = "/worker/crypto-worker.js";
const LOCK_GRACE_MS = 300;

export let worker = new CryptoWorker(WORKER_URL);

// Milliseconds since navigation start (performance.now()'s origin), read by the benchmark.
export const timing = { workerCreatedAt: performance.now(), readyAt: null };

function showStatus(state, text) {
  const status = byId("status");
  status.dataset.state = state;
  status.textContent = text;
}

function boot(engine) {
  const started = performance.now();
  showStatus("starting", "Starting the encryption engine…");
  return engine.ready().then(
    () => {
      if (engine !== worker) return false; // replaced meanwhile
      timing.readyAt = performance.now();
      const seconds = ((timing.readyAt - started) / 1000).toFixed(1);
      showStatus("ready", `Ready: encryption runs on this device (started in ${seconds} s).`);
      return true;
    },
    (err) => {
      if (engine !== worker) return false;
      showStatus("failed", `The encryption engine could not start (${err.code ?? "error"}). Reload to try again.`);
      return false;
    },
  );
}

let current = boot(worker);
export const booted = current;

// Resolves true once the current engine runs (false if it could not start).
export function whenReady() {
  return current;
}

let replacing = null; // while a lock swaps the worker: calls wait for the fresh one

// Serialisation is the worker's (pycore/app/runtime.py: every read-decide-commit step holds one store lock shared by
// every tab's worker), so the page sends commands as they come.
export async function call(cmd, args = {}) {
  return send(cmd, args);
}

async function send(cmd, args) {
  if (replacing) await replacing;
  return worker.call(cmd, args);
}

// Lock: ask the worker to drop its session (best effort, it may be busy), then terminate it and start another.
export function restart() {
  const old = worker;
  showStatus("starting", "Locking: starting a fresh encryption engine…");
  replacing = (async () => {
    await Promise.race([old.call("app.lock").catch(() => undefined), new Promise((r) => setTimeout(r, LOCK_GRACE_MS))]);
    worker = old.replace();
    timing.workerCreatedAt = performance.now();
  })();
  current = replacing.then(() => {
    replacing = null;
    return boot(worker);
  });
  return current;
}
