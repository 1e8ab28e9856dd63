"""Bundle versions crafted directly from the bundle API, as an attacker holding the account key (or a test of the
bundle format) would build them: no relay, no step-up. The app's own flows build versions only through
``pycore.lifecycle``; these exist so tests can check what the relay and the verifier refuse.
"""

from __future__ import annotations

from pycore import kdf, recovery
from pycore.account import passphrase_factor, recovery_factor
from pycore.bundle import FactorSpec, UnlockedBundle, new_factor_spec, next_version
from pycore.factors import LoginFactorKeys, passkey_keys
from pycore.public.bundle_public import DeviceMeta, FactorEntry, FactorType, PasskeyMeta, PassphraseMeta


def _others(current: UnlockedBundle, kind: FactorType) -> list[FactorSpec | FactorEntry]:
    return [f for f in current.public.factors if f.type != kind]


def with_passphrase(
    current: UnlockedBundle, passphrase: str, *, rotate_account_key: bool = False
) -> tuple[UnlockedBundle, LoginFactorKeys]:
    meta = current.public.passphrase.meta
    params = meta.params if isinstance(meta, PassphraseMeta) else kdf.DEFAULT_PARAMS
    spec, keys = passphrase_factor(passphrase, params)
    new = next_version(
        current, factors=[spec, *_others(current, FactorType.PASSPHRASE)], new_account_key=rotate_account_key,
        new_identity=rotate_account_key,
    )
    return new, keys


def with_new_recovery(current: UnlockedBundle) -> tuple[UnlockedBundle, bytes, LoginFactorKeys]:
    entropy = recovery.new_entropy()
    spec, keys = recovery_factor(entropy)
    new = next_version(current, factors=[*_others(current, FactorType.RECOVERY), spec], new_account_key=True)
    return new, entropy, keys


def with_passkey(
    current: UnlockedBundle, prf_output: bytes, *, credential_id: bytes, prf_salt: bytes, rp_id: str, name: str
) -> UnlockedBundle:
    meta = PasskeyMeta(credential_id, prf_salt, rp_id, name)
    spec = new_factor_spec(FactorType.PASSKEY, passkey_keys(prf_output).public, meta)
    return next_version(current, factors=[*current.public.factors, spec])


def with_device(
    current: UnlockedBundle, device_id: bytes, signing_public: bytes, name: str, box_public: bytes
) -> UnlockedBundle:
    spec = new_factor_spec(FactorType.DEVICE, box_public, DeviceMeta(device_id, signing_public, name))
    return next_version(current, factors=[*current.public.factors, spec])


def without_factor(current: UnlockedBundle, slot_id: bytes) -> UnlockedBundle:
    return next_version(current, factors=[f for f in current.public.factors if f.slot_id != slot_id])
