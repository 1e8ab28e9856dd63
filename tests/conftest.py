"""Suite-wide ordering: the browser tests run last.

pytest-playwright's sync API keeps an asyncio event loop running in the main thread for as long as its session-scoped
fixtures live, and ``asyncio.run`` (used by the protocol tests) refuses to start inside a running loop. Running every
Chromium test after the rest keeps both kinds in one pytest session, whatever order the paths were given in.

pytest-randomly (``make test`` runs with it) shuffles the modules, and the tests inside each, in a hook wrapper that
reorders before any plain implementation of this hook runs; the stable sort below then moves the browser modules to
the end and keeps the shuffled order within each group.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))
