"""Argon2id parameters as a value object with a floor and a ceiling: what the relay checks in a bundle and what every
client checks before it runs a derivation (``pycore.kdf`` runs them).

The floor (64 MiB, t=3) is libsodium's interactive-plus default for Vellum and is enforced on every path that reads
parameters from outside (a bundle, the relay's prelogin answer): a relay can never talk a client down. The ceiling
keeps a hostile relay from freezing a client with absurd parameters. ``calibrate`` only ever raises the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pycore.errors import KdfParamsError

SALT_SIZE = 16
ROOT_SIZE = 32
KIB = 1024

OPSLIMIT_FLOOR = 3
MEMLIMIT_KIB_FLOOR = 64 * 1024  # 64 MiB
OPSLIMIT_CEILING = 12
MEMLIMIT_KIB_CEILING = 256 * 1024  # 256 MiB: ~4x the floor, still fine for a phone's wasm heap


@dataclass(frozen=True)
class Argon2idParams:
    """Argon2id13 cost. ``memlimit_kib`` is in KiB (the unit the bundle stores); libsodium wants bytes."""

    opslimit: int = OPSLIMIT_FLOOR
    memlimit_kib: int = MEMLIMIT_KIB_FLOOR

    def __post_init__(self) -> None:
        check_params(self.opslimit, self.memlimit_kib)

    @property
    def memlimit_bytes(self) -> int:
        return self.memlimit_kib * KIB

    def at_least(self, other: Argon2idParams) -> bool:
        return self.opslimit >= other.opslimit and self.memlimit_kib >= other.memlimit_kib

    def calibrate(
        self,
        target_seconds: float,
        *,
        measure: Callable[[Argon2idParams], float],
    ) -> Argon2idParams:
        """Raise the time cost until one derivation takes ``target_seconds`` (never lowers anything); ``measure`` times
        one derivation (``pycore.kdf.measure``)."""
        timer = measure
        current = self
        elapsed = timer(current)
        while elapsed < target_seconds and current.opslimit < OPSLIMIT_CEILING:
            # Time grows linearly with passes: jump close to the target, then settle.
            factor = max(target_seconds / max(elapsed, 1e-6), 1.0)
            wanted = min(OPSLIMIT_CEILING, max(current.opslimit + 1, int(current.opslimit * factor)))
            current = Argon2idParams(wanted, current.memlimit_kib)
            elapsed = timer(current)
        return current


def check_params(opslimit: int, memlimit_kib: int) -> None:
    """``kdf_params`` unless floor <= params <= ceiling (the check every incoming parameter set goes through)."""
    if not isinstance(opslimit, int) or not isinstance(memlimit_kib, int):
        raise KdfParamsError("Argon2id parameters must be integers")
    if opslimit < OPSLIMIT_FLOOR or memlimit_kib < MEMLIMIT_KIB_FLOOR:
        raise KdfParamsError("Argon2id parameters are below Vellum's floor (64 MiB, t=3); refusing a downgrade")
    if opslimit > OPSLIMIT_CEILING or memlimit_kib > MEMLIMIT_KIB_CEILING:
        raise KdfParamsError("Argon2id parameters are above Vellum's ceiling; refusing to run them")


DEFAULT_PARAMS = Argon2idParams()


