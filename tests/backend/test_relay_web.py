"""Serving the PWA (static files, /sw.js, MIME types), security headers on every answer, and CORS on /api/."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycore.public import wire
from tests.backend.apps import APP_ORIGIN

PAGES = {
    "index.html": b"<!doctype html><title>Vellum</title>",
    "app.mjs": b"export const x = 1;",
    "vendor/pyodide/pyodide.asm.wasm": b"\x00asm\x01\x00\x00\x00",
    "vendor/pyodide/python_stdlib.zip": b"PK\x05\x06" + bytes(18),
    "manifest.webmanifest": b"{}",
    "style.css": b"body{}",
    ".secret": b"dotfile",
}


@pytest.fixture
def web(app) -> Path:
    root = Path(app.config["WEB_DIR"])
    for name, data in PAGES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    sw = Path(app.config["SERVICE_WORKER"])
    sw.parent.mkdir(parents=True, exist_ok=True)
    sw.write_bytes(b"self.addEventListener('fetch', () => {});")
    (root.parent / "outside.txt").write_bytes(b"outside")
    return root


def test_index_and_files(client, web) -> None:
    assert client.get("/index.html").data == PAGES["index.html"]  # served, not redirected
    r = client.get("/")
    assert r.status_code == 200 and r.data == PAGES["index.html"]
    assert r.mimetype == "text/html"
    assert r.headers["Cache-Control"] == "no-cache"
    expected = {
        "/app.mjs": "text/javascript",
        "/vendor/pyodide/pyodide.asm.wasm": "application/wasm",
        "/vendor/pyodide/python_stdlib.zip": "application/zip",
        "/manifest.webmanifest": "application/manifest+json",
        "/style.css": "text/css",
    }
    for path, mime in expected.items():
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.mimetype == mime, path
    assert client.head("/app.mjs").status_code == 200


def test_service_worker(client, web) -> None:
    r = client.get("/sw.js")
    assert r.status_code == 200
    assert r.mimetype == "text/javascript"
    assert r.headers["Service-Worker-Allowed"] == "/"
    assert r.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/missing.js",
        "/.secret",
        "/vendor/",
        "/vendor",
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/vendor/../../outside.txt",
    ],
)
def test_missing_and_forbidden_files(client, web, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, path
    assert r.json["code"] == "not_found"


def test_no_web_dir_does_not_crash(client) -> None:
    for path in ("/", "/index.html", "/sw.js", "/app.mjs"):
        r = client.get(path)
        assert r.status_code == 404 and r.json["code"] == "not_found"


def test_wrong_method_on_static_and_api(client, web) -> None:
    r = client.post("/index.html")
    assert (r.status_code, r.json["code"]) == (405, "method_not_allowed")
    r = client.get("/api/v1/prelogin")
    assert (r.status_code, r.json["code"]) == (405, "method_not_allowed")
    assert "POST" in r.headers["Allow"]
    r = client.get("/api/v1/nothing-here")
    assert (r.status_code, r.json["code"]) == (404, "not_found")


def test_security_headers_everywhere(client, web) -> None:
    for r in (
        client.get("/"),
        client.get("/sw.js"),
        client.get("/api/v1/health"),
        client.get("/missing"),
        client.post("/api/v1/prelogin", data=b"{"),
    ):
        csp = r.headers["Content-Security-Policy"]
        for directive in (
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "worker-src 'self'",
            "connect-src 'self' http://localhost:8000",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types vellum-worker",
        ):
            assert directive in csp.split("; "), (directive, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval'" not in csp.replace("wasm-unsafe-eval'", "")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        policy = r.headers["Permissions-Policy"]
        assert "publickey-credentials-create=(self)" in policy and "publickey-credentials-get=(self)" in policy
        assert "camera=()" in policy
        assert "Strict-Transport-Security" not in r.headers  # plain http
    assert client.get("/api/v1/health").headers["Cache-Control"] == "no-store"


def test_hsts_over_tls(client) -> None:
    r = client.get("/api/v1/health", base_url="https://localhost")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_api_origin_in_csp(tmp_path, clock) -> None:
    from tests.backend.apps import make_app

    app = make_app(tmp_path, clock, API_ORIGIN="https://relay.example:8443/")
    csp = app.test_client().get("/").headers["Content-Security-Policy"]
    assert "connect-src 'self' https://relay.example:8443;" in csp
    app.extensions["vellum_engine"].dispose()


def test_bad_origin_settings_are_refused(tmp_path, clock) -> None:
    from tests.backend.apps import make_app

    for bad in ({"PUBLIC_ORIGIN": "localhost:8000"}, {"APP_ORIGINS": ["https://a.example/path"]}):
        with pytest.raises(ValueError):
            make_app(tmp_path, clock, **bad)


# --- CORS -------------------------------------------------------------------------------------------------------------

VELLUM_HEADERS = [
    wire.HEADER_ACCOUNT,
    wire.HEADER_DEVICE,
    wire.HEADER_TIMESTAMP,
    wire.HEADER_NONCE,
    wire.HEADER_SIGNATURE,
    wire.HEADER_STEP_UP,
]


def preflight(client, origin: str, method: str = "PUT", path: str = "/api/v1/bundle"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ", ".join(["content-type", *[h.lower() for h in VELLUM_HEADERS]]),
        },
    )


def test_cors_preflight_for_an_app_origin(client) -> None:
    r = preflight(client, APP_ORIGIN)
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed >= {"content-type", *[h.lower() for h in VELLUM_HEADERS]}
    assert "PUT" in r.headers["Access-Control-Allow-Methods"]
    assert "DELETE" in r.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in r.headers
    assert "Origin" in r.headers["Vary"]


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://app.example", "https://app.example.evil", "null", "https://app.example:444"],
)
def test_cors_refuses_other_origins(client, origin: str) -> None:
    r = preflight(client, origin)
    assert r.status_code == 403 and r.json["code"] == "cors_refused"
    assert "Access-Control-Allow-Origin" not in r.headers
    r = client.get("/api/v1/health", headers={"Origin": origin})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_on_actual_responses(client) -> None:
    r = client.get("/api/v1/health", headers={"Origin": APP_ORIGIN})
    assert r.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "Retry-After" in r.headers["Access-Control-Expose-Headers"]
    r = client.post("/api/v1/prelogin", data=b"{", headers={"Origin": APP_ORIGIN})
    assert r.status_code == 400 and r.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    r = client.get("/", headers={"Origin": APP_ORIGIN})
    assert "Access-Control-Allow-Origin" not in r.headers  # only the API is cross-origin


def test_cors_without_app_origins(tmp_path, clock) -> None:
    from tests.backend.apps import make_app

    app = make_app(tmp_path, clock, APP_ORIGINS=[])
    r = preflight(app.test_client(), APP_ORIGIN)
    assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers
    app.extensions["vellum_engine"].dispose()
