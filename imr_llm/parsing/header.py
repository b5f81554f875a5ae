"""The header block of 2016+ letters (Case Number, dates, Priority). Extractors print it row by row
(pdfium) or all labels then all values (pdftotext); one rule reads both: in text order, each value goes
to the oldest waiting label that accepts its kind (a date, a case number, a priority word)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..reading import SourceText
from ..safety import finditer_words
from .dates import parse_date

LABELS: list[tuple[str, str, str]] = [
    ("case_number", "case", r"Case\s+Number\s*:"),
    ("date_assigned", "date", r"Date\s+Assigned\s*:"),
    ("decision_date", "date", r"Decision\s+Date\s*:"),
    ("priority", "priority", r"Priority\s*:"),
    ("date_of_injury", "date", r"Date\s+of\s+Injury\s*:"),
    ("ur_denial_date", "date", r"UR\s+Denial\s+Date\s*:"),
    ("application_received", "date", r"Application\b(?:\s+Received\s*:)?"),  # layout mode puts the value between the words
]
_LABEL_RE = re.compile("|".join(f"(?P<{name}>{pattern})" for name, _, pattern in LABELS), re.IGNORECASE)
_LABEL_STARTS = ("case", "date", "decision", "priority", "ur", "application")  # where a label can begin
_KIND = {name: kind for name, kind, _ in LABELS}
_VALUE_RE = re.compile(
    r"(?P<case>\b[A-Z]{2}\d{2}-\d{5,8}\b)"
    r"|(?P<date>(?<![\d/-])\d{1,2}[/-]\d{1,2}[/-](?:\d{4}|\d{2})(?![\d/-]))"
    r"|(?P<priority>\b(?:Standard|Expedited|Regular|Urgent)\b)",
    re.IGNORECASE,
)
HEADER_END = re.compile(r"HOW\s+THE\s+IMR\s+FINAL\s+DETERMINATION|CLINICAL\s+CASE\s+SUMMARY", re.IGNORECASE)


@dataclass
class HeaderField:
    name: str
    value: object
    start: int
    end: int


def header_end(text: str) -> int | None:
    """Where the header block (from the letter's start) ends, or None when the letter has no header."""
    m = next(finditer_words(HEADER_END, text, ("how", "clinical")), None)
    end = m.start() if m else min(len(text), 1500)
    return end if re.search(r"Case\s+Number\s*:", text[:end], re.IGNORECASE) else None


def parse_header(source: SourceText) -> dict[str, HeaderField]:
    text, start, end = source.text, 0, header_end(source.text)
    if end is None:
        return {}
    tokens = [(m.start(), m.end(), "label", m.lastgroup or "")  # (start, end, "label"|"value", name-or-kind)
              for m in finditer_words(_LABEL_RE, text, _LABEL_STARTS, start, end)]
    # a label's words hold no digit and no priority word: no value starts inside one
    tokens += [(m.start(), m.end(), "value", m.lastgroup or "") for m in _VALUE_RE.finditer(text, start, end)]
    tokens.sort()

    waiting: list[str] = []
    found: dict[str, HeaderField] = {}
    for s, e, what, name in tokens:
        if what == "label":
            if name not in found and name not in waiting:
                waiting.append(name)
            continue
        for label in waiting:
            if _KIND[label] == name:
                waiting.remove(label)
                value = _convert(name, text[s:e])
                if value is not None:
                    found[label] = HeaderField(label, value, s, e)
                break
    return found


def _convert(kind: str, text: str) -> object:
    if kind == "date":
        return parse_date(text)
    if kind == "priority":
        return "expedited" if text.lower() in {"expedited", "urgent"} else "standard"
    return text.upper()
