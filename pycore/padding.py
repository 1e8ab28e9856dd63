"""PADME padding (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication with PURBs", 2019).

A padded length leaks O(log log L) bits of the real length, with at most 12% overhead. The plaintext layout is
``u8 record type | u32 length | payload | zero bytes``; unpadding checks that every padding byte is zero so a padded
plaintext has exactly one meaning.
"""

from __future__ import annotations

from pycore.errors import FormatError
from pycore.public.codec import Reader, Writer

HEADER_SIZE = 5
MAX_PAYLOAD_SIZE = 64 * 1024 * 1024


def padme(length: int) -> int:
    """The PADME padded length for ``length`` bytes."""
    if length < 2:
        return length
    e = length.bit_length() - 1  # floor(log2 L)
    s = e.bit_length()  # floor(log2 E) + 1
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask


def pad(record_type: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD_SIZE:
        raise FormatError("the note is too large")
    body = Writer().u8(record_type).u32(len(payload)).raw(payload).finish()
    return body + bytes(padme(len(body)) - len(body))


def unpad(padded: bytes) -> tuple[int, bytes]:
    r = Reader(padded)
    record_type = r.u8()
    size = r.u32()
    if size > r.remaining:
        raise FormatError("padded plaintext is truncated")
    payload = r.fixed(size)
    rest = r.rest()
    if len(padded) != padme(HEADER_SIZE + size) or rest.count(0) != len(rest):
        raise FormatError("bad padding")
    return record_type, payload
