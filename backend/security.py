"""Headers on every answer (CSP with Trusted Types, nosniff, no referrer, COOP, Permissions-Policy, HSTS over TLS)
and CORS on ``/api/`` for the configured app origins only, preflight included."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask.typing import ResponseReturnValue

from backend.config import normalize_origin
from backend.errors import ApiError, error_response
from pycore.public import wire

API_PREFIX = "/api/"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_HEADERS = ", ".join(
    [
        "Content-Type",
        wire.HEADER_ACCOUNT,
        wire.HEADER_DEVICE,
        wire.HEADER_TIMESTAMP,
        wire.HEADER_NONCE,
        wire.HEADER_SIGNATURE,
        wire.HEADER_STEP_UP,
    ]
)
CORS_MAX_AGE = "600"
PERMISSIONS_POLICY = ", ".join(
    [
        "accelerometer=()",
        "camera=()",
        "geolocation=()",
        "gyroscope=()",
        "magnetometer=()",
        "microphone=()",
        "payment=()",
        "usb=()",
        "publickey-credentials-create=(self)",
        "publickey-credentials-get=(self)",
    ]
)
HSTS = "max-age=63072000"


def content_security_policy(api_origin: str, policies: list[str]) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "worker-src 'self'",
            f"connect-src 'self' {api_origin}",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types " + " ".join(policies),
        ]
    )


def allowed_origin(value: str | None) -> str | None:
    """The request's Origin if it is one of the configured app origins."""
    if not value:
        return None
    try:
        normalized = normalize_origin(value)
    except ValueError:
        return None
    return value if normalized in current_app.config["APP_ORIGINS"] else None


def _preflight() -> ResponseReturnValue | None:
    if request.method != "OPTIONS" or not request.path.startswith(API_PREFIX):
        return None
    if "Access-Control-Request-Method" not in request.headers:
        return None
    origin = allowed_origin(request.headers.get("Origin"))
    if origin is None:
        return error_response(ApiError("cors_refused", 403, "This origin may not call the relay's API."))
    response = Response(status=204)
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
    response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
    response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
    response.headers["Vary"] = "Origin"
    return response


def _headers(response: Response) -> Response:
    h = response.headers
    cfg = current_app.config
    h["Content-Security-Policy"] = content_security_policy(cfg["API_ORIGIN"], cfg["TRUSTED_TYPES_POLICIES"])
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "no-referrer"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["X-Frame-Options"] = "DENY"
    h["Permissions-Policy"] = PERMISSIONS_POLICY
    if request.is_secure:
        h["Strict-Transport-Security"] = HSTS
    if request.path.startswith(API_PREFIX):
        h["Cache-Control"] = "no-store"
        if "Origin" not in h.get("Vary", ""):
            h.add("Vary", "Origin")
        origin = allowed_origin(request.headers.get("Origin"))
        if origin is not None and "Access-Control-Allow-Origin" not in h:
            h["Access-Control-Allow-Origin"] = origin
            h["Access-Control-Expose-Headers"] = "Retry-After"
    return response


def register_security(app: Flask) -> None:
    app.before_request(_preflight)
    app.after_request(_headers)
