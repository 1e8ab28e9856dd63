"""Canonical binary encoding: big-endian integers and length-prefixed byte strings, read with every length checked.

All of pycore's formats are written with ``Writer`` and parsed with ``Reader``; a parser that finishes with bytes left
over, runs short, or meets a length above its stated maximum raises ``FormatError`` — never ``IndexError`` or
``struct.error`` — so arbitrary input can only ever produce pycore errors.
"""

from __future__ import annotations

import base64
import binascii
import struct

from pycore.errors import FormatError

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class Writer:
    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, value: int) -> Writer:
        self._parts.append(bytes((value,)))
        return self

    def u16(self, value: int) -> Writer:
        self._parts.append(_U16.pack(value))
        return self

    def u32(self, value: int) -> Writer:
        self._parts.append(_U32.pack(value))
        return self

    def u64(self, value: int) -> Writer:
        self._parts.append(_U64.pack(value))
        return self

    def fixed(self, value: bytes, size: int) -> Writer:
        if len(value) != size:
            raise FormatError(f"field must be {size} bytes, got {len(value)}")
        self._parts.append(bytes(value))
        return self

    def var16(self, value: bytes) -> Writer:
        """Bytes with a 16-bit length prefix."""
        self._parts.append(_U16.pack(len(value)))
        self._parts.append(bytes(value))
        return self

    def var32(self, value: bytes) -> Writer:
        """Bytes with a 32-bit length prefix."""
        self._parts.append(_U32.pack(len(value)))
        self._parts.append(bytes(value))
        return self

    def text(self, value: str) -> Writer:
        return self.var16(value.encode("utf-8"))

    def raw(self, value: bytes) -> Writer:
        self._parts.append(bytes(value))
        return self

    def finish(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise FormatError("expected bytes")
        self._data = bytes(data)
        self._pos = 0

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if size < 0 or end > len(self._data):
            raise FormatError("data is truncated")
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def u8(self) -> int:
        return self._take(1)[0]

    def u16(self) -> int:
        return int(_U16.unpack(self._take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self._take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self._take(8))[0])

    def fixed(self, size: int) -> bytes:
        return self._take(size)

    def var16(self, max_size: int = 0xFFFF) -> bytes:
        size = self.u16()
        if size > max_size:
            raise FormatError(f"field is longer than {max_size} bytes")
        return self._take(size)

    def var32(self, max_size: int) -> bytes:
        size = self.u32()
        if size > max_size:
            raise FormatError(f"field is longer than {max_size} bytes")
        return self._take(size)

    def text(self, max_size: int = 1024) -> str:
        raw = self.var16(max_size)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("text field is not UTF-8") from None

    def rest(self) -> bytes:
        out = self._data[self._pos :]
        self._pos = len(self._data)
        return out

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def done(self) -> None:
        if self._pos != len(self._data):
            raise FormatError("unexpected trailing bytes")


def b64e(data: bytes) -> str:
    """base64url without padding: the wire encoding of every binary field."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str, *, size: int | None = None, max_size: int | None = None) -> bytes:
    """Strict base64url decoding (padding optional); ``FormatError`` on anything else."""
    if not isinstance(text, str):
        raise FormatError("expected a base64url string")
    if max_size is not None and len(text) > (max_size * 4 + 2) // 3 + 2:
        raise FormatError("field is too long")
    try:
        raw = text.encode("ascii")
        out = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise FormatError("field is not valid base64url") from None
    if b64e(out) != text.rstrip("="):
        raise FormatError("field is not canonical base64url")
    if size is not None and len(out) != size:
        raise FormatError(f"field must be {size} bytes")
    if max_size is not None and len(out) > max_size:
        raise FormatError("field is too long")
    return out


def length_prefixed(*fields: bytes) -> bytes:
    """The canonical concatenation used for everything that is signed or bound as associated data."""
    w = Writer()
    for field in fields:
        w.var32(field)
    return w.finish()
