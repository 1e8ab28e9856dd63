"""Fixtures for the browser tests (pytest-playwright, Debian's Chromium, the REAL relay serving the built web/).

- ``browser_type_launch_args``: Debian's ``chromium`` and the flags of ENVIRONMENT.md (Playwright never downloads one).
- ``relay``: one ``vellum serve`` for the session (tests/backend/live.py), its web root = web/ plus the test wheel
  (tests/browser/helpers.py: the conformance suites and the test-only worker commands, for testing workers); pages
  are opened on ``http://localhost:PORT`` (WebAuthn needs localhost, and the relay's CSP applies).
- ``app``: one page of a fresh context with the crypto worker booted, shared by a module's tests (plus, once a test
  sends it a test command, the page's testing worker).
- ``persistent``: a factory of persistent contexts (a browser profile on disk that survives a "restart").

Needs ``make web-assets`` (web/vendor) and, for the conformance suite, ``make vectors``: missing, they fail with the
command to run, never skip.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, BrowserType, Page

from tests.backend.live import LiveRelay, run_relay
from tests.browser.helpers import CHROMIUM_ARGS, ROOT, WEB, make_web_root, wait_ready

MANIFEST = WEB / "vendor" / "asset-manifest.json"
# Console lines that mean the page broke a CSP / Trusted Types rule, whatever event did or did not fire.
CSP_CONSOLE_MARKERS = ("Content Security Policy", "Trusted Type", "TrustedScriptURL", "Refused to")


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "Debian's chromium is not installed: "
            "command -v chromium || (apt-get update && apt-get install -y chromium)"
        )
    return found


def _check_web_build() -> dict[str, Any]:
    """The built web/ must match its manifest, or the service worker's checked precache would refuse to install."""
    if not MANIFEST.is_file():
        pytest.fail("web/vendor is not built: run `make web-assets` (or `make -f mk/web.mk web-assets`)")
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text())
    stale = []
    for entry in manifest["files"]:
        path = WEB / entry["path"].lstrip("/")
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            stale.append(entry["path"])
    shipped = {entry["path"] for entry in manifest["files"]}
    new = [f"/{p.relative_to(WEB).as_posix()}" for p in WEB.glob("*") if p.is_file()]
    stale += [p for p in new if p not in shipped]
    if stale:
        pytest.fail(f"web/vendor/asset-manifest.json is stale for {stale[:5]}: run `make web-assets`")
    return manifest


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": _chromium(), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def asset_manifest() -> dict[str, Any]:
    return _check_web_build()


@pytest.fixture(scope="session")
def web_root(tmp_path_factory: pytest.TempPathFactory, asset_manifest: dict[str, Any]) -> Path:
    return make_web_root(tmp_path_factory.mktemp("web") / "root")


@pytest.fixture(scope="session")
def relay(tmp_path_factory: pytest.TempPathFactory, web_root: Path) -> Iterator[LiveRelay]:
    with run_relay(tmp_path_factory.mktemp("relay"), workers=2, extra_args=["--web-dir", str(web_root)]) as live:
        yield live


class AppPage:
    """A page of the app with its crypto worker booted, and what went wrong under the CSP while it ran."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console_csp: list[str] = []
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("worker", lambda worker: worker.on("console", self._console))

    def _console(self, message: Any) -> None:
        if any(marker in message.text for marker in CSP_CONSOLE_MARKERS):
            self.console_csp.append(message.text)

    def open(self, origin: str) -> AppPage:
        self.page.goto(origin + "/")
        wait_ready(self.page)
        return self

    def page_violations(self) -> list[dict[str, str]]:
        found: list[dict[str, str]] = self.page.evaluate("() => window.__cspViolations ?? null")
        assert found is not None, "the violation listener did not run"
        return found


# Installed before any page script: records every CSP / Trusted Types violation the page reports.
VIOLATION_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample });
});
"""


def new_app_context(browser: Browser) -> BrowserContext:
    context = browser.new_context()
    context.add_init_script(VIOLATION_LISTENER)
    return context


@pytest.fixture(scope="module")
def app(browser: Browser, relay: LiveRelay) -> Iterator[AppPage]:
    """Shared by a module's tests; at the end, whatever they did must not have broken the CSP anywhere."""
    context = new_app_context(browser)
    try:
        opened = AppPage(context.new_page()).open(relay.origin)
        yield opened
        status = opened.page.evaluate(
            """async () => {
              const workers = [(await import("/app.js")).worker, window.__testingWorker].filter(Boolean);
              return (await Promise.all(workers.map((w) => w.call("status")))).flatMap((s) => s.runtime.csp_violations);
            }"""
        )
        assert (opened.page_violations(), status, opened.console_csp) == ([], [], [])
    finally:
        context.close()


@pytest.fixture
def persistent(
    browser_type: BrowserType, browser_type_launch_args: dict[str, Any], tmp_path: Path
) -> Iterator[Callable[[Path], BrowserContext]]:
    """``launch(profile_dir)`` starts a browser on that profile; each start is a fresh browser process."""
    opened: list[BrowserContext] = []

    def launch(profile: Path) -> BrowserContext:
        context = browser_type.launch_persistent_context(str(profile), **browser_type_launch_args)
        context.add_init_script(VIOLATION_LISTENER)
        opened.append(context)
        return context

    yield launch
    for context in opened:
        try:
            context.close()
        except Exception:  # already closed by the test
            pass


@pytest.fixture(scope="session")
def external_vectors() -> dict[str, Any]:
    """The fetched vector files for the primitives suite (``make vectors``), plus the committed ones."""
    from tests.conformance import primitives_suite as ps

    folder = ROOT / ".cache" / "vectors"
    missing = [rel for rel in ps.VECTOR_FILES.values() if not (folder / rel).is_file()]
    if missing:
        pytest.fail(f"external vectors missing ({', '.join(missing)}): run `make vectors`")
    vectors = {name: json.loads((folder / rel).read_text()) for name, rel in ps.VECTOR_FILES.items()}
    vectors.update({name: json.loads((ROOT / rel).read_text()) for name, rel in ps.COMMITTED_VECTOR_FILES.items()})
    return vectors
