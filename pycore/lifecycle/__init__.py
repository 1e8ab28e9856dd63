"""Key-lifecycle flows across devices: change the passphrase, recover, new recovery kit, remember this device,
passkeys, revoke a device, routine rotation — the protocol-level orchestration shared by the CPython client and the
browser worker.

Pure protocol, no I/O of its own: the relay comes in through ``LifecycleBackend`` (rotation's ``RotationBackend`` plus
the step-up endpoints), which ``pycore.sync.relay_api.RelayApi`` implements over any async HTTP function (``requests``
in CPython, ``fetch`` in the browser). Every flow takes the device's ``account.Unlocked`` (the bundle in use and the
factor that opened it) and returns the new one only *after* the relay accepted the version; the caller then hands it to
its sync engine (``SyncEngine.adopt``). SPEC §6.4, §8, §9.3.

Rules every flow follows:

- **Step-up.** A version that changes a slot, the factor list, the identity key or a login key needs a ``Confirmation``:
  the passphrase (or recovery phrase) the person just typed, checked here against the bundle first (``wrong_passphrase``
  before any request), then by the relay against its login key. A stolen device, even one holding the account key,
  cannot make one.
- **Compare-and-swap first, then seal.** A flow that loses the race adopts the winner and re-plans on top of it (a
  routine rotation never swallows a revocation: ``rotation.covered``). Nothing is sealed under keys that are not in a
  won version; the sync engine re-seals its outbox when it meets ``stale_epoch``.
- **Adopt only what opens.** ``follow`` verifies the chain against the device's pin (``keyring_rollback``,
  ``keyring_fork``, ``bad_bundle``) and adopts the newest version only if it fully opens — with the account key held, or
  after an account-key rotation with the factor this device unlocked with. When that factor is gone, ``UnlockAgain``.
- **Removing a factor rotates the account key** (and so starts a new epoch) by default: the relay keeps every bundle
  version, so a removed passkey or a forgotten device key would still open its old slot and, with an unchanged account
  key, the current keyring.
- **Offline**, only a routine rotation can be requested: it is queued (``QueuedRotation``), nothing is sealed, and it is
  published when the relay is reachable again unless another device rotated in the meantime. Step-up flows need the
  relay (``NetworkError``, nothing changed locally).
- **Version 1 never destroys an epoch key**: every rotation keeps older epoch keys decrypt-only.
"""

from pycore.lifecycle.backend import (
    LifecycleBackend,
)
from pycore.lifecycle.confirm import (
    Confirmation,
    StepUpKey,
    StepUpKind,
    confirm_passphrase,
    confirm_recovery,
    confirmation_of,
)
from pycore.lifecycle.factors import (
    PasskeyInfo,
    RememberedDevice,
    add_passkey,
    change_passphrase,
    forget_device,
    new_recovery_kit,
    passkeys,
    remember_device,
    remembered_devices,
    remove_passkey,
)
from pycore.lifecycle.follow import (
    Build,
    Send,
    adopt,
    confirm,
    follow,
    newest_public,
)
from pycore.lifecycle.revoke import (
    revoke_device,
)
from pycore.lifecycle.rotate import (
    DAY_SECONDS,
    DEFAULT_ROTATION_DAYS,
    QueuedRotation,
    RotationProgress,
    RotationStatus,
    finish_rotation,
    request_rotation,
    rotate_keys,
    rotation_due,
    rotation_status,
    run_queued,
)

__all__ = [
    "DAY_SECONDS",
    "DEFAULT_ROTATION_DAYS",
    "Build",
    "Confirmation",
    "LifecycleBackend",
    "PasskeyInfo",
    "QueuedRotation",
    "RememberedDevice",
    "RotationProgress",
    "RotationStatus",
    "Send",
    "StepUpKey",
    "StepUpKind",
    "add_passkey",
    "adopt",
    "change_passphrase",
    "confirm",
    "confirm_passphrase",
    "confirm_recovery",
    "confirmation_of",
    "finish_rotation",
    "follow",
    "forget_device",
    "new_recovery_kit",
    "newest_public",
    "passkeys",
    "remember_device",
    "remembered_devices",
    "remove_passkey",
    "request_rotation",
    "revoke_device",
    "rotate_keys",
    "rotation_due",
    "rotation_status",
    "run_queued",
]
