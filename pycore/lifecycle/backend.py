"""The relay's key endpoints as the lifecycle flows see them (``LifecycleBackend``), and rotation's backend with an
explicit step-up key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pycore.envelope import SealedRecord
from pycore.errors import (
    RelayError,
    StepUpRequired,
)
from pycore.lifecycle.confirm import StepUpKey
from pycore.rotation import Rotation, RotationBackend


class LifecycleBackend(RotationBackend, Protocol):
    """The relay's key endpoints as the lifecycle flows see them. Each call is one request that the relay applies
    atomically; a lost compare-and-swap raises ``StaleBundle``; a refused step-up raises the transport's error with
    code ``step_up_failed``; an unreachable relay ``pycore.sync.NetworkError``."""

    async def replace_login_key(
        self, expected_version: int, bundle: bytes, login_public: bytes, step_up: StepUpKey
    ) -> None:
        """The new passphrase factor and the new login key, together (step-up ``change_passphrase``)."""
        ...

    async def replace_recovery_key(
        self, expected_version: int, bundle: bytes, recovery_login_public: bytes, step_up: StepUpKey
    ) -> None:
        """The new recovery factor and the new recovery login key, together (step-up ``new_recovery_kit``)."""
        ...

    async def update_factors(self, expected_version: int, bundle: bytes, step_up: StepUpKey) -> None:
        """A version that adds, removes or re-seals a passkey or device slot (step-up ``update_factors``)."""
        ...

    async def revoke_device(self, device_id: bytes, expected_version: int, bundle: bytes, step_up: StepUpKey) -> None:
        """Revoke another device together with the version that drops it (step-up ``revoke_device``)."""
        ...

    async def count_below_epoch(self, epoch: int) -> int:
        """How many current records still have their newest wrapped key under an epoch older than ``epoch``."""
        ...


class SteppedUp:
    """Rotation's backend with an explicit step-up key: a revocation goes to the relay's revoke endpoint, any other
    version to ``update_factors`` (or, without a key, to the plain compare-and-swap)."""

    def __init__(self, backend: LifecycleBackend, step_up: StepUpKey | None) -> None:
        self.backend = backend
        self.step_up = step_up

    async def bundle_chain(self, since_version: int) -> list[bytes]:
        return await self.backend.bundle_chain(since_version)

    async def publish_bundle(self, expected_version: int, bundle: bytes, rotation: Rotation | None) -> None:
        if rotation is not None and rotation.device_id is not None:
            if self.step_up is None:
                raise StepUpRequired("Revoking a device needs your passphrase.")
            try:
                await self.backend.revoke_device(rotation.device_id, expected_version, bundle, self.step_up)
            except RelayError as exc:
                if exc.code != "already_revoked":
                    raise
                # The device is already refused (it left by itself, or another device revoked it): the version with
                # the new keys still has to go in, as a stepped-up factor update (``stale_bundle`` if it was already).
                await self.backend.update_factors(expected_version, bundle, self.step_up)
        elif self.step_up is not None:
            await self.backend.update_factors(expected_version, bundle, self.step_up)
        else:
            await self.backend.publish_bundle(expected_version, bundle, rotation)

    async def records_below_epoch(self, epoch: int, after: bytes | None, limit: int) -> list[SealedRecord]:
        return await self.backend.records_below_epoch(epoch, after, limit)

    async def put_key_updates(self, updates: Sequence[SealedRecord]) -> list[bool]:
        return await self.backend.put_key_updates(updates)

    async def put_records(self, records: Sequence[tuple[int, SealedRecord]]) -> list[bool]:
        return await self.backend.put_records(records)


