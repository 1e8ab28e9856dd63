"""What this browser profile remembers about its account (``LocalSettings``), the checks on what a person types before
anything is sent (username, passphrase, relay address), and the stored bundle checked against its pin.

Local settings are ids, names, times and the *wrapped* device factor: no key in the clear, nothing about a note. They
are JSON in IndexedDB's meta store (``IdbStore.save_settings``), versioned by ``format``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pycore.app.browser.idb import META_BUNDLE, META_PIN, decode_pin
from pycore.bundle import verify_signature
from pycore.errors import BadRequest, BadUsername, BundleError, FormatError, InsecureRelay, VellumError, WeakPassphrase
from pycore.lifecycle.rotate import DEFAULT_ROTATION_DAYS
from pycore.public import bundle_public, limits, wire
from pycore.public.bundle_public import PublicBundle
from pycore.public.codec import b64d, b64e

SETTINGS_FORMAT_V1 = 1
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class LocalSettings:
    """What this browser profile remembers about its account, stored as JSON in IndexedDB. Public or wrapped only."""

    username: str
    account_id: bytes
    device_id: bytes
    device_name: str
    relay_origin: str
    joined_at: int  # ms
    device_factor: bytes | None = field(default=None, repr=False)  # the device factor's seed, wrapped by WebCrypto
    clock_offset: float = 0.0  # relay time - local time, seconds
    last_sync_at: int | None = None  # ms
    rotation_days: int = DEFAULT_ROTATION_DAYS  # routine key rotation every n days (0: never), pycore.app.keys
    queued_rotation: bytes | None = None  # a routine rotation asked for offline (lifecycle.QueuedRotation), public

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": SETTINGS_FORMAT_V1,
                "username": self.username,
                "account_id": b64e(self.account_id),
                "device_id": b64e(self.device_id),
                "device_name": self.device_name,
                "relay_origin": self.relay_origin,
                "joined_at": self.joined_at,
                "device_factor": b64e(self.device_factor) if self.device_factor is not None else None,
                "clock_offset": self.clock_offset,
                "last_sync_at": self.last_sync_at,
                "rotation_days": self.rotation_days,
                "queued_rotation": b64e(self.queued_rotation) if self.queued_rotation is not None else None,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> LocalSettings:
        try:
            v = json.loads(data.decode("utf-8"))
            if not isinstance(v, dict) or v.get("format") != SETTINGS_FORMAT_V1:
                raise FormatError("the stored settings have an unknown format")
            factor = v.get("device_factor")
            offset = v.get("clock_offset", 0.0)
            last = v.get("last_sync_at")
            days = v.get("rotation_days", DEFAULT_ROTATION_DAYS)
            queued = v.get("queued_rotation")
            return cls(
                str(v["username"]),
                b64d(v["account_id"], size=wire.ACCOUNT_ID_SIZE),
                b64d(v["device_id"], size=wire.DEVICE_ID_SIZE),
                str(v["device_name"]),
                str(v["relay_origin"]),
                int(v["joined_at"]),
                b64d(factor) if isinstance(factor, str) else None,
                float(offset) if isinstance(offset, int | float) else 0.0,
                int(last) if isinstance(last, int) else None,
                days if isinstance(days, int) and not isinstance(days, bool) and days >= 0 else DEFAULT_ROTATION_DAYS,
                b64d(queued) if isinstance(queued, str) else None,
            )
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            raise FormatError("the stored settings are damaged") from None


# --- checks before anything is sent -----------------------------------------------------------------------------------


def existing_username(name: str) -> str:
    """A username to sign in or recover with: the relay's rule (``limits.normalize_username``), which every existing
    account meets."""
    out = limits.normalize_username(name)
    if out is None:
        raise BadUsername("not a username")
    return out


def new_username(name: str) -> str:
    """A username to register: the narrower sign-up rule (``limits.is_new_username``)."""
    out = limits.normalize_username(name)
    if out is None or not limits.is_new_username(out):
        raise BadUsername("not a username for a new account")
    return out


def check_passphrase(passphrase: str) -> None:
    if len(passphrase.strip()) < limits.PASSPHRASE_MIN_LENGTH:
        raise WeakPassphrase(f"shorter than {limits.PASSPHRASE_MIN_LENGTH} characters")


def relay_origin_of(value: str | None, page_origin: str) -> str:
    """The relay's origin: the page's unless configured. Plain HTTP only for this machine."""
    if not value:
        return page_origin.rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise BadRequest("the relay address must be an origin such as https://vellum.example")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise InsecureRelay("plain HTTP is for this machine only")
    return f"{parts.scheme}://{parts.netloc}"


def stored_bundle(meta: Mapping[str, bytes], settings: LocalSettings) -> PublicBundle:
    """The last bundle this device adopted, checked against the pin stored with it."""
    raw, pin_raw = meta.get(META_BUNDLE), meta.get(META_PIN)
    if raw is None or pin_raw is None:
        raise BundleError("this device holds no account keys")
    public = bundle_public.parse_bundle(raw)
    pin = decode_pin(pin_raw)
    if public.account_id != settings.account_id:
        raise BundleError("the account keys on this device belong to another account")
    if not bundle_public.check_against_pin(pin, public):
        raise BundleError("the account keys on this device do not match what it pinned")
    try:
        verify_signature(public.signature, bundle_public.signed_message(public.body), pin.identity_public)
    except VellumError:
        raise BundleError("the account keys on this device do not verify") from None
    return public
