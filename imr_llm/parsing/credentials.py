"""The expert reviewer's credentials, in either surface form:

* list:     "State(s) of Licensure: Texas,New York,California" / "Certification(s)/Specialty: A, B"
* sentence: "The expert reviewer is Board Certified in X[, has a subspecialty in Y][,] and is
             licensed to practice in Z."
"""

from __future__ import annotations

import re

from ..reading import SourceText
from ..safety import finditer_words
from ..schema import Reviewer
from .common import between, collapse, evidence

_STOP = r"(?=\n\s*\n|\n\s*CLINICAL\s+CASE\s+SUMMARY|\n\s*State\(s\)|\n\s*Certification|\Z)"
LICENSURE = re.compile(r"State\(s\)\s+of\s+Licensure\s*:[ \t]*(?P<v>.*?)" + _STOP, re.IGNORECASE | re.DOTALL)
SPECIALTY = re.compile(r"Certification\(s\)\s*/\s*Specialty\s*:[ \t]*(?P<v>.*?)" + _STOP, re.IGNORECASE | re.DOTALL)
# Bounded parts (the dev letters' longest: specialty 36, subspecialty 20, states 22 characters):
# unbounded `[^.]+?` parts made text without a period cost quadratic time, every "Board Certified
# in" reading to the next period.
SENTENCE = re.compile(
    r"Board\s+Certified\s+in\s+(?P<spec>[^.]{1,120}?)"
    r"(?:,?\s+(?:and\s+)?has\s+(?:a\s+)?sub-?specialt(?:y|ies)\s+in\s+(?P<sub>[^.]{1,120}?))?"
    r",?\s+and\s+is\s+licensed\s+to\s+practice\s+in\s+(?P<state>[^.]{1,200}?)\s*\.",
    re.IGNORECASE,
)
# Separators. `_add_parts` trims whitespace off every part, so they need not start with `\s*` (which
# made each scan retry at every space of a long run): same parts, linear time.
_LIST_SPLIT = re.compile(r",")
_STATE_SPLIT = re.compile(r",\s*(?:and\s+)?|(?<!\s)\s+and\s+")


def _add_parts(reviewer: Reviewer, source: SourceText, field: str, start: int, end: int, splitter: re.Pattern[str]) -> None:
    """Append each non-blank part of text[start:end] between separators to `field`, with its evidence."""
    text = source.text
    values = getattr(reviewer, field)
    for s, e in between(splitter, text, start, end):
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            reviewer.evidence[f"{field}[{len(values)}]"] = evidence(source, s, e)
            values.append(collapse(text[s:e]))


def parse_reviewer(source: SourceText, start: int = 0, end: int | None = None) -> Reviewer:
    text = source.text
    end = len(text) if end is None else end
    reviewer = Reviewer()
    lic = next(finditer_words(LICENSURE, text, ("state",), start, end), None)
    spec = next(finditer_words(SPECIALTY, text, ("certification",), start, end), None)
    if lic or spec:
        reviewer.form = "list"
        for field, found in (("licensure_states", lic), ("specialties", spec)):
            if found:
                _add_parts(reviewer, source, field, found.start("v"), found.end("v"), _LIST_SPLIT)
        return reviewer
    m = next(finditer_words(SENTENCE, text, ("board",), start, end), None)
    if m:
        reviewer.form = "sentence"
        for field, group in (("specialties", "spec"), ("subspecialties", "sub")):  # a specialty is always there
            if m.group(group):
                getattr(reviewer, field).append(collapse(m.group(group)))
                reviewer.evidence[f"{field}[0]"] = evidence(source, m.start(group), m.end(group))
        _add_parts(reviewer, source, "licensure_states", m.start("state"), m.end("state"), _STATE_SPLIT)
    return reviewer
