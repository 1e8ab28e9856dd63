"""The account bundle: creation, every factor, factor changes, pins, adoption, and what cannot be opened."""

from __future__ import annotations

import asyncio
import pickle

import pytest

from pycore import account, bundle, factors, kdf
from pycore.errors import BundleError, DecryptionError, KeyringFork, KeyringRollback, VellumError
from pycore.public import bundle_public
from pycore.public.bundle_public import FactorType, Pin
from tests.support import crafted

PASSPHRASE = "bundle test passphrase"


@pytest.fixture(scope="module")
def new() -> account.NewAccount:
    return account.create_account(PASSPHRASE, now=1)


def test_new_account_opens_with_passphrase_and_recovery(new: account.NewAccount) -> None:
    public = bundle_public.parse_bundle(new.unlocked.public.encoded)
    bundle_public.verify_first(public, bundle.verify_signature)
    by_pass = account.unlock_with_passphrase(public, PASSPHRASE)
    by_phrase = account.unlock_with_recovery(public, new.recovery_phrase)
    assert by_pass.bundle.account_key == by_phrase.bundle.account_key == new.unlocked.account_key
    assert by_pass.login is not None and by_pass.login.login.public == new.passphrase.login.public
    assert new.passphrase.login.public != new.recovery.login.public
    assert new.passphrase.box.public != new.passphrase.login.public
    with pytest.raises(DecryptionError) as exc:
        account.unlock_with_passphrase(public, PASSPHRASE + "!")
    assert exc.value.code == "wrong_passphrase"


def test_secrets_do_not_print_or_pickle(new: account.NewAccount) -> None:
    text = repr(new) + repr(new.unlocked) + repr(new.passphrase)
    assert new.unlocked.account_key.hex() not in text and "account_key" not in text
    with pytest.raises(TypeError):
        pickle.dumps(new.unlocked)
    with pytest.raises(TypeError):
        pickle.dumps(new.passphrase.login)


def test_device_and_passkey_factors(new: account.NewAccount) -> None:
    wrapper = factors.SoftwareDeviceWrapper(b"w" * 32)
    device_id, signing = b"d" * 16, factors.SigningKeyPair.from_seed(b"s" * 32)
    box, blob = asyncio.run(factors.new_device_factor(wrapper, device_id))
    v2 = crafted.with_device(new.unlocked, device_id, signing.public, "Laptop", box.public)
    diff = bundle_public.factor_changes(new.unlocked.public, v2.public)
    assert diff.requires_step_up and len(diff.added) == 1 and not diff.changed
    unlocked = asyncio.run(account.unlock_with_device(v2.public, device_id, wrapper, blob))
    assert unlocked.bundle.account_key == new.unlocked.account_key
    with pytest.raises(DecryptionError):  # another device's wrapper cannot unwrap this device's key
        asyncio.run(account.unlock_with_device(v2.public, device_id, factors.SoftwareDeviceWrapper(b"x" * 32), blob))

    prf = b"p" * 32
    v3 = crafted.with_passkey(v2, prf, credential_id=b"cred", prf_salt=b"s" * 32, rp_id="localhost", name="Key")
    passkey = v3.public.factors_of(FactorType.PASSKEY)[0]
    assert account.unlock_with_passkey(v3.public, passkey.slot_id, prf).bundle.version == 3
    v4 = crafted.without_factor(v3, passkey.slot_id)
    assert bundle_public.factor_changes(v3.public, v4.public).removed == (passkey.slot_id,)
    with pytest.raises(DecryptionError):
        account.unlock_with_passkey(v4.public, passkey.slot_id, prf)


def test_routine_version_needs_no_step_up(new: account.NewAccount) -> None:
    v2 = bundle.next_version(new.unlocked, keyring=new.unlocked.keyring.with_new_epoch(2))
    assert not bundle_public.factor_changes(new.unlocked.public, v2.public).requires_step_up
    assert v2.public.header.write_epoch == 2


