"""The CPython client: the sync engine and the relay API (``pycore.sync``) plugged into CPython, and a small client on
top. Not part of the browser wheel.

- ``http_transport``: the relay API (``pycore.sync.relay_api``) over ``requests``;
- ``sqlite_store``: the engine's store in one SQLite file (CPython);
- ``signer``: the device's Ed25519 request key with PyNaCl (CPython);
- ``client``: ``Client`` — register, log in, notes, sync, and the key lifecycle (``pycore.lifecycle``) — used by tests,
  benchmarks and ``python -m pycore.client``.

Nothing is imported here eagerly: importing one module does not pull in ``requests`` or SQLite.
"""
