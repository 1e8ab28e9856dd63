"""The app runs under the relay's strict CSP (Trusted Types required) without a single violation, in the page and in
the crypto worker, while the same CSP does stop what it should (a plain string handed to ``new Worker``)."""

from __future__ import annotations

import requests
from playwright.sync_api import Browser

from tests.backend.live import LiveRelay
from tests.browser.conftest import AppPage, new_app_context
from tests.browser.helpers import b64e, result

REQUIRED_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self'",
    "require-trusted-types-for 'script'",
    "trusted-types vellum-worker",
)


def test_relay_serves_the_app_with_the_strict_csp(relay: LiveRelay) -> None:
    for path in ("/", "/worker/crypto-worker.js", "/vendor/pyodide/pyodide.mjs", "/sw.js"):
        csp = requests.get(relay.base_url + path, timeout=10).headers["Content-Security-Policy"]
        for directive in REQUIRED_DIRECTIVES:
            assert directive in csp, (path, csp)


def test_no_violation_in_the_page_or_the_worker(browser: Browser, relay: LiveRelay) -> None:
    context = new_app_context(browser)
    try:
        app = AppPage(context.new_page()).open(relay.origin)
        page = app.page
        # Exercise a worker: WebCrypto, Argon2id, batches, libsodium's wasm (test commands: the testing worker).
        result(page, "device.init")
        result(page, "account.create", {"passphrase": "strict policies only"})
        sealed = result(page, "records.seal_batch", {"records": [{"payload": b64e(b"x" * 4096)}] * 8})["records"]
        assert all(r["ok"] for r in result(page, "records.open_batch", {"records": sealed})["records"])
        page.evaluate("() => navigator.serviceWorker.ready")

        # Both workers: the app's own and the testing worker that ran the commands above (tests/browser/helpers.py).
        for testing in (False, True):
            assert result(page, "status", testing=testing)["runtime"]["csp_violations"] == [], testing
        assert app.page_violations() == []
        assert app.console_csp == []
        assert app.errors == []

        # The listener works and the policy bites: a plain string is not a TrustedScriptURL.
        refused = page.evaluate(
            """() => { try { new Worker("/worker/crypto-worker.js", { type: "module" }); return "created"; }
                       catch (err) { return err.name; } }"""
        )
        assert refused == "TypeError"
        page.wait_for_function("() => window.__cspViolations.length > 0")
        assert [v["directive"] for v in app.page_violations()] == ["require-trusted-types-for"]
        # Only one policy name is allowed, and worker-client.js already holds it.
        second = page.evaluate(
            """() => { try { trustedTypes.createPolicy("vellum-worker", {}); return "created"; }
                       catch (err) { return err.name; } }"""
        )
        assert second == "TypeError"
        # And the policy itself refuses other origins.
        foreign = page.evaluate(
            """async () => { const { trustedScriptURL } = await import("/worker-client.js");
                             try { trustedScriptURL("https://evil.example/x.js"); return "allowed"; }
                             catch (err) { return err.name; } }"""
        )
        assert foreign == "TypeError"
    finally:
        context.close()