def test_change_passphrase_keeps_other_devices_working(new: account.NewAccount) -> None:
    other_device = account.unlock_with_recovery(new.unlocked.public, new.recovery_phrase)
    v2, keys = crafted.with_passphrase(new.unlocked, "a brand new passphrase")
    assert v2.account_key == new.unlocked.account_key and keys.login.public != new.passphrase.login.public
    assert bundle_public.factor_changes(new.unlocked.public, v2.public).requires_step_up
    with pytest.raises(DecryptionError):
        account.unlock_with_passphrase(v2.public, PASSPHRASE)
    assert account.unlock_with_passphrase(v2.public, "a brand new passphrase").bundle.version == 2
    adopted = bundle.adopt_chain(other_device.bundle, [v2.public.encoded], other_device.box, other_device.slot_id)
    assert adopted.version == 2


def test_passphrase_may_be_known_rotates_account_and_identity(new: account.NewAccount) -> None:
    v2, _ = crafted.with_passphrase(new.unlocked, "another new passphrase", rotate_account_key=True)
    assert v2.account_key != new.unlocked.account_key
    assert v2.public.header.identity_public != new.unlocked.public.header.identity_public
    assert v2.keyring.active.epoch == 2 and v2.public.handover is not None
    with pytest.raises(BundleError):
        bundle.open_with_account_key(v2.public, new.unlocked.account_key)
    bundle_public.verify_chain(new.unlocked.pin, [v2.public.encoded], bundle.verify_signature, account_id=v2.account_id)


def test_new_recovery_kit_retires_the_old_phrase(new: account.NewAccount) -> None:
    v2, entropy, keys = crafted.with_new_recovery(new.unlocked)
    assert v2.account_key != new.unlocked.account_key and v2.keyring.active.epoch == 2
    with pytest.raises(DecryptionError):
        account.unlock_with_recovery(v2.public, new.recovery_phrase)
    from pycore import recovery

    assert account.unlock_with_recovery(v2.public, recovery.phrase_from_entropy(entropy)).bundle.version == 2
    assert account.unlock_with_passphrase(v2.public, PASSPHRASE).bundle.account_key == v2.account_key
    assert keys.login.public != new.recovery.login.public


def test_pins_refuse_rollback_and_fork(new: account.NewAccount) -> None:
    v2 = bundle.next_version(new.unlocked, keyring=new.unlocked.keyring.with_new_epoch(2))
    v2b = bundle.next_version(new.unlocked, keyring=new.unlocked.keyring.with_new_epoch(3))
    pin = Pin.of(v2.public)
    with pytest.raises(KeyringRollback):
        bundle_public.verify_chain(
            pin, [new.unlocked.public.encoded], bundle.verify_signature, account_id=v2.account_id
        )
    with pytest.raises(KeyringFork):
        bundle_public.verify_chain(pin, [v2b.public.encoded], bundle.verify_signature, account_id=v2.account_id)
    unlocked = account.unlock_with_passphrase(v2.public, PASSPHRASE)
    with pytest.raises(KeyringRollback):
        bundle.adopt_chain(unlocked.bundle, [new.unlocked.public.encoded], unlocked.box, unlocked.slot_id)


def test_a_version_that_cannot_be_fully_opened_is_not_adopted(new: account.NewAccount) -> None:
    # A device that only holds the passphrase factor and old account key cannot open a version whose account key was
    # rotated without its factor: it keeps the last good version.
    v2 = bundle.next_version(new.unlocked, new_account_key=True)
    stranger = factors.BoxKeyPair.from_seed(b"z" * 32)
    with pytest.raises(VellumError):
        bundle.adopt_chain(new.unlocked, [v2.public.encoded], stranger, new.unlocked.public.passphrase.slot_id)


def test_parameters_are_clamped_between_floor_and_ceiling() -> None:
    with pytest.raises(VellumError):
        kdf.Argon2idParams(2, kdf.MEMLIMIT_KIB_FLOOR)
    with pytest.raises(VellumError):
        kdf.Argon2idParams(kdf.OPSLIMIT_CEILING + 1, kdf.MEMLIMIT_KIB_FLOOR)


def test_fingerprint_is_stable_and_readable(new: account.NewAccount) -> None:
    fp = bundle.fingerprint(new.unlocked.public.header.identity_public)
    assert fp == bundle.fingerprint(new.unlocked.public.header.identity_public)
    assert len(fp.split("-")) == 8 and all(len(g) == 4 for g in fp.split("-"))
