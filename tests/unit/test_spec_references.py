"""Spec traceability, executable: every ``(`module.name`)`` that pycore/SPEC.md cites names something that exists in
pycore and that product code (pycore or the relay, not only the tests) uses, so the spec never points at dead code."""

from __future__ import annotations

import ast
import importlib
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "pycore" / "SPEC.md"
REFERENCE = re.compile(r"`((?:pycore\.)?[a-z_]+(?:\.[a-z_]+)*\.[A-Za-z_][A-Za-z0-9_]*)`")
# Short names the spec uses for modules that live in a subpackage.
MODULES = {
    "wire": "pycore.public.wire", "codec": "pycore.public.codec", "bundle_public": "pycore.public.bundle_public",
    "kdf_params": "pycore.public.kdf_params", "sync": "pycore.sync.engine", "notebook": "pycore.sync.notebook",
    "relay_api": "pycore.sync.relay_api",
}


def _pycore_names() -> set[str]:
    pycore = ROOT / "pycore"
    names = {p.stem for p in pycore.glob("*.py")} | {p.name for p in pycore.iterdir() if (p / "__init__.py").is_file()}
    return names | set(MODULES) | {"pycore"}


def _references() -> list[str]:
    """Code references whose first part is pycore or one of its modules (not, say, ``crypto.getRandomValues``)."""
    known = _pycore_names()
    return sorted({r for r in REFERENCE.findall(SPEC.read_text()) if r.split(".")[0] in known})


def _resolve(ref: str) -> tuple[str, str]:
    """(module, attribute) for a reference, or an AssertionError naming it."""
    parts = ref.removeprefix("pycore.").split(".")
    whole = MODULES.get(".".join(parts), "pycore." + ".".join(parts))
    try:
        importlib.import_module(whole)
        return whole, ""
    except ImportError:
        pass
    for cut in range(len(parts) - 1, 0, -1):
        short = ".".join(parts[:cut])
        module = MODULES.get(short, f"pycore.{short}")
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return module, ".".join(parts[cut:])
    raise AssertionError(f"SPEC.md cites {ref}, and no pycore module has that name")


def _names_used_by_product_code() -> Counter[str]:
    """Names read as code (not in strings or comments) anywhere in pycore or the relay."""
    used: Counter[str] = Counter()
    for path in [*ROOT.joinpath("pycore").rglob("*.py"), *ROOT.joinpath("backend").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name):
                used[node.id] += 1
            elif isinstance(node, ast.Attribute):
                used[node.attr] += 1
            elif isinstance(node, ast.ImportFrom):
                used.update(alias.name for alias in node.names)
    return used


def test_every_function_the_spec_cites_exists_and_product_code_uses_it() -> None:
    refs = [r for r in _references() if r != "module.function"]
    assert len(refs) > 20
    used = _names_used_by_product_code()
    stale, unused = [], []
    for ref in refs:
        module, attribute = _resolve(ref)
        target: object = importlib.import_module(module)
        for name in attribute.split(".") if attribute else ():
            target = getattr(target, name, None)
            if target is None:
                stale.append(ref)
                break
        else:
            last = attribute.split(".")[-1]
            if callable(target) and used[last] == 0:
                unused.append(ref)
    assert stale == [], f"SPEC.md cites names that do not exist: {stale}"
    assert unused == [], f"SPEC.md cites functions only tests use: {unused}"
