"""Passphrase hashing: Argon2id vectors, Vellum's floor and ceiling, calibration, NFKC normalisation."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import nacl.pwhash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycore import kdf
from pycore.errors import KdfParamsError
from pycore.kdf import MEMLIMIT_KIB_CEILING, MEMLIMIT_KIB_FLOOR, OPSLIMIT_CEILING, OPSLIMIT_FLOOR, Argon2idParams
from tests.conformance import primitives_suite as suite

SALT = bytes(range(16))


# --- vectors and limits (shared suite) --------------------------------------------------------------------------------


def test_argon2id_vectors(vectors: dict[str, Any]) -> None:
    """PyNaCl's raw Argon2id hashes; maxmem is KiB there and bytes in pycore (about 1 s, the 256 MiB case ~0.5 s)."""
    assert suite.check_argon2id_vectors(vectors["argon2id"]) == suite.EXPECTED_SUMMARIES["argon2id"]


def test_argon2id_limits() -> None:
    assert suite.check_argon2id_limits() == suite.EXPECTED_SUMMARIES["argon2id_limits"]


# --- floor and ceiling ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opslimit", "memlimit_kib"),
    [
        (OPSLIMIT_FLOOR - 1, MEMLIMIT_KIB_FLOOR),
        (OPSLIMIT_FLOOR, MEMLIMIT_KIB_FLOOR - 1),
        (OPSLIMIT_FLOOR, MEMLIMIT_KIB_FLOOR // 2),
        (OPSLIMIT_CEILING + 1, MEMLIMIT_KIB_FLOOR),
        (OPSLIMIT_FLOOR, MEMLIMIT_KIB_CEILING + 1),
        (OPSLIMIT_CEILING + 1, MEMLIMIT_KIB_CEILING + 1),
        (2, 19 * 1024),  # OWASP's minimum: still a downgrade for Vellum
        (-1, -1),
    ],
)
def test_out_of_range_params_are_refused(opslimit: int, memlimit_kib: int) -> None:
    with pytest.raises(KdfParamsError) as caught:
        Argon2idParams(opslimit, memlimit_kib)
    assert caught.value.code == "kdf_params"
    with pytest.raises(KdfParamsError):
        kdf.check_params(opslimit, memlimit_kib)


def test_below_floor_message_says_downgrade() -> None:
    with pytest.raises(KdfParamsError, match="downgrade"):
        Argon2idParams(1, MEMLIMIT_KIB_FLOOR)


@pytest.mark.parametrize(
    ("opslimit", "memlimit_kib"),
    [
        (OPSLIMIT_FLOOR, MEMLIMIT_KIB_FLOOR),
        (OPSLIMIT_CEILING, MEMLIMIT_KIB_CEILING),
        (OPSLIMIT_FLOOR, MEMLIMIT_KIB_CEILING),
        (OPSLIMIT_CEILING, MEMLIMIT_KIB_FLOOR),
    ],
)
def test_params_at_the_bounds_are_accepted(opslimit: int, memlimit_kib: int) -> None:
    params = Argon2idParams(opslimit, memlimit_kib)
    assert params.memlimit_bytes == memlimit_kib * 1024


def test_derive_root_rechecks_params() -> None:
    """A parameter object that skipped its own check (e.g. built by a careless parser) still cannot downgrade."""
    weak = object.__new__(Argon2idParams)
    object.__setattr__(weak, "opslimit", 1)
    object.__setattr__(weak, "memlimit_kib", 8)
    with pytest.raises(KdfParamsError):
        kdf.derive_root("passphrase", SALT, weak)


def test_params_are_frozen() -> None:
    params = Argon2idParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.opslimit = 1  # type: ignore[misc]


# --- calibration (timer injected: no Argon2id runs) -------------------------------------------------------------------


def linear(seconds_per_pass: float) -> Any:
    calls: list[Argon2idParams] = []

    def measure(params: Argon2idParams) -> float:
        calls.append(params)
        return seconds_per_pass * params.opslimit

    measure.calls = calls  # type: ignore[attr-defined]
    return measure


def test_calibrate_raises_time_cost_to_the_target() -> None:
    measure = linear(0.125)  # exact in binary, so the jump is exactly x2
    result = Argon2idParams().calibrate(0.75, measure=measure)
    assert result == Argon2idParams(6, MEMLIMIT_KIB_FLOOR)
    assert [p.opslimit for p in measure.calls] == [3, 6]


