"""Pyodide's foreign-function names for the browser adapters, with CPython stand-ins so tests can drive the adapters
with plain Python objects in place of the JavaScript modules."""

from __future__ import annotations

import sys
from typing import Any

if sys.platform == "emscripten":
    from pyodide.ffi import JsException, to_js
else:  # CPython: tests drive the adapters with plain Python stand-ins

    class JsException(Exception):  # Pyodide's name
        """Stand-in for ``pyodide.ffi.JsException``: a JavaScript error with its ``name``."""

        def __init__(self, name: str, message: str = "") -> None:
            super().__init__(f"{name}: {message}")
            self.name = name
            self.message = message

    def to_js(value: bytes) -> Any:
        return value


def js_bytes(value: Any) -> bytes:
    """A ``Uint8Array`` (JsProxy) or bytes-like value as ``bytes``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return bytes(value.to_bytes())
