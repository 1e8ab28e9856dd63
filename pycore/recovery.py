"""Recovery phrases: 24 BIP39 English words <-> 256 bits of entropy.

Only the word list and checksum of BIP39 are used. The entropy is the factor secret itself; BIP39's PBKDF2 "seed" is
never computed (it would add nothing but a second, weaker passphrase KDF). Errors say which word is unknown, with the
closest words of the list, or that the checksum fails.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Sequence
from functools import cache

from mnemonic import Mnemonic

from pycore import primitives
from pycore.errors import BadChecksum, UnknownWord, WrongWordCount

ENTROPY_SIZE = 32
WORD_COUNT = 24


@cache
def _mnemonic() -> Mnemonic:
    return Mnemonic("english")


@cache
def _wordset() -> frozenset[str]:
    return frozenset(_mnemonic().wordlist)


def new_entropy() -> bytes:
    return primitives.randombytes(ENTROPY_SIZE)


def split_phrase(text: str) -> list[str]:
    """Words from whatever a person pasted: any whitespace, commas, numbering ("1." "2)"), any case."""
    words = []
    for raw in unicodedata.normalize("NFKD", text).replace(",", " ").split():
        # "3." / "3)" / "3.able": numbering stuck to or apart from the word is dropped.
        token = raw.strip().lower().lstrip("0123456789").lstrip(".)").rstrip(".)")
        if token:
            words.append(token)
    return words


def phrase_from_entropy(entropy: bytes) -> list[str]:
    """The 24 words for 32 bytes of entropy."""
    if len(entropy) != ENTROPY_SIZE:
        raise ValueError(f"recovery entropy must be {ENTROPY_SIZE} bytes")
    return words_from_entropy(entropy)


def words_from_entropy(entropy: bytes) -> list[str]:
    """BIP39 encoding for any BIP39 entropy length (16..32 bytes); Vellum itself uses 32."""
    return str(_mnemonic().to_mnemonic(bytes(entropy))).split(" ")


def entropy_from_phrase(words: Sequence[str] | str) -> bytes:
    """32 bytes of entropy from 24 words, or a precise error."""
    if isinstance(words, str):
        words = split_phrase(words)
    words = [w.strip().lower() for w in words]
    if len(words) != WORD_COUNT:
        raise WrongWordCount(f"A recovery phrase has {WORD_COUNT} words; this one has {len(words)}.")
    return entropy_from_words(words)


def entropy_from_words(words: Sequence[str]) -> bytes:
    """BIP39 decoding with checksum for any BIP39 length."""
    wordset = _wordset()
    for position, word in enumerate(words, start=1):
        if word not in wordset:
            raise UnknownWord(position, suggest(word))
    try:
        return bytes(_mnemonic().to_entropy(list(words)))
    except ValueError:
        raise BadChecksum(
            "Every word is valid, but the phrase does not check out: a word is probably mistyped or out of order."
        ) from None


def suggest(word: str, limit: int = 3) -> tuple[str, ...]:
    """Closest list words: BIP39 words are unique in their first four letters, so a prefix match comes first."""
    wordlist = _mnemonic().wordlist
    word = word.lower()
    prefixed = [w for w in wordlist if len(word) >= 3 and w.startswith(word[:4])]
    close = difflib.get_close_matches(word, wordlist, n=limit, cutoff=0.6)
    seen: dict[str, None] = {}
    for w in prefixed + close:
        seen.setdefault(w, None)
    return tuple(list(seen)[:limit])
