"""The architecture's boundaries hold, and `make lint` catches a planted violation of them.

`make lint` runs import-linter with the contracts in pyproject.toml (``[tool.importlinter]``): the relay imports only
``pycore.public`` and ``pycore.errors``; ``pycore.public`` imports nothing else of pycore; nothing imports the browser
runtime (``pycore.app``) or the CPython client (``pycore.client``); no import cycle in pycore or backend.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
RELAY_SAFE = {"public", "errors"}


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def _pycore_modules() -> set[str]:
    names = {p.stem for p in (ROOT / "pycore").glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in (ROOT / "pycore").iterdir() if (p / "__init__.py").is_file()}
    return {f"pycore.{n}" for n in names}


def test_every_pycore_module_is_classified_for_the_relay() -> None:
    """A new pycore module is forbidden to the relay (and to pycore.public) unless it is one of the relay-safe ones."""
    everything_else = _pycore_modules() - {f"pycore.{n}" for n in RELAY_SAFE}
    for name in ("The relay imports only the relay-safe, decrypt-free part of pycore",
                 "pycore.public imports nothing else of pycore but its errors"):
        forbidden = set(_contracts()[name]["forbidden_modules"])  # type: ignore[arg-type]
        assert forbidden == everything_else, name


@pytest.mark.parametrize(
    ("path", "line", "contract"),
    [
        ("backend/health.py", "from pycore import envelope  # noqa\n", "The relay imports only"),
        ("pycore/public/wire.py", "from pycore import keyring  # noqa\n", "pycore.public imports nothing else"),
        ("pycore/sync/engine.py", "import pycore.app.worker  # noqa\n", "Nothing imports the browser runtime"),
        ("pycore/keyring.py", "import pycore.envelope  # noqa\n", "No import cycle in pycore"),
    ],
)
def test_lint_fails_on_a_planted_violation(tmp_path: Path, path: str, line: str, contract: str) -> None:
    for item in ("pycore", "backend", "pyproject.toml"):
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, tmp_path / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / item)
    clean = subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout
    target = tmp_path / path
    target.write_text(target.read_text() + line)
    if "cycle" in contract:  # a cycle needs the other direction too (envelope imports nothing of keyring today)
        envelope = tmp_path / "pycore/envelope.py"
        envelope.write_text(envelope.read_text() + "import pycore.keyring  # noqa\n")
    planted = subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert planted.returncode != 0
    assert f"{contract}" in planted.stdout and "BROKEN" in planted.stdout


def test_product_code_never_imports_the_tests() -> None:
    """Test doubles live in tests/support; pycore and the relay must not lean on them (import-linter sees only
    pycore and backend, so this is checked here)."""
    offenders = []
    for path in [*(ROOT / "pycore").rglob("*.py"), *(ROOT / "backend").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "tests" or n.startswith("tests.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_browser_wheel_holds_no_client_and_no_test_doubles(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_pycore_wheel
    finally:
        sys.path.remove(str(ROOT / "tools"))
    wheel = build_pycore_wheel.build(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "pycore/app/worker.py" in names and "pycore/sync/engine.py" in names
    assert not [n for n in names if n.startswith(("pycore/client/", "tests/"))]
    assert not [n for n in names if "memory" in n or "fake" in n.lower()]
