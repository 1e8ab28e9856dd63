"""The relay must not import anything of pycore that can decrypt: only ``pycore.public`` and ``pycore.errors``. `make
lint` checks the import graph (import-linter, pyproject.toml); this checks what a fresh interpreter really loads after
the app has been created and has served requests (lazy imports included)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "pycore", "pycore.errors", "pycore.public", "pycore.public.wire", "pycore.public.codec",
    "pycore.public.bundle_public", "pycore.public.kdf_params", "pycore.public.limits",
}

PROBE = r"""
import json, sys, tempfile
import backend, backend.cli
from backend import create_app
app = create_app({"DATA_DIR": tempfile.mkdtemp(), "RATE_LIMITS_ENABLED": True})
c = app.test_client()
c.get("/api/v1/health")
c.post("/api/v1/prelogin", json={"username": "probe"})
c.post("/api/v1/auth/challenge")
c.post("/api/v1/accounts", data=b"{")
c.get("/api/v1/devices", headers={"Vellum-Account": "AAAAAAAAAAAAAAAAAAAAAA"})
c.get("/")
print(json.dumps(sorted(m for m in sys.modules if m == "pycore" or m.startswith("pycore."))))
"""


def test_backend_imports_only_the_public_parts_of_pycore() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "pycore.public.wire" in loaded and "pycore.public.bundle_public" in loaded
    assert not any(m.startswith("pycore.primitives") for m in loaded)
    assert loaded <= ALLOWED, sorted(loaded - ALLOWED)
