"""The app as a person uses it, for the end-to-end tests (``test_app_*.py``): real relay processes, real Chromium,
nothing mocked. Controls are found by their accessible names, the way a screen reader finds them.

- ``Vellum``: one tab of the app (sign up, sign in, unlock, write, search, delete, lock, read the sync status, and
  every CSP violation the page, its crypto worker and the service worker saw);
- ``RestartableRelay``: a relay on a fixed port that can be stopped and started again on the same data (airplane
  mode: the origin, so the service worker, IndexedDB and the signed requests' origin, must not change);
- ``scan_*``: look for plaintext markers in IndexedDB, Cache Storage, Web Storage and the relay's SQLite files;
- ``seed_account``: an account registered, and filled with notes, by the CPython client (another device).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import BrowserContext, Page, expect

from tests.backend.live import ROOT, free_port, relay_command
from tests.browser.conftest import CSP_CONSOLE_MARKERS, VIOLATION_LISTENER
from tests.browser.helpers import call, wait_ready

PASSPHRASE = "orbit maple lantern quietly seventeen"
SCREENS = ROOT / ".cache" / "screens"
VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 800)}
UI_TIMEOUT_MS = 30_000
SYNC_TIMEOUT_MS = 45_000


def unique(prefix: str) -> str:
    """A username or marker no other test (nor an earlier run against the same relay) uses."""
    return f"{prefix}{secrets.token_hex(4)}"


def new_context(browser: Any, **options: Any) -> BrowserContext:
    context: BrowserContext = browser.new_context(**options)
    context.add_init_script(VIOLATION_LISTENER)
    return context


# --- one tab of the app -----------------------------------------------------------------------------------------------

# The service worker answers {type: "csp-violations"} on a MessageChannel port (service-worker/sw.js).
SERVICE_WORKER_VIOLATIONS = """async () => {
  const registration = await navigator.serviceWorker.getRegistration();
  const worker = registration?.active;
  if (!worker) return null;
  return await new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => resolve(event.data.violations);
    worker.postMessage({ type: "csp-violations" }, [channel.port2]);
    setTimeout(() => resolve(null), 5000);
  });
}"""


# Arms window.__syncRoundEnded: true once the sync status line has been "syncing" and then stopped. Each mutation
# record holds the value before it, so the values set are the next records' old values and, last, the current one.
WATCH_SYNC_ROUND = """() => {
  const status = document.getElementById("sync-status");
  window.__syncRoundObserver?.disconnect();
  window.__syncRoundEnded = false;
  let started = false;
  const observer = new MutationObserver((records) => {
    const values = [...records.slice(1).map((record) => record.oldValue), status.dataset.syncing];
    for (const value of values) {
      if (value === "true") started = true;
      else if (started) window.__syncRoundEnded = true;
    }
    if (window.__syncRoundEnded) observer.disconnect();
  });
  observer.observe(status, { attributes: true, attributeFilter: ["data-syncing"], attributeOldValue: true });
  window.__syncRoundObserver = observer;
}"""


class Vellum:
    """One tab, driven through its accessible names."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console_csp: list[str] = []
        self.errors: list[str] = []
        self.worker_violations: list[Any] = []  # collected from workers that a lock has since replaced
        self.api_requests: list[str] = []  # the relay API calls this tab (its crypto worker) made
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("worker", lambda worker: worker.on("console", self._console))

    def _request(self, request: Any) -> None:
        if "/api/" in request.url:
            self.api_requests.append(request.url)

    def _console(self, message: Any) -> None:
        if any(marker in message.text for marker in CSP_CONSOLE_MARKERS):
            self.console_csp.append(message.text)

    @classmethod
    def open(cls, context: BrowserContext, origin: str, page: Page | None = None) -> Vellum:
        app = cls(page or context.new_page())
        app.page.goto(origin + "/")
        wait_ready(app.page)
        return app

    # --- screens

    def screen(self) -> str:
        return str(self.page.evaluate("() => document.documentElement.dataset.screen"))

    def wait_screen(self, name: str, timeout: int = UI_TIMEOUT_MS) -> None:
        self.page.wait_for_function(
            "(name) => document.documentElement.dataset.screen === name", arg=name, timeout=timeout
        )

    def textbox(self, name: str) -> Any:
        return self.page.get_by_role("textbox", name=name, exact=True)

    def button(self, name: str) -> Any:
        return self.page.get_by_role("button", name=name, exact=True)

    # --- account

    def sign_up(self, username: str, passphrase: str = PASSPHRASE) -> list[str]:
        """Create an account and confirm the recovery phrase; returns the 24 words as shown."""
        self.start_sign_up(username, passphrase)
        words = self.recovery_words()
        self.confirm_recovery(words)
        return words

    def start_sign_up(self, username: str, passphrase: str = PASSPHRASE) -> None:
        self.wait_screen("welcome")
        self.page.get_by_role("tab", name="New account").click()
        self.textbox("Username").fill(username)
        self.textbox("Passphrase").fill(passphrase)
        self.textbox("Confirm passphrase").fill(passphrase)
        self.button("Create account").click()
        self.wait_screen("recovery")

    def recovery_words(self) -> list[str]:
        words: list[str] = self.page.get_by_role("list", name="Recovery phrase").locator(".w").all_inner_texts()
        assert len(words) == 24
        return words

    def confirm_recovery(self, words: list[str]) -> None:
        labels = self.page.locator("#word-checks label").all_inner_texts()
        assert len(labels) == 3 and all(re.fullmatch(r"Word \d{1,2}", label) for label in labels), labels
        for label in labels:
            self.textbox(label).fill(words[int(label.split()[1]) - 1])
        self.button("I have written it down").click()
        self.wait_screen("notebook")

    def sign_in(self, username: str, passphrase: str = PASSPHRASE) -> None:
        self.wait_screen("welcome")
        self.page.get_by_role("tab", name="Sign in").click()
        self.textbox("Username").fill(username)
        self.textbox("Passphrase").fill(passphrase)
        self.button("Sign in").click()
        self.wait_screen("notebook")

    def unlock(self, passphrase: str = PASSPHRASE) -> None:
        self.wait_screen("unlock")
        self.textbox("Passphrase").fill(passphrase)
        self.button("Unlock").click()
        self.wait_screen("notebook")

    def lock(self) -> None:
        self.collect_worker_violations()
        self.button("Lock").click()
        self.wait_screen("unlock")
        wait_ready(self.page)  # the fresh worker

    # --- notes

    def titles(self) -> list[str]:
        titles: list[str] = self.page.locator("#note-list .note-item-title").all_inner_texts()
        return titles

    def wait_titles(self, expected: Iterable[str], timeout: int = UI_TIMEOUT_MS) -> None:
        """Until the list shows exactly these titles (in any order)."""
        self.page.wait_for_function(
            """(expected) => {
                 const seen = [...document.querySelectorAll("#note-list .note-item-title")].map((e) => e.innerText);
                 return JSON.stringify(seen.sort()) === JSON.stringify(expected.sort());
               }""",
            arg=list(expected),
            timeout=timeout,
        )

    def wait_saved(self) -> None:
        self.page.wait_for_selector("#save-state[data-state=saved]", timeout=UI_TIMEOUT_MS)

    def new_note(self, title: str, body: str) -> None:
        self.button("New note").click()
        self.textbox("Title").fill(title)
        self.textbox("Body").fill(body)
        self.wait_saved()
        self.wait_for_title(title)

    def wait_for_title(self, title: str, present: bool = True, timeout: int = UI_TIMEOUT_MS) -> None:
        self.page.wait_for_function(
            """([title, present]) => [...document.querySelectorAll("#note-list .note-item-title")]
                 .some((e) => e.innerText === title) === present""",
            arg=[title, present],
            timeout=timeout,
        )

    def open_note(self, title: str) -> None:
        item = self.page.locator("#note-list .note-item").filter(
            has=self.page.locator(".note-item-title", has_text=re.compile(f"^{re.escape(title)}$"))
        )
        item.first.click()
        expect(self.textbox("Title")).to_have_value(title, timeout=UI_TIMEOUT_MS)

    def note(self) -> tuple[str, str]:
        return self.textbox("Title").input_value(), self.textbox("Body").input_value()

    def set_body(self, body: str) -> None:
        self.textbox("Body").fill(body)
        self.wait_saved()

    def delete_open_note(self) -> None:
        self.button("Delete").click()
        self.page.locator(".toast").filter(has_text="deleted").wait_for(timeout=UI_TIMEOUT_MS)

    def search(self, query: str) -> list[str]:
        self.page.get_by_role("searchbox", name="Search").fill(query)
        self.page.wait_for_function(
            "(q) => document.getElementById('note-list').dataset.searched === q",
            arg=query.strip(),
            timeout=UI_TIMEOUT_MS,
        )
        return self.titles()

    def all_notes(self) -> dict[str, str]:
        """Every note's title → body, opened one by one in the editor."""
        out: dict[str, str] = {}
        count = self.page.locator("#note-list .note-item").count()
        for i in range(count):
            self.page.locator("#note-list .note-item").nth(i).click()
            self.page.wait_for_function(
                "(i) => document.querySelectorAll('#note-list .note-item')[i]?.getAttribute('aria-current') === 'true'",
                arg=i,
                timeout=UI_TIMEOUT_MS,
            )
            title, body = self.note()
            out[title] = body
        return out

    # --- sync

    def sync_status(self) -> str:
        return self.page.get_by_role("status", name="Sync status").inner_text()

    def wait_status(self, pattern: str, timeout: int = SYNC_TIMEOUT_MS) -> str:
        self.page.wait_for_function(
            "(pattern) => new RegExp(pattern).test(document.getElementById('sync-status').innerText)",
            arg=pattern,
            timeout=timeout,
        )
        return self.sync_status()

    def wait_synced(self, timeout: int = SYNC_TIMEOUT_MS) -> str:
        return self.wait_status(r"^Online · 0 changes waiting · Last synced", timeout)

    def sync_now(self) -> None:
        self.button("Sync now").click()

    def sync_round(self, timeout: int = SYNC_TIMEOUT_MS) -> None:
        """Press "Sync now" and wait until a sync that started after the press has ended (the status line's
        ``data-syncing`` goes to "true", then back to "false"), whatever it achieved."""
        self.page.evaluate(WATCH_SYNC_ROUND)
        self.sync_now()
        self.page.wait_for_function("() => window.__syncRoundEnded === true", timeout=timeout)

    # --- screenshots

    def capture(self, name: str) -> list[Path]:
        """``.cache/screens/<name>-<phone|desktop>-<light|dark>.png``: 390x844 and 1280x800, both colour schemes.
        Nothing may overflow sideways on the phone."""
        SCREENS.mkdir(parents=True, exist_ok=True)
        before = self.page.viewport_size
        saved = []
        try:
            for size, (width, height) in VIEWPORTS.items():
                self.page.set_viewport_size({"width": width, "height": height})
                overflow = self.page.evaluate("() => document.documentElement.scrollWidth")
                assert overflow <= width, f"{name}: {overflow} px wide at {width} px"
                for scheme in ("light", "dark"):
                    self.page.emulate_media(color_scheme=scheme)
                    path = SCREENS / f"{name}-{size}-{scheme}.png"
                    self.page.screenshot(path=path, animations="disabled", caret="initial")
                    saved.append(path)
        finally:
            self.page.emulate_media(color_scheme="null")
            if before:
                self.page.set_viewport_size(before)
        return saved

    # --- CSP

    def collect_worker_violations(self) -> None:
        reply = call(self.page, "status")
        if reply["ok"]:
            self.worker_violations += reply["result"]["runtime"]["csp_violations"]

    def csp_violations(self) -> dict[str, Any]:
        """Everything that broke the CSP: the page's securitypolicyviolation events, the crypto worker's (this one
        and those replaced by a lock), the service worker's, and console reports from all of them."""
        self.collect_worker_violations()
        page = self.page.evaluate("() => window.__cspViolations ?? null")
        service_worker = self.page.evaluate(SERVICE_WORKER_VIOLATIONS)
        return {
            "page": page,
            "worker": self.worker_violations,
            "service_worker": service_worker,
            "console": self.console_csp,
            "errors": self.errors,
        }

    def assert_no_csp_violations(self) -> None:
        found = self.csp_violations()
        assert found == {"page": [], "worker": [], "service_worker": [], "console": [], "errors": []}, found


