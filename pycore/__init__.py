"""Vellum's protocol core (suite v1): one package that runs unchanged in CPython and under Pyodide in the browser.

Normative spec: ``pycore/SPEC.md``. Modules, one concept each: ``primitives`` (the only code touching libsodium),
``kdf``, ``recovery``, ``factors``, ``slots``, ``keyring``, ``bundle_public`` / ``bundle``, ``account``, ``envelope``,
``padding``, ``wire``, ``rotation``, ``sync``.

Nothing is imported eagerly here: the relay imports ``pycore.wire`` and ``pycore.bundle_public`` and must not pull in
anything that can decrypt, so the convenience names below load their module on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
SPEC_VERSION = "v1"

_EXPORTS = {
    "VellumError": "pycore.errors",
    "create_account": "pycore.account",
    "unlock_with_passphrase": "pycore.account",
    "unlock_with_recovery": "pycore.account",
    "seal_records": "pycore.envelope",
    "open_records": "pycore.envelope",
    "parse_bundle": "pycore.bundle_public",
}

__all__ = ["SPEC_VERSION", "__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pycore' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
