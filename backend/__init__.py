"""Vellum relay: a thin Flask app that stores and forwards ciphertext for end-to-end-encrypted notebooks.

It holds no key that can read data: it checks Ed25519 signatures (PyNaCl), the account bundle's public chain
(``pycore.bundle_public``), and compare-and-swaps opaque records. API reference: docs/relay.md.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from backend import store
from backend.config import DEFAULTS, finalize
from backend.errors import register_error_handlers
from backend.security import register_security

API_VERSION = "v1"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory. Settings: ``DEFAULTS`` < ``VELLUM_*`` environment variables < ``test_config``."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("VELLUM")
    if test_config:
        app.config.update(test_config)
    finalize(app.config, app.instance_path)

    engine = store.make_engine(app.config["DATABASE_URL"], app.config["DB_BUSY_TIMEOUT"])
    store.init_db(engine)
    app.extensions["vellum_engine"] = engine
    app.teardown_appcontext(store.close_db)

    if app.config["TRUSTED_PROXIES"]:
        n = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]

    register_error_handlers(app)
    from backend.auth import register_step_up_handler

    register_step_up_handler(app)
    register_security(app)

    from backend.accounts import bp_accounts
    from backend.bundle import bp_bundle
    from backend.devices import bp_devices
    from backend.health import bp_health
    from backend.records import bp_records
    from backend.web import bp_web

    for blueprint in (bp_health, bp_accounts, bp_bundle, bp_records, bp_devices, bp_web):
        app.register_blueprint(blueprint)
    return app
