// Byte-compile Pyodide's stdlib zip with Pyodide itself, then prove the result boots and imports.
//
//   node tools/bytecompile_stdlib.mjs <pyodide dir> <output zip>
//
// The stock python_stdlib.zip holds .py files only, so every start-up compiles what it imports (2.5-3x slower start,
// see shared/ENVIRONMENT.md). The .pyc magic number must be Pyodide's (CPython 3.14), not the build machine's, which is
// why the compiling is done by Pyodide running under Node. Output is deterministic: unchecked-hash .pyc files (no
// timestamps), the zip's original entry order and dates. Sources are dropped like Pyodide's own `py-compile` does, which
// keeps the download small; a .py that does not compile is kept as source.
import { readFile, writeFile, rename, mkdir } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

const COMPILE = `
import importlib._bootstrap_external as bootstrap
import importlib.util
import json
import sys
import zipfile

PREFIX = sys.path[1]  # "/lib/python314.zip": where the zip sits at run time, so tracebacks name the right files

def bytecompile(source_zip: str, output_zip: str) -> str:
    stats = {"compiled": 0, "kept_source": [], "other": 0}
    with zipfile.ZipFile(source_zip) as src, zipfile.ZipFile(output_zip, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            name = info.filename
            if name.endswith(".py"):
                try:
                    code = compile(body, f"{PREFIX}/{name}", "exec", dont_inherit=True, optimize=0)
                except SyntaxError:
                    stats["kept_source"].append(name)
                else:
                    body = bytes(bootstrap._code_to_hash_pyc(code, importlib.util.source_hash(body), checked=False))
                    name = name[:-3] + ".pyc"
                    stats["compiled"] += 1
            else:
                stats["other"] += 1
            entry = zipfile.ZipInfo(name, date_time=info.date_time)
            entry.external_attr = info.external_attr
            entry.compress_type = zipfile.ZIP_STORED if name.endswith("/") else zipfile.ZIP_DEFLATED
            dst.writestr(entry, body, compresslevel=9)
    return json.dumps(stats)
`;

// Modules the app and the tests lean on: each must come from a .pyc in the new zip.
const PROBE = `
import importlib, json, sys
names = ["json", "asyncio", "hashlib", "hmac", "secrets", "struct", "dataclasses", "typing", "enum", "base64",
         "zipfile", "email.parser", "sqlite3", "unicodedata", "pyodide.ffi", "pyodide.http", "_pyodide._base"]
origins = {}
for name in names:
    module = importlib.import_module(name)
    origins[name] = getattr(module, "__file__", None) or "built-in"
bad = {n: o for n, o in origins.items() if o.endswith(".py")}
json.dumps({"python": sys.version.split()[0], "source_only": bad, "imported": len(origins)})
`;

async function boot(indexURL, stdLibURL) {
  const { loadPyodide } = await import(pathToFileURL(path.join(indexURL, "pyodide.mjs")).href);
  const started = performance.now();
  const pyodide = await loadPyodide({ indexURL, stdLibURL, packageBaseUrl: indexURL, stdout: () => {}, stderr: () => {} });
  return { pyodide, ms: performance.now() - started };
}

async function main() {
  const [pyodideDir, output] = process.argv.slice(2);
  if (!pyodideDir || !output) {
    console.error("usage: node tools/bytecompile_stdlib.mjs <pyodide dir> <output zip>");
    process.exit(2);
  }
  const indexURL = path.resolve(pyodideDir) + path.sep;
  const stockZip = path.join(indexURL, "python_stdlib.zip");

  const stock = await boot(indexURL, stockZip);
  const { FS } = stock.pyodide;
  FS.writeFile("/tmp/stock.zip", await readFile(stockZip));
  stock.pyodide.runPython(COMPILE);
  const stats = JSON.parse(stock.pyodide.runPython('bytecompile("/tmp/stock.zip", "/tmp/compiled.zip")'));
  const compiled = FS.readFile("/tmp/compiled.zip");
  if (stats.compiled < 400) throw new Error(`only ${stats.compiled} modules compiled: is this Pyodide's stdlib zip?`);

  await mkdir(path.dirname(path.resolve(output)), { recursive: true });
  const tmp = `${output}.tmp`;
  await writeFile(tmp, compiled);

  // Prove the new zip boots and serves the modules from bytecode, and time both starts (second boot of each: warm).
  const fresh = await boot(indexURL, path.resolve(tmp));
  const probe = JSON.parse(fresh.pyodide.runPython(PROBE));
  if (Object.keys(probe.source_only).length) {
    throw new Error(`modules still loaded from source: ${JSON.stringify(probe.source_only)}`);
  }
  const stockWarm = await boot(indexURL, stockZip);
  stockWarm.pyodide.runPython("import asyncio, json, sqlite3, email.parser");
  const compiledWarm = await boot(indexURL, path.resolve(tmp));
  compiledWarm.pyodide.runPython("import asyncio, json, sqlite3, email.parser");
  await rename(tmp, output);
  console.log(JSON.stringify({
    output,
    compiled: stats.compiled,
    kept_source: stats.kept_source,
    bytes: compiled.length,
    stock_bytes: (await readFile(stockZip)).length,
    boot_ms_stock: Math.round(stockWarm.ms),
    boot_ms_compiled: Math.round(compiledWarm.ms),
    python: probe.python,
  }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
