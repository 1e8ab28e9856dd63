"""The note payload: what a NOTE record holds inside its sealed content.

A note is canonical JSON — ``{"body": ..., "title": ..., "updated_at": ...}`` with sorted keys, no spaces, UTF-8,
no other key — so one note has exactly one encoding and two devices that write the same note write the same bytes.
``updated_at`` is milliseconds since the Unix epoch (UTC), as the writing device's clock saw it; it orders a list and
names a conflicted copy, and is never trusted for anything else. SPEC.md §"Records".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pycore.errors import FormatError
from pycore.public import limits

MAX_TITLE_LENGTH = limits.NOTE_TITLE_MAX_LENGTH
MAX_NOTE_SIZE = limits.NOTE_MAX_SIZE  # sealed and padded, it stays under the relay's limits.RECORD_MAX_SIZE
MAX_TIMESTAMP_MS = 2**53 - 1
CONFLICT_MARK = "conflicted copy from"
UNTITLED = "Untitled"


@dataclass(frozen=True)
class Note:
    title: str
    body: str
    updated_at: int

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not isinstance(self.body, str):
            raise FormatError("a note's title and body are text")
        if len(self.title) > MAX_TITLE_LENGTH:
            raise FormatError("the note's title is too long")
        if isinstance(self.updated_at, bool) or not isinstance(self.updated_at, int):
            raise FormatError("a note's timestamp is an integer")
        if not 0 <= self.updated_at <= MAX_TIMESTAMP_MS:
            raise FormatError("the note's timestamp is out of range")


def encode_note(note: Note) -> bytes:
    data = json.dumps(
        {"body": note.body, "title": note.title, "updated_at": note.updated_at},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")
    if len(data) > MAX_NOTE_SIZE:
        raise FormatError("the note is too large")
    return data


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise FormatError("a note has a duplicate field")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise FormatError(f"{name} is not allowed in a note")


def decode_note(payload: bytes) -> Note:
    """Parse a payload; ``FormatError`` unless it is exactly a canonical note."""
    if len(payload) > MAX_NOTE_SIZE:
        raise FormatError("the note is too large")
    try:
        value = json.loads(payload.decode("utf-8"), object_pairs_hook=_pairs, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FormatError("the note is not valid JSON") from None
    if not isinstance(value, dict) or set(value) != {"body", "title", "updated_at"}:
        raise FormatError("the note does not have exactly a title, a body and a timestamp")
    note = Note(value["title"], value["body"], value["updated_at"])
    if encode_note(note) != payload:
        raise FormatError("the note is not canonically encoded")
    return note


def conflicted_copy_title(title: str, device_name: str, at_ms: int) -> str:
    """``"Title (conflicted copy from Laptop, 2026-11-28 14:05 UTC)"``, shortened to fit the title limit."""
    when = datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    suffix = f" ({CONFLICT_MARK} {device_name or 'another device'}, {when})"
    base = title.strip() or UNTITLED
    room = MAX_TITLE_LENGTH - len(suffix)
    if room < 1:
        suffix = suffix[: MAX_TITLE_LENGTH - 1]
        room = 1
    return base[:room] + suffix
