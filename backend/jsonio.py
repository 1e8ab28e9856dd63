"""Strict JSON in, JSON out: one parser for request bodies and small typed field readers.

Bodies are parsed from the exact bytes that were signed. Duplicate keys, NaN/Infinity, non-objects and wrong types are
refused (``bad_json`` / ``bad_request``, 400) so that the relay and the client can never read one body two ways.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request

from backend.errors import ApiError, bad_request
from pycore.errors import FormatError
from pycore.public.codec import b64d

MAX_INT = 2**53 - 1  # exact in every JSON implementation, including the browser's


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate key")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def raw_body() -> bytes:
    """The request body exactly as received (413 ``too_large`` beyond MAX_CONTENT_LENGTH)."""
    return request.get_data(cache=True)


def body_object(*, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}`` when ``optional``."""
    raw = raw_body()
    if optional and not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError("bad_json", 400, "The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise ApiError("bad_json", 400, "The request body must be a JSON object.")
    return value


def only(obj: dict[str, Any], allowed: set[str], where: str = "body") -> None:
    unknown = set(obj) - allowed
    if unknown:
        raise bad_request(f"Unknown field in {where}: {sorted(unknown)[0]!r}.")


def field(obj: dict[str, Any], name: str) -> Any:
    if name not in obj:
        raise bad_request(f"Missing field {name!r}.")
    return obj[name]


def b64(
    obj: dict[str, Any], name: str, *, size: int | None = None, max_size: int | None = None, min_size: int = 0
) -> bytes:
    value = field(obj, name)
    if not isinstance(value, str):
        raise bad_request(f"Field {name!r} must be a base64url string.")
    try:
        out = b64d(value, size=size, max_size=max_size)
    except FormatError as exc:
        if max_size is not None and "too long" in exc.message:
            raise ApiError("too_large", 413, f"Field {name!r} is larger than this relay accepts.") from None
        raise bad_request(f"Field {name!r}: {exc.message}.") from None
    if len(out) < min_size:
        raise bad_request(f"Field {name!r} is too short.")
    return out


def integer(obj: dict[str, Any], name: str, *, low: int = 0, high: int = MAX_INT) -> int:
    value = field(obj, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"Field {name!r} must be an integer.")
    if not low <= value <= high:
        raise bad_request(f"Field {name!r} is out of range.")
    return value


def text(obj: dict[str, Any], name: str, *, max_length: int, min_length: int = 1) -> str:
    value = field(obj, name)
    if not isinstance(value, str):
        raise bad_request(f"Field {name!r} must be a string.")
    if not min_length <= len(value) <= max_length:
        raise bad_request(f"Field {name!r} must be {min_length} to {max_length} characters.")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or 0xD800 <= ord(ch) < 0xE000 for ch in value):
        raise bad_request(f"Field {name!r} holds control characters.")
    return value


def obj_field(obj: dict[str, Any], name: str) -> dict[str, Any]:
    value = field(obj, name)
    if not isinstance(value, dict):
        raise bad_request(f"Field {name!r} must be an object.")
    return value


def list_field(obj: dict[str, Any], name: str, *, max_items: int) -> list[Any]:
    value = field(obj, name)
    if not isinstance(value, list):
        raise bad_request(f"Field {name!r} must be a list.")
    if len(value) > max_items:
        raise ApiError("too_large", 413, f"Field {name!r} holds more than {max_items} items.")
    return value


def query_int(name: str, *, default: int, low: int = 0, high: int = MAX_INT) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16:
        raise bad_request(f"Query parameter {name!r} must be a non-negative integer.")
    value = int(raw)
    if not low <= value <= high:
        raise bad_request(f"Query parameter {name!r} is out of range.")
    return value


def query_b64(name: str, *, size: int) -> bytes | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return b64d(raw, size=size)
    except FormatError:
        raise bad_request(f"Query parameter {name!r} must be {size} bytes of base64url.") from None
