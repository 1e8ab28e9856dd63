// The crypto worker: a dedicated MODULE worker that holds Pyodide, pycore, libsodium.js and the WebCrypto device keys.
// Every key lives here; the page only sends commands and gets answers (web/worker-client.js).
//
// Boot, once per worker, all from this origin (the service worker answers from its precache when offline):
//   1. in parallel: Pyodide from /vendor/pyodide/ (byte-compiled stdlib, our lock file), libsodium.js (sumo) from
//      /vendor/libsodium/, and /vendor/asset-manifest.json (names the wheels);
//   2. micropip from the lock file, then the pycore and mnemonic wheels with deps=False; both steps are CHECKED
//      (a lock/hash mismatch makes Pyodide load nothing and only log, so "no error" proves nothing);
//   3. register the JavaScript modules pycore imports (vellum_sodium, vellum_webcrypto, vellum_idb, vellum_fetch,
//      vellum_runtime), import pycore.app.worker and check it picked the libsodium.js backend.
//
// Test and benchmark pages start this worker as `crypto-worker.js?testing=1`: it then also installs the test wheel
// (TESTING_WHEEL, served only by test builds) and adds its protocol and conformance commands
// (tests/support/worker_commands.py) to this worker's table. The app's page never asks for that, so its worker has
// the app contract (docs/worker-api.md) and nothing else; a production relay serves no such wheel.
//
// Messages: {id, cmd, args, binary?} -> {id, ok: true, result} | {id, ok: false, error: {code, message}}. Bytes are
// base64url strings, or Uint8Arrays both ways when `binary` is true (bulk records: no base64, no JSON). The command
// table is pycore/app/worker.py's COMMANDS; nothing here runs Python text that came from a message.

import * as fetchHttp from "./fetch-http.js";
import * as idbStore from "./idb-store.js";
import { createSodiumBridge } from "./sodium-bridge.js";
import * as webcrypto from "./webcrypto.js";

// Absolute URLs: Pyodide resolves the lock file's wheel names against the lock file's URL with `new URL()`.
const VENDOR = new URL("/vendor/", self.location.origin).href;
const PYODIDE = `${VENDOR}pyodide/`;
const MANIFEST = `${VENDOR}asset-manifest.json`;
const EXPECTED_BACKEND = "libsodium.js";
const TESTING_WHEEL = "/testing/vellum_testing-0.0.0-py3-none-any.whl";
const testing = new URL(self.location.href).searchParams.get("testing") === "1";

const timings = {}; // ms, for the status command and the benchmark
const cspViolations = []; // reported by the status command; the tests require it to stay empty
const origin = self.location.origin;
const started = performance.now();
let pyodide = null;
let sodium = null;

async function timed(name, step) {
  const t = performance.now();
  try {
    return await step();
  } finally {
    timings[name] = Math.round((performance.now() - t) * 10) / 10;
  }
}

function pyodideLog(line) {
  // Pyodide's own console output (package loading). It never carries secrets: pycore does not print.
  console.debug(`[pyodide] ${line}`);
}

async function loadManifest() {
  const response = await fetch(MANIFEST);
  if (!response.ok) throw new Error(`${MANIFEST}: HTTP ${response.status}`);
  const manifest = await response.json();
  if (!Array.isArray(manifest.python_wheels) || manifest.python_wheels.length === 0) {
    throw new Error(`${MANIFEST} names no Python wheels`);
  }
  return manifest;
}

async function loadSodium() {
  const module = await import(`${VENDOR}libsodium/libsodium-wrappers.mjs`);
  sodium = module.default;
  await sodium.ready;
  return createSodiumBridge(sodium);
}

async function loadPython() {
  const { loadPyodide } = await import(`${PYODIDE}pyodide.mjs`);
  return loadPyodide({
    indexURL: PYODIDE,
    lockFileURL: `${PYODIDE}pyodide-lock.json`,
    stdLibURL: `${PYODIDE}python_stdlib.zip`,
    stdout: pyodideLog,
    stderr: pyodideLog,
  });
}

// "name-version-py3-none-any.whl" -> [distribution name as importlib.metadata normalises it, version]
function wheelName(urlPath) {
  const file = urlPath.split("/").pop();
  const match = /^([A-Za-z0-9_.]+)-([^-]+)-py3-none-any\.whl$/.exec(file);
  if (!match) throw new Error(`${urlPath} is not a pure-Python wheel name`);
  return [match[1].toLowerCase().replace(/[-_.]+/g, "_"), match[2]];
}

async function loadMicropip() {
  const loaded = await pyodide.loadPackage("micropip", { messageCallback: pyodideLog, errorCallback: pyodideLog });
  if (!loaded.some((p) => p.name === "micropip")) {
    throw new Error(`loadPackage("micropip") loaded ${JSON.stringify(loaded.map((p) => p.name))}`);
  }
}

