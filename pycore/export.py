"""The encrypted export file: a backup of every note that Vellum can verify and import, independent of the relay.

It is protected by an export passphrase (Argon2id at least at the floor), so it survives the loss of the account.
Notes are serialised as canonical JSON lines and cut into chunks; each chunk is sealed with associated data binding the
file header, its index and whether it is the last one, so reordering, dropping or truncating chunks is detected.
Format v1, SPEC.md §"Export file".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from pycore import kdf, primitives
from pycore.errors import DecryptionError, FormatError, UnsupportedVersion
from pycore.public.codec import Reader, Writer, length_prefixed

MAGIC = b"VELLUMX\n"
EXPORT_FORMAT_V1 = 1
SUITE_V1 = 1
CHUNK_LABEL = b"vellum/v1/export-chunk"
EXPORT_CONTEXT = b"VLexport"
CHUNK_SIZE = 1 << 20
MAX_CHUNKS = 1 << 16
HEADER_SIZE = len(MAGIC) + 1 + 1 + 16 + 4 + 4 + 8 + 4


@dataclass(frozen=True)
class ExportedNote:
    record_id: str  # base64url, as in the app
    title: str = field(repr=False)
    body: str = field(repr=False)
    updated_at: int


def _file_key(passphrase: str, salt: bytes, params: kdf.Argon2idParams) -> bytes:
    root = kdf.derive_root(passphrase, salt, params)
    return primitives.crypto_kdf_derive_from_key(32, 1, EXPORT_CONTEXT, root)


def _serialise(notes: Sequence[ExportedNote]) -> bytes:
    lines = [
        json.dumps(
            {"body": n.body, "id": n.record_id, "title": n.title, "updated_at": n.updated_at},
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )
        for n in notes
    ]
    return ("\n".join(lines)).encode("utf-8")


def _parse(data: bytes) -> list[ExportedNote]:
    out: list[ExportedNote] = []
    if not data:
        return out
    try:
        for line in data.decode("utf-8").split("\n"):
            v = json.loads(line)
            if not isinstance(v, dict) or set(v) != {"body", "id", "title", "updated_at"}:
                raise FormatError("an exported note has unexpected fields")
            if not all(isinstance(v[k], str) for k in ("body", "id", "title")) or not isinstance(v["updated_at"], int):
                raise FormatError("an exported note has fields of the wrong type")
            out.append(ExportedNote(v["id"], v["title"], v["body"], v["updated_at"]))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FormatError("the export file's contents are not valid") from None
    return out


def write_export(
    notes: Sequence[ExportedNote], passphrase: str, *, now: int, params: kdf.Argon2idParams = kdf.DEFAULT_PARAMS
) -> bytes:
    salt = kdf.new_salt()
    key = _file_key(passphrase, salt, params)
    data = _serialise(notes)
    chunks = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""]
    if len(chunks) > MAX_CHUNKS:
        raise FormatError("too much to export in one file")
    header = (
        Writer()
        .raw(MAGIC)
        .u8(EXPORT_FORMAT_V1)
        .u8(SUITE_V1)
        .fixed(salt, 16)
        .u32(params.opslimit)
        .u32(params.memlimit_kib)
        .u64(now)
        .u32(len(chunks))
        .finish()
    )
    items = []
    for i, chunk in enumerate(chunks):
        nonce = primitives.randombytes(primitives.AEAD_NONCE_SIZE)
        items.append((chunk, _chunk_aad(header, i, i == len(chunks) - 1), nonce, key))
    sealed = primitives.aead_encrypt_batch(items)
    w = Writer().raw(header)
    for (_, _, nonce, _), ct in zip(items, sealed, strict=True):
        w.fixed(nonce, primitives.AEAD_NONCE_SIZE).var32(ct)
    return w.finish()


def _chunk_aad(header: bytes, index: int, last: bool) -> bytes:
    return length_prefixed(CHUNK_LABEL, header, index.to_bytes(4, "big"), b"\x01" if last else b"\x00")


@dataclass(frozen=True)
class ExportInfo:
    created_at: int
    notes: list[ExportedNote] = field(repr=False)


def read_export(data: bytes, passphrase: str) -> ExportInfo:
    """Verify and open an export file: every chunk, in order, up to the last one — or a typed error."""
    if not isinstance(data, bytes) or not data.startswith(MAGIC):
        raise FormatError("This is not a Vellum export file.")
    r = Reader(data)
    r.fixed(len(MAGIC))
    if r.u8() != EXPORT_FORMAT_V1 or r.u8() != SUITE_V1:
        raise UnsupportedVersion("This export file was written by a newer Vellum.")
    salt = r.fixed(16)
    params = kdf.Argon2idParams(r.u32(), r.u32())
    created_at = r.u64()
    count = r.u32()
    if not 1 <= count <= MAX_CHUNKS:
        raise FormatError("the export file's chunk count is invalid")
    header = data[:HEADER_SIZE]
    key = _file_key(passphrase, salt, params)
    items = []
    for i in range(count):
        nonce = r.fixed(primitives.AEAD_NONCE_SIZE)
        ct = r.var32(CHUNK_SIZE + primitives.AEAD_TAG_SIZE)
        items.append((ct, _chunk_aad(header, i, i == count - 1), nonce, key))
    r.done()
    opened = primitives.aead_decrypt_batch(items)
    if any(p is None for p in opened):
        raise DecryptionError("The export file could not be opened: wrong export passphrase, or the file was changed.")
    return ExportInfo(created_at, _parse(b"".join(p for p in opened if p is not None)))