# --- a relay that can be stopped and started on the same port ---------------------------------------------------------


@dataclass
class RestartableRelay:
    data_dir: Path
    web_root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return self.data_dir / "vellum.sqlite3"

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            *relay_command(),
            "serve",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--data-dir",
            str(self.data_dir),
            "--public-origin",
            self.origin,
            "--no-rate-limits",
            "--web-dir",
            str(self.web_root),
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
        with open(self.data_dir / "relay.log", "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"vellum serve exited: {(self.data_dir / 'relay.log').read_text()[-2000:]}")
            try:
                if requests.get(self.base_url + "/api/v1/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("vellum serve did not start")
            time.sleep(0.1)  # a process that starts listening sends no event: poll its health route

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


@contextmanager
def restartable_relay(data_dir: Path, web_root: Path) -> Iterator[RestartableRelay]:
    relay = RestartableRelay(data_dir, web_root)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


# --- scans for plaintext ----------------------------------------------------------------------------------------------


def needles(markers: Iterable[str]) -> dict[str, list[bytes]]:
    """Each marker as UTF-8, UTF-16LE (how IndexedDB may keep strings) and in base64/base64url at each alignment:
    plaintext that was merely encoded is still plaintext."""
    out: dict[str, list[bytes]] = {}
    for marker in markers:
        raw = marker.encode()
        found = [raw, marker.encode("utf-16-le")]
        for shift in range(3):
            # The first and last 4 characters mix the marker with whatever surrounds it.
            core = base64.b64encode(b"\0" * shift + raw)[4 if shift else 0 : -4]
            if len(core) >= 8:
                found += [core, core.replace(b"+", b"-").replace(b"/", b"_")]
        out[marker] = found
    return out


def scan_files(paths: Iterable[Path], markers: Iterable[str]) -> dict[str, list[str]]:
    """Which markers appear in which files."""
    table = needles(markers)
    hits: dict[str, list[str]] = {}
    for path in paths:
        data = path.read_bytes()
        for marker, variants in table.items():
            if any(variant in data for variant in variants):
                hits.setdefault(marker, []).append(str(path))
    return hits


# Everything the origin stores, as latin-1 text (bytes as they are), searched in the page for each variant.
SCAN_BROWSER_STORAGE = """async (needles) => {
  const decoder = new TextDecoder("latin1");
  const chunks = [];
  const add = (label, value, depth = 0) => {
    if (value === null || value === undefined || depth > 12) return;
    if (typeof value === "string") chunks.push([label, value]);
    else if (typeof value === "number" || typeof value === "boolean") return;
    else if (value instanceof ArrayBuffer) chunks.push([label, decoder.decode(new Uint8Array(value))]);
    else if (ArrayBuffer.isView(value)) {
      chunks.push([label, decoder.decode(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))]);
    }
    else if (value instanceof Blob) chunks.push([label, value]);
    else if (typeof CryptoKey !== "undefined" && value instanceof CryptoKey) return;
    else if (Array.isArray(value)) value.forEach((v) => add(label, v, depth + 1));
    else if (value instanceof Map) value.forEach((v, k) => { add(label, k, depth + 1); add(label, v, depth + 1); });
    else if (typeof value === "object") {
      for (const [k, v] of Object.entries(value)) {
        chunks.push([label, k]);
        add(label, v, depth + 1);
      }
    }
  };
  const stores = [];
  for (const { name } of await indexedDB.databases()) {
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open(name);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    for (const storeName of db.objectStoreNames) {
      const [keys, values] = await new Promise((resolve, reject) => {
        const tx = db.transaction(storeName, "readonly");
        const store = tx.objectStore(storeName);
        const k = store.getAllKeys();
        const v = store.getAll();
        tx.oncomplete = () => resolve([k.result, v.result]);
        tx.onerror = () => reject(tx.error);
      });
      stores.push(`${name}/${storeName}`);
      add(`idb:${name}/${storeName}`, keys);
      add(`idb:${name}/${storeName}`, values);
    }
    db.close();
  }
  const caches_ = [];
  for (const cacheName of await caches.keys()) {
    const cache = await caches.open(cacheName);
    for (const request of await cache.keys()) {
      const response = await cache.match(request);
      const body = decoder.decode(new Uint8Array(await response.arrayBuffer()));
      chunks.push([`cache:${cacheName}${new URL(request.url).pathname}`, body]);
    }
    caches_.push(cacheName);
  }
  for (const [label, storage] of [["localStorage", localStorage], ["sessionStorage", sessionStorage]]) {
    for (let i = 0; i < storage.length; i += 1) {
      chunks.push([label, storage.key(i) + "=" + storage.getItem(storage.key(i))]);
    }
  }
  const hits = {};
  let scanned = 0;
  for (const [label, chunk] of chunks) {
    const text = chunk instanceof Blob ? decoder.decode(new Uint8Array(await chunk.arrayBuffer())) : chunk;
    scanned += text.length;
    for (const [marker, variants] of Object.entries(needles)) {
      if (variants.some((v) => text.includes(v))) (hits[marker] ??= []).push(label);
    }
  }
  return { hits, stores, caches: caches_, scanned };
}"""


def scan_browser_storage(page: Page, markers: Iterable[str]) -> dict[str, Any]:
    table = {marker: [v.decode("latin-1") for v in variants] for marker, variants in needles(markers).items()}
    found: dict[str, Any] = page.evaluate(SCAN_BROWSER_STORAGE, table)
    return found


# --- an account made by another device (the CPython client) -----------------------------------------------------------


@dataclass
class Seeded:
    username: str
    passphrase: str
    notes: dict[str, str]
    recovery_words: list[str]


def seed_account(
    base_url: str, origin: str, username: str, passphrase: str, notes: dict[str, str], *, age_days: float = 0.0
) -> Seeded:
    """Register an account with the CPython client and push ``notes``. With ``age_days`` the client's clock runs that
    far behind (the relay's clock_skew answer gives it the offset for requests), so the account's keys were "last
    rotated" that long ago and a scheduled rotation is due."""
    from pycore.client.client import Client

    async def run() -> Seeded:
        client = await Client.register(
            base_url, username, passphrase, origin=origin, clock=lambda: time.time() - age_days * 86_400
        )
        try:
            words = list(client.recovery_phrase or [])
            for title, body in notes.items():
                await client.save_note(title, body)
            report = await client.sync()
            assert report is not None
            return Seeded(username, passphrase, notes, words)
        finally:
            client.close()

    # Playwright's sync API keeps an event loop running in this thread: the client gets a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()
