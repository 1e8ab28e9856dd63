"""A relay app for tests: temp data dir, a hand-moved clock, rate limits off unless asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend import create_app
from tests.backend.helpers import ORIGIN

APP_ORIGIN = "https://app.example"
START_TIME = 1_800_000_000


class Clock:
    """The relay's and the test client's clock, moved by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_app(tmp_path: Path, clock: Clock, **overrides: Any) -> Any:
    config = {
        "TESTING": True,
        "DATA_DIR": str(tmp_path / "data"),
        "PUBLIC_ORIGIN": ORIGIN,
        "APP_ORIGINS": [APP_ORIGIN],
        "CLOCK": clock,
        "RATE_LIMITS_ENABLED": False,
        "WEB_DIR": str(tmp_path / "web"),
        "SERVICE_WORKER": str(tmp_path / "service-worker" / "sw.js"),
    }
    config.update(overrides)
    return create_app(config)
