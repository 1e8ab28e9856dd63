"""The crypto worker's command table: what the page may ask of pycore, and nothing else.

``web/worker/crypto-worker.js`` boots Pyodide, installs pycore, registers its JavaScript modules (``vellum_sodium``,
``vellum_webcrypto``, ``vellum_idb``, ``vellum_fetch``, ``vellum_runtime``) and then hands every message from the page
to :meth:`Worker.handle_json`::

    request  {"cmd": "records.seal_batch", "args": {...}}            (the worker adds and strips the message id)
    reply    {"ok": true, "result": {...}}  |  {"ok": false, "error": {"code": "...", "message": "..."}}

The table is fixed (``COMMANDS``); the page never sends Python. Arguments and results are JSON with base64url strings
for bytes, or, for bulk data, "binary" messages: the same objects with Uint8Arrays in place of those strings
(:meth:`Worker.handle_js`), which spares a base64 and a JSON pass each way.

Every failure is an answer, never a crash: pycore errors keep their code, malformed arguments are ``bad_request``, a
name outside the table is ``unknown_command``, anything unexpected is ``internal_error`` (its text is not echoed, so
nothing secret can leak through an error), and the worker keeps serving.

Keys stay in this worker: an unlocked account lives in the worker's memory (``Session``), records are sealed and opened
here, in batches so the Python/JavaScript bridge is crossed once per batch, not once per record. The only secrets that
go back to the page are the ones a person must see (the recovery phrase, once, at account creation).

``COMMANDS`` is the app contract with the UI and nothing more (docs/worker-api.md: ``app.*``, ``notes.*``, ``sync.*``,
``devices.*``, ``export.*``, ``import.*``, ``keys.*``), thin wrappers over ``pycore.app.session.App`` (and its
``notes`` and ``keys``). The protocol-level commands that tests and benchmarks drive (``account.*``,
``device.*``, ``records.*``, the conformance suites) live in ``tests/support/worker_commands.py``, in a test-only wheel
that only a worker started as ``crypto-worker.js?testing=1`` installs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pycore import SPEC_VERSION, __version__, primitives
from pycore.errors import BadRequest, FormatError, Unavailable, UnknownCommand, VellumError
from pycore.public import limits, wire
from pycore.public.codec import b64d, b64e

MAX_BATCH = 10_000
MAX_TEXT = 4096


# --- arguments --------------------------------------------------------------------------------------------------------


_MISSING: Any = object()


class Args:
    """Typed, checked access to a command's JSON arguments; every problem is a ``BadRequest`` naming the field."""

    def __init__(self, raw: object) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise BadRequest("args must be a JSON object")
        self._raw: dict[str, Any] = raw

    def _get(self, name: str, default: Any) -> tuple[bool, Any]:
        """(present, value); a missing argument without a default is a ``BadRequest``."""
        value = self._raw.get(name, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise BadRequest(f"missing argument {name!r}")
            return False, default
        return True, value

    def binary(
        self, name: str, *, size: int | None = None, max_size: int | None = None, default: Any = _MISSING
    ) -> Any:
        """Bytes: a base64url string (JSON messages) or a Uint8Array (binary messages, a memoryview here)."""
        present, value = self._get(name, default)
        if not present:
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
            if (size is not None and len(raw) != size) or (max_size is not None and len(raw) > max_size):
                raise BadRequest(f"{name!r} has the wrong length")
            return raw
        try:
            return b64d(value, size=size, max_size=max_size)
        except FormatError as exc:
            raise BadRequest(f"{name!r}: {exc.message}") from None

    def text(self, name: str, *, max_length: int = MAX_TEXT, default: Any = _MISSING) -> Any:
        present, value = self._get(name, default)
        if present and (not isinstance(value, str) or len(value) > max_length):
            raise BadRequest(f"{name!r} must be a string of at most {max_length} characters")
        return value

    def integer(self, name: str, *, low: int = 0, high: int = 2**63 - 1, default: Any = _MISSING) -> Any:
        present, value = self._get(name, default)
        if present and (not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high):
            raise BadRequest(f"{name!r} must be an integer in {low}..{high}")
        return value

    def flag(self, name: str, *, default: bool = False) -> bool:
        _, value = self._get(name, default)
        if not isinstance(value, bool):
            raise BadRequest(f"{name!r} must be true or false")
        return value

    def objects(self, name: str, *, max_items: int = MAX_BATCH) -> list[Args]:
        return [Args(item) for item in self.array(name, max_items=max_items)]

    def array(self, name: str, *, max_items: int = MAX_BATCH) -> list[Any]:
        _, value = self._get(name, _MISSING)
        if not isinstance(value, list) or len(value) > max_items:
            raise BadRequest(f"{name!r} must be a list of at most {max_items} items")
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        _, value = self._get(name, _MISSING)
        if not isinstance(value, dict):
            raise BadRequest(f"{name!r} must be an object")
        return value


# --- the worker ---------------------------------------------------------------------------------------------------


Handler = Callable[["Worker", Args], Awaitable[Any]]


class Worker:
    """One crypto worker: the command table bound to one session and the JavaScript modules of its host."""

    def __init__(
        self,
        *,
        device_js: Any = None,
        runtime_js: Any = None,
        idb_js: Any = None,
        fetch_js: Any = None,
        origin: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.device_js = device_js  # web/worker/webcrypto.js (vellum_webcrypto), or a stand-in under CPython
        self.runtime_js = runtime_js  # vellum_runtime: boot timings, memory, origin, features
        self.idb_js = idb_js  # web/worker/idb-store.js (vellum_idb)
        self.fetch_js = fetch_js  # web/worker/fetch-http.js (vellum_fetch)
        self.origin = origin or (str(runtime_js.origin) if runtime_js is not None else None)
        self.clock = clock
        self.commands: dict[str, Handler] = dict(COMMANDS)  # test builds add theirs (tests/support)
        self._app: Any = None

    async def handle(self, cmd: object, args: object) -> dict[str, Any]:
        try:
            if not isinstance(cmd, str):
                raise BadRequest("cmd must be a string")
            handler = self.commands.get(cmd)
            if handler is None:
                raise UnknownCommand(f"unknown command {cmd[:64]!r}")
            return {"ok": True, "result": await handler(self, Args(args))}
        except VellumError as exc:
            return _error(exc.code, exc.message, _details(exc))
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, UnicodeError) as exc:
            return _error("bad_request", f"{cmd} could not use its arguments ({type(exc).__name__})")
        except Exception as exc:  # the worker must keep serving; the text may quote data, so it is not echoed
            return _error("internal_error", f"{cmd} failed ({type(exc).__name__})")

    async def handle_json(self, text: str) -> str:
        """JSON messages: the request as JSON text in, the reply as JSON text out, bytes as base64url strings (one
        crossing each way for a whole batch)."""
        try:
            request = json.loads(text)
        except (ValueError, TypeError):
            return json.dumps(_error("bad_request", "the request is not JSON"))
        if not isinstance(request, dict):
            return json.dumps(_error("bad_request", "the request must be an object"))
        reply = await self.handle(request.get("cmd"), request.get("args"))
        try:
            return json.dumps(reply, separators=(",", ":"), default=_json_bytes)
        except (TypeError, ValueError) as exc:
            return json.dumps(_error("internal_error", f"the reply could not be encoded ({type(exc).__name__})"))

    async def handle_js(self, cmd: object, args: Any) -> Any:
        """Binary messages (Pyodide only): the arguments as a JavaScript object whose byte fields are Uint8Arrays, the
        reply as a JavaScript object with Uint8Arrays. No base64 and no JSON: big records cost a few copies, not an
        encoding pass each way."""
        from js import Object
        from pyodide.ffi import to_js

        try:
            native = args.to_py() if hasattr(args, "to_py") else args
        except Exception:
            native = ()  # not convertible: Args() refuses anything but an object
        reply = await self.handle(cmd, native)
        return to_js(reply, dict_converter=Object.fromEntries)

    # helpers used by the commands

    def app(self) -> Any:
        """The app session (``pycore.app.session.App``), made on first use; it needs IndexedDB, fetch and the device
        keys."""
        if self._app is None:
            if self.idb_js is None or self.fetch_js is None or self.device_js is None or self.origin is None:
                raise Unavailable("This worker has no local database, network or device keys for the app.")
            from pycore.app.session import App

            self._app = App.in_browser(
                idb=self.idb_js,
                fetch=self.fetch_js,
                device=self.device_js,
                runtime=self.runtime_js,
                origin=self.origin,
                clock=self.clock,
            )
        return self._app


def _error(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"ok": False, "error": error}


def _details(exc: VellumError) -> dict[str, Any] | None:
    """Machine-readable parts of some errors: a recovery phrase's unknown word (1-based position, closest words)."""
    from pycore.errors import UnknownWord

    if isinstance(exc, UnknownWord):
        return {"position": exc.position, "suggestions": list(exc.suggestions)}
    return None


def _json_bytes(value: object) -> str:
    """Handlers answer with bytes; JSON messages carry them as base64url strings."""
    if isinstance(value, bytes | bytearray | memoryview):
        return b64e(bytes(value))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# --- commands: runtime ------------------------------------------------------------------------------------------------


async def ping(worker: Worker, args: Args) -> dict[str, Any]:
    return {"pong": True}


async def status(worker: Worker, args: Args) -> dict[str, Any]:
    backend = getattr(primitives, "_backend", None)
    out: dict[str, Any] = {
        "backend": primitives.backend_name(),
        "libsodium": str(getattr(backend, "libsodium_version", "")),
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "pycore": __version__,
        "spec": SPEC_VERSION,
        "unlocked": worker._app is not None and worker._app.rt.session is not None,
    }
    if worker.runtime_js is not None:
        out["runtime"] = json.loads(str(worker.runtime_js.statsJson()))
    if worker._app is not None:
        out["app_timings_ms"] = dict(worker._app.rt.timings)
    return out


# --- commands: the app (docs/worker-api.md) ---------------------------------------------------------------------------

MAX_IMPORT = 256 << 20


def _record_id(args: Args, name: str = "id") -> bytes:
    return bytes(args.binary(name, size=limits.RECORD_ID_SIZE))


async def app_status(worker: Worker, args: Args) -> Any:
    return await worker.app().status()


async def app_register(worker: Worker, args: Args) -> Any:
    return await worker.app().register(
        args.text("username", max_length=limits.USERNAME_INPUT_MAX_LENGTH),
        args.text("passphrase", max_length=limits.PASSPHRASE_MAX_LENGTH),
        args.text("device_name", max_length=limits.DEVICE_NAME_MAX_LENGTH),
        args.text("relay_origin", max_length=256, default=None),
    )


async def app_recovery_confirmed(worker: Worker, args: Args) -> Any:
    words = args.mapping("words")
    if len(words) > 24 or not all(isinstance(k, str) and isinstance(v, str) and len(v) < 64 for k, v in words.items()):
        raise BadRequest("'words' maps positions to words")
    return await worker.app().recovery_confirmed(words)


async def app_sign_in(worker: Worker, args: Args) -> Any:
    return await worker.app().sign_in(
        args.text("username", max_length=limits.USERNAME_INPUT_MAX_LENGTH),
        args.text("passphrase", max_length=limits.PASSPHRASE_MAX_LENGTH),
        args.text("device_name", max_length=limits.DEVICE_NAME_MAX_LENGTH),
        args.flag("remember"),
        args.text("relay_origin", max_length=256, default=None),
    )


async def app_unlock(worker: Worker, args: Args) -> Any:
    return await worker.app().unlock(
        args.text("passphrase", max_length=limits.PASSPHRASE_MAX_LENGTH), args.flag("remember")
    )


async def app_unlock_device(worker: Worker, args: Args) -> Any:
    return await worker.app().unlock_device()


async def app_lock(worker: Worker, args: Args) -> Any:
    return await worker.app().lock()


async def notes_list(worker: Worker, args: Args) -> Any:
    return await worker.app().notes.list()


async def notes_get(worker: Worker, args: Args) -> Any:
    return await worker.app().notes.get(_record_id(args))


async def notes_save(worker: Worker, args: Args) -> Any:
    record_id = args.binary("id", size=limits.RECORD_ID_SIZE, default=None)
    title = args.text("title", max_length=limits.NOTE_TITLE_MAX_LENGTH)
    base_revision = args.integer("base_revision", low=1, default=None)
    body = args.text("body", max_length=limits.NOTE_BODY_MAX_LENGTH)
    return await worker.app().notes.save(title, body, record_id, base_revision)


async def notes_delete(worker: Worker, args: Args) -> Any:
    return await worker.app().notes.delete(_record_id(args))


async def notes_restore(worker: Worker, args: Args) -> Any:
    title = args.text("title", max_length=limits.NOTE_TITLE_MAX_LENGTH)
    return await worker.app().notes.save(
        title, args.text("body", max_length=limits.NOTE_BODY_MAX_LENGTH), _record_id(args)
    )


async def notes_search(worker: Worker, args: Args) -> Any:
    return await worker.app().notes.search(args.text("query", max_length=1024))


async def sync_now(worker: Worker, args: Args) -> Any:
    return await worker.app().sync_now()


async def sync_status(worker: Worker, args: Args) -> Any:
    return await worker.app().sync_status()


async def devices_list(worker: Worker, args: Args) -> Any:
    return await worker.app().devices_list()


async def devices_rename(worker: Worker, args: Args) -> Any:
    return await worker.app().devices_rename(args.text("name", max_length=limits.DEVICE_NAME_MAX_LENGTH))


async def export_encrypted(worker: Worker, args: Args) -> Any:
    return await worker.app().notes.export_encrypted(args.text("passphrase", max_length=limits.PASSPHRASE_MAX_LENGTH))


async def export_plaintext(worker: Worker, args: Args) -> Any:
    if not args.flag("confirm"):
        raise BadRequest("a readable export needs {confirm: true}")
    return await worker.app().notes.export_plaintext()


async def import_encrypted(worker: Worker, args: Args) -> Any:
    data = bytes(args.binary("file", max_size=MAX_IMPORT))
    return await worker.app().notes.import_encrypted(
        data, args.text("passphrase", max_length=limits.PASSPHRASE_MAX_LENGTH)
    )


# --- commands: the key lifecycle (docs/worker-api.md, "Key lifecycle"; pycore/app/keys.py) ----------------------------

MAX_CREDENTIAL_ID = 1024  # bundle_public: a passkey's credential id is at most 1024 bytes
_RECOVERY_WORDS = 48  # a pasted phrase may carry numbering; recovery.entropy_from_phrase counts the words


def _passphrase(args: Args, name: str = "passphrase") -> str:
    return str(args.text(name, max_length=limits.PASSPHRASE_MAX_LENGTH))


def _recovery_words(args: Args) -> list[str] | str:
    """``words`` (a list of up to 24 words) or ``phrase`` (the text as pasted)."""
    if "words" in args._raw:
        words = args.array("words", max_items=_RECOVERY_WORDS)
        if not all(isinstance(w, str) and len(w) <= 64 for w in words):
            raise BadRequest("'words' must be a list of words")
        return [str(w) for w in words]
    return str(args.text("phrase", max_length=2048))


async def keys_change_passphrase(worker: Worker, args: Args) -> Any:
    return await worker.app().keys.change_passphrase(
        _passphrase(args, "current"), _passphrase(args, "new"), args.flag("may_be_known")
    )


async def app_recover_start(worker: Worker, args: Args) -> Any:
    words = _recovery_words(args)
    return await worker.app().recover_start(
        args.text("username", max_length=limits.USERNAME_INPUT_MAX_LENGTH),
        words,
        args.text("device_name", max_length=limits.DEVICE_NAME_MAX_LENGTH, default=None),
        args.text("relay_origin", max_length=256, default=None),
    )


async def app_recover_finish(worker: Worker, args: Args) -> Any:
    return await worker.app().recover_finish(
        _passphrase(args, "new_passphrase"),
        args.text("device_name", max_length=limits.DEVICE_NAME_MAX_LENGTH, default=None),
        args.flag("remember"),
        args.flag("may_be_known"),
    )


async def keys_new_recovery_kit(worker: Worker, args: Args) -> Any:
    return await worker.app().keys.new_recovery_kit(_passphrase(args))


async def keys_remember(worker: Worker, args: Args) -> Any:
    if "on" not in args._raw:
        raise BadRequest("missing argument 'on'")
    return await worker.app().keys.remember(_passphrase(args), args.flag("on"))


async def keys_passkeys(worker: Worker, args: Args) -> Any:
    return await worker.app().keys.passkeys()


async def keys_add_passkey(worker: Worker, args: Args) -> Any:
    from pycore.factors import PRF_OUTPUT_SIZE
    from pycore.public.bundle_public import PRF_SALT_SIZE

    return await worker.app().keys.add_passkey(
        _passphrase(args),
        args.text("name", max_length=limits.PASSKEY_NAME_MAX_LENGTH, default=""),
        bytes(args.binary("credential_id", max_size=MAX_CREDENTIAL_ID)),
        bytes(args.binary("prf_salt", size=PRF_SALT_SIZE)),
        bytes(args.binary("prf_output", size=PRF_OUTPUT_SIZE)),
        args.text("rp_id", max_length=253, default=None),
    )


async def keys_remove_passkey(worker: Worker, args: Args) -> Any:
    return await worker.app().keys.remove_passkey(
        _passphrase(args), bytes(args.binary("slot_id", size=limits.SLOT_ID_SIZE))
    )


async def app_unlock_passkey(worker: Worker, args: Args) -> Any:
    from pycore.factors import PRF_OUTPUT_SIZE

    return await worker.app().unlock_passkey(
        bytes(args.binary("slot_id", size=limits.SLOT_ID_SIZE)), bytes(args.binary("prf_output", size=PRF_OUTPUT_SIZE))
    )


async def app_passkey_options(worker: Worker, args: Args) -> Any:
    return await worker.app().keys.passkey_options(
        args.text("username", max_length=limits.USERNAME_INPUT_MAX_LENGTH, default=None)
    )


async def keys_revoke_device(worker: Worker, args: Args) -> Any:
    return await worker.app().keys.revoke_device(
        _passphrase(args), bytes(args.binary("device_id", size=wire.DEVICE_ID_SIZE)), args.flag("reencrypt")
    )


async def keys_rotate(worker: Worker, args: Args) -> Any:
    return await worker.app().keys.rotate(args.flag("rewrap", default=True))


async def keys_rotation_status(worker: Worker, args: Args) -> Any:
    return await worker.app().keys.rotation_status()


async def keys_rotation_continue(worker: Worker, args: Args) -> Any:
    from pycore.app.keys import MAX_ROTATION_BATCH, ROTATION_BATCH

    batch = args.integer("batch", low=1, high=MAX_ROTATION_BATCH, default=ROTATION_BATCH)
    return await worker.app().keys.rotation_continue(batch)


async def keys_set_schedule(worker: Worker, args: Args) -> Any:
    from pycore.app.keys import MAX_ROTATION_DAYS

    return await worker.app().keys.set_schedule(args.integer("every_days", low=0, high=MAX_ROTATION_DAYS))


# The key-lifecycle commands above (tests/unit/test_worker_keys.py checks them as test_worker_app.py does the rest).
KEY_LIFECYCLE_COMMANDS = frozenset(
    {
        "app.unlock_passkey",
        "app.passkey_options",
        "app.recover_start",
        "app.recover_finish",
        "keys.change_passphrase",
        "keys.new_recovery_kit",
        "keys.remember",
        "keys.passkeys",
        "keys.add_passkey",
        "keys.remove_passkey",
        "keys.revoke_device",
        "keys.rotate",
        "keys.rotation_status",
        "keys.rotation_continue",
        "keys.set_schedule",
    }
)


COMMANDS: dict[str, Handler] = {
    "ping": ping,
    "status": status,
    "app.status": app_status,
    "app.register": app_register,
    "app.recovery_confirmed": app_recovery_confirmed,
    "app.sign_in": app_sign_in,
    "app.unlock": app_unlock,
    "app.unlock_device": app_unlock_device,
    "app.lock": app_lock,
    "notes.list": notes_list,
    "notes.get": notes_get,
    "notes.save": notes_save,
    "notes.delete": notes_delete,
    "notes.restore": notes_restore,
    "notes.search": notes_search,
    "sync.now": sync_now,
    "sync.status": sync_status,
    "devices.list": devices_list,
    "devices.rename": devices_rename,
    "export.encrypted": export_encrypted,
    "export.plaintext": export_plaintext,
    "import.encrypted": import_encrypted,
    "app.unlock_passkey": app_unlock_passkey,
    "app.passkey_options": app_passkey_options,
    "app.recover_start": app_recover_start,
    "app.recover_finish": app_recover_finish,
    "keys.change_passphrase": keys_change_passphrase,
    "keys.new_recovery_kit": keys_new_recovery_kit,
    "keys.remember": keys_remember,
    "keys.passkeys": keys_passkeys,
    "keys.add_passkey": keys_add_passkey,
    "keys.remove_passkey": keys_remove_passkey,
    "keys.revoke_device": keys_revoke_device,
    "keys.rotate": keys_rotate,
    "keys.rotation_status": keys_rotation_status,
    "keys.rotation_continue": keys_rotation_continue,
    "keys.set_schedule": keys_set_schedule,
}


def browser_worker() -> Worker:
    """The worker inside ``web/worker/crypto-worker.js``: its JavaScript modules are registered first."""
    import vellum_fetch  # type: ignore[import-not-found]  # web/worker/fetch-http.js
    import vellum_idb  # type: ignore[import-not-found]  # web/worker/idb-store.js
    import vellum_runtime  # type: ignore[import-not-found]  # registered by web/worker/crypto-worker.js
    import vellum_webcrypto  # type: ignore[import-not-found]  # web/worker/webcrypto.js

    return Worker(device_js=vellum_webcrypto, runtime_js=vellum_runtime, idb_js=vellum_idb, fetch_js=vellum_fetch)
