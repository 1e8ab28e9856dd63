"""Vellum's protocol core (suite v1): one package that runs unchanged in CPython and under Pyodide in the browser.

Normative spec: ``pycore/SPEC.md``. The layout follows the architecture (README, "Layout"):

- ``errors``: one typed error per stable code;
- ``public/``: relay-safe and decrypt-free (codec, wire, KDF parameters, the bundle's public verifier, limits); the
  relay imports only this and ``errors``;
- ``primitives/``: the only code touching libsodium;
- the protocol, one concept a module: ``kdf``, ``recovery``, ``factors``, ``slots``, ``keyring``, ``bundle``,
  ``account``, ``envelope``, ``padding``, ``notes``, ``merge``, ``index``, ``export``, ``rotation``;
- ``sync/``: the engine over its Store/Transport types, the notebook, the relay's HTTP API;
- ``lifecycle/``: one builder per key action and the explicit step-up;
- ``app/``: the browser worker's runtime (nothing imports it); ``client/``: the CPython client (not in the browser
  wheel).

Nothing is imported eagerly here: the relay must not pull in anything that can decrypt, so the convenience names below
load their module on first use (PEP 562).
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
    "parse_bundle": "pycore.public.bundle_public",
}

__all__ = ["SPEC_VERSION", "__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pycore' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
