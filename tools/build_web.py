"""Steps of ``make web-assets`` (mk/web.mk) that are more than a copy.

    python tools/build_web.py libsodium NODE_MODULES OUT_DIR   vendor libsodium.js (ESM) with a relative import
    python tools/build_web.py lock PYODIDE_DIR WHEELS_DIR OUT   Pyodide lock file whose hashes match what is served
    python tools/build_web.py manifest WEB_DIR                   web/vendor/asset-manifest.json for the service worker

Each step checks what it produced and fails loudly: a silently wrong vendored file would only show up in a browser.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path, PurePosixPath

# --- libsodium.js -----------------------------------------------------------------------------------------------------

SODIUM_WRAPPER = "libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs"
SODIUM_CORE = "libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs"
SODIUM_LICENSE = "libsodium-sumo/LICENSE"
# The wrapper's only import is the bare specifier of the core module; browsers cannot resolve bare specifiers without an
# import map, and import maps do not reach workers. Any quoting or spacing the minifier may choose is accepted.
BARE_IMPORT = re.compile(r"""(\bfrom\s*)(["'])libsodium-sumo\2""")
ANY_IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)(["'])([^"']+)\1""")


def vendor_libsodium(node_modules: Path, out_dir: Path) -> list[Path]:
    wrapper = (node_modules / SODIUM_WRAPPER).read_text(encoding="utf-8")
    rewritten, count = BARE_IMPORT.subn(r"\1\2./libsodium-sumo.mjs\2", wrapper)
    if count != 1:
        raise SystemExit(f"expected one import of 'libsodium-sumo' in {SODIUM_WRAPPER}, found {count}")
    core = (node_modules / SODIUM_CORE).read_text(encoding="utf-8")
    for name, text in (("libsodium-wrappers.mjs", rewritten), ("libsodium-sumo.mjs", core)):
        bare = [spec for _, spec in ANY_IMPORT.findall(text) if not spec.startswith((".", "/"))]
        if bare:
            raise SystemExit(f"{name} still imports bare specifiers {bare}: it would not load in a worker")
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = [out_dir / "libsodium-wrappers.mjs", out_dir / "libsodium-sumo.mjs", out_dir / "LICENSE"]
    _write(outputs[0], rewritten.encode())
    _write(outputs[1], core.encode())
    _write(outputs[2], (node_modules / SODIUM_LICENSE).read_bytes())
    return outputs


# --- Pyodide lock file ------------------------------------------------------------------------------------------------

LOCKED_PACKAGES = ("micropip",)


def write_lock(pyodide_dir: Path, wheels_dir: Path, out: Path) -> dict[str, object]:
    """A minimal lock: Pyodide's ``info`` block and only the packages we ship, with the hashes of the files we serve.

    Pyodide resolves ``file_name`` against the lock file's own URL (``new URL(file_name, lockFileURL)`` in a browser,
    ``path.resolve`` in Node), so the wheels stay in ``vendor/wheels`` next to ``vendor/pyodide``; in a browser the
    worker must therefore pass an absolute ``lockFileURL`` (a relative one fails with "Invalid base URL"). The browser
    fetches each wheel with ``integrity: sha256-...``; a mismatch makes ``loadPackage`` resolve to ``[]`` with only a
    console message, which is why the hash here is computed from the served bytes. Keeping only what we ship also
    means a stray ``loadPackage("numpy")`` fails instead of reaching for a CDN.
    """
    stock = json.loads((pyodide_dir / "pyodide-lock.json").read_text(encoding="utf-8"))
    packages: dict[str, object] = {}
    rel = os.path.relpath(wheels_dir, out.parent).replace(os.sep, "/")
    for name in LOCKED_PACKAGES:
        entry = dict(stock["packages"][name])
        wheel = wheels_dir / str(entry["file_name"])
        if not wheel.is_file():
            raise SystemExit(f"{wheel} is missing (the lock names {entry['file_name']})")
        entry["file_name"] = f"{rel}/{wheel.name}"
        entry["sha256"] = sha256_file(wheel)
        packages[name] = entry
    lock = {"info": stock["info"], "packages": packages}
    _write(out, (json.dumps(lock, indent=1, sort_keys=True) + "\n").encode())
    return lock


# --- asset manifest ---------------------------------------------------------------------------------------------------

MANIFEST = PurePosixPath("vendor/asset-manifest.json")
# What micropip installs in the worker (deps=False: each one is named here), in install order.
PYTHON_WHEEL_PATTERNS = ("mnemonic-*.whl", "vellum_pycore-*.whl")


def _is_shipped(rel: PurePosixPath) -> bool:
    if rel == MANIFEST:
        return False
    if any(part.startswith(".") for part in rel.parts):
        return False
    if any(part in {"tests", "test", "__pycache__"} for part in rel.parts[:-1]):
        return False
    name = rel.name
    return not (name.endswith((".tmp", "~")) or re.search(r"\.(test|spec)\.m?js$", name))


def build_manifest(web_dir: Path) -> dict[str, object]:
    files = []
    for path in sorted(web_dir.rglob("*")):
        rel = PurePosixPath(path.relative_to(web_dir).as_posix())
        if path.is_file() and _is_shipped(rel):
            files.append({"path": f"/{rel}", "size": path.stat().st_size, "sha256": sha256_file(path)})
    files.sort(key=lambda entry: str(entry["path"]))
    canonical = "".join(f"{e['path']}\0{e['size']}\0{e['sha256']}\n" for e in files)
    wheels_dir = web_dir / "vendor" / "wheels"
    python_wheels = []
    for pattern in PYTHON_WHEEL_PATTERNS:
        found = sorted(wheels_dir.glob(pattern))
        if len(found) != 1:
            raise SystemExit(f"expected exactly one {pattern} in {wheels_dir}, found {[p.name for p in found]}")
        python_wheels.append(f"/{found[0].relative_to(web_dir).as_posix()}")
    return {
        "version": hashlib.sha256(canonical.encode()).hexdigest(),
        "python_wheels": python_wheels,
        "files": files,
    }


def write_manifest(web_dir: Path) -> dict[str, object]:
    manifest = build_manifest(web_dir)
    _write(web_dir / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest


# --- helpers ----------------------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write(path: Path, data: bytes) -> None:
    """Write atomically; the mtime always moves so make sees the target as fresh."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build steps for web/vendor (see mk/web.mk).")
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("libsodium")
    p.add_argument("node_modules", type=Path)
    p.add_argument("out_dir", type=Path)
    p = sub.add_parser("lock")
    p.add_argument("pyodide_dir", type=Path)
    p.add_argument("wheels_dir", type=Path)
    p.add_argument("out", type=Path)
    p = sub.add_parser("manifest")
    p.add_argument("web_dir", type=Path)
    args = parser.parse_args(argv)

    if args.step == "libsodium":
        for path in vendor_libsodium(args.node_modules, args.out_dir):
            print(f"{path} ({path.stat().st_size} bytes)")
    elif args.step == "lock":
        lock = write_lock(args.pyodide_dir, args.wheels_dir, args.out)
        print(f"{args.out}: {', '.join(lock['packages'])}")  # type: ignore[arg-type]
    elif args.step == "manifest":
        manifest = write_manifest(args.web_dir)
        files = manifest["files"]
        total = sum(int(entry["size"]) for entry in files)  # type: ignore[attr-defined, index]
        print(f"{args.web_dir / MANIFEST}: {len(files)} files, {total} bytes, version {manifest['version'][:16]}")  # type: ignore[arg-type, index]
    return 0


if __name__ == "__main__":
    sys.exit(main())
