"""What devices sign for the relay: canonical request bytes, the login statement and the step-up statement.

This module is imported by the relay, so it imports nothing that can decrypt: it only builds bytes (and hashes them
with ``hashlib``). Signing happens on the device (WebCrypto in the browser, PyNaCl in CPython); the relay verifies with
its own Ed25519 verifier. Every field is length-prefixed (``codec.length_prefixed``) so no two different inputs ever
produce the same bytes. See SPEC.md §"Authentication".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from pycore.errors import FormatError
from pycore.public import limits
from pycore.public.codec import b64e, length_prefixed

REQUEST_LABEL = b"vellum/v1/request"
LOGIN_LABEL = b"vellum/v1/login"
STEP_UP_LABEL = b"vellum/v1/step-up"

ACCOUNT_ID_SIZE = limits.ACCOUNT_ID_SIZE
DEVICE_ID_SIZE = limits.DEVICE_ID_SIZE
NONCE_SIZE = 16
CHALLENGE_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

# HTTP headers that carry a signed request.
HEADER_ACCOUNT = "Vellum-Account"
HEADER_DEVICE = "Vellum-Device"
HEADER_TIMESTAMP = "Vellum-Timestamp"
HEADER_NONCE = "Vellum-Nonce"
HEADER_SIGNATURE = "Vellum-Signature"
HEADER_STEP_UP = "Vellum-Step-Up"  # "<key kind>.<challenge b64>.<signature b64>", key kind "login" or "recovery"

MAX_CLOCK_SKEW_SECONDS = 300

LOGIN_ACTIONS = frozenset({"register", "login", "recovery_login"})
STEP_UP_ACTIONS = frozenset(
    {
        "change_passphrase",
        "new_recovery_kit",
        "update_factors",
        "revoke_device",
        "delete_account",
    }
)


def _check(name: str, value: bytes, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise FormatError(f"{name} must be {size} bytes")
    return value


def body_hash(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


def canonical_query(raw_query: str | bytes) -> list[tuple[bytes, bytes]]:
    """Query parameters as sorted (name, value) pairs of *decoded* bytes, so client and server agree on any encoding."""
    if isinstance(raw_query, str):
        raw_query = raw_query.encode("latin-1", errors="strict")
    pairs: list[tuple[bytes, bytes]] = []
    for part in raw_query.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        pairs.append((unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    pairs.sort()
    return pairs


@dataclass(frozen=True)
class RequestToSign:
    origin: str
    method: str
    path: str
    query: str
    account_id: bytes
    device_id: bytes
    timestamp: int
    nonce: bytes
    body: bytes

    def canonical_bytes(self) -> bytes:
        return request_bytes(
            self.origin,
            self.method,
            self.path,
            self.query,
            self.account_id,
            self.device_id,
            self.timestamp,
            self.nonce,
            body_hash(self.body),
        )


def request_bytes(
    origin: str,
    method: str,
    path: str,
    query: str | bytes,
    account_id: bytes,
    device_id: bytes,
    timestamp: int,
    nonce: bytes,
    body_sha256: bytes,
) -> bytes:
    """The bytes a device signs for one request (SPEC.md §"Request signatures").

    ``path`` is the raw path as sent (percent-encoding kept); the query is canonicalised by ``canonical_query``.
    """
    _check("account id", account_id, ACCOUNT_ID_SIZE)
    _check("device id", device_id, DEVICE_ID_SIZE)
    _check("nonce", nonce, NONCE_SIZE)
    _check("body hash", body_sha256, 32)
    if not 0 <= timestamp < 2**63:
        raise FormatError("timestamp out of range")
    query_fields: list[bytes] = []
    for name, value in canonical_query(query):
        query_fields += [name, value]
    return length_prefixed(
        REQUEST_LABEL,
        origin.encode("utf-8"),
        method.upper().encode("ascii"),
        path.encode("utf-8"),
        length_prefixed(*query_fields),
        account_id,
        device_id,
        timestamp.to_bytes(8, "big"),
        nonce,
        body_sha256,
    )


def login_statement(
    origin: str,
    action: str,
    account_id: bytes,
    challenge: bytes,
    device_id: bytes,
    device_signing_public: bytes,
) -> bytes:
    """What the login key (or recovery login key) signs, and the device key co-signs, to log a device in."""
    if action not in LOGIN_ACTIONS:
        raise FormatError(f"unknown login action {action!r}")
    return length_prefixed(
        LOGIN_LABEL,
        origin.encode("utf-8"),
        action.encode("ascii"),
        _check("account id", account_id, ACCOUNT_ID_SIZE),
        _check("challenge", challenge, CHALLENGE_SIZE),
        _check("device id", device_id, DEVICE_ID_SIZE),
        _check("device signing key", device_signing_public, PUBLIC_KEY_SIZE),
    )


def step_up_statement(
    origin: str,
    action: str,
    account_id: bytes,
    device_id: bytes,
    challenge: bytes,
    body: bytes,
) -> bytes:
    """What the login key or recovery login key signs to authorise one sensitive request with this exact body."""
    if action not in STEP_UP_ACTIONS:
        raise FormatError(f"unknown step-up action {action!r}")
    return length_prefixed(
        STEP_UP_LABEL,
        origin.encode("utf-8"),
        action.encode("ascii"),
        _check("account id", account_id, ACCOUNT_ID_SIZE),
        _check("device id", device_id, DEVICE_ID_SIZE),
        _check("challenge", challenge, CHALLENGE_SIZE),
        body_hash(body),
    )


def signature_headers(
    account_id: bytes, device_id: bytes, timestamp: int, nonce: bytes, signature: bytes
) -> dict[str, str]:
    """The headers of a signed request (the signature is over ``request_bytes`` with the same values)."""
    return {
        HEADER_ACCOUNT: b64e(account_id),
        HEADER_DEVICE: b64e(device_id),
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: b64e(nonce),
        HEADER_SIGNATURE: b64e(signature),
    }


def step_up_header(kind: str, challenge: bytes, signature: bytes) -> str:
    """The ``Vellum-Step-Up`` value: ``<key kind>.<challenge>.<signature over step_up_statement>``."""
    return f"{kind}.{b64e(challenge)}.{b64e(signature)}"
