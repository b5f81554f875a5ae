"""The rationale's closing verdict: what the reviewer's own last words say about the request.

The printed decision is the fact; the verdict only a cross-check, so this reader is *sure or silent*
(a misread verdict is a false conflict on a correct letter). Polarity is read from the clause holding
the verdict word, since reviewers word it many ways. Strong verdicts ("medically necessary", "medical
necessity", "Recommendation is for ...") count anywhere, the last one wins; weak ones ("is not
supported") only when closing the last sentence, and over a strong one only when that sentence is
about the request ("Weaning is recommended." is guideline talk). Quoted verdict words do not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..safety import finditer_words

_STRONG = re.compile(
    r"medically\s*-?\s*(?:necessary|appropriate)|(?:a\s+)?medical\s+necessity"
    r"|Recommendation\s+is\s+for\s+(?P<rec>denial|non-?certification|authorization|certification|approval)",
    re.IGNORECASE,
)
# A weak verdict: the predicate ends its sentence (a short tail such as "at this time" allowed).
_WEAK = re.compile(
    r"\b(?:is|are|was|were|be|been|being|appears?|seems?)\s+(?:(?:therefore|thus|also|currently|hence|still|clearly)\s+)?"
    r"(?P<w>(?:not\s*-?\s*)?(?:supported|warranted|indicated|recommended|certified|approved|authorized|reasonable|"
    r"necessary|justified)|unsupported|unwarranted|unnecessary|non-?certified)"
    r"(?:\s+(?:at\s+this\s+time|in\s+this\s+case|for\s+this\s+(?:patient|injured\s+worker|claimant)|by\s+(?:the\s+)?"
    r"(?:guidelines?|MTUS|ODG|ACOEM|records?|documentation)|as\s+requested|at\s+present))?\s*(?=[.!]|$)",
    re.IGNORECASE,
)
_NEGATOR = re.compile(
    r"\b(?:not|cannot|never|neither|nor|no\s+longer|lacks?|lacking)\b|n't\b|\bnot(?=-|medically)"
    r"|\bnon-?certif|\bun(?:necessary|supported|warranted|justified)\b|\bfail(?:s|ed)?\s+to\b",
    re.IGNORECASE,
)
# "Medical necessity has (not) been established", "... of this request is not established".
_NECESSITY_TAIL = re.compile(
    r"\s*(?:of\s+[^.;]{0,80}?\s+)?(?:has|have|is|was|were|are)\s+(?P<neg>not\s+)?(?:been\s+)?(?:clearly\s+)?"
    r"(?:established|demonstrated|shown|met|supported|documented)",
    re.IGNORECASE,
)
_REQUEST = re.compile(r"\brequest(?:s|ed)?\b[^.;]*$", re.IGNORECASE)
_LACKS = re.compile(r"\b(?:lacks?|lacking|no)\s+$", re.IGNORECASE)
_COPULA = re.compile(
    r"\b(?:is|are|was|were|be|been|appears?|seems?|deemed|considered|found|remains?|established|certainly)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|;|:\s")
_CLAUSE_COMMA = re.compile(r",")
_WINDOW = 120  # characters before the verdict word that can hold its negation
_GROUP_GAP = 24  # characters between two words of one verb group


@dataclass(frozen=True)
class Verdict:
    negative: bool  # "not medically necessary" and its kin
    start: int
    end: int
    about_request: bool = False  # a weak verdict whose clause names the request ("the request is supported")


def _strong(text: str, start: int, end: int) -> list[re.Match[str]]:
    """`_STRONG`'s matches in text[start:end]: one begins at "medical", "recommendation", or the "a" before."""
    return list(finditer_words(_STRONG, text, ("medical", "recommendation"), start, end, lead=("a",)))


def _quoted(text: str, start: int, at: int) -> bool:
    """Is `at` inside a quotation (a guideline quoted in the rationale)? The nearest quote mark
    before it opens one: it follows a space or a bracket, not a word."""
    pos = max(text.rfind('"', start, at), text.rfind("\u201c", start, at), text.rfind("\u201d", start, at))
    if pos < 0 or text[pos] == "\u201d":
        return False
    return text[pos] == "\u201c" or pos == start or text[pos - 1] in " \t\n(:["


