"""Grounding: a quote the model gives must be found in the section it was shown. `locate()` finds
it the LangExtract way, most to least strict: exact (after whitespace collapsing), normalized
(ignoring case, quotes and punctuation), fuzzy (a window of the section's words with similarity
>= FUZZY_MIN). A quote found nowhere is not guessed at: the caller rejects it (and instructor re-asks).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field

from ..reading import SourceText
from ..schema import Evidence

FUZZY_MIN = 0.85
FUZZY_WORK = 4_000_000  # word pairs compared in full by one fuzzy search (well under a second)
_WORD = re.compile(r"[A-Za-z0-9]+")
_NON_SPACE = re.compile(r"\S+")


@dataclass
class Section:
    """A span [start, end) of `source.text` (normalized offsets), shown to the model as `text`."""

    source: SourceText
    start: int
    end: int
    name: str = "section"
    text: str = field(init=False)
    _spans: list[tuple[int, int]] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # words joined by one space (`str.split` and `\S` agree on what whitespace is). Where each
        # word is in the letter is only worked out when a quote is turned into evidence.
        self.text = " ".join(self.source.text[self.start:self.end].split())

    def offset(self, i: int) -> int:
        """The normalized offset of text[i]; a joining space takes the offset of the last
        whitespace before the next word."""
        if self._spans is None:
            self._spans = [m.span() for m in _NON_SPACE.finditer(self.source.text, self.start, self.end)]
        k = self.text.count(" ", 0, i)  # text[i] is in word k, or the space after it
        if self.text[i] == " ":
            return self._spans[k + 1][0] - 1
        return self._spans[k][0] + i - (self.text.rfind(" ", 0, i) + 1)

    def evidence(self, i: int, j: int, alignment: str = "exact", origin: str = "model") -> Evidence:
        """Evidence for text[i:j], mapped to the letter as read."""
        start, end = self.offset(i), self.offset(j - 1) + 1
        raw_start, raw_end = self.source.raw_span(start, end)
        return Evidence(start=raw_start, end=raw_end, quote=self.source.raw[raw_start:raw_end],
                        origin=origin, alignment=alignment)  # type: ignore[arg-type]


def locate(section: Section, quote: str) -> tuple[int, int, str] | None:
    """(start, end, alignment) of `quote` in `section.text`, or None when it is not there."""
    q = " ".join(quote.split()).strip(" \"'“”.,;:")
    if len(q) < 2:
        return None
    i = section.text.find(q)
    if i >= 0:
        return i, i + len(q), "exact"
    words = [(m.start(), m.end(), m.group(0).lower()) for m in _WORD.finditer(section.text)]
    q_words = [w.lower() for w in _WORD.findall(q)]
    if not q_words or not words:
        return None
    tokens = [w for _, _, w in words]
    n = len(q_words)
    # normalized: the same words in the same order, ignoring case and punctuation
    first = q_words[0]
    for k in range(len(tokens) - n + 1):
        if tokens[k] == first and tokens[k:k + n] == q_words:
            return words[k][0], words[k + n - 1][1], "normalized"
    found = _fuzzy(tokens, q_words)
    if found is None:
        return None
    k, last = found
    k -= k > 0 and _misspelt(tokens[k - 1], q_words[0], tokens[k:last + 1])
    last += last + 1 < len(tokens) and _misspelt(tokens[last + 1], q_words[-1], tokens[k:last + 1])
    return words[k][0], words[last][1], "fuzzy"


def _fuzzy(tokens: list[str], q_words: list[str]) -> tuple[int, int] | None:
    """(first, last word) of the first window of the section's words (n-2 to n+2 words, n the quote's)
    with the highest difflib ratio to the quote, if >= FUZZY_MIN. A window's ratio is at most its
    quick_ratio, kept up to date as the window slides; windows are compared in full from the highest
    bound down until none can beat the best found (the answer of comparing every window, without the
    quadratic cost when the quote is nowhere), and after FUZZY_WORK word pairs the best window so far is used."""
    n = len(q_words)
    want = Counter(q_words)
    candidates: list[tuple[float, int, int, int]] = []  # (-bound, window order, start, size)
    order = 0
    for size in {max(1, n - 2), max(1, n - 1), n, n + 1, n + 2}:
        width = min(size, len(tokens))
        have: Counter[str] = Counter()
        common = 0  # size of the multiset intersection of the window and the quote
        for t in tokens[:width]:
            common += have[t] < want[t]
            have[t] += 1
        for k in range(0, max(1, len(tokens) - size + 1)):
            if k:  # slide by one: tokens[k - 1] leaves, tokens[k + width - 1] enters
                out, new = tokens[k - 1], tokens[k + width - 1]
                have[out] -= 1
                common -= have[out] < want[out]
                common += have[new] < want[new]
                have[new] += 1
            bound = 2.0 * common / (n + width)  # == SequenceMatcher.quick_ratio() of this window
            if bound >= FUZZY_MIN:
                candidates.append((-bound, order, k, size))
            order += 1
    candidates.sort()
    best, best_order, best_span = 0.0, -1, None
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(q_words)
    work = 0
    for neg_bound, order, k, size in candidates:
        if -neg_bound < best or work > FUZZY_WORK:
            break
        if -neg_bound == best and order > best_order:
            continue  # at best a tie with an earlier window, which wins
        window = tokens[k:k + size]
        matcher.set_seq1(window)
        ratio = matcher.ratio()
        work += n * len(window)
        if ratio > best or (ratio == best and order < best_order):
            best, best_order, best_span = ratio, order, (k, min(k + size, len(tokens)) - 1)
    return best_span if best >= FUZZY_MIN else None


def _misspelt(word: str, quote_word: str, window: list[str]) -> bool:
    """Is the word just outside a fuzzy window the quote's edge word with a typo ("oxyycodone" for
    "oxycodone")? Word-level matching counts it a miss and leaves it out of the window."""
    return quote_word not in window and difflib.SequenceMatcher(None, word, quote_word).ratio() >= FUZZY_MIN


def ground(section: Section, quote: str | None) -> Evidence | None:
    """Evidence for a quote the model gave, or None when it is not in the section."""
    found = locate(section, quote) if quote else None
    return None if found is None else section.evidence(*found)
