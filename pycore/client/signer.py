"""The device's Ed25519 request key on CPython (PyNaCl, through ``pycore.factors.SigningKeyPair``).

In the browser the same ``Signer`` interface is a non-extractable WebCrypto Ed25519 key; here the 32-byte seed lives
in a 0600 file in the client's data directory (or only in memory).
"""

from __future__ import annotations

import os
from pathlib import Path

from pycore import primitives
from pycore.errors import InvalidKey
from pycore.factors import SigningKeyPair

SEED_SIZE = 32


class NaclSigner:
    """Implements ``pycore.sync.Signer``."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_SIZE:
            raise InvalidKey("a device signing seed is 32 bytes")
        self._keys = SigningKeyPair.from_seed(seed)

    def __repr__(self) -> str:
        return f"NaclSigner(public_key={self.public_key.hex()[:16]}...)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("key material cannot be pickled")

    @classmethod
    def generate(cls) -> NaclSigner:
        return cls(primitives.randombytes(SEED_SIZE))

    @property
    def public_key(self) -> bytes:
        return self._keys.public

    @property
    def seed(self) -> bytes:
        return self._keys.seed

    async def sign(self, message: bytes) -> bytes:
        return self._keys.sign(message)

    def save(self, path: Path) -> None:
        """Write the seed to ``path`` readable by this user only (created 0600, never group/world readable)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.seed)
        os.chmod(path, 0o600)

    @classmethod
    def load(cls, path: Path) -> NaclSigner:
        return cls(Path(path).read_bytes())