def read_verdict(text: str, start: int, end: int) -> Verdict | None:
    """The verdict closing text[start:end] (a rationale), or None when there is none or its
    polarity cannot be read with confidence."""
    closing = _closing_weak(text, start, end)
    if closing is not None and closing.about_request:
        return closing
    for m in reversed(_strong(text, start, end)):
        if _quoted(text, start, m.start()):
            continue
        phrase = m.group(0).lower()
        if m.group("rec"):
            rec = m.group("rec").lower()
            return Verdict(negative=rec in ("denial", "noncertification", "non-certification"), start=m.start(), end=m.end())
        if phrase.endswith("necessity"):
            # a noun ("This decision addresses the medical necessity of opioids") is no verdict;
            # "Medical necessity has not been established" and "is not a medical necessity" are
            tail = _NECESSITY_TAIL.match(text, m.end(), end)
            if tail is not None and not phrase.startswith("a "):
                return Verdict(negative=bool(tail.group("neg")), start=m.start(), end=tail.end())
            if not (phrase.startswith("a ") or _LACKS.search(text, max(start, m.start() - 12), m.start())):
                continue
        return _polarity(text, start, m.start(), m.end())
    return closing


def closing_verdicts(text: str, start: int, end: int) -> list[Verdict]:
    """Every sentence of text[start:end] that ends in a readable strong verdict (a rationale
    normally has one; two are a sign that text was cut into it)."""
    out: list[Verdict] = []
    found = _strong(text, start, end)
    if len(found) < 2:
        return out  # (what callers ask: are there two?) one strong phrase cannot make two verdicts
    for m in found:
        if m.group("rec") or m.group(0).lower().endswith("necessity") or _quoted(text, start, m.start()):
            continue
        after = _SENTENCE_END.match(text, m.end()) or re.match(r"[ \t]*(?:and|or|at|in|per|based|for)\b[^.;]{0,60}[.!?]",
                                                               text[m.end():end])
        v = _polarity(text, start, m.start(), m.end()) if after else None
        if v is not None:
            out.append(v)
    return out


def _closing_weak(text: str, start: int, end: int) -> Verdict | None:
    """A weak verdict closing the text's last sentence."""
    stop = end
    while stop > start and text[stop - 1] in " \t\n.!\"'”’)":
        stop -= 1
    found = None
    for m in _WEAK.finditer(text, max(start, stop - 200), end):
        found = m
    if found is None or found.end() < stop:
        return None
    word_start = found.start("w")
    v = _polarity(text, start, word_start, found.end("w"))
    if v is None:
        return None
    word = found.group("w").lower()
    negative = v.negative or word.startswith(("un", "non", "not"))
    return Verdict(negative=negative, start=found.start(), end=found.end("w"),
                   about_request=_REQUEST.search(text, max(start, v.start - _WINDOW), v.start) is not None)


def _polarity(text: str, lo: int, at: int, end: int) -> Verdict | None:
    """Read the clause before `at` (from its sentence start, or from a comma after which the
    predicate is complete): a negator makes the verdict negative; none with a copula, positive."""
    begin = max(lo, at - _WINDOW)
    for m in _SENTENCE_END.finditer(text, begin, at):
        begin = m.end()
    clause_start = begin
    for m in _CLAUSE_COMMA.finditer(text, begin, at):
        if _COPULA.search(text, m.end(), at):
            clause_start = m.end()
    words = sorted([m.start() for m in _NEGATOR.finditer(text, clause_start, at)]
                   + [m.start() for m in _COPULA.finditer(text, clause_start, at)])
    if not words:
        return None
    negative = _NEGATOR.search(text, clause_start, at) is not None
    # the phrase as printed: the verb group before the verdict word ("is determined to not be
    # medically necessary"), its verbs and negators each within a few words of the next
    first = words[-1]
    for pos in reversed(words[:-1]):
        if first - pos > _GROUP_GAP:
            break
        first = pos
    return Verdict(negative=negative, start=first, end=end)
