"""Relay settings: defaults, validation of origins, and where the database and the PWA files live."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pycore.public import limits

REPO_ROOT = Path(__file__).resolve().parent.parent

KIB = 1024
MIB = 1024 * KIB

DEFAULTS: dict[str, Any] = {
    # The origin clients sign into every request and login statement (scheme://host[:port], no path).
    "PUBLIC_ORIGIN": "http://localhost:8000",
    # Extra origin for the PWA's CSP connect-src when the API lives elsewhere (default: PUBLIC_ORIGIN).
    "API_ORIGIN": None,
    # Origins of separately hosted copies of the app that may call /api/v1 (CORS). Same-origin needs no entry.
    "APP_ORIGINS": [],
    # Trusted Types policy names the PWA may create (CSP ``trusted-types``).
    "TRUSTED_TYPES_POLICIES": ["vellum-worker"],
    "DATA_DIR": None,  # default: the Flask instance folder
    "DATABASE_URL": None,  # default: sqlite:///<DATA_DIR>/vellum.sqlite3
    "DB_BUSY_TIMEOUT": 10.0,  # seconds a writer waits for SQLite's lock before answering 503 server_busy
    "WEB_DIR": str(REPO_ROOT / "web"),
    "SERVICE_WORKER": str(REPO_ROOT / "service-worker" / "sw.js"),
    # Sizes, in bytes. The limits clients also obey come from pycore/public/limits.py, where each is explained.
    "MAX_CONTENT_LENGTH": 16 * MIB,  # whole request body
    "RECORD_MAX_SIZE": limits.RECORD_MAX_SIZE,  # one record's content ciphertext
    "WRAPPED_KEY_MAX_SIZE": 1 * KIB,
    "BATCH_MAX_RECORDS": limits.BATCH_MAX_RECORDS,
    "FEED_DEFAULT_LIMIT": 100,
    "FEED_MAX_LIMIT": limits.FEED_MAX_LIMIT,
    "FEED_MAX_BYTES": 8 * MIB,  # a page of the change feed stops once its content passes this (at least one change)
    "BUNDLE_CHAIN_MAX": 100,
    "MAX_DEVICES": 100,
    "DEVICE_NAME_MAX": limits.DEVICE_NAME_MAX_LENGTH,  # characters
    "CHALLENGE_TTL": 60,
    "LAST_SEEN_GRANULARITY": 60,  # seconds; last_seen is written at most this often per device
    # (requests, window seconds) per client address.
    "RATE_LIMITS": {
        "challenge": (60, 60),
        "prelogin": (60, 60),
        "login": (20, 60),
        "recovery_login": (10, 60),
        "register": (20, 600),
    },
    "RATE_LIMITS_ENABLED": True,
    "TRUSTED_PROXIES": 0,  # number of reverse proxies whose X-Forwarded-For/-Proto to trust
    "CLOCK": time.time,
}


def normalize_origin(value: str) -> str:
    """``scheme://host[:port]`` in lower case, or ValueError: an origin is compared byte for byte when signed."""
    if not isinstance(value, str):
        raise ValueError("an origin must be a string")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) origin: {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"an origin has no path, query or credentials: {value!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    port = f":{parts.port}" if parts.port not in (None, default_port) else ""
    return f"{parts.scheme}://{host}{port}"


def finalize(config: dict[str, Any], instance_path: str) -> None:
    """Fill derived settings and check origins; raises ValueError on a bad setting."""
    config["PUBLIC_ORIGIN"] = normalize_origin(config["PUBLIC_ORIGIN"])
    api_origin = config.get("API_ORIGIN") or config["PUBLIC_ORIGIN"]
    config["API_ORIGIN"] = normalize_origin(api_origin)
    origins = config.get("APP_ORIGINS") or []
    if isinstance(origins, str):
        origins = [o for o in origins.replace(",", " ").split() if o]
    config["APP_ORIGINS"] = [normalize_origin(o) for o in origins]
    if not config.get("DATABASE_URL"):
        data_dir = Path(config.get("DATA_DIR") or instance_path)
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        config["DATA_DIR"] = str(data_dir)
        config["DATABASE_URL"] = f"sqlite:///{data_dir / 'vellum.sqlite3'}"
