"""Typed errors of Vellum: one class per code.

Every error carries a stable snake_case ``code`` (the same one the relay and the worker put on the wire) and a message
for logs and the command line that never contains key material, passphrases or plaintext. What a user reads is chosen
by the page from the code (``web/ui/messages.js``); ``tests/unit/test_errors.py`` fails when a code here has no sentence
there. Backend exceptions (PyNaCl, libsodium.js) are mapped to these in the primitives layer, so nothing else in pycore
ever sees a foreign exception type.

Raise the class, never a code string: ``raise WrongPassphrase(...)``, not ``VellumError(..., code="wrong_passphrase")``.
The one exception is ``RelayError``, whose code is the relay's (docs/relay.md), copied from its answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class VellumError(Exception):
    """Base of every pycore error."""

    code = "vellum_error"

    # The code is the class's: one class per code, so a code cannot be minted as a string (tests/unit/test_errors.py).
    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


# --- format: bytes this version cannot read ---------------------------------------------------------------------------


class FormatError(VellumError):
    """The data is not in a format this version of Vellum understands."""

    code = "bad_format"


class UnsupportedVersion(FormatError):
    """The data was written by a newer or unknown format version."""

    code = "unsupported_version"


class BundleError(VellumError):
    """The account bundle is invalid."""

    code = "bad_bundle"


class KdfParamsError(VellumError):
    """Passphrase-hashing parameters are outside the allowed range."""

    code = "kdf_params"


# --- crypto: keys, signatures, decryption -----------------------------------------------------------------------------


class DecryptionError(VellumError):
    """This could not be decrypted with the keys on this device. Sync, or unlock with your recovery phrase."""

    code = "decryption_failed"


class WrongPassphrase(DecryptionError):
    """The passphrase typed does not open the account bundle (unlock, step-up confirm, login)."""

    code = "wrong_passphrase"


class WrongRecoveryPhrase(DecryptionError):
    """A well-formed recovery phrase that does not open the account bundle (an older kit, another account)."""

    code = "wrong_recovery_phrase"


class SignatureError(VellumError):
    """A signature did not verify."""

    code = "bad_signature"


class UnknownKey(VellumError):
    """The key this needs is not in the keyring on this device."""

    code = "unknown_key"


class InvalidKey(VellumError):
    """A key or key share is malformed or weak."""

    code = "invalid_key"


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
    """Another device changed the account keys first (the relay's compare-and-swap on the bundle version failed)."""

    code = "stale_bundle"


class StepUpRequired(VellumError):
    """A change that needs a fresh passphrase or recovery phrase (revoke a device, change factors) was asked without."""

    code = "step_up_required"


class UnlockAgain(VellumError):
    """The account keys changed and this device's unlock method is no longer part of the account."""

    code = "unlock_again"

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "The account keys changed and the way this device was unlocked is no longer part of the account. "
            "Unlock again with your current passphrase."
        )


# --- relay and transport ----------------------------------------------------------------------------------------------


class SyncError(VellumError):
    """Sync could not finish; nothing local was lost. Try again later."""

    code = "sync_failed"


class StaleEpoch(SyncError):
    """The relay keeps refusing this device's write epoch, or wants a newer one without serving its bundle."""

    code = "stale_epoch"


class RelayError(VellumError):
    """The relay refused a request. ``code`` is the relay's machine code (``stale_epoch``, ``device_revoked``...)."""

    # The relay's codes are its own (docs/relay.md), so this class keeps a per-instance ``code``, copied from the
    # answer; the subclasses below are the relay errors pycore itself raises.

    code = "relay_error"

    def __init__(
        self, message: str = "", *, code: str | None = None, status: int = 0, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.status = status
        self.extra: dict[str, Any] = dict(extra or {})  # the answer's other fields (write_epoch, challenge...)


class BadResponse(RelayError):
    """The relay's answer is not JSON, has no error code, or does not match the request (records or keys sent)."""

    code = "bad_response"


class Unauthenticated(RelayError):
    """A signed request or a step-up proof was asked of a relay client that is not logged in (no session)."""

    code = "unauthenticated"


class NetworkError(VellumError):
    """The relay could not be reached. Your notes are saved on this device and will sync later."""

    code = "network_error"


class InsecureRelay(VellumError):
    """The relay address configured is plain HTTP on a host other than this machine."""

    code = "insecure_relay"


# --- app: the worker's commands and the local client ------------------------------------------------------------------


class BadRequest(VellumError):
    """A command's arguments are malformed or out of range (a title too long, no such word position...)."""

    code = "bad_request"


class UnknownCommand(VellumError):
    """The worker has no such command."""

    code = "unknown_command"


class Unavailable(VellumError):
    """This build of the app does not offer that."""

    code = "unavailable"


class Locked(VellumError):
    """A command that needs the account's keys was called while locked."""

    code = "locked"


class NotFound(VellumError):
    """The note or unlock method named is not on this device (deleted, or not synced here yet)."""

    code = "not_found"


class NoAccount(VellumError):
    """This browser holds no Vellum account yet (unlock or unlock_device before signing in or creating one)."""

    code = "no_account"


class NoClient(VellumError):
    """The command-line client's data directory holds no Vellum client (a file it needs is missing)."""

    code = "no_client"


class LoginFailed(VellumError):
    """A login was asked with neither a passphrase nor a recovery phrase."""

    code = "login_failed"


class BadUsername(VellumError):
    """A username outside the relay's rule (NFKC, lower case, ``[a-z0-9][a-z0-9._@+-]{0,127}``)."""

    code = "bad_username"


class WeakPassphrase(VellumError):
    """A new passphrase shorter than the minimum length."""

    code = "weak_passphrase"


class NotRemembered(VellumError):
    """Unlocking without a passphrase on a device that is not (or no longer) remembered by the account."""

    code = "not_remembered"


class DeviceKeyUnavailable(VellumError):
    """This browser's device key is missing, damaged or not supported. Unlock with your passphrase instead."""

    code = "device_key_unavailable"


class StorageError(VellumError):
    """The browser's local database (IndexedDB) failed."""

    code = "storage_error"


class UnsyncedChanges(VellumError):
    """Signing in as someone else while this browser still holds another account's unsynced changes."""

    code = "unsynced_changes"


class PasskeyExists(VellumError):
    """Adding a passkey that already unlocks the account."""

    code = "passkey_exists"


class RecoveryNotStarted(VellumError):
    """A recovery step was called before the recovery phrase was entered."""

    code = "recovery_not_started"


class RecoveryUnavailable(VellumError):
    """Checking words of the recovery phrase after it is no longer held in memory (make a new recovery kit)."""

    code = "recovery_unavailable"


class RecoveryMismatch(VellumError):
    """A word typed back while checking the new recovery kit does not match the phrase."""

    code = "recovery_mismatch"
