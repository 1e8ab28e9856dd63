"""Recovery phrases: BIP39 vectors, and the precise errors a person sees when typing or pasting a phrase."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycore import recovery
from pycore.errors import BadChecksum, RecoveryPhraseError, UnknownWord, VellumError, WrongWordCount
from tests.conformance import primitives_suite as suite

# 24 words for entropy 0x00 * 32: "abandon" x 23 and the checksum word "art" (BIP39 vector).
ZERO_PHRASE = ["abandon"] * 23 + ["art"]


def test_bip39_english_vectors(vectors: dict[str, Any]) -> None:
    assert suite.check_bip39_vectors(vectors["bip39"]) == suite.EXPECTED_SUMMARIES["bip39"]


def test_word_list_is_bip39_english() -> None:
    assert suite.check_bip39_wordlist() == suite.EXPECTED_SUMMARIES["bip39_wordlist"]


def test_zero_entropy_phrase() -> None:
    assert recovery.phrase_from_entropy(bytes(32)) == ZERO_PHRASE
    assert recovery.entropy_from_phrase(ZERO_PHRASE) == bytes(32)


@settings(max_examples=60, deadline=None)
@given(entropy=st.binary(min_size=32, max_size=32))
def test_phrase_round_trip(entropy: bytes) -> None:
    words = recovery.phrase_from_entropy(entropy)
    assert len(words) == recovery.WORD_COUNT
    assert recovery.entropy_from_phrase(words) == entropy
    assert recovery.entropy_from_phrase(" ".join(words)) == entropy


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_phrase_from_entropy_wants_32_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        recovery.phrase_from_entropy(bytes(size))


# --- unknown words ----------------------------------------------------------------------------------------------------


def test_unknown_word_names_its_position_and_suggestions() -> None:
    words = list(ZERO_PHRASE)
    words[4] = "abandn"
    with pytest.raises(UnknownWord) as caught:
        recovery.entropy_from_phrase(words)
    error = caught.value
    assert error.position == 5
    assert "abandon" in error.suggestions
    assert error.code == "unknown_word"
    assert "Word 5" in error.message and "abandon" in error.message
    assert "abandn" not in error.message  # what was typed is part of a secret: never echoed


def test_unknown_word_prefix_match_comes_first() -> None:
    words = list(ZERO_PHRASE)
    words[-1] = "abilty"  # BIP39 words are unique in their first four letters: "abil" can only be "ability"
    with pytest.raises(UnknownWord) as caught:
        recovery.entropy_from_phrase(words)
    assert caught.value.position == 24
    assert caught.value.suggestions[0] == "ability"


def test_first_unknown_word_is_the_one_reported() -> None:
    words = list(ZERO_PHRASE)
    words[9], words[2] = "qwerty", "xylophone"
    with pytest.raises(UnknownWord) as caught:
        recovery.entropy_from_phrase(words)
    assert caught.value.position == 3


def test_unknown_word_without_any_close_word() -> None:
    words = list(ZERO_PHRASE)
    words[0] = "qqqqqqqq"
    with pytest.raises(UnknownWord) as caught:
        recovery.entropy_from_phrase(words)
    assert caught.value.position == 1
    assert caught.value.suggestions == ()
    assert "Did you mean" not in caught.value.message


def test_suggest_limits_its_answer() -> None:
    assert len(recovery.suggest("aban", limit=2)) <= 2
    assert recovery.suggest("abandon")[0] == "abandon"


# --- checksum and count -----------------------------------------------------------------------------------------------


def test_bad_checksum() -> None:
    with pytest.raises(BadChecksum) as caught:
        recovery.entropy_from_phrase(["abandon"] * 24)
    assert caught.value.code == "bad_checksum"


def test_swapped_words_fail_the_checksum() -> None:
    words = recovery.phrase_from_entropy(bytes(range(32)))
    swapped = list(words)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    assert swapped != words
    with pytest.raises(BadChecksum):
        recovery.entropy_from_phrase(swapped)


@pytest.mark.parametrize("count", [0, 1, 12, 23, 25, 48])
def test_wrong_word_count(count: int) -> None:
    words = (ZERO_PHRASE * 2)[:count]
    with pytest.raises(WrongWordCount) as caught:
        recovery.entropy_from_phrase(words)
    assert str(count) in caught.value.message
    assert caught.value.code == "wrong_word_count"


def test_valid_12_word_bip39_phrase_is_not_a_vellum_phrase() -> None:
    twelve = ["abandon"] * 11 + ["about"]
    assert recovery.entropy_from_words(twelve) == bytes(16)  # valid BIP39...
    with pytest.raises(WrongWordCount):
        recovery.entropy_from_phrase(twelve)  # ...but Vellum's phrases have exactly 24 words


def test_errors_share_one_base() -> None:
    for error in (UnknownWord, BadChecksum, WrongWordCount):
        assert issubclass(error, RecoveryPhraseError)
        assert issubclass(error, VellumError)


# --- pasting ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layout",
    [
        " ".join,
        "\n".join,
        "\r\n".join,
        "\t".join,
        ", ".join,
        ",".join,
        lambda ws: "\n".join(f"{i}. {w}" for i, w in enumerate(ws, start=1)),
        lambda ws: "  ".join(f"{i}) {w}" for i, w in enumerate(ws, start=1)),
        lambda ws: "\n".join(f"{i} {w}" for i, w in enumerate(ws, start=1)),
        lambda ws: "\n".join(" ".join(ws[r : r + 4]) for r in range(0, 24, 4)) + "\n",
        lambda ws: " ".join(w.upper() if i % 2 else w.capitalize() for i, w in enumerate(ws)),
        lambda ws: "\n\n  " + " ,  ".join(ws) + ".\n",
    ],
    ids=[
        "spaces",
        "lines",
        "crlf",
        "tabs",
        "comma-space",
        "commas",
        "numbered-dot",
        "numbered-paren",
        "numbered-bare",
        "grid",
        "mixed-case",
        "messy",
    ],
)
def test_pasted_phrase(layout: Any) -> None:
    entropy = bytes(range(100, 132))
    words = recovery.phrase_from_entropy(entropy)
    text = layout(words)
    assert recovery.split_phrase(text) == words
    assert recovery.entropy_from_phrase(text) == entropy


def test_split_phrase_compatibility_forms() -> None:
    # Full-width letters (some East Asian keyboards) fold to ASCII under NFKD.
    assert recovery.split_phrase("ａｂａｎｄｏｎ　ａｂｉｌｉｔｙ") == ["abandon", "ability"]


def test_pasted_phrase_with_a_typo_names_the_word_position() -> None:
    words = recovery.phrase_from_entropy(bytes(32))
    words[6] = "abandom"
    text = "\n".join(f"{i}. {w}" for i, w in enumerate(words, start=1))
    with pytest.raises(UnknownWord) as caught:
        recovery.entropy_from_phrase(text)
    assert caught.value.position == 7  # numbering is not counted as words
