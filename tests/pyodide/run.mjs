// Run pycore under Pyodide in Node, from the same vendored files the browser gets (web/vendor), with libsodium.js as
// the primitives backend. Driven by tests/pyodide/test_pyodide_node.py; usable by hand:
//
//   node tests/pyodide/run.mjs request.json     (or the request on stdin)
//
// Request (every field optional):
//   { "vendor": "<dir>",                        default: <repo>/web/vendor
//     "files": {"<path in Pyodide>": "<host path>"},   copied into Pyodide's file system before any call
//     "sys_path": ["<path in Pyodide>"],         prepended to sys.path
//     "calls": [{"id": "...", "module": "...", "function": "...", "args": [...], "kwargs": {...}}] }
//
// Each call's function runs in Pyodide; its return value must be JSON-serialisable. The answer, one JSON document on
// stdout, holds the timings, what was loaded, and per call {ok, result} or {ok: false, error, message, traceback}.
// Pyodide's own console output goes to stderr so stdout stays parseable.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

async function readRequest() {
  const arg = process.argv[2];
  if (arg && arg !== "-") return JSON.parse(await readFile(arg, "utf8"));
  if (process.stdin.isTTY) return {};
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString("utf8").trim();
  return text ? JSON.parse(text) : {};
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

// What a browser's fetch(url, {integrity}) checks and Node's loader does not: the lock's hashes against the files.
async function checkLockIntegrity(lockPath, lock) {
  const out = {};
  for (const [name, entry] of Object.entries(lock.packages)) {
    const file = path.resolve(path.dirname(lockPath), entry.file_name);
    let actual;
    try {
      actual = sha256(await readFile(file));
    } catch (err) {
      actual = `missing: ${err.code ?? err}`;
    }
    out[name] = { file_name: entry.file_name, ok: actual === entry.sha256, sha256: actual };
  }
  return out;
}

const RUN_CALL = `
import importlib, json, traceback

def _run_call(spec_json):
    spec = json.loads(spec_json)
    try:
        module = importlib.import_module(spec["module"])
        result = getattr(module, spec["function"])(*spec.get("args", []), **spec.get("kwargs", {}))
        return json.dumps({"ok": True, "result": result})
    except BaseException as exc:  # reported, not raised: one failing call must not hide the others
        return json.dumps({"ok": False, "error": type(exc).__name__, "message": str(exc),
                           "traceback": traceback.format_exc()})
`;

async function main() {
  const request = await readRequest();
  const vendor = path.resolve(request.vendor ?? path.join(ROOT, "web", "vendor"));
  const pyodideDir = path.join(vendor, "pyodide") + path.sep;
  const lockPath = path.join(pyodideDir, "pyodide-lock.json");
  const report = { vendor, timings_ms: {} };
  const t = report.timings_ms;
  const log = (line) => process.stderr.write(`[pyodide] ${line}\n`);

  const lock = JSON.parse(await readFile(lockPath, "utf8"));
  report.lock_integrity = await checkLockIntegrity(lockPath, lock);

  // Boot exactly as the worker will: our stdlib zip (byte-compiled) and our lock file. packageBaseUrl is set so that
  // Pyodide's Node-only fallback (a package not found locally is fetched from its CDN) can only ever look here.
  const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
  let started = performance.now();
  const pyodide = await loadPyodide({
    indexURL: pyodideDir,
    lockFileURL: lockPath,
    stdLibURL: path.join(pyodideDir, "python_stdlib.zip"),
    packageBaseUrl: pyodideDir,
    stdout: log,
    stderr: log,
  });
  t.boot = performance.now() - started;
  report.python = pyodide.runPython("import sys; sys.version.split()[0]");
  report.stdlib_bytecompiled = pyodide.runPython("import json; json.__file__.endswith('.pyc')");

  started = performance.now();
  const loaded = await pyodide.loadPackage("micropip", { messageCallback: log, errorCallback: log });
  t.load_micropip = performance.now() - started;
  report.loaded_packages = loaded.map((p) => `${p.name}==${p.version}`);
  if (!loaded.some((p) => p.name === "micropip")) {
    throw new Error(`loadPackage("micropip") loaded ${JSON.stringify(report.loaded_packages)}`);
  }

  // libsodium.js from web/vendor (the rewritten relative import is exercised here), then the bridge.
  started = performance.now();
  const sodium = (await import(pathToFileURL(path.join(vendor, "libsodium", "libsodium-wrappers.mjs")).href)).default;
  await sodium.ready;
  const { createSodiumBridge } = await import(pathToFileURL(path.join(ROOT, "web", "worker", "sodium-bridge.js")).href);
  const bridge = createSodiumBridge(sodium);
  pyodide.registerJsModule("vellum_sodium", bridge);
  report.libsodium_version = bridge.version;
  t.load_libsodium = performance.now() - started;

  // The wheels the worker installs, named by the asset manifest, installed with micropip from local files, deps=False.
  const manifest = JSON.parse(await readFile(path.join(vendor, "asset-manifest.json"), "utf8"));
  const urls = [];
  pyodide.FS.mkdirTree("/tmp/wheels");
  for (const urlPath of manifest.python_wheels) {
    const name = path.posix.basename(urlPath);
    pyodide.FS.writeFile(`/tmp/wheels/${name}`, await readFile(path.join(vendor, "..", urlPath)));
    urls.push(`emfs:/tmp/wheels/${name}`);
  }
  started = performance.now();
  const micropip = pyodide.pyimport("micropip");
  await micropip.install.callKwargs(urls, { deps: false });
  micropip.destroy();
  t.install_wheels = performance.now() - started;
  report.installed = urls.map((u) => path.posix.basename(u));

  started = performance.now();
  pyodide.runPython("import pycore.primitives");
  t.import_pycore_primitives = performance.now() - started;
  report.backend = pyodide.runPython("import pycore.primitives as p; p.backend_name()");
  if (report.backend !== "libsodium.js") throw new Error(`pycore picked backend ${report.backend}`);

  for (const [target, source] of Object.entries(request.files ?? {})) {
    pyodide.FS.mkdirTree(path.posix.dirname(target));
    pyodide.FS.writeFile(target, await readFile(source));
  }
  const sysPath = pyodide.toPy(request.sys_path ?? []);
  pyodide.globals.set("_extra_path", sysPath);
  pyodide.runPython("import sys; sys.path[:0] = [p for p in _extra_path if p not in sys.path]; del _extra_path");
  sysPath.destroy();

  pyodide.runPython(RUN_CALL);
  const runCall = pyodide.globals.get("_run_call");
  report.calls = {};
  for (const spec of request.calls ?? []) {
    started = performance.now();
    const outcome = JSON.parse(runCall(JSON.stringify(spec)));
    outcome.ms = performance.now() - started;
    report.calls[spec.id ?? `${spec.module}.${spec.function}`] = outcome;
  }
  runCall.destroy();
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
