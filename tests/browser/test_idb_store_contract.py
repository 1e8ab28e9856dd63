"""The store contract (tests/support/store_contract.py) against the real web/worker/idb-store.js in Chromium.

The contract runs here, in CPython, through ``IdbStore`` (pycore/app/browser/idb.py: its codec for real) over
``PageIdb``: the module's calls made in a page of the real relay's origin, which imports /worker/idb-store.js as the
crypto worker does and keeps its data in that page's real IndexedDB. Values cross Playwright the way Pyodide converts
them for the worker (bytes <-> Uint8Array, None <-> undefined, lists <-> arrays, an object answer read by attribute),
and a JavaScript error comes back as the ``JsException`` Pyodide would raise. "Another tab" is a second page of the
same browser context: the same database through another connection. Each test has a context of its own, so a new
database.

The app's script is stubbed out (as in tests/browser/test_worker_app.py): no crypto worker starts, nothing else opens
the database. Playwright's synchronous API cannot run inside an asyncio event loop, and every store call here is one
synchronous round trip to the page, so the contract's cases (async functions that wait on nothing but the store)
never suspend: ``drive`` runs each to its end without a loop.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Coroutine, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from pycore.app.browser.ffi import JsException
from tests.backend.live import LiveRelay
from tests.browser.conftest import VIOLATION_LISTENER

# The cases assert in tests/support: have pytest explain their failures as it does in test files.
pytest.register_assert_rewrite("tests.support.store_contract")
from tests.support import store_contract as contract  # noqa: E402

CASES = {**contract.STORE_CASES, **contract.IDB_CASES}

# The page side of one call: tagged values in, the module's answer (tagged) or its error out.
_CALL = """async ([name, args]) => {
  const store = await import("/worker/idb-store.js");
  const toBase64 = (bytes) => {
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  };
  const revive = (v) => {
    if (Array.isArray(v)) return v.map(revive);
    if (v && typeof v === "object" && "$bytes" in v) return Uint8Array.from(atob(v.$bytes), (c) => c.charCodeAt(0));
    if (v && typeof v === "object" && "$undefined" in v) return undefined;
    return v;
  };
  const tag = (v) => {
    if (v === undefined) return { $undefined: true };
    if (v === null) return { $null: true };
    if (v instanceof Uint8Array) return { $bytes: toBase64(v) };
    if (Array.isArray(v)) return v.map(tag);
    if (typeof v === "object") return { $object: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, tag(x)])) };
    return v;
  };
  try {
    return { ok: true, answer: tag(await store[name](...revive(args))) };
  } catch (err) {
    return { ok: false, name: err?.name ?? "Error", message: String(err?.message ?? err) };
  }
}"""

# What Pyodide hands Python for a JavaScript null (``pyodide.ffi.jsnull``): not None, so the codec refuses it.
JSNULL = SimpleNamespace(name="jsnull")


def _to_page(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if value is None:
        return {"$undefined": True}
    if isinstance(value, list | tuple):
        return [_to_page(v) for v in value]
    if isinstance(value, bool | int | str):
        return value
    raise TypeError(f"{type(value).__name__} does not cross to the page")


def _from_page(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_page(v) for v in value]
    if isinstance(value, dict):
        if "$bytes" in value:
            return base64.b64decode(value["$bytes"])
        if "$undefined" in value:
            return None
        if "$null" in value:
            return JSNULL
        return SimpleNamespace(**{k: _from_page(v) for k, v in value["$object"].items()})
    return value


class PageIdb:
    """web/worker/idb-store.js's calls (the ones ``IdbStore`` makes), made in ``page``."""

    CALLS = frozenset({"commit", "get", "scan", "outbox", "loadMeta", "loadIndex", "counts"})

    def __init__(self, page: Page) -> None:
        self.page = page

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        if name not in self.CALLS:
            raise AttributeError(name)

        async def call(*args: Any) -> Any:
            reply = self.page.evaluate(_CALL, [name, _to_page(list(args))])
            if not reply["ok"]:
                raise JsException(reply["name"], reply["message"])
            return _from_page(reply["answer"])

        return call


def drive(case: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never suspends (each of its awaits completes at once) to its end, without an event loop."""
    try:
        case.send(None)
    except StopIteration:
        return
    case.close()
    raise AssertionError("the case waited on something other than the store")


@pytest.fixture
def subject(browser: Browser, relay: LiveRelay) -> Iterator[contract.Subject]:
    context = browser.new_context()
    context.add_init_script(VIOLATION_LISTENER)
    context.route(
        "**/app.js", lambda route: route.fulfill(body="export const worker = null;", content_type="text/javascript")
    )

    def tab() -> PageIdb:
        page = context.new_page()
        page.goto(relay.origin + "/")
        return PageIdb(page)

    try:
        yield contract.idb_subject(tab(), tab)
        for page in context.pages:
            assert page.evaluate("() => window.__cspViolations") == []
    finally:
        context.close()


@pytest.mark.parametrize("case", list(CASES))
def test_idb_store_js_keeps_the_store_contract(subject: contract.Subject, case: str) -> None:
    drive(CASES[case](subject))
