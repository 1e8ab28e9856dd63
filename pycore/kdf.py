"""Passphrase hashing: Argon2id over a normalised passphrase, with the parameters of ``pycore.public.kdf_params``
(floor, ceiling, calibration) checked before every derivation.
"""

from __future__ import annotations

import time
import unicodedata

from pycore.public.kdf_params import (
    DEFAULT_PARAMS,
    KIB,
    MEMLIMIT_KIB_CEILING,
    MEMLIMIT_KIB_FLOOR,
    OPSLIMIT_CEILING,
    OPSLIMIT_FLOOR,
    ROOT_SIZE,
    SALT_SIZE,
    Argon2idParams,
    check_params,
)

__all__ = [
    "DEFAULT_PARAMS", "KIB", "MEMLIMIT_KIB_CEILING", "MEMLIMIT_KIB_FLOOR", "OPSLIMIT_CEILING", "OPSLIMIT_FLOOR",
    "ROOT_SIZE", "SALT_SIZE", "Argon2idParams", "check_params", "derive_root", "measure", "new_salt",
    "normalize_passphrase",
]


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


def measure(params: Argon2idParams) -> float:
    """Seconds one derivation with ``params`` takes here (for ``Argon2idParams.calibrate``)."""
    from pycore import primitives

    start = time.perf_counter()
    primitives.crypto_pwhash_argon2id(
        ROOT_SIZE, b"calibration", bytes(SALT_SIZE), params.opslimit, params.memlimit_bytes
    )
    return time.perf_counter() - start
