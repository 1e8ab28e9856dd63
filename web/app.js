// Page entry point (kept minimal until the UI lands): start the crypto worker at once, so Pyodide boots while the
// person is still looking at the page, show when it is ready, then install the service worker that precaches the app.

import { CryptoWorker, trustedScriptURL } from "./worker-client.js";

const MANIFEST = "/vendor/asset-manifest.json";

export const worker = new CryptoWorker("/crypto-worker.js");

function showStatus(state, text) {
  const status = document.getElementById("status");
  if (!status) return;
  status.dataset.state = state;
  status.textContent = text;
}

// The service worker's URL carries the asset version, so a new build installs a new service worker (and cache).
// `cache: "no-cache"` tells the running service worker to ask the network first for this one file.
async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return null;
  const response = await fetch(MANIFEST, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${MANIFEST}: HTTP ${response.status}`);
  const { version } = await response.json();
  if (typeof version !== "string" || !/^[0-9a-f]{16,64}$/.test(version)) throw new Error("bad asset version");
  return navigator.serviceWorker.register(trustedScriptURL(`/sw.js?v=${version}`), { scope: "/" });
}

// Milliseconds since navigation start (performance.now()'s origin), read by the benchmark.
export const timing = { workerCreatedAt: performance.now(), readyAt: null };

export const booted = worker.ready().then(
  () => {
    timing.readyAt = performance.now();
    const seconds = ((timing.readyAt - timing.workerCreatedAt) / 1000).toFixed(1);
    showStatus("ready", `Ready: encryption runs on this device (started in ${seconds} s).`);
    return true;
  },
  (err) => {
    showStatus("failed", `The encryption engine could not start (${err.code ?? "error"}). Reload to try again.`);
    return false;
  },
);

// After the worker, so a first visit does not download the runtime twice at the same time.
export const serviceWorker = booted.then(() =>
  registerServiceWorker().catch((err) => {
    console.warn("service worker not installed:", err);
    return null;
  }),
);
