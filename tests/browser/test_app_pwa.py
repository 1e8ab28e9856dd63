"""The installable app and its updates, in a persistent browser profile (installability needs one).

- Chromium reports the app installable (CDP ``Page.getInstallabilityErrors`` is empty) and reads the manifest's
  name, icons (192, 512, maskable), start URL, standalone display and theme colours.
- A new build (a new asset version, hence a new service worker URL) installs in the background and WAITS: the page
  shows "Update available" with "Reload" and keeps running on the old worker; "Reload" lets the new worker take over,
  the page reloads under it, and the old cache is gone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, expect

from tests.browser.app_fixtures import Vellum, restartable_relay
from tests.browser.helpers import WEB, wait_ready

REGISTRATION = """async () => {
  const registration = await navigator.serviceWorker.getRegistration();
  return {
    active: registration?.active?.scriptURL ?? null,
    waiting: registration?.waiting?.scriptURL ?? null,
    controller: navigator.serviceWorker.controller?.scriptURL ?? null,
    caches: await caches.keys(),
  };
}"""


def deployable_copy(root: Path) -> Path:
    """web/ as the relay serves it, with its own copy of the asset manifest, so a test can deploy a "new build"."""
    root.mkdir(parents=True)
    for entry in WEB.iterdir():
        if entry.name != "vendor":
            (root / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (root / "vendor").mkdir()
    for entry in (WEB / "vendor").iterdir():
        if entry.name != "asset-manifest.json":
            (root / "vendor" / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (root / "vendor" / "asset-manifest.json").write_bytes((WEB / "vendor" / "asset-manifest.json").read_bytes())
    return root


def test_installable_and_the_update_waits_for_reload(
    persistent: Callable[[Path], BrowserContext], asset_manifest: dict[str, Any], tmp_path: Path
) -> None:
    root = deployable_copy(tmp_path / "web")
    with restartable_relay(tmp_path / "relay", root) as relay:
        context = persistent(tmp_path / "profile")
        app = Vellum.open(context, relay.origin, context.pages[0] if context.pages else None)
        page = app.page
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=60_000)
        manifest_file = root / "vendor" / "asset-manifest.json"
        old = json.loads(manifest_file.read_text())["version"]  # the build being served (web/ may be rebuilt meanwhile)
        assert page.evaluate(REGISTRATION)["controller"].endswith(f"/sw.js?v={old}")

        cdp = context.new_cdp_session(page)
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        parsed = json.loads(manifest["data"])
        assert parsed["name"].startswith("Vellum") and parsed["short_name"] == "Vellum"
        assert parsed["display"] == "standalone" and parsed["start_url"] == "/"
        assert parsed["theme_color"] and parsed["background_color"]
        icons = {(icon["sizes"], icon.get("purpose", "any")) for icon in parsed["icons"]}
        assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= icons
        for icon in parsed["icons"]:
            response = page.request.get(relay.origin + icon["src"])
            assert response.ok and response.body()[:8] == b"\x89PNG\r\n\x1a\n"
        expect(page.locator("#notices")).not_to_contain_text("Update available")

        # Deploy a new build: same files, new asset version.
        new = hashlib.sha256(f"{old} next build".encode()).hexdigest()
        manifest_file.write_text(manifest_file.read_text().replace(old, new))

        page.reload()
        wait_ready(page)
        notice = page.get_by_role("region", name="Notices")
        expect(notice).to_contain_text("Update available", timeout=60_000)
        state = page.evaluate(REGISTRATION)
        assert state["waiting"].endswith(f"/sw.js?v={new}")  # installed, and waiting:
        assert state["controller"].endswith(f"/sw.js?v={old}")  # no silent swap mid-session
        app.capture("update-available")

        with page.expect_event("load", timeout=60_000):
            notice.get_by_role("button", name="Reload").click()
        wait_ready(page)
        page.wait_for_function(
            "(v) => navigator.serviceWorker.controller?.scriptURL.endsWith(`/sw.js?v=${v}`)", arg=new, timeout=30_000
        )
        state = page.evaluate(REGISTRATION)
        assert state["waiting"] is None
        assert state["caches"] == [f"vellum-{new}"]
        expect(page.locator("#notices")).not_to_contain_text("Update available")
        app.assert_no_csp_violations()
        context.close()
