"""One exception type for every API error, and the app-level handlers that turn anything into ``{code, detail}`` JSON.

Codes are stable snake_case strings that clients switch on; ``detail`` is a calm sentence for people and never holds
key material, signatures or request bodies. See docs/relay.md for the full table.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """An error answer: ``status`` HTTP code, ``code`` for machines, ``detail`` for people, ``extra`` JSON fields."""

    def __init__(self, code: str, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.status = status
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class StepUpError(ApiError):
    """``step_up_required`` / ``step_up_failed``: the handler attaches a fresh step-up challenge to the answer.

    The challenge is issued after the failing transaction rolled back, in its own transaction, so it survives.
    """

    def __init__(self, code: str, detail: str, *, action: str, account_id: bytes, device_id: bytes) -> None:
        super().__init__(code, 403, detail, action=action)
        self.account_id = account_id
        self.device_id = device_id


def bad_request(detail: str) -> ApiError:
    return ApiError("bad_request", 400, detail)


# Generic HTTP errors raised by Flask/Werkzeug itself, mapped to our codes.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    414: "too_large",
    415: "bad_request",
    429: "rate_limited",
    431: "too_large",
}


def error_response(err: ApiError) -> ResponseReturnValue:
    response = jsonify(err.body())
    response.status_code = err.status
    for name, value in err.headers.items():
        response.headers[name] = value
    return response


def busy() -> ResponseReturnValue:
    api_err = ApiError("server_busy", 503, "The relay is busy. Try again in a moment.")
    api_err.headers["Retry-After"] = "1"
    return error_response(api_err)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError) -> ResponseReturnValue:
        return error_response(err)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> ResponseReturnValue:
        status = err.code or 500
        code = _HTTP_CODES.get(status, "bad_request" if status < 500 else "internal_error")
        detail = {
            "too_large": "The request is larger than this relay accepts.",
            "not_found": "There is nothing at this address.",
            "method_not_allowed": "This address does not accept that method.",
        }.get(code, err.description or "The request was refused.")
        api_err = ApiError(code, status, detail)
        allowed = getattr(err, "valid_methods", None)
        if status == 405 and allowed:
            api_err.headers["Allow"] = ", ".join(allowed)
        return error_response(api_err)

    @app.errorhandler(OperationalError)
    def _db_busy(err: OperationalError) -> ResponseReturnValue:
        # A locked or busy database (or a lost connection) is a temporary condition, never a 500: ask for a retry.
        # Parameters are hidden by the engine (hide_parameters=True), so this log line holds no request data.
        current_app.logger.warning("database unavailable: %s", type(err.orig).__name__)
        return busy()

    @app.errorhandler(DBAPIError)
    def _db_error(err: DBAPIError) -> ResponseReturnValue:
        # Integrity races between two writers (PostgreSQL) end here: the client retries and sees the winner.
        current_app.logger.warning("database error: %s", type(err.orig).__name__)
        api_err = ApiError("server_busy", 503, "The relay could not apply this change now. Try again.")
        api_err.headers["Retry-After"] = "1"
        return error_response(api_err)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> ResponseReturnValue:
        # Log the type and traceback only; never the request body or headers.
        current_app.logger.error("unexpected error: %s", type(err).__name__, exc_info=err)
        return error_response(ApiError("internal_error", 500, "The relay hit an unexpected error."))
