"""Arbitrary bytes given to any parser raise only pycore errors (never IndexError, struct.error, ValueError...)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pycore import envelope, export, index, keyring, padding, recovery
from pycore.errors import VellumError
from pycore.public import bundle_public, codec

PARSERS = [
    bundle_public.parse_bundle,
    envelope.parse_content,
    envelope.parse_wrapped_key,
    keyring.decode_keyring,
    padding.unpad,
    index._decode_entries,
    lambda data: export.read_export(data, "passphrase"),
]


@given(st.binary(max_size=600), st.sampled_from(PARSERS))
@settings(max_examples=400)
def test_arbitrary_bytes_raise_only_pycore_errors(data: bytes, parser: object) -> None:
    try:
        parser(data)  # type: ignore[operator]
    except VellumError:
        pass


@given(st.text(max_size=300))
def test_arbitrary_text_to_the_recovery_parser(text: str) -> None:
    try:
        recovery.entropy_from_phrase(text)
    except VellumError:
        pass


@given(st.text(max_size=80))
def test_arbitrary_base64(text: str) -> None:
    try:
        codec.b64d(text, max_size=32)
    except VellumError:
        pass


def test_mutated_real_bundles_raise_only_pycore_errors() -> None:
    from pycore import account

    encoded = account.create_account("parser test passphrase", now=1).unlocked.public.encoded

    @given(st.integers(0, len(encoded) - 1), st.integers(0, 255), st.integers(0, len(encoded)))
    @settings(max_examples=300)
    def inner(index: int, value: int, cut: int) -> None:
        mutated = bytearray(encoded)
        mutated[index] = value
        for data in (bytes(mutated), encoded[:cut]):
            try:
                bundle_public.parse_bundle(data)
            except VellumError:
                pass

    inner()
