"""Start a real ``vellum serve`` (gunicorn, 2 workers) on a free loopback port and wait for /api/v1/health.

Used by the relay's smoke test and by end-to-end sync tests: ``with run_relay(tmp_dir) as relay: relay.base_url``.
Requests go to ``base_url`` (127.0.0.1); clients sign for ``origin`` (http://localhost:PORT, which WebAuthn needs).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveRelay:
    base_url: str
    origin: str
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def relay_command() -> list[str]:
    script = Path(sys.executable).parent / "vellum"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "backend"]


@contextmanager
def run_relay(
    data_dir: Path,
    *,
    workers: int = 2,
    extra_args: Sequence[str] = (),
    rate_limits: bool = False,
    startup_timeout: float = 30.0,
) -> Iterator[LiveRelay]:
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    origin = f"http://localhost:{port}"
    command = [
        *relay_command(),
        "serve",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--data-dir",
        str(data_dir),
        "--public-origin",
        origin,
        *([] if rate_limits else ["--no-rate-limits"]),
        *extra_args,
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    log_path = data_dir / "relay.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    relay = LiveRelay(f"http://127.0.0.1:{port}", origin, port, data_dir, log_path, process)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"vellum serve exited with {process.returncode}:\n{relay.log()}")
            try:
                if requests.get(relay.base_url + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vellum serve did not answer within {startup_timeout} s:\n{relay.log()}")
            time.sleep(0.1)
        yield relay
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
