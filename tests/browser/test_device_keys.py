"""WebCrypto device keys: non-extractable, kept in IndexedDB across a browser restart, and still able to open the
device slot ("remember this device") they wrapped before the restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.signing
from playwright.sync_api import BrowserContext

from pycore.public import wire
from tests.backend.live import LiveRelay
from tests.browser.helpers import b64d, b64e, call, result, wait_ready

PASSPHRASE = "remember me, browser"

# The page can read the worker's IndexedDB (same origin): what it finds there must be unusable outside WebCrypto.
INSPECT_STORED_KEYS = """async () => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("vellum");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const record = await new Promise((resolve, reject) => {
    const request = db.transaction("device-keys").objectStore("device-keys").get("device");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  db.close();
  const attempt = async (format, key) => {
    try {
      await crypto.subtle.exportKey(format, key);
      return "exported";
    } catch (err) {
      return err.name;
    }
  };
  const { wrapKey, signKey } = record;
  return {
    wrap: { type: wrapKey.type, algorithm: wrapKey.algorithm.name, length: wrapKey.algorithm.length,
            extractable: wrapKey.extractable, usages: wrapKey.usages,
            raw: await attempt("raw", wrapKey), jwk: await attempt("jwk", wrapKey) },
    sign: { type: signKey.type, algorithm: signKey.algorithm.name, extractable: signKey.extractable,
            usages: signKey.usages, pkcs8: await attempt("pkcs8", signKey), jwk: await attempt("jwk", signKey) },
    keys: Object.keys(record).sort(),
  };
}"""


def _open(context: BrowserContext, relay: LiveRelay) -> Any:
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(relay.origin + "/")
    wait_ready(page)
    return page


def test_device_keys_survive_a_restart_and_reopen_the_device_slot(
    persistent: Callable[[Path], BrowserContext], relay: LiveRelay, tmp_path: Path
) -> None:
    profile = tmp_path / "profile"

    # First run: device keys, an account, and "remember this device" (a device slot whose key the AES key wraps).
    first = persistent(profile)
    page = _open(first, relay)
    device = result(page, "device.init")
    assert device["created"] is True
    created = result(page, "account.create", {"passphrase": PASSPHRASE})
    remembered = result(page, "device.remember", {"passphrase": PASSPHRASE, "name": "Chromium on the test machine"})
    assert remembered["version"] == 2
    first.close()

    # Second run, a new browser process on the same profile.
    second = persistent(profile)
    page = _open(second, relay)
    again = result(page, "device.init")
    assert again["created"] is False
    assert (again["device_id"], again["signing_public"]) == (device["device_id"], device["signing_public"])

    unlocked = result(page, "account.unlock_device", {"bundle": remembered["bundle"], "wrapped": remembered["wrapped"]})
    assert unlocked["account"]["account_id"] == created["account"]["account_id"]
    assert unlocked["account"]["version"] == 2
    assert unlocked["account"]["fingerprint"] == created["account"]["fingerprint"]

    # The restored signing key still signs what PyNaCl verifies.
    account_id = b64d(created["account"]["account_id"])
    headers = result(
        page, "device.sign_request",
        {"origin": relay.origin, "method": "GET", "path": "/api/v1/account", "account_id": b64e(account_id)},
    )["headers"]
    signed = wire.request_bytes(
        relay.origin, "GET", "/api/v1/account", "", account_id, b64d(device["device_id"]),
        int(headers[wire.HEADER_TIMESTAMP]), b64d(headers[wire.HEADER_NONCE]), wire.body_hash(b""),
    )
    nacl.signing.VerifyKey(b64d(device["signing_public"])).verify(signed, b64d(headers[wire.HEADER_SIGNATURE]))

    # A tampered blob, or the blob of another device, is refused with a typed error.
    blob = bytearray(b64d(remembered["wrapped"]))
    blob[-1] ^= 1
    tampered = call(page, "account.unlock_device", {"bundle": remembered["bundle"], "wrapped": b64e(bytes(blob))})
    assert tampered["error"]["code"] == "decryption_failed"
    assert result(page, "ping")["pong"] is True

    # What sits in IndexedDB is two CryptoKeys that refuse to be exported, and public data.
    stored = page.evaluate(INSPECT_STORED_KEYS)
    assert stored["keys"] == ["createdAt", "deviceId", "signKey", "signPublic", "wrapKey"]
    assert stored["wrap"] == {
        "type": "secret", "algorithm": "AES-GCM", "length": 256, "extractable": False,
        "usages": ["encrypt", "decrypt"], "raw": "InvalidAccessError", "jwk": "InvalidAccessError",
    }
    assert stored["sign"] == {
        "type": "private", "algorithm": "Ed25519", "extractable": False, "usages": ["sign"],
        "pkcs8": "InvalidAccessError", "jwk": "InvalidAccessError",
    }


def test_forgotten_device_keys_are_gone(app: Any) -> None:
    page = app.page
    result(page, "device.init")
    assert result(page, "device.forget")["forgotten"] is True
    missing = call(page, "device.sign_login", {
        "origin": "http://localhost:8000", "action": "login",
        "account_id": b64e(bytes(16)), "challenge": b64e(bytes(32)),
    })
    assert missing["error"]["code"] == "device_key_unavailable"
    fresh = result(page, "device.init")
    assert fresh["created"] is True
