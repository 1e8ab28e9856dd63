"""Passphrase hashing: Argon2id parameters as a value object with a floor, a ceiling and calibration.

The floor (64 MiB, t=3) is libsodium's interactive-plus default for Vellum and is enforced on every path that reads
parameters from outside (a bundle, the relay's prelogin answer): a relay can never talk a client down. The ceiling
keeps a hostile relay from freezing a client with absurd parameters. ``calibrate`` only ever raises the cost.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from pycore.errors import KdfParamsError

# The relay imports this module (through the bundle's public verifier) to enforce the floor, and must not import
# anything that can decrypt: the primitives layer is imported only inside the functions that run Argon2id.

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
        measure: Callable[[Argon2idParams], float] | None = None,
    ) -> Argon2idParams:
        """Raise the time cost until one derivation takes ``target_seconds`` (never lowers anything)."""
        timer = measure or _measure
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


def normalize_passphrase(passphrase: str) -> bytes:
    """NFKC then UTF-8, so the same passphrase typed on any keyboard or OS gives the same bytes."""
    return unicodedata.normalize("NFKC", passphrase).encode("utf-8")


def derive_root(passphrase: str, salt: bytes, params: Argon2idParams) -> bytes:
    """The 32-byte passphrase root that the passphrase factor's keys are derived from."""
    from pycore import primitives

    check_params(params.opslimit, params.memlimit_kib)
    return primitives.crypto_pwhash_argon2id(
        ROOT_SIZE, normalize_passphrase(passphrase), salt, params.opslimit, params.memlimit_bytes
    )


def new_salt() -> bytes:
    from pycore import primitives

    return primitives.randombytes(SALT_SIZE)


def _measure(params: Argon2idParams) -> float:
    from pycore import primitives

    start = time.perf_counter()
    primitives.crypto_pwhash_argon2id(
        ROOT_SIZE, b"calibration", bytes(SALT_SIZE), params.opslimit, params.memlimit_bytes
    )
    return time.perf_counter() - start
