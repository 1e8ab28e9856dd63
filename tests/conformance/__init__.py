"""Backend-independent conformance suites: plain functions over already-loaded vector data, no pytest.

They run under CPython (through the pytest wrappers in ``tests/unit``) and, unchanged, under Pyodide against the
libsodium.js backend, so this package stays pure Python 3.11+, standard library only (plus ``pycore`` itself).
"""
