"""Dates as letters write them: 10/14/10, 5/6/13, 10-20-2016, 10-13-16, December 6, 2006, October 2014."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ..safety import finditer_words

MONTHS = {name: i for i, names in enumerate([
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"), ("july", "jul"),
    ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"), ("december", "dec"),
], start=1) for name in names}
_MONTH_RE = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"

_MONTH_STARTS = tuple({name[:3] for name in MONTHS})  # where a word date can begin

# the digit first, then the look back: `re` then skips to each digit
NUMERIC_DATE = re.compile(r"(\d(?<![\d/-]\d)\d?)\s?([/-])\s?(\d{1,2})\2\s?(\d{4}|\d{2})(?![\d/-])")
WORD_DATE = re.compile(rf"(?i)\b({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b")


@dataclass(frozen=True)
class FoundDate:
    value: date
    start: int
    end: int


def parse_date(text: str) -> date | None:
    """Parse one numeric date (a header value); None when it is not a valid calendar date."""
    m = NUMERIC_DATE.fullmatch(text.strip())
    return _numeric(m) if m else None


def full_year(year: str) -> int:
    """A printed year as four digits: two-digit years are 1950-2049 (letters cover injuries from the 1950s on)."""
    y = int(year)
    return y + (2000 if y < 50 else 1900) if len(year) == 2 else y


def _numeric(m: re.Match[str]) -> date | None:
    return _make(full_year(m.group(4)), int(m.group(1)), int(m.group(3)))


def _worded(m: re.Match[str]) -> date | None:
    return _make(int(m.group(3)), MONTHS[m.group(1).lower().rstrip(".")], int(m.group(2)))


def _make(y: int, mo: int, d: int) -> date | None:
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def find_dates(text: str, start: int = 0, end: int | None = None) -> list[FoundDate]:
    """Every day-precision date in text[start:end], in order, with its span."""
    end = len(text) if end is None else end
    found = [(_numeric(m), m) for m in NUMERIC_DATE.finditer(text, start, end)]
    found += [(_worded(m), m) for m in finditer_words(WORD_DATE, text, _MONTH_STARTS, start, end)]
    return sorted((FoundDate(value, m.start(), m.end()) for value, m in found if value), key=lambda f: f.start)
