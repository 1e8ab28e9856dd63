"""``GET /api/v1/health``: the relay answers and its database is reachable; also the server time for clock offsets."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from backend import store

bp_health = Blueprint("health", __name__, url_prefix="/api/v1")


@bp_health.get("/health")
def health() -> ResponseReturnValue:
    with store.read() as conn:
        conn.execute(text("SELECT 1"))
    return jsonify(status="ok", api="v1", server_time=store.now())
