"""OCR damage the item reader reads through: stray punctuation from a scan's or photo's specks, and a
field label with one word misread. Each rule was found on picture copies of the dev letters (BENCHMARKS.md,
"Scanned and photographed letters") and is sure or silent: it only accepts, beside what a printed letter
has, a shape no printed letter has, so a text letter reads exactly as before."""

from __future__ import annotations

import re

from ..safety import finditer_at, searchable, word_starts

# One or two stray marks between a heading's colon and its decision word ("right foot:. Upheld"),
# and after the decision word at the line's end ("Upheld ~", "Overturned :", "Upheld -").
DECISION_SPECKS = r"(?:[.,;'‘’`~][ \t]*)?"
AFTER_DECISION_SPECKS = r"(?:[.,;:'‘’`~\-_|]{1,2}[ \t]*)?"
# Marks after a line's last sentence ("is not medically necessary. ;"), each apart from the words.
_TRAILING = re.compile(r"(?:[ \t]+[.,;:'‘’`~^*°•·|_\-]{1,2})+[ \t]*$")
# Marks before a heading: a bullet or speck apart from the first word ("~ MRI", "- Norco"), or an
# opening quote stuck to it ("‘Associated") that nothing in the heading closes.
_LEADING = re.compile(r"(?:[~\-–—•·*_|.,;:'‘’`\"“]{1,2}\s+)+|(?P<quote>[‘'`\"“])(?=[A-Za-z])|[_~•·](?=[A-Za-z0-9])")
_CLOSING = re.compile(r"[’'`\"”]")


def without_trailing_specks(line: str) -> str:
    """The line without stray marks after its last word, for the sentence-end test."""
    return _TRAILING.sub("", line)


def past_leading_specks(text: str, start: int, end: int) -> int:
    """Where a heading's words begin: `start`, or past the stray marks before them."""
    m = _LEADING.match(text, start, end)
    if m is None or m.end() >= end:
        return start
    if m.group("quote") and _CLOSING.search(text, m.end(), end):
        return start  # a quote the heading closes is the heading's own
    return m.end()


# The line that leads into the items ("... set forth below:"), its last word misread ("bilo").
_ITEMS_LEAD = re.compile(r"set\s+forth\s+(?P<w>[^\s:]{3,7})\s*:", re.IGNORECASE)


def items_leads(text: str, start: int, end: int) -> list[int]:
    """Where each "set forth below:" ends, "below" read with up to two letters wrong."""
    return [m.end() for m in _ITEMS_LEAD.finditer(text, start, end) if edit_distance(m.group("w").lower(), "below") <= 2]


# An item's field labels, each as its words and the kind the item reader gives it.
FIELD_LABELS = (("claims administrator guideline", "ca"), ("maximus guideline", "rv"), ("decision rationale", "rat"))
_LABEL_WORDS = tuple({word for label, _ in FIELD_LABELS for word in label.split()})  # one is on its line
# A candidate for a damaged label: at a line's start, one to three words and a colon.
_LABEL_LIKE = re.compile(r"^[ \t]*(?P<words>[^\s:]{1,16}(?:[ \t]+[^\s:]{1,16}){0,2})[ \t]*:", re.MULTILINE)


def near_labels(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each line-opening field label with one word misread ("Jecision rationale:",
    "(iain Administrator guideline:"), not exact ones; the caller takes one only where an item's fields are expected."""
    low = searchable(text)
    found = _LABEL_LIKE.finditer(text, start, end) if low is None else finditer_at(_LABEL_LIKE, text, sorted(
        {max(start, text.rfind("\n", start, pos) + 1) for pos in word_starts(low, _LABEL_WORDS, start, end)}), end)
    kinds = ((m, near_label(m.group("words"))) for m in found)
    return [(m.start("words"), m.end(), kind) for m, kind in kinds if kind is not None]


def near_label(words: str) -> str | None:
    """The kind of the field label `words` is with one word misread, or None (also when exact): that word
    within a third of its letters' edit distance (two thirds when two exact words anchor it), or its end
    left when the page edge cut the line's start ("ims Administrator guideline")."""
    got = words.lower().split()
    for label, kind in FIELD_LABELS:
        want = label.split()
        wrong = [k for k, (g, w) in enumerate(zip(got, want)) if g != w]
        if len(got) != len(want) or len(wrong) != 1:
            continue
        k = wrong[0]
        g, w = got[k], want[k]
        bound = len(w) * (2 if len(want) > 2 else 1) // 3
        if edit_distance(g, w) <= bound or (k == 0 and 2 <= len(g) < len(w) and edit_distance(g, w[-len(g):]) <= 1):
            return kind
    return None


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
