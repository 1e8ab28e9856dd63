"""Every frozen vector in tests/vectors/ replayed through pycore (the same suite runs inside Pyodide)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conformance import vectors_suite

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
FILES = sorted(p for p in VECTORS.glob("*/*.json"))


def test_every_family_is_present() -> None:
    families = {p.parent.name for p in FILES}
    assert families == {"envelope", "slot", "bundle", "recovery", "wire", "index", "export"}
    assert len(FILES) >= 70


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    assert case["family"] == path.parent.name
    vectors_suite.run_case(case)
