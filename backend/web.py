"""The PWA's files: ``web/`` as static files (index.html at ``/``) and the service worker at ``/sw.js``.

``web/`` is built by other tooling; a missing file is a 404, never a crash. Every answer revalidates (``no-cache``):
the service worker, not the HTTP cache, decides what runs offline.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import Blueprint, current_app, send_file, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.routing import PathConverter

from backend.errors import ApiError

bp_web = Blueprint("web", __name__)


class WebPathConverter(PathConverter):
    """A path outside ``/api/``, so that a wrong method on an API route is a 405, not a missing file."""

    regex = r"(?!api(?:/|$))[^/].*?"


@bp_web.record_once
def _register_converter(state: object) -> None:
    state.app.url_map.converters["webpath"] = WebPathConverter  # type: ignore[attr-defined]


MIME_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".html": "text/html",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain",
    ".zip": "application/zip",
    ".whl": "application/zip",
    ".tar": "application/x-tar",
    ".woff2": "font/woff2",
}


def _not_found() -> ApiError:
    return ApiError("not_found", 404, "There is nothing at this address.")


def mime_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return MIME_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


@bp_web.get("/sw.js")
def service_worker() -> ResponseReturnValue:
    path = Path(current_app.config["SERVICE_WORKER"])
    if not path.is_file():
        raise _not_found()
    response = send_file(path, mimetype="text/javascript", max_age=None)
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp_web.get("/")
def index() -> ResponseReturnValue:
    # Its own rule (not a default of the next one), so /index.html is served too rather than redirected.
    return static_file("index.html")


@bp_web.get("/<webpath:filename>")
def static_file(filename: str) -> ResponseReturnValue:
    parts = filename.split("/")
    if any(p.startswith(".") or not p for p in parts):
        raise _not_found()
    web_dir = Path(current_app.config["WEB_DIR"])
    if not web_dir.is_dir():
        raise _not_found()
    # send_from_directory refuses paths that escape web_dir and answers 404 for missing files.
    response = send_from_directory(web_dir, filename, mimetype=mime_type(filename), max_age=None)
    response.headers["Cache-Control"] = "no-cache"
    return response
