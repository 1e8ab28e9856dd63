"""Helpers for the browser tests: talking to the crypto worker from Python, the test-only conformance wheel, a web
directory for the relay that adds that wheel, and a listener that counts what reaches a port once the relay is dead."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from pycore.app.worker import CONFORMANCE_WHEEL

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY_TIMEOUT_MS = 90_000

# The page side: app.js exports the CryptoWorker it started; answers come back as plain {ok, result|error} objects.
_CALL = """async ([cmd, args]) => {
  const { worker } = await import("/app.js");
  try {
    return { ok: true, result: await worker.call(cmd, args) };
  } catch (err) {
    return { ok: false, error: { code: err.code ?? err.name, message: String(err.message) } };
  }
}"""

_CALL_MANY = """async (requests) => {
  const { worker } = await import("/app.js");
  const replies = [];
  for (const [cmd, args] of requests) {
    try {
      replies.push({ ok: true, result: await worker.call(cmd, args) });
    } catch (err) {
      replies.push({ ok: false, error: { code: err.code ?? err.name, message: String(err.message) } });
    }
  }
  return replies;
}"""


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def call(page: Page, cmd: Any, args: Any = None) -> dict[str, Any]:
    """One command through web/worker-client.js: ``{"ok": True, "result": ...}`` or ``{"ok": False, "error": ...}``."""
    reply: dict[str, Any] = page.evaluate(_CALL, [cmd, {} if args is None else args])
    return reply


def call_many(page: Page, requests: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """Many commands, one after the other, in one round trip to the page."""
    replies: list[dict[str, Any]] = page.evaluate(_CALL_MANY, [[cmd, args] for cmd, args in requests])
    return replies


def result(page: Page, cmd: str, args: Any = None) -> Any:
    reply = call(page, cmd, args)
    assert reply["ok"], f"{cmd} failed: {reply['error']}"
    return reply["result"]


def wait_ready(page: Page) -> None:
    page.wait_for_selector("#status[data-state=ready], #status[data-state=failed]", timeout=READY_TIMEOUT_MS)
    state = page.get_attribute("#status", "data-state")
    assert state == "ready", page.inner_text("#status")


# --- the test-only conformance wheel ----------------------------------------------------------------------------------

CONFORMANCE_FILES = (
    "tests/__init__.py",
    "tests/conformance/__init__.py",
    "tests/conformance/primitives_suite.py",
    "tests/conformance/vectors_suite.py",
)


def build_conformance_wheel(out: Path) -> Path:
    """tests/conformance as a pure-Python wheel, so the worker can import the shared suites (``conformance.install``).

    Test builds only: production serves no such file and the command answers ``unavailable``."""
    name = Path(CONFORMANCE_WHEEL).name
    dist, version = name.split("-")[:2]
    dist_info = f"{dist}-{version}.dist-info"
    entries = [(rel, (ROOT / rel).read_bytes() if (ROOT / rel).exists() else b"") for rel in CONFORMANCE_FILES]
    entries.append((f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode()))
    entries.append((f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))

    def digest(data: bytes) -> str:
        return "sha256=" + b64e(hashlib.sha256(data).digest())

    record = "".join(f"{rel},{digest(data)},{len(data)}\n" for rel, data in entries) + f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode()))
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / name
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in entries:
            zf.writestr(rel, data)
    return wheel


def make_web_root(base: Path) -> Path:
    """A web root for the relay: every entry of web/ (symlinked, so it is the real build) plus the conformance wheel
    at its fixed path."""
    base.mkdir(parents=True, exist_ok=True)
    for entry in WEB.iterdir():
        (base / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    build_conformance_wheel(base / Path(CONFORMANCE_WHEEL).parent.relative_to("/"))
    return base


# --- a listener on the dead relay's port ------------------------------------------------------------------------------


@dataclass
class CountingListener:
    """Binds the port the relay used and records the request line of every connection, answering none of them."""

    port: int
    requests: list[str] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    head = conn.recv(4096).decode("latin-1")
                except OSError:
                    head = ""
                if head:  # an idle preconnect sends nothing: not a request
                    self.requests.append(head.split("\r\n", 1)[0])
                    self.heads.append(head)
                # No answer: the connection just closes, which a browser sees as a network error.

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