async function installWheels(manifest) {
  const micropip = pyodide.pyimport("micropip");
  try {
    const urls = manifest.python_wheels.map((path) => new URL(path, origin).href);
    if (testing) urls.push(new URL(TESTING_WHEEL, origin).href);
    await micropip.install.callKwargs(urls, { deps: false });
  } finally {
    micropip.destroy();
  }
  const versionOf = pyodide.runPython(
    "import importlib.metadata as m\n" +
      "lambda name: next((d.version for d in m.distributions() if d.name.lower().replace('-', '_') == name), None)",
  );
  try {
    for (const path of manifest.python_wheels) {
      const [name, version] = wheelName(path);
      const found = versionOf(name);
      if (found !== version) throw new Error(`${path} did not install (found ${found})`);
    }
  } finally {
    versionOf.destroy();
  }
}

function memory() {
  return {
    pyodide_wasm_bytes: pyodide?._module?.HEAP8?.buffer?.byteLength ?? null,
    libsodium_wasm_bytes: sodium?.libsodium?.HEAPU8?.buffer?.byteLength ?? null,
    js_heap_used_bytes: performance.memory?.usedJSHeapSize ?? null,
  };
}

// Pyodide tells classic from module workers by calling importScripts("data:text/javascript,"). In a module worker
// that always throws a TypeError, but under `require-trusted-types-for 'script'` the string is first reported as a
// Trusted Types violation. Same outcome, no violation: answer the probe the way a module worker does.
self.importScripts = () => {
  throw new TypeError("Module scripts don't support importScripts().");
};

self.addEventListener("securitypolicyviolation", (event) => {
  cspViolations.push({ directive: event.effectiveDirective, blocked: event.blockedURI, sample: event.sample });
});

// What this browser offers the worker (app.status); never throws.
async function features() {
  let ed25519 = false;
  try {
    await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    ed25519 = true;
  } catch {
    ed25519 = false;
  }
  let persisted = false;
  try {
    persisted = (await navigator.storage?.persisted?.()) === true;
  } catch {
    persisted = false;
  }
  return JSON.stringify({ module_worker: true, ed25519, persistent_storage: persisted });
}

const runtime = {
  origin,
  features,
  statsJson: () => JSON.stringify({ timings_ms: timings, memory: memory(), csp_violations: cspViolations }),
};

async function boot() {
  const [, bridge, manifest] = await Promise.all([
    timed("pyodide", async () => {
      pyodide = await loadPython();
    }),
    timed("libsodium", loadSodium),
    timed("manifest", loadManifest),
  ]);
  await timed("micropip", loadMicropip);
  await timed("wheels", () => installWheels(manifest));
  const worker = await timed("imports", () => {
    pyodide.registerJsModule("vellum_sodium", bridge);
    pyodide.registerJsModule("vellum_webcrypto", webcrypto);
    pyodide.registerJsModule("vellum_idb", idbStore);
    pyodide.registerJsModule("vellum_fetch", fetchHttp);
    pyodide.registerJsModule("vellum_runtime", runtime);
    const module = pyodide.pyimport("pycore.app.worker");
    const backend = pyodide.pyimport("pycore.primitives").backend_name();
    if (backend !== EXPECTED_BACKEND) throw new Error(`pycore picked the ${backend} backend`);
    const worker = module.browser_worker();
    return testing ? pyodide.pyimport("tests.support.worker_commands").register(worker) : worker;
  });
  timings.ready = Math.round((performance.now() - started) * 10) / 10;
  return { json: worker.handle_json, binary: worker.handle_js };
}

const ready = boot();
ready.catch((err) => console.error("crypto worker failed to start:", err));

// The ArrayBuffers of a binary reply, to transfer instead of copy (each was made for this reply by Pyodide's to_js).
function buffersOf(value, found = new Set()) {
  if (value instanceof Uint8Array) {
    if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) found.add(value.buffer);
  } else if (Array.isArray(value)) {
    for (const item of value) buffersOf(item, found);
  } else if (value && typeof value === "object") {
    for (const item of Object.values(value)) buffersOf(item, found);
  }
  return found;
}

async function answer(message) {
  let handlers;
  try {
    handlers = await ready;
  } catch (err) {
    return { ok: false, error: { code: "worker_unavailable", message: `The crypto worker did not start: ${err}` } };
  }
  try {
    if (message.binary === true) return await handlers.binary(message.cmd, message.args ?? {});
    let request;
    try {
      request = JSON.stringify({ cmd: message.cmd, args: message.args ?? {} });
    } catch {
      return { ok: false, error: { code: "bad_request", message: "the arguments are not JSON" } };
    }
    return JSON.parse(await handlers.json(request));
  } catch (err) {
    // Only a broken runtime gets here (pycore.app.worker answers every error itself); say so without details.
    console.error("crypto worker command failed:", err);
    return { ok: false, error: { code: "internal_error", message: "The crypto worker failed." } };
  }
}

self.addEventListener("message", async (event) => {
  const message = event.data;
  const id = message?.id;
  if (typeof id !== "number" && typeof id !== "string") return; // nothing to answer to
  const reply = { id, ...(await answer(message)) };
  self.postMessage(reply, message.binary === true ? [...buffersOf(reply.result)] : []);
});