def test_calibrate_never_lowers() -> None:
    start = Argon2idParams(8, 128 * 1024)
    measure = linear(1.0)  # already far slower than the target
    assert start.calibrate(0.5, measure=measure) == start
    assert measure.calls == [start]


def test_calibrate_stops_at_the_ceiling() -> None:
    measure = linear(0.001)  # a very fast machine: the target is out of reach
    result = Argon2idParams().calibrate(10.0, measure=measure)
    assert result.opslimit == OPSLIMIT_CEILING
    assert all(p.opslimit <= OPSLIMIT_CEILING for p in measure.calls)


def test_calibrate_at_the_ceiling_measures_once() -> None:
    start = Argon2idParams(OPSLIMIT_CEILING, MEMLIMIT_KIB_FLOOR)
    measure = linear(0.0)
    assert start.calibrate(5.0, measure=measure) == start
    assert len(measure.calls) == 1


@settings(max_examples=100, deadline=None)
@given(
    timings=st.lists(st.floats(min_value=0.0, max_value=20.0), min_size=1, max_size=20),
    target=st.floats(min_value=0.0, max_value=10.0),
    start_ops=st.integers(OPSLIMIT_FLOOR, OPSLIMIT_CEILING),
    start_mem=st.sampled_from([MEMLIMIT_KIB_FLOOR, 96 * 1024, MEMLIMIT_KIB_CEILING]),
)
def test_calibrate_only_goes_up_even_with_noisy_timings(
    timings: list[float], target: float, start_ops: int, start_mem: int
) -> None:
    noisy = itertools.cycle(timings)
    seen: list[int] = []

    def measure(params: Argon2idParams) -> float:
        seen.append(params.opslimit)
        return next(noisy)

    start = Argon2idParams(start_ops, start_mem)
    result = start.calibrate(target, measure=measure)
    assert start.opslimit <= result.opslimit <= OPSLIMIT_CEILING
    assert result.memlimit_kib == start_mem
    assert seen == sorted(set(seen))  # strictly increasing: it always moves up, never re-tries or goes back
    assert seen[-1] == result.opslimit


def test_calibrate_with_the_real_timer() -> None:
    """One real 64 MiB derivation (~0.1-0.3 s): a zero target keeps the floor."""
    assert kdf.DEFAULT_PARAMS.calibrate(0.0, measure=kdf.measure) == kdf.DEFAULT_PARAMS


# --- normalisation and derive_root ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("e\u0301te\u0301", "\u00e9t\u00e9".encode()),  # decomposed accents (macOS input) -> composed
        ("\u00e9t\u00e9", "\u00e9t\u00e9".encode()),
        ("\ufb01sh", b"fish"),  # the "fi" ligature
        ("\uff50\uff41\uff53\uff53", b"pass"),  # full-width letters
        ("\u212b", "\u00c5".encode()),  # ANGSTROM SIGN -> LATIN CAPITAL A WITH RING ABOVE
        ("Pass word ", b"Pass word "),  # NFKC changes neither case nor spaces
        ("", b""),
    ],
)
def test_normalize_passphrase_is_nfkc_utf8(typed: str, expected: bytes) -> None:
    assert kdf.normalize_passphrase(typed) == expected


def test_derive_root_matches_libsodium_with_memlimit_in_bytes() -> None:
    """derive_root at the floor equals PyNaCl's Argon2id with 64 MiB *in bytes* and the NFKC bytes of the passphrase."""
    root = kdf.derive_root("e\u0301te\u0301 \ufb01sh", SALT, kdf.DEFAULT_PARAMS)
    oracle = nacl.pwhash.argon2id.kdf(
        32, "\u00e9t\u00e9 fish".encode(), SALT, opslimit=OPSLIMIT_FLOOR, memlimit=MEMLIMIT_KIB_FLOOR * 1024
    )
    assert root == oracle
    assert len(root) == kdf.ROOT_SIZE
    assert kdf.derive_root("\u00e9t\u00e9 fish", SALT, kdf.DEFAULT_PARAMS) == root  # same passphrase, other keyboard


def test_derive_root_depends_on_salt_and_passphrase() -> None:
    base = kdf.derive_root("passphrase", SALT, kdf.DEFAULT_PARAMS)
    assert kdf.derive_root("passphrase", bytes(16), kdf.DEFAULT_PARAMS) != base
    assert kdf.derive_root("Passphrase", SALT, kdf.DEFAULT_PARAMS) != base


def test_new_salt() -> None:
    first, second = kdf.new_salt(), kdf.new_salt()
    assert len(first) == kdf.SALT_SIZE == 16
    assert first != second
