"""Step-up keys: the passphrase or recovery phrase a person just typed, checked against the bundle. SPEC §8."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pycore import primitives, recovery
from pycore.account import Unlocked
from pycore.errors import (
    BundleError,
    WrongPassphrase,
    WrongRecoveryPhrase,
)
from pycore.factors import (
    LoginFactorKeys,
    SigningKeyPair,
    passphrase_keys,
    recovery_keys,
)
from pycore.public.bundle_public import (
    FactorType,
    PassphraseMeta,
    PublicBundle,
)

StepUpKind = Literal["login", "recovery"]



@dataclass(frozen=True)
class StepUpKey:
    """What signs a step-up statement (``wire.step_up_statement``): the login key (``"login"``, from the passphrase) or
    the recovery login key (``"recovery"``)."""

    kind: StepUpKind
    key: SigningKeyPair = field(repr=False)

    def sign(self, statement: bytes) -> bytes:
        return self.key.sign(statement)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("key material cannot be pickled")


@dataclass(frozen=True)
class Confirmation:
    """The passphrase or recovery phrase a person just typed, checked against the bundle: its factor's slot id, its slot
    key pair (so the device can keep adopting versions with it) and its login key (for the step-up)."""

    kind: StepUpKind
    slot_id: bytes
    keys: LoginFactorKeys = field(repr=False)

    @property
    def step_up(self) -> StepUpKey:
        return StepUpKey(self.kind, self.keys.login)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("key material cannot be pickled")


def confirm_passphrase(public: PublicBundle, passphrase: str) -> Confirmation:
    """One Argon2id with the bundle's salt and parameters (never below the floor). ``wrong_passphrase`` if it is not the
    account's current passphrase — checked locally, before anything is sent."""
    entry = public.passphrase
    meta = entry.meta
    if not isinstance(meta, PassphraseMeta):
        raise BundleError("the passphrase factor has no parameters")
    keys = passphrase_keys(passphrase, meta.salt, meta.params)
    if not primitives.memcmp(keys.box.public, entry.box_public):
        raise WrongPassphrase("That passphrase is not right for this account.")
    return Confirmation("login", entry.slot_id, keys)


def confirm_recovery(public: PublicBundle, words: Sequence[str] | str) -> Confirmation:
    """The recovery phrase (no Argon2id: its entropy is used raw). ``wrong_recovery_phrase`` if it is not the current
    kit's; ``unknown_word`` / ``bad_checksum`` / ``wrong_word_count`` if it is not a phrase at all."""
    keys = recovery_keys(recovery.entropy_from_phrase(words))
    found = public.factors_of(FactorType.RECOVERY)
    if not found or not primitives.memcmp(found[0].box_public, keys.box.public):
        raise WrongRecoveryPhrase("This recovery phrase belongs to an older recovery kit or another account.")
    return Confirmation("recovery", found[0].slot_id, keys)


def confirmation_of(unlocked: Unlocked) -> Confirmation | None:
    """The confirmation a device holds right after logging in with the passphrase or the recovery phrase (for example a
    recovery login followed at once by "choose a new passphrase"), or ``None``."""
    if unlocked.login is None:
        return None
    entry = unlocked.bundle.public.factor(unlocked.slot_id)
    if entry is None or not primitives.memcmp(entry.box_public, unlocked.login.box.public):
        return None
    if entry.type == FactorType.PASSPHRASE:
        return Confirmation("login", entry.slot_id, unlocked.login)
    if entry.type == FactorType.RECOVERY:
        return Confirmation("recovery", entry.slot_id, unlocked.login)
    return None


