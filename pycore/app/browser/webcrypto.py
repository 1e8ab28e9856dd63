"""WebCrypto device keys (``web/worker/webcrypto.js``): the ``DeviceWrapper`` and the request ``Signer``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycore import primitives
from pycore.app.browser.ffi import JsException, js_bytes, to_js
from pycore.errors import DecryptionError, DeviceKeyUnavailable
from pycore.public import limits

DEVICE_ID_SIZE = limits.DEVICE_ID_SIZE
AES_GCM_IV_SIZE = 12
AES_GCM_TAG_SIZE = 16
MAX_WRAPPED_SECRET = 4096  # what a device key wraps is a seed or a key: small by construction


def _device_error(exc: JsException, doing: str) -> DeviceKeyUnavailable:
    name = str(getattr(exc, "name", "Error"))
    if name == "NotSupportedError":
        return DeviceKeyUnavailable("This browser cannot hold a Vellum device key (WebCrypto Ed25519 is missing).")
    if name == "InvalidStateError":
        return DeviceKeyUnavailable("This device has no device key yet.")
    return DeviceKeyUnavailable(f"The device key could not {doing} ({name}).")


@dataclass(frozen=True)
class DeviceInfo:
    """What Python may know about the device keys: public parts only."""

    device_id: bytes
    signing_public: bytes
    created_at: int
    created: bool  # True when this call generated the keys


def _info(js_info: Any) -> DeviceInfo:
    device_id = js_bytes(js_info.deviceId)
    public = js_bytes(js_info.signPublic)
    if len(device_id) != DEVICE_ID_SIZE or len(public) != primitives.SIGN_PUBLIC_KEY_SIZE:
        raise DeviceKeyUnavailable("The stored device key is damaged.")
    return DeviceInfo(device_id, public, int(js_info.createdAt), bool(js_info.created))


async def load_device(js: Any) -> DeviceInfo | None:
    """The device keys already in this browser profile, or ``None``."""
    try:
        found = await js.load()
    except JsException as exc:
        raise _device_error(exc, "be read") from None
    return None if found is None else _info(found)


async def ensure_device(js: Any) -> DeviceInfo:
    """Load the device keys, creating them (with a fresh random device id) the first time."""
    try:
        found = await js.load()
        if found is None:
            found = await js.create(to_js(primitives.randombytes(DEVICE_ID_SIZE)))
    except JsException as exc:
        raise _device_error(exc, "be created") from None
    return _info(found)


class WebCryptoDeviceWrapper:
    """``pycore.factors.DeviceWrapper`` over the device's non-extractable AES-256-GCM key."""

    def __init__(self, js: Any) -> None:
        self._js = js

    def __repr__(self) -> str:
        return "WebCryptoDeviceWrapper(<non-extractable key>)"

    async def wrap(self, secret: bytes, aad: bytes) -> bytes:
        if len(secret) > MAX_WRAPPED_SECRET:
            raise DeviceKeyUnavailable("The device key wraps keys, not data.")
        try:
            blob = js_bytes(await self._js.wrap(to_js(bytes(secret)), to_js(bytes(aad))))
        except JsException as exc:
            raise _device_error(exc, "wrap a key") from None
        if len(blob) != AES_GCM_IV_SIZE + len(secret) + AES_GCM_TAG_SIZE:
            raise DeviceKeyUnavailable("The device key returned a malformed wrapped key.")
        return blob

    async def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < AES_GCM_IV_SIZE + AES_GCM_TAG_SIZE:
            raise DecryptionError("The key remembered on this device is truncated.")
        try:
            return js_bytes(await self._js.unwrap(to_js(bytes(blob)), to_js(bytes(aad))))
        except JsException as exc:
            if getattr(exc, "name", "") == "OperationError":
                raise DecryptionError(
                    "This device's key cannot open the remembered unlock key. Unlock with your passphrase."
                ) from None
            raise _device_error(exc, "unwrap a key") from None


class WebCryptoSigner:
    """``pycore.sync.Signer`` over the device's non-extractable Ed25519 key."""

    def __init__(self, js: Any, info: DeviceInfo) -> None:
        self._js = js
        self._info = info

    def __repr__(self) -> str:
        return f"WebCryptoSigner(public={self._info.signing_public.hex()[:16]}...)"

    @property
    def device_id(self) -> bytes:
        return self._info.device_id

    @property
    def public_key(self) -> bytes:
        return self._info.signing_public

    async def sign(self, message: bytes) -> bytes:
        try:
            signature = js_bytes(await self._js.sign(to_js(bytes(message))))
        except JsException as exc:
            raise _device_error(exc, "sign") from None
        if len(signature) != primitives.SIGNATURE_SIZE:
            raise DeviceKeyUnavailable("The device key returned a malformed signature.")
        return signature


