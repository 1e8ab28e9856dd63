"""libsodium.js backend (Pyodide). Thin: one bridge call per method, failures mapped to pycore errors.

The host registers the JavaScript side, ``web/worker/sodium-bridge.js``, before pycore is imported::

    pyodide.registerJsModule("vellum_sodium", createSodiumBridge(sodium))

Bytes cross with ``to_js`` (a copy into a ``Uint8Array``) and come back with ``.to_bytes()``. Each crossing costs about
29 µs, so the batch methods pack a whole batch into one buffer and cross once (layout in
``web/worker/sodium-bridge.js``).
Randomness never comes from here: pycore draws it from ``secrets``.
"""

# mypy is relaxed in this module only (see pyproject): Pyodide's JS proxies are untyped.
from __future__ import annotations

import struct

from pyodide.ffi import JsException, to_js

from pycore.errors import DecryptionError, InvalidKey, KdfParamsError, SignatureError

BRIDGE_MODULE = "vellum_sodium"
_TAG_SIZE = 16
_PUBLIC_KEY_SIZE = 32


def _load_bridge():
    try:
        import vellum_sodium  # type: ignore[import-not-found]  # registered by the host at run time
    except ImportError as exc:
        raise ImportError(
            f"pycore needs the libsodium.js bridge under Pyodide: the host must call "
            f'pyodide.registerJsModule("{BRIDGE_MODULE}", createSodiumBridge(sodium)) before importing pycore'
        ) from exc
    return vellum_sodium


def _pack(items):
    """One buffer for a batch: u32 count, (u32 data length, u32 aad length) per item, then each item's bytes."""
    header = struct.pack(f"<I{2 * len(items)}I", len(items), *(n for d, a, _, _ in items for n in (len(d), len(a))))
    return to_js(b"".join([header, *(part for item in items for part in item)]))


class SodiumJsBackend:
    name = "libsodium.js"

    def __init__(self, bridge=None):
        js = bridge if bridge is not None else _load_bridge()
        # Bound once: every attribute read on a JS proxy is itself a crossing.
        self.libsodium_version = str(js.version)
        self._encrypt = js.crypto_aead_xchacha20poly1305_ietf_encrypt
        self._decrypt = js.crypto_aead_xchacha20poly1305_ietf_decrypt
        self._encrypt_batch = js.aeadEncryptBatch
        self._decrypt_batch = js.aeadDecryptBatch
        self._pwhash = js.crypto_pwhash_argon2id
        self._box_seed_keypair = js.crypto_box_seed_keypair
        self._scalarmult_base = js.crypto_scalarmult_base
        self._scalarmult = js.crypto_scalarmult
        self._box_seal = js.crypto_box_seal
        self._box_seal_open = js.crypto_box_seal_open
        self._sign_seed_keypair = js.crypto_sign_seed_keypair
        self._sign_detached = js.crypto_sign_detached
        self._sign_verify_detached = js.crypto_sign_verify_detached

    def aead_encrypt(self, message, aad, nonce, key):
        return self._encrypt(to_js(message), to_js(aad), to_js(nonce), to_js(key)).to_bytes()

    def aead_decrypt(self, ciphertext, aad, nonce, key):
        try:
            return self._decrypt(to_js(ciphertext), to_js(aad), to_js(nonce), to_js(key)).to_bytes()
        except JsException:
            raise DecryptionError() from None

    def aead_encrypt_batch(self, items):
        out = self._encrypt_batch(_pack(items)).to_bytes()
        results = []
        offset = 0
        for message, _, _, _ in items:
            end = offset + len(message) + _TAG_SIZE
            results.append(out[offset:end])
            offset = end
        if offset != len(out):
            raise RuntimeError("libsodium.js bridge returned a batch of the wrong size")
        return results

    def aead_decrypt_batch(self, items):
        out = self._decrypt_batch(_pack(items)).to_bytes()
        results = []
        offset = len(items)
        for status, (ciphertext, _, _, _) in zip(out[: len(items)], items, strict=True):
            if status:
                end = offset + len(ciphertext) - _TAG_SIZE
                results.append(out[offset:end])
                offset = end
            else:
                results.append(None)
        if offset != len(out):
            raise RuntimeError("libsodium.js bridge returned a batch of the wrong size")
        return results

    def argon2id(self, size, passphrase, salt, opslimit, memlimit):
        try:
            return self._pwhash(size, to_js(passphrase), to_js(salt), opslimit, memlimit).to_bytes()
        except JsException as exc:
            raise KdfParamsError("Argon2id refused its parameters") from exc

    def box_seed_keypair(self, seed):
        pair = self._box_seed_keypair(to_js(seed)).to_bytes()
        return pair[:_PUBLIC_KEY_SIZE], pair[_PUBLIC_KEY_SIZE:]

    def scalarmult_base(self, secret_key):
        return self._scalarmult_base(to_js(secret_key)).to_bytes()

    def scalarmult(self, secret_key, public_key):
        try:
            out = self._scalarmult(to_js(secret_key), to_js(public_key)).to_bytes()
        except JsException:
            raise InvalidKey("X25519 produced an all-zero shared secret") from None
        if out == bytes(32):
            raise InvalidKey("X25519 produced an all-zero shared secret")
        return out

    def box_seal(self, message, public_key):
        return self._box_seal(to_js(message), to_js(public_key)).to_bytes()

    def box_seal_open(self, ciphertext, public_key, secret_key):
        try:
            return self._box_seal_open(to_js(ciphertext), to_js(public_key), to_js(secret_key)).to_bytes()
        except JsException:
            raise DecryptionError() from None

    def sign_seed_keypair(self, seed):
        pair = self._sign_seed_keypair(to_js(seed)).to_bytes()
        return pair[:_PUBLIC_KEY_SIZE], pair[_PUBLIC_KEY_SIZE:]

    def sign_detached(self, message, secret_key):
        return self._sign_detached(to_js(message), to_js(secret_key)).to_bytes()

    def sign_verify_detached(self, signature, message, public_key):
        try:
            valid = self._sign_verify_detached(to_js(signature), to_js(message), to_js(public_key))
        except JsException:
            raise SignatureError() from None
        if valid is not True:
            raise SignatureError()
