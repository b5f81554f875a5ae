"""Facts the clinical case summary states (never guessed): the patient's age and sex, the date of
injury and UR denial date when there is no header (the seeds), and explicitly listed diagnoses."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator

from ..reading import SourceText
from ..safety import finditer_words
from ..schema import Patient
from .common import between, collapse, evidence
from .dates import FoundDate, find_dates

# `\s*(?:-\s*)?`, not `\s*-?\s*`: the same text, without trying every split of a space run in two.
AGE_SEX = re.compile(
    r"\b(?P<age>\d{1,3})\s*(?:-\s*)?(?:year|yr)s?\s*(?:-\s*)?old\b,?\s*(?:(?P<sex>male|female|man|woman|gentleman|lady|boy|girl)\b)?",
    re.IGNORECASE,
)
_SEX = {"male": "male", "man": "male", "gentleman": "male", "boy": "male",
        "female": "female", "woman": "female", "lady": "female", "girl": "female"}

# Context before a date that makes it the date of injury.
INJURY_BEFORE = re.compile(
    r"(?:injury\s+date|date\s+of\s+injury|injur(?:y|ies|ed)|occupational\s+claim|claim)\s*(?:\(DOI\)\s*)?"
    r"(?:was\s+|is\s+)?(?:on|of|from|dated|date\s+of|in)?\s*(?:or\s+about\s+)?$",
    re.IGNORECASE,
)
INJURY_AFTER = re.compile(r"^\s*(?:date\s+of\s+injury|\(?DOI\)?|industrial\s+injury)", re.IGNORECASE)
UR_WORDS = re.compile(
    r"utilization\s+review|\bUR\b|adverse\s+determination|non-?certif|claims\s+administrator\s+(?:failed|denied|modified)",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"\.(?<=[a-z0-9)\]]\.)\s+(?=[A-Z])")  # the period first: `re` then skips to each one
# Where a numbered diagnosis list ends: a blank line, or a sentence that starts something else.
NUMBERED_LIST_END = re.compile(r"\n\s*\n|(?<=\.)\s+(?=(?:The|He|She|There|According|Request|On|Per)\b|Dr\.)")
# Bounds on the diagnosis lists read, so a summary repeating "Diagnosis: 1. ..." or "diagnosed
# with a, ..." thousands of times costs linear time (before, every lead read to the end of the
# text). The dev letters have at most 3 leads and lists of at most 801 characters.
MAX_DIAGNOSIS_LIST = 4000  # characters of one list
MAX_DIAGNOSIS_LEADS = 50  # leads read per letter; later ones are ignored

DIAGNOSIS_LEADS = re.compile(
    r"(?:\bDiagnos[ie]s\s*:"
    r"|\b(?:listed|current|working|final|primary|operating)?\s*diagnos[ie]s\s+(?:per\s+[^:]{0,40}?\s*)?(?:are|is|include[sd]?|included|were|was)\s*(?:documented\s+as|noted\s+as|as\s+follows)?\s*:?"
    r"|\bdiagnosed\s+(?:with|as\s+having|as)\b"
    r"|\bAssessment\s+(?:is|was)\s+documented\s+as\b)",
    re.IGNORECASE,
)


def parse_patient(source: SourceText, start: int, end: int) -> Patient:
    patient = Patient()
    m = AGE_SEX.search(source.text, start, end)
    if m:
        age = int(m.group("age"))
        if 0 < age < 120:
            patient.age = age
            patient.evidence["age"] = evidence(source, m.start("age"), m.end("age"))
            if m.group("sex"):
                patient.sex = _SEX[m.group("sex").lower()]  # type: ignore[assignment]
                patient.evidence["sex"] = evidence(source, m.start("sex"), m.end("sex"))
    return patient


def find_injury_date(source: SourceText, start: int, end: int, dates: list | None = None) -> FoundDate | None:
    """The date of injury: a date with injury words just before or after it (`dates`: found already)."""
    text = source.text
    for d in find_dates(text, start, end) if dates is None else dates:
        before = collapse(text[max(start, d.start - 60) : d.start])
        after = text[d.end : d.end + 30]
        if INJURY_BEFORE.search(before) or INJURY_AFTER.search(after):
            return d
    return None


def find_ur_date(source: SourceText, start: int, end: int, dates: list | None = None) -> FoundDate | None:
    """The UR decision's date: a date in the same sentence as UR words (`dates`: found already)."""
    text = source.text
    # Sentence ends and UR words are found once for the whole summary, not again for every date.
    ends = _Ends(SENTENCE_END, text, start, end)
    region = text[start:end]  # as a string of its own, like each sentence was searched before
    words = [start + w.start() for w in finditer_words(UR_WORDS, region, ("utilization", "ur", "adverse", "non", "claims"))]
    for d in find_dates(text, start, end) if dates is None else dates:
        s_start, s_end = ends.around(d.start, start, end)
        if re.search(r"\b(?:injury|injured)\b", text[max(s_start, d.start - 30) : d.start], re.I):
            continue
        # UR words in the date's sentence, within 80 characters of it (the first sentence that has
        # one is the UR decision itself)
        i = bisect.bisect_left(words, max(s_start, d.start - 80))
        if i < len(words) and words[i] < s_end and words[i] <= d.start + 80:
            return d
    return None


