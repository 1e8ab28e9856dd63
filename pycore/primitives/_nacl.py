"""PyNaCl backend (CPython). Thin: one libsodium binding per method, failures mapped to pycore errors."""

# mypy is relaxed in this module only (see pyproject): PyNaCl's bindings are untyped.
from __future__ import annotations

from nacl import bindings as b
from nacl import exceptions as nacl_exc

from pycore.errors import DecryptionError, InvalidKey, KdfParamsError, SignatureError

_ARGON2ID = b.crypto_pwhash_ALG_ARGON2ID13


class NaclBackend:
    name = "pynacl"

    def aead_encrypt(self, message, aad, nonce, key):
        return b.crypto_aead_xchacha20poly1305_ietf_encrypt(message, aad, nonce, key)

    def aead_decrypt(self, ciphertext, aad, nonce, key):
        try:
            return b.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, aad, nonce, key)
        except nacl_exc.CryptoError:
            raise DecryptionError() from None

    def aead_encrypt_batch(self, items):
        enc = b.crypto_aead_xchacha20poly1305_ietf_encrypt
        return [enc(m, a, n, k) for m, a, n, k in items]

    def aead_decrypt_batch(self, items):
        dec = b.crypto_aead_xchacha20poly1305_ietf_decrypt
        out = []
        for c, a, n, k in items:
            if len(c) < b.crypto_aead_xchacha20poly1305_ietf_ABYTES:
                # Shorter than a tag: PyNaCl would fail with a bare ValueError from cffi (negative array length).
                out.append(None)
                continue
            try:
                out.append(dec(c, a, n, k))
            except nacl_exc.CryptoError:
                out.append(None)
        return out

    def argon2id(self, size, passphrase, salt, opslimit, memlimit):
        try:
            return b.crypto_pwhash_alg(size, passphrase, salt, opslimit, memlimit, _ARGON2ID)
        except (nacl_exc.CryptoError, ValueError) as exc:
            raise KdfParamsError("Argon2id refused its parameters") from exc

    def box_seed_keypair(self, seed):
        return b.crypto_box_seed_keypair(seed)

    def scalarmult_base(self, secret_key):
        return b.crypto_scalarmult_base(secret_key)

    def scalarmult(self, secret_key, public_key):
        try:
            out = b.crypto_scalarmult(secret_key, public_key)
        except (nacl_exc.CryptoError, RuntimeError):
            raise InvalidKey("X25519 produced an all-zero shared secret") from None
        if out == bytes(32):
            raise InvalidKey("X25519 produced an all-zero shared secret")
        return out

    def box_seal(self, message, public_key):
        return b.crypto_box_seal(message, public_key)

    def box_seal_open(self, ciphertext, public_key, secret_key):
        try:
            return b.crypto_box_seal_open(ciphertext, public_key, secret_key)
        except (nacl_exc.CryptoError, RuntimeError):
            raise DecryptionError() from None

    def sign_seed_keypair(self, seed):
        return b.crypto_sign_seed_keypair(seed)

    def sign_detached(self, message, secret_key):
        return b.crypto_sign(message, secret_key)[: b.crypto_sign_BYTES]

    def sign_verify_detached(self, signature, message, public_key):
        try:
            b.crypto_sign_open(signature + message, public_key)
        except (nacl_exc.BadSignatureError, nacl_exc.CryptoError, ValueError):
            raise SignatureError() from None
