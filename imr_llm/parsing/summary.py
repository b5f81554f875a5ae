"""Facts from the clinical case summary: the patient's age and sex, the date of injury and the
UR denial date when there is no header (the seeds), and explicitly listed diagnoses.

Only what the summary states is taken: no age → None, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ..reading import SourceText
from ..schema import Patient
from .common import collapse, evidence
from .dates import find_dates

AGE_SEX = re.compile(
    r"\b(?P<age>\d{1,3})\s*-?\s*(?:year|yr)s?\s*-?\s*old\b,?\s*(?:(?P<sex>male|female|man|woman|gentleman|lady|boy|girl)\b)?",
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
SENTENCE_END = re.compile(r"(?<=[a-z0-9)\]])\.\s+(?=[A-Z])")

DIAGNOSIS_LEADS = re.compile(
    r"(?:\bDiagnos[ie]s\s*:"
    r"|\b(?:listed|current|working|final|primary|operating)?\s*diagnos[ie]s\s+(?:per\s+[^:]{0,40}?\s*)?(?:are|is|include[sd]?|included|were|was)\s*(?:documented\s+as|noted\s+as|as\s+follows)?\s*:?"
    r"|\bdiagnosed\s+(?:with|as\s+having|as)\b"
    r"|\bAssessment\s+(?:is|was)\s+documented\s+as\b)",
    re.IGNORECASE,
)


@dataclass
class DatedFact:
    value: date
    start: int
    end: int


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


def find_injury_date(source: SourceText, start: int, end: int) -> DatedFact | None:
    text = source.text
    for d in find_dates(text, start, end):
        before = collapse(text[max(start, d.start - 60) : d.start])
        after = text[d.end : d.end + 30]
        if INJURY_BEFORE.search(before) or INJURY_AFTER.search(after):
            return DatedFact(d.value, d.start, d.end)
    return None


def find_ur_date(source: SourceText, start: int, end: int) -> DatedFact | None:
    """The date of the UR decision: a date in the same sentence as UR words, nearest to them."""
    text = source.text
    best: tuple[int, DatedFact] | None = None
    for d in find_dates(text, start, end):
        s_start, s_end = _sentence_bounds(text, d.start, start, end)
        sentence = text[s_start:s_end]
        for w in UR_WORDS.finditer(sentence):
            if re.search(r"\b(?:injury|injured)\b", text[max(s_start, d.start - 30) : d.start], re.I):
                continue
            distance = abs((s_start + w.start()) - d.start)
            if distance <= 80 and (best is None or distance < best[0]):
                best = (distance, DatedFact(d.value, d.start, d.end))
        if best is not None:
            return best[1]  # the first sentence that has one is the UR decision itself
    return None


def _sentence_bounds(text: str, pos: int, lo: int, hi: int) -> tuple[int, int]:
    s = lo
    for m in SENTENCE_END.finditer(text, lo, pos):
        s = m.end()
    m = SENTENCE_END.search(text, pos, hi)
    return s, (m.start() + 1 if m else hi)


def find_diagnoses(source: SourceText, start: int, end: int) -> list[tuple[str, int, int]]:
    """Diagnoses the summary explicitly lists after a lead such as 'Diagnosis:' or 'diagnosed with'."""
    text = source.text
    out: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for lead in DIAGNOSIS_LEADS.finditer(text, start, end):
        list_start = lead.end()
        list_end = _diagnosis_list_end(text, list_start, end)
        for value, s, e in _split_diagnoses(text, list_start, list_end):
            key = value.lower()
            if key not in seen:
                seen.add(key)
                out.append((value, s, e))
    return out


def _diagnosis_list_end(text: str, start: int, end: int) -> int:
    # A numbered list runs on across sentences; a prose list ends at its sentence end.
    if re.match(r"\s*1\s*[.)]", text[start : start + 8]):
        m = re.search(r"\n\s*\n|(?<=\.)\s+(?=(?:The|He|She|There|According|Request|On|Per)\b|Dr\.)", text[start:end])
        return start + m.start() if m else min(end, start + 1200)
    m = SENTENCE_END.search(text, start, end)
    return m.start() if m else min(end, start + 400)


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
    spans: list[tuple[int, int]] = []
    if re.match(r"\s*1\s*[.)]", chunk):
        spans = _numbered_parts(text, start, end)
    else:
        pattern = re.compile(r"\s*;\s*(?:and\s+)?") if ";" in chunk else re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+(?=[a-z])")
        cursor = start
        for m in list(pattern.finditer(text, start, end)) + [None]:
            e = m.start() if m else end
            spans.append((cursor, e))
            if m:
                cursor = m.end()
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
