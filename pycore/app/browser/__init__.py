"""Browser adapters: WebCrypto device keys as pycore's ``DeviceWrapper`` and request ``Signer``; IndexedDB as the sync
engine's ``Store`` and the notebook's ``IndexStore``; ``fetch`` as the relay API's ``HttpFunction``.

The crypto worker registers ``web/worker/webcrypto.js`` as the JavaScript module ``vellum_webcrypto`` before it imports
``pycore.app.worker``; the classes here take that module (a Pyodide ``JsProxy``) as an argument, so they hold no global
state and can be driven by a stand-in object under CPython. The keys behind them are non-extractable CryptoKeys kept in
IndexedDB: AES-256-GCM (wrap = 12-byte random IV | ciphertext and tag) and Ed25519. No private key ever reaches Python;
only the device id and the raw Ed25519 public key do.

JavaScript failures arrive as ``JsException`` and leave as pycore errors: a blob this device's key cannot open is a
``DecryptionError``; a missing, damaged or unsupported device key is a ``DeviceKeyUnavailable``.
"""
