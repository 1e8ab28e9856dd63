"""Typed errors of the Vellum protocol.

Every error carries a stable snake_case ``code`` (the same one the relay and the worker put on the wire) and a calm,
actionable message that never contains key material, passphrases or plaintext. Backend exceptions (PyNaCl, libsodium.js)
are mapped to these in the primitives layer, so nothing else in pycore ever sees a foreign exception type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class VellumError(Exception):
    """Base of every pycore error."""

    code = "vellum_error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class FormatError(VellumError):
    """The data is not in a format this version of Vellum understands."""

    code = "bad_format"


class UnsupportedVersion(FormatError):
    """The data was written by a newer or unknown format version."""

    code = "unsupported_version"


class DecryptionError(VellumError):
    """This could not be decrypted with the keys on this device. Sync, or unlock with your recovery phrase."""

    code = "decryption_failed"


class SignatureError(VellumError):
    """A signature did not verify."""

    code = "bad_signature"


class UnknownKey(VellumError):
    """The key this needs is not in the keyring on this device."""

    code = "unknown_key"


class KdfParamsError(VellumError):
    """Passphrase-hashing parameters are outside the allowed range."""

    code = "kdf_params"


class InvalidKey(VellumError):
    """A key or key share is malformed or weak."""

    code = "invalid_key"


class BundleError(VellumError):
    """The account bundle is invalid."""

    code = "bad_bundle"


class KeyringRollback(BundleError):
    """The relay served an older account bundle than this device has already seen."""

    code = "keyring_rollback"


class KeyringFork(BundleError):
    """The relay served a different account bundle at a version this device has already seen."""

    code = "keyring_fork"


class RecordRollback(VellumError):
    """The relay served an older revision of a note than this device has already seen."""

    code = "record_rollback"


class RecordFork(VellumError):
    """The relay served a different revision history of a note than this device has already seen."""

    code = "record_fork"


class RecoveryPhraseError(VellumError):
    """The recovery phrase is not valid."""

    code = "bad_recovery_phrase"


class UnknownWord(RecoveryPhraseError):
    """A word of the recovery phrase is not in the word list."""

    code = "unknown_word"

    def __init__(self, position: int, suggestions: tuple[str, ...]) -> None:
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"Word {position} is not a recovery-phrase word.{hint}")
        self.position = position
        self.suggestions = suggestions


class BadChecksum(RecoveryPhraseError):
    """Every word is valid but the checksum fails: a word is probably mistyped or out of order."""

    code = "bad_checksum"


class WrongWordCount(RecoveryPhraseError):
    """A recovery phrase has exactly 24 words."""

    code = "wrong_word_count"


class RotationError(VellumError):
    """A key rotation cannot proceed."""

    code = "rotation_failed"


class StaleBundle(VellumError):
    """Another device changed the account keys first."""

    code = "stale_bundle"


class SyncError(VellumError):
    """Sync could not finish; nothing local was lost. Try again later."""

    code = "sync_failed"


class RelayError(VellumError):
    """The relay refused a request. ``code`` is the relay's machine code (``stale_epoch``, ``device_revoked``...)."""

    code = "relay_error"

    def __init__(
        self, message: str = "", *, code: str | None = None, status: int = 0, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.extra: dict[str, Any] = dict(extra or {})  # the answer's other fields (write_epoch, challenge...)


class NetworkError(VellumError):
    """The relay could not be reached. Your notes are saved on this device and will sync later."""

    code = "network_error"


class UnlockAgain(VellumError):
    """The account keys changed and this device's unlock method is no longer part of the account."""

    code = "unlock_again"

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "The account keys changed and the way this device was unlocked is no longer part of the account. "
            "Unlock again with your current passphrase."
        )
