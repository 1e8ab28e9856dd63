"""The relay's API over ``requests`` (CPython): ``RelayApi`` with an HTTP function that runs in a worker thread, so
several clients (or a UI) can wait on the network concurrently under asyncio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import requests

from pycore.errors import NetworkError
from pycore.sync.relay_api import HttpResponse, RelayApi, Session

DEFAULT_TIMEOUT = 30.0


class RequestsHttp:
    """``HttpFunction`` over one ``requests.Session`` (keep-alive); connection failures become ``NetworkError``."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, session: requests.Session | None = None) -> None:
        self.timeout = timeout
        self.session = session or requests.Session()

    def _send(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        try:
            r = self.session.request(
                method, url, headers=dict(headers), data=body or None, timeout=self.timeout, allow_redirects=False
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise NetworkError(f"The relay could not be reached ({type(exc).__name__}).") from None
        return HttpResponse(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)

    async def __call__(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        return await asyncio.to_thread(self._send, method, url, headers, body)

    def close(self) -> None:
        self.session.close()


class HttpTransport(RelayApi):
    """The sync engine's ``Transport`` (and rotation's ``RotationBackend``) against a real relay.

    ``base_url`` is where requests go; ``origin`` is the relay's configured public origin, which every signature
    binds (they differ behind a proxy, or in tests that reach ``http://localhost:PORT`` at ``127.0.0.1``)."""

    def __init__(
        self,
        base_url: str,
        origin: str | None = None,
        *,
        session: Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        **options: Any,
    ) -> None:
        self.requests_http = RequestsHttp(timeout)
        super().__init__(self.requests_http, base_url, origin or base_url, session=session, **options)

    def close(self) -> None:
        self.requests_http.close()


def transport_factory(base_url: str, origin: str | None = None) -> Callable[[], HttpTransport]:
    return lambda: HttpTransport(base_url, origin)
