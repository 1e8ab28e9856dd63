"""``fetch`` (``web/worker/fetch-http.js``) as the relay API's ``HttpFunction``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pycore.app.browser.ffi import JsException, js_bytes, to_js
from pycore.errors import NetworkError
from pycore.sync.relay_api import HttpResponse


class FetchHttp:
    """``pycore.sync.relay_api.HttpFunction`` over ``web/worker/fetch-http.js`` (``fetch`` in the worker): no cookies,
    no cache, no redirects. A request that gets no answer (offline, the relay down, a timeout) is a ``NetworkError``."""

    def __init__(self, js: Any) -> None:
        self._js = js

    def __repr__(self) -> str:
        return "FetchHttp()"

    async def __call__(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        try:
            answer = await self._js.request(method, url, json.dumps(dict(headers)), to_js(body) if body else None)
        except JsException as exc:
            raise NetworkError(f"The relay could not be reached ({getattr(exc, 'name', 'Error')}).") from None
        try:
            raw_headers = json.loads(str(answer.headers))
        except ValueError:
            raw_headers = {}
        headers_out = {str(k).lower(): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, dict) else {}
        return HttpResponse(int(answer.status), headers_out, js_bytes(answer.body))
