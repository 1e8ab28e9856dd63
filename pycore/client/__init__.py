"""Adapters that plug the sync engine into a real environment, and a small client on top.

- ``memory``: an in-memory store and an in-process relay double with the relay's rules, step-up included (tests, demos);
- ``relay_api``: the relay's HTTP API as signed requests and parsed answers, over any async HTTP function (pure);
- ``http_transport``: that API over ``requests`` (CPython);
- ``sqlite_store``: the engine's store in one SQLite file (CPython);
- ``signer``: the device's Ed25519 request key with PyNaCl (CPython);
- ``client``: ``Client`` — register, log in, notes, sync, and the key lifecycle (``pycore.lifecycle``) — used by tests,
  benchmarks and ``python -m pycore.client``.

Nothing is imported here eagerly, so the browser can import ``pycore.sync.relay_api`` without ``requests``.
"""
