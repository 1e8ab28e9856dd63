"""Fixtures for the relay tests: ``app`` (a fresh relay on a temp data dir with a controllable clock), ``client``
(Flask test client), ``relay`` (a signing RelayClient over it), ``account`` (a registered account), and
``live_relay`` (a real ``vellum serve`` with 2 workers, shared by the session)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.backend.apps import START_TIME, Clock, make_app  # noqa: E402
from tests.backend.helpers import ORIGIN, Account, RelayClient, flask_transport  # noqa: E402
from tests.backend.live import LiveRelay, run_relay  # noqa: E402


@pytest.fixture
def clock() -> Clock:
    return Clock(START_TIME)


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> Iterator[Any]:
    application = make_app(tmp_path, clock)
    yield application
    application.extensions["vellum_engine"].dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def relay(client: Any, clock: Clock) -> RelayClient:
    return RelayClient(flask_transport(client), ORIGIN, clock)


@pytest.fixture
def account(relay: RelayClient) -> Account:
    acc = Account()
    r = relay.register(acc)
    assert r.status == 201, r
    return acc


@pytest.fixture(scope="session")
def live_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRelay]:
    with run_relay(tmp_path_factory.mktemp("live-relay")) as running:
        yield running
