"""pycore under Pyodide (in Node) with the libsodium.js backend gives the same bytes and errors as under CPython.

One Node process (tests/pyodide/run.mjs) boots Pyodide from web/vendor exactly as the crypto worker will (byte-compiled
stdlib, corrected lock file, micropip, the pycore and mnemonic wheels, libsodium.js behind web/worker/sodium-bridge.js),
then runs the same Python functions that this file runs in CPython: ``primitive_cases`` (fixed-input byte equality,
sealed boxes both ways, error mapping, an AEAD benchmark) and the shared conformance suites in tests/conformance.

Needs `make web-assets` (the `test` target builds it) and, for the conformance suites, `make vectors`.
The full report, timings included, is written to .cache/pyodide/node-report.json.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENDOR = ROOT / "web" / "vendor"
REPORT = ROOT / ".cache" / "pyodide" / "node-report.json"
IN_PYODIDE = "/home/pyodide/vellum"  # the repository's layout is mirrored here inside Pyodide's file system
CASES_MODULE = "tests.pyodide.primitive_cases"
NODE_TIMEOUT_S = 600


def _load_cases() -> ModuleType:
    # pycore and tests.conformance are imported from the work tree (as in Pyodide, where they are copied in).
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location("vellum_primitive_cases", HERE / "primitive_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cases = _load_cases()


def _conformance_ready() -> bool:
    if not (ROOT / "tests" / "conformance" / "primitives_suite.py").is_file():
        return False
    from tests.conformance import primitives_suite as ps

    return all((ROOT / ".cache" / "vectors" / rel).is_file() for rel in ps.VECTOR_FILES.values())


def _files_for_pyodide(with_conformance: bool) -> dict[str, str]:
    files = {f"{IN_PYODIDE}/tests/pyodide/primitive_cases.py": str(HERE / "primitive_cases.py")}
    if with_conformance:
        sources = [*(ROOT / "tests" / "conformance").glob("*.py"), *(ROOT / "tests" / "vectors").rglob("*.json")]
        sources += (ROOT / ".cache" / "vectors").rglob("*.json")
        files.update({f"{IN_PYODIDE}/{path.relative_to(ROOT).as_posix()}": str(path) for path in sources})
    return files


@pytest.fixture(scope="module")
def cpython() -> dict[str, Any]:
    """What the PyNaCl backend gives for the same calls."""
    with_conformance = _conformance_ready()
    computed = cases.compute()
    return {
        "backend": computed["backend"],
        "compute": computed,
        "failures": cases.failures(),
        "sealed_box": cases.seal_for_peer(),
        "conformance": cases.run_conformance(str(ROOT)) if with_conformance else None,
    }


@pytest.fixture(scope="module")
def node(cpython: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    node_bin = shutil.which("node")
    if node_bin is None:
        pytest.fail("node is not installed (Node 20 runs these tests)")
    missing = [name for name in ("asset-manifest.json", "pyodide/python_stdlib.zip") if not (VENDOR / name).is_file()]
    if missing:
        pytest.fail(f"web/vendor is not built ({', '.join(missing)} missing): run `make web-assets`")
    with_conformance = cpython["conformance"] is not None
    calls = [
        {"id": "compute", "module": CASES_MODULE, "function": "compute"},
        {"id": "failures", "module": CASES_MODULE, "function": "failures"},
        {"id": "seal_for_peer", "module": CASES_MODULE, "function": "seal_for_peer"},
        {"id": "open_from_peer", "module": CASES_MODULE, "function": "open_from_peer", "args": [cpython["sealed_box"]]},
        {"id": "bench", "module": CASES_MODULE, "function": "bench"},
    ]
    if with_conformance:
        calls.append({"id": "conformance", "module": CASES_MODULE, "function": "run_conformance", "args": [IN_PYODIDE]})
    request = {"files": _files_for_pyodide(with_conformance), "sys_path": [IN_PYODIDE], "calls": calls}
    request_file = tmp_path_factory.mktemp("pyodide") / "request.json"
    request_file.write_text(json.dumps(request))
    proc = subprocess.run(
        [node_bin, str(HERE / "run.mjs"), str(request_file)],
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"run.mjs exited {proc.returncode}\n{proc.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=1))
    return report


def _result(node: dict[str, Any], call_id: str) -> Any:
    outcome = node["calls"][call_id]
    if not outcome["ok"]:
        pytest.fail(f"{call_id} failed under Pyodide: {outcome['error']}: {outcome['message']}\n{outcome['traceback']}")
    return outcome["result"]


def test_boots_from_vendored_assets(node: dict[str, Any]) -> None:
    assert node["python"].startswith("3.14.")
    assert node["stdlib_bytecompiled"] is True
    # Pyodide's Node loader does not check hashes; a browser does (fetch integrity). Check what it would check.
    integrity = node["lock_integrity"]
    assert integrity and all(entry["ok"] for entry in integrity.values()), integrity
    assert node["loaded_packages"] == ["micropip==0.11.1"]
    with (ROOT / "pyproject.toml").open("rb") as fh:
        version = tomllib.load(fh)["project"]["version"]
    assert node["installed"] == ["mnemonic-0.21-py3-none-any.whl", f"vellum_pycore-{version}-py3-none-any.whl"]


def test_backend_is_libsodium_js(node: dict[str, Any], cpython: dict[str, Any]) -> None:
    assert node["backend"] == "libsodium.js"
    assert node["libsodium_version"].startswith("1.0.")
    assert cpython["backend"] == "pynacl"
    assert _result(node, "compute")["backend"] == "libsodium.js"


def test_same_bytes_as_pynacl(node: dict[str, Any], cpython: dict[str, Any]) -> None:
    got = {k: v for k, v in _result(node, "compute").items() if k not in cases.NOT_COMPARED}
    expected = {k: v for k, v in cpython["compute"].items() if k not in cases.NOT_COMPARED}
    assert got == expected
    assert all(v == "True" for k, v in got.items() if k.endswith(("roundtrip", "equals-single", "symmetric")))


def test_sealed_boxes_open_across_backends(node: dict[str, Any]) -> None:
    assert bytes.fromhex(_result(node, "open_from_peer")) == cases.SEALED_PLAINTEXT
    assert bytes.fromhex(cases.open_from_peer(_result(node, "seal_for_peer"))) == cases.SEALED_PLAINTEXT


def test_failures_map_to_the_same_pycore_errors(node: dict[str, Any], cpython: dict[str, Any]) -> None:
    got = _result(node, "failures")
    assert not [k for k, v in got.items() if isinstance(v, str) and v.startswith(("FOREIGN", "no error"))], got
    assert got == cpython["failures"]


def test_conformance_suites_agree(node: dict[str, Any], cpython: dict[str, Any]) -> None:
    if cpython["conformance"] is None:
        pytest.skip("tests/conformance/primitives_suite.py or .cache/vectors missing: run `make vectors`")
    got = _result(node, "conformance")
    for suite, outcome in cpython["conformance"].items():
        assert outcome["ok"], f"{suite} fails under CPython too: {outcome['error']}"
        assert got[suite] == outcome, f"{suite} under Pyodide: {got[suite]}"


def test_batch_crosses_the_bridge_once(node: dict[str, Any]) -> None:
    bench = _result(node, "bench")
    assert bench["count"] == 1000 and bench["size"] == 1024
    # One crossing per batch against one per record: the batch must win clearly, whatever the machine's noise.
    assert bench["decrypt_batch_ms"] < bench["decrypt_single_calls_ms"], bench
