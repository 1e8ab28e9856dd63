"""Build the pure-Python wheel of ``pycore`` alone, for Pyodide (micropip installs it in the crypto worker).

    python tools/build_pycore_wheel.py OUT_DIR

The wheel is written directly as a zip, byte-for-byte reproducible: fixed dates, sorted entries, fixed permissions, so
the asset manifest's version (the service worker's cache name) only changes when pycore does. The distribution is
``vellum_pycore`` (the project's own ``vellum`` distribution also carries the relay); its version is the project's.
Older ``vellum_pycore-*.whl`` files in OUT_DIR are removed so only one is ever vendored.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST_NAME = "vellum_pycore"
PACKAGE = "pycore"
REQUIRES_DIST = ("mnemonic==0.21", 'pynacl==1.6.2; sys_platform != "emscripten"')
DATA_FILES = ("SPEC.md", "py.typed")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def project_version(pyproject: Path) -> str:
    with pyproject.open("rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


# The CPython client (HTTP, SQLite, PyNaCl signer, CLI) never runs in the browser: it stays out of the wheel.
EXCLUDED = ("client",)


def package_files(package_dir: Path) -> list[Path]:
    files = [
        p for p in package_dir.rglob("*.py")
        if "__pycache__" not in p.parts and p.relative_to(package_dir).parts[0] not in EXCLUDED
    ]
    files += [package_dir / name for name in DATA_FILES if (package_dir / name).is_file()]
    return sorted(files, key=lambda p: p.relative_to(package_dir.parent).as_posix())


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def metadata(version: str) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {DIST_NAME}",
        f"Version: {version}",
        "Summary: Vellum's protocol core (pycore), built for Pyodide",
        "License: Apache-2.0",
        "Requires-Python: >=3.11",
        *(f"Requires-Dist: {req}" for req in REQUIRES_DIST),
    ]
    return "\n".join(lines) + "\n"


WHEEL = "Wheel-Version: 1.0\nGenerator: vellum tools/build_pycore_wheel.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def build(out_dir: Path, root: Path = ROOT) -> Path:
    version = project_version(root / "pyproject.toml")
    package_dir = root / PACKAGE
    if not (package_dir / "__init__.py").is_file() and not (package_dir / "primitives" / "__init__.py").is_file():
        raise SystemExit(f"{package_dir} does not look like the pycore package")
    dist_info = f"{DIST_NAME}-{version}.dist-info"
    entries: list[tuple[str, bytes]] = [
        (path.relative_to(root).as_posix(), path.read_bytes()) for path in package_files(package_dir)
    ]
    entries.append((f"{dist_info}/METADATA", metadata(version).encode()))
    entries.append((f"{dist_info}/WHEEL", WHEEL.encode()))
    record = "".join(f"{name},{record_hash(data)},{len(data)}\n" for name, data in entries)
    record += f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode()))

    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{DIST_NAME}-{version}-py3-none-any.whl"
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=9)
    tmp.replace(wheel)
    for stale in out_dir.glob(f"{DIST_NAME}-*.whl"):
        if stale != wheel:
            stale.unlink()
    return wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    wheel = build(args.out_dir)
    with zipfile.ZipFile(wheel) as zf:
        count = len(zf.namelist())
    print(f"{wheel} ({count} entries, {wheel.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
