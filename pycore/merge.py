"""Three-way merge of note text against the common base: line based, deterministic, conservative.

Each side's edits are diffed against the base (``difflib.SequenceMatcher`` with ``autojunk`` off, so the result does not
depend on heuristics) into hunks: a base range ``[start, end)`` and the lines that replace it. Hunks from the two sides
*collide* when their base ranges overlap, or when both insert at the same point; an insertion at the edge of the other
side's range merely touches it and does not collide. Then, cluster by cluster:

- only one side changed it: take that change;
- both sides made the same change: take it once;
- both sides only inserted at the same point: keep both, *theirs* (the version already on the relay) first;
- anything else overlaps: no merge (``None``): the caller keeps theirs and saves ours as a conflicted copy.

Text is split on ``"\\n"`` only, so line endings survive byte for byte. SPEC.md §"Sync".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from pycore.notes import Note, conflicted_copy_title

OURS = 0
THEIRS = 1


@dataclass(frozen=True)
class Hunk:
    start: int
    end: int
    lines: tuple[str, ...]
    side: int

    @property
    def insertion(self) -> bool:
        return self.start == self.end


def _hunks(base: Sequence[str], other: Sequence[str], side: int) -> list[Hunk]:
    matcher = SequenceMatcher(None, base, other, autojunk=False)
    return [
        Hunk(i1, i2, tuple(other[j1:j2]), side)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def _clusters(hunks: list[Hunk]) -> list[list[Hunk]]:
    """Group colliding hunks. Sorted by (start, end), a hunk collides with the open cluster exactly when it starts
    before the cluster's furthest end, or it is an insertion at the point where the cluster also inserts."""
    ordered = sorted(hunks, key=lambda h: (h.start, h.end, h.side))
    clusters: list[list[Hunk]] = []
    max_end = -1
    for h in ordered:
        if clusters and (
            h.start < max_end or (h.insertion and any(c.insertion and c.start == h.start for c in clusters[-1]))
        ):
            clusters[-1].append(h)
            max_end = max(max_end, h.end)
        else:
            clusters.append([h])
            max_end = h.end
    return clusters


def _apply(base: Sequence[str], start: int, end: int, hunks: Sequence[Hunk]) -> list[str]:
    """``base[start:end]`` with one side's (non-overlapping, sorted) hunks applied."""
    out: list[str] = []
    pos = start
    for h in sorted(hunks, key=lambda h: (h.start, h.end)):
        out.extend(base[pos : h.start])
        out.extend(h.lines)
        pos = h.end
    out.extend(base[pos:end])
    return out


def merge_lines(base: Sequence[str], ours: Sequence[str], theirs: Sequence[str]) -> list[str] | None:
    """The merged lines, or ``None`` when the two sides' edits overlap."""
    if list(ours) == list(theirs) or list(theirs) == list(base):
        return list(ours)
    if list(ours) == list(base):
        return list(theirs)
    out: list[str] = []
    pos = 0
    for cluster in _clusters(_hunks(base, ours, OURS) + _hunks(base, theirs, THEIRS)):
        start = min(h.start for h in cluster)
        end = max(h.end for h in cluster)
        out.extend(base[pos:start])
        pos = end
        sides = {h.side for h in cluster}
        if len(sides) == 1:
            out.extend(_apply(base, start, end, cluster))
            continue
        mine = _apply(base, start, end, [h for h in cluster if h.side == OURS])
        other = _apply(base, start, end, [h for h in cluster if h.side == THEIRS])
        if mine == other:
            out.extend(mine)
        elif all(h.insertion for h in cluster):
            out.extend(other)
            out.extend(mine)
        else:
            return None
    out.extend(base[pos:])
    return out


def _split(text: str) -> list[str]:
    return text.split("\n") if text else []


def merge_text(base: str, ours: str, theirs: str) -> str | None:
    merged = merge_lines(_split(base), _split(ours), _split(theirs))
    return None if merged is None else "\n".join(merged)


def _merge_field(base: str, ours: str, theirs: str) -> str | None:
    if ours == theirs or theirs == base:
        return ours
    if ours == base:
        return theirs
    return None


def merge_notes(base: Note | None, ours: Note, theirs: Note) -> Note | None:
    """Merge two edits of one note made from ``base`` (``None``: both started from nothing). The title is one
    field (both changed it differently: no merge); the body merges by lines; the timestamp is the later one."""
    ancestor = base if base is not None else Note("", "", 0)
    title = _merge_field(ancestor.title, ours.title, theirs.title)
    if title is None:
        return None
    body = merge_text(ancestor.body, ours.body, theirs.body)
    if body is None:
        return None
    return Note(title, body, max(ours.updated_at, theirs.updated_at))


@dataclass(frozen=True)
class Resolution:
    """What becomes of our edit when another one landed first: ``merged`` replaces theirs (our edit and theirs
    together), or ``copy`` is our edit as a new note beside theirs (they overlap)."""

    merged: Note | None
    copy: Note | None


def resolve(base: Note | None, ours: Note, theirs: Note, *, device_name: str, now_ms: int) -> Resolution:
    """The one merge policy, for a save that meets a newer revision (``pycore.app.notes``) and for a push another
    device won (``pycore.sync.engine``): merge three-way against ``base``; when the edits overlap, keep theirs and
    turn ours into a conflicted copy titled after this device and the time."""
    merged = merge_notes(base, ours, theirs)
    if merged is not None:
        return Resolution(merged, None)
    return Resolution(None, conflicted_copy(ours, device_name, now_ms))


def conflicted_copy(ours: Note, device_name: str, now_ms: int) -> Note:
    return Note(conflicted_copy_title(ours.title, device_name, now_ms), ours.body, ours.updated_at)
