"""Slots: the account key sealed to one factor's public key.

A slot is an X25519 sealed box of ``label | account id | slot id | account key``. Sealed boxes have no sender, so any
unlocked device can re-seal a new account key to every factor without that factor being present; what makes a slot
trustworthy is the identity signature over the bundle that lists it. Binding the account and slot ids stops a relay from
moving a slot to another account or factor. SPEC.md §"Slots".
"""

from __future__ import annotations

from pycore import primitives
from pycore.errors import DecryptionError
from pycore.factors import BoxKeyPair
from pycore.public import limits

SLOT_LABEL = b"vellum/v1/slot"
ACCOUNT_KEY_SIZE = 32
SLOT_ID_SIZE = limits.SLOT_ID_SIZE
SLOT_PLAINTEXT_SIZE = len(SLOT_LABEL) + limits.ACCOUNT_ID_SIZE + SLOT_ID_SIZE + ACCOUNT_KEY_SIZE


def seal_slot(account_id: bytes, slot_id: bytes, account_key: bytes, box_public: bytes) -> bytes:
    if len(account_key) != ACCOUNT_KEY_SIZE or len(slot_id) != SLOT_ID_SIZE or len(account_id) != 16:
        raise ValueError("bad slot inputs")
    return primitives.crypto_box_seal(SLOT_LABEL + account_id + slot_id + account_key, box_public)


def open_slot(account_id: bytes, slot_id: bytes, sealed: bytes, box: BoxKeyPair) -> bytes:
    """The account key, or ``DecryptionError`` if this factor cannot open the slot or it belongs elsewhere."""
    plaintext = primitives.crypto_box_seal_open(sealed, box.public, box.secret)
    expected = SLOT_LABEL + account_id + slot_id
    if len(plaintext) != SLOT_PLAINTEXT_SIZE or plaintext[: len(expected)] != expected:
        raise DecryptionError("this slot belongs to another account or factor")
    return plaintext[len(expected) :]


def new_slot_id() -> bytes:
    return primitives.randombytes(SLOT_ID_SIZE)
