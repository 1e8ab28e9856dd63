"""Three-way merge: non-overlapping edits merge, overlapping ones do not, the result is deterministic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pycore.merge import merge_lines, merge_notes, merge_text, resolve
from pycore.notes import Note


def test_edits_in_different_places_merge() -> None:
    base = "one\ntwo\nthree\nfour\nfive"
    ours = "ONE\ntwo\nthree\nfour\nfive"
    theirs = "one\ntwo\nthree\nfour\nFIVE"
    assert merge_text(base, ours, theirs) == "ONE\ntwo\nthree\nfour\nFIVE"


def test_same_line_changed_differently_does_not_merge() -> None:
    assert merge_text("a\nb\nc", "a\nB1\nc", "a\nB2\nc") is None


def test_the_same_change_on_both_sides_is_taken_once() -> None:
    assert merge_text("a\nb\nc", "a\nX\nc", "a\nX\nc") == "a\nX\nc"
    assert merge_text("a\nb\nc\nd", "a\nX\nc\nd\ne", "a\nX\nc\nd") == "a\nX\nc\nd\ne"


def test_insertions_at_the_same_point_keep_both_theirs_first() -> None:
    assert merge_text("a\nb", "a\nb\nmine", "a\nb\nyours") == "a\nb\nyours\nmine"
    assert merge_text("", "mine", "yours") == "yours\nmine"


def test_adjacent_edits_merge() -> None:
    base = "a\nb\nc\nd"
    assert merge_text(base, "a\nB\nc\nd", "a\nb\nC\nd") == "a\nB\nC\nd"
    # An insertion at the edge of a replaced range touches it but does not overlap it.
    assert merge_text(base, "a\nnew\nb\nc\nd", "a\nB\nc\nd") == "a\nnew\nB\nc\nd"


def test_delete_vs_edit_of_the_same_line_does_not_merge() -> None:
    assert merge_text("a\nb\nc", "a\nc", "a\nB\nc") is None


def test_an_insertion_inside_a_replaced_range_does_not_merge() -> None:
    assert merge_text("a\nb\nc\nd", "a\nX\nY\nd", "a\nb\nnew\nc\nd") is None


def test_line_endings_survive() -> None:
    assert merge_text("a\r\nb\r\n", "a\r\nb\r\nc\r\n", "A\r\nb\r\n") == "A\r\nb\r\nc\r\n"


def test_notes_merge_title_and_body_separately() -> None:
    base = Note("Title", "x\ny", 1)
    merged = merge_notes(base, Note("New title", "x\ny", 5), Note("Title", "x\ny\nz", 3))
    assert merged == Note("New title", "x\ny\nz", 5)
    assert merge_notes(base, Note("T1", "x\ny", 2), Note("T2", "x\ny", 2)) is None


lines = st.lists(st.sampled_from(["a", "b", "c", "d", "", "e"]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(lines, lines, lines)
def test_merge_properties(base: list[str], ours: list[str], theirs: list[str]) -> None:
    merged = merge_lines(base, ours, theirs)
    assert merged == merge_lines(base, ours, theirs)  # deterministic
    assert merge_lines(base, ours, base) == ours
    assert merge_lines(base, base, theirs) == theirs
    assert merge_lines(base, ours, ours) == ours
    if merged is not None:
        # Every line either side added is in the result (line multiset: each side's additions survive).
        for side in (ours, theirs):
            for line in set(side):
                assert merged.count(line) >= side.count(line) - base.count(line)


def test_resolve_is_the_one_policy_merge_or_a_conflicted_copy() -> None:
    base = Note("Groceries", "eggs\nmilk\n", 1)
    theirs = Note("Groceries", "eggs\nmilk\nbread\n", 2)
    merged = resolve(base, Note("Groceries", "coffee\neggs\nmilk\n", 3), theirs, device_name="Laptop", now_ms=4)
    assert merged.copy is None and merged.merged == Note("Groceries", "coffee\neggs\nmilk\nbread\n", 3)
    clash = resolve(base, Note("Shopping", "eggs\n", 3), Note("Errands", "eggs\n", 2), device_name="Laptop", now_ms=4)
    assert clash.merged is None and clash.copy is not None
    assert clash.copy.body == "eggs\n" and clash.copy.title.startswith("Shopping (conflicted copy from Laptop, ")
