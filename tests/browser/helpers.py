"""Helpers for the browser tests: talking to the crypto workers from Python, the test-only wheel, a web directory for
the relay that adds that wheel, and a listener that counts what reaches a port once the relay is dead.

Two workers per page: the app's own (``app.js``'s ``worker``, started as ``/worker/crypto-worker.js``: the app
contract and nothing else, as in production) and, made on first use, a testing worker
(``/worker/crypto-worker.js?testing=1``) that also installs the test wheel and so has the protocol-level test
commands (tests/support/worker_commands.py). ``call``, ``call_many`` and ``result`` send each command to the one that
has it."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.support.worker_commands import TEST_COMMANDS

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

# The test wheel, at the path web/worker/crypto-worker.js installs it from when started with ?testing=1 (test and
# benchmark web roots only: make_web_root).
TESTING_WHEEL = "/testing/vellum_testing-0.0.0-py3-none-any.whl"
TESTING_WORKER = "/worker/crypto-worker.js?testing=1"
# The command families only a testing worker has.
TEST_FAMILIES = frozenset(cmd.partition(".")[0] for cmd in TEST_COMMANDS)

# JavaScript, an async function of no arguments resolving to the page's testing worker (made on first use, kept on
# the window for that page load). In-page code of a test: ``const worker = await (TESTING_WORKER_JS)();``.
TESTING_WORKER_JS = f"""async () => {{
  const {{ CryptoWorker }} = await import("/worker-client.js");
  window.__testingWorker ??= new CryptoWorker({json.dumps(TESTING_WORKER)});
  return window.__testingWorker;
}}"""

# The page side: each request is [cmd, args, testing]; app.js exports the app's CryptoWorker. Answers come back as
# plain {ok, result|error} objects.
_SEND = f"""const testingWorker = {TESTING_WORKER_JS};
  const send = async ([cmd, args, testing]) => {{
    try {{
      const worker = testing ? await testingWorker() : (await import("/app.js")).worker;
      return {{ ok: true, result: await worker.call(cmd, args) }};
    }} catch (err) {{
      return {{ ok: false, error: {{ code: err.code ?? err.name, message: String(err.message) }} }};
    }}
  }};"""

_CALL = f"""async (request) => {{
  {_SEND}
  return send(request);
}}"""

_CALL_MANY = f"""async (requests) => {{
  {_SEND}
  const replies = [];
  for (const request of requests) replies.push(await send(request));
  return replies;
}}"""


def is_test_command(cmd: Any) -> bool:
    """Whether ``cmd`` belongs to a test-only family (``account.*``, ``device.*``, ``records.*``, ``vectors.*``,
    ``primitives.*``): those only a testing worker has."""
    return isinstance(cmd, str) and cmd.partition(".")[0] in TEST_FAMILIES and "." in cmd


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def call(page: Page, cmd: Any, args: Any = None, *, testing: bool | None = None) -> dict[str, Any]:
    """One command through web/worker-client.js: ``{"ok": True, "result": ...}`` or ``{"ok": False, "error": ...}``.

    ``testing`` picks the worker: the page's testing worker (True) or the app's own (False); None sends the test-only
    families (``is_test_command``) to the testing worker and everything else to the app's."""
    use_testing = is_test_command(cmd) if testing is None else testing
    reply: dict[str, Any] = page.evaluate(_CALL, [cmd, {} if args is None else args, use_testing])
    return reply


def call_many(page: Page, requests: list[tuple[Any, Any]], *, testing: bool | None = None) -> list[dict[str, Any]]:
    """Many commands, one after the other, in one round trip to the page; each goes to its worker as in ``call``."""
    batch = [[cmd, args, is_test_command(cmd) if testing is None else testing] for cmd, args in requests]
    replies: list[dict[str, Any]] = page.evaluate(_CALL_MANY, batch)
    return replies


def result(page: Page, cmd: str, args: Any = None, *, testing: bool | None = None) -> Any:
    reply = call(page, cmd, args, testing=testing)
    assert reply["ok"], f"{cmd} failed: {reply['error']}"
    return reply["result"]


def wait_ready(page: Page) -> None:
    page.wait_for_selector("#status[data-state=ready], #status[data-state=failed]", timeout=READY_TIMEOUT_MS)
    state = page.get_attribute("#status", "data-state")
    assert state == "ready", page.inner_text("#status")


# --- the test wheel ---------------------------------------------------------------------------------------------------

TESTING_FILES = (
    "tests/__init__.py",
    "tests/conformance/__init__.py",
    "tests/conformance/primitives_suite.py",
    "tests/conformance/vectors_suite.py",
    "tests/support/__init__.py",
    "tests/support/memory.py",
    "tests/support/worker_commands.py",
)


def build_testing_wheel(out: Path) -> Path:
    """The test wheel (``vellum_testing``): the conformance suites and the test-only worker commands as a pure-Python
    wheel, installed by a worker started with ``?testing=1``. Test and benchmark builds only: production serves no
    such file and its worker never asks for it."""
    name = Path(TESTING_WHEEL).name
    dist, version = name.split("-")[:2]
    dist_info = f"{dist}-{version}.dist-info"
    entries = [(rel, (ROOT / rel).read_bytes()) for rel in TESTING_FILES]
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
    """A web root for the relay: every entry of web/ (symlinked, so it is the real build) plus the test wheel at
    ``TESTING_WHEEL``."""
    base.mkdir(parents=True, exist_ok=True)
    for entry in WEB.iterdir():
        (base / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    build_testing_wheel(base / Path(TESTING_WHEEL).parent.relative_to("/"))
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