class _Ends:
    """The matches of a separator pattern in text[start:end], found once, then looked up by position."""

    def __init__(self, pattern: re.Pattern[str], text: str, start: int, end: int) -> None:
        spans = [(m.start(), m.end()) for m in pattern.finditer(text, start, end)]
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]

    def around(self, pos: int, lo: int, hi: int) -> tuple[int, int]:
        """From the end of the last match before `pos` (lookahead included) to just past the start of
        the first at or after it; `lo`, `hi` where there is none."""
        i = bisect.bisect_left(self.ends, pos) - 1
        after = self.first_from(pos)
        return (self.ends[i] if i >= 0 else lo), (after + 1 if after is not None else hi)

    def first_from(self, pos: int) -> int | None:
        """Start of the first match starting at or after `pos`."""
        i = bisect.bisect_left(self.starts, pos)
        return self.starts[i] if i < len(self.starts) else None


def find_diagnoses(source: SourceText, start: int, end: int) -> list[tuple[str, int, int]]:
    """Diagnoses the summary explicitly lists after a lead such as 'Diagnosis:' or 'diagnosed with'."""
    text = source.text
    out: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    ends: dict[str, _Ends] = {}  # list ends, found once for the whole range when first needed
    for lead in itertools.islice(_diagnosis_leads(text, start, end), MAX_DIAGNOSIS_LEADS):
        list_start = lead.end()
        list_end = _diagnosis_list_end(text, list_start, start, end, ends)
        for value, s, e in _split_diagnoses(text, list_start, list_end):
            key = value.lower()
            if key not in seen:
                seen.add(key)
                out.append((value, s, e))
    return out


_LIST_WORDS = ("listed", "current", "working", "final", "primary", "operating")


def _diagnosis_leads(text: str, start: int, end: int) -> Iterator[re.Match[str]]:
    """DIAGNOSIS_LEADS.finditer: a lead begins at "diagnos", "assessment", or the list word ("current") before."""
    return finditer_words(DIAGNOSIS_LEADS, text, ("diagnos", "assessment"), start, end, lead=_LIST_WORDS)


def _diagnosis_list_end(text: str, start: int, lo: int, end: int, ends: dict[str, _Ends]) -> int:
    # A numbered list runs on across sentences; a prose list ends at its sentence end.
    numbered = re.match(r"\s*1\s*[.)]", text[start : start + 8])
    key, pattern, reach = ("numbered", NUMBERED_LIST_END, 1200) if numbered else ("prose", SENTENCE_END, 400)
    if key not in ends:
        ends[key] = _Ends(pattern, text, lo, end)
    found = ends[key].first_from(start)
    list_end = found if found is not None else min(end, start + reach)
    return min(list_end, start + MAX_DIAGNOSIS_LIST)


def _numbered_parts(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split '1. A 2. B ...' by looking for each next number in turn, so a marker glued to the
    previous word by extraction ('L5-S13. Protracted' = 'L5-S1' + '3. Protracted') still splits."""
    parts: list[tuple[int, int]] = []
    number, cursor, item_start = 1, start, None
    while True:
        m = re.compile(rf"(?:(?<=\s)|(?<=[A-Za-z0-9])|^){number}\s*[.)]\s+").search(text, cursor, end)
        if m is None:
            break
        if item_start is not None:
            parts.append((item_start, m.start()))
        item_start, cursor, number = m.end(), m.end(), number + 1
    if item_start is not None:
        parts.append((item_start, end))
    return parts


def _split_diagnoses(text: str, start: int, end: int) -> list[tuple[str, int, int]]:
    chunk = text[start:end]
    if re.match(r"\s*1\s*[.)]", chunk):
        spans = _numbered_parts(text, start, end)
    else:
        pattern = re.compile(r"\s*;\s*(?:and\s+)?") if ";" in chunk else re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+(?=[a-z])")
        spans = between(pattern, text, start, end)
    result = []
    for s, e in spans:
        while s < e and text[s] in " \n\t:":
            s += 1
        while e > s and text[e - 1] in " \n\t.;,":
            e -= 1
        value = collapse(text[s:e])
        if 2 < len(value) <= 300:
            result.append((value, s, e))
    return result
