"""Text helpers shared by the writers, the guards and the renderers: numbers and dates, word
n-grams, and the invisible characters no page shows."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from ..enrich.quantity import NUMBER_WORDS
from ..parsing.dates import MONTHS, full_year
from ..safety import WORD, ngrams

# the letter's number words (the quantity reader's) and the round ones a rationale may spell out
_NUMBER_WORDS = {**NUMBER_WORDS, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100}
# a way of writing a date: its pattern, its month names (None: a number) and its groups of year, month, day
DateForm = tuple[re.Pattern, dict[str, int] | None, tuple[int, int, int]]
# the letter's own forms, read in every text; a page's language adds its own (its GUARDS["dates"])
_LETTER_FORMS: tuple[DateForm, ...] = (
    (re.compile(r"(?<![\d/.-])(\d{1,2})[/-](\d{1,2})[/-](\d{2}|\d{4})(?![\d/-])"), None, (3, 1, 2)),
    (re.compile(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})\b"), MONTHS, (3, 1, 2)),
)
def letter_text(source):
    """The letter's raw text from a `SourceText` (its `raw`) or from the text itself."""
    return getattr(source, "raw", source)


_NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?|(?<=[A-Za-z#$(/-])\d+(?:\.\d+)?")


def find_dates(text: str, forms: tuple[DateForm, ...] = ()) -> list[tuple[date, int, int]]:
    """Dates written as 12/07/2016, 12-7-16 or December 7, 2016, and in the `forms` of a page's language."""
    found: list[tuple[date, int, int]] = []
    for regex, months, (y, mo, d) in (*_LETTER_FORMS, *forms):
        for m in regex.finditer(text):
            month = int(m.group(mo)) if months is None else months.get(m.group(mo).lower())
            try:
                if month:
                    found.append((date(full_year(m.group(y)), month, int(m.group(d))), m.start(), m.end()))
            except ValueError:  # no such day
                continue
    return found


def _without_dates(text: str, forms: tuple[DateForm, ...]) -> str:
    spans = sorted((s, e) for _, s, e in find_dates(text, forms))
    out, last = [], 0
    for s, e in spans:
        if s >= last:
            out += [text[last:s], " "]
            last = e
    out.append(text[last:])
    return "".join(out)


def find_numbers(text: str, *, words: bool = False, dates: tuple[DateForm, ...] = ()) -> list[tuple[float, str]]:
    """Numbers written with digits (value, as written), dates (also in the `dates` forms) left out. With
    `words`, number words ("Twelve") count too — used for the letter, whose headings spell numbers out."""
    text = _without_dates(text, dates)
    found = [(float(m.group(0).replace(",", "")), m.group(0)) for m in _NUMBER.finditer(text)]
    if words:
        found += [(float(_NUMBER_WORDS[w.lower()]), w) for w in WORD.findall(text) if w.lower() in _NUMBER_WORDS]
    return found


@lru_cache(maxsize=64)
def allowed_numbers(letter: str, facts: str) -> frozenset[float]:
    """Every number the letter (digits or words) or the vetted facts state."""
    return frozenset(v for v, _ in find_numbers(letter, words=True)) | frozenset(v for v, _ in find_numbers(facts))


@lru_cache(maxsize=64)
def allowed_dates(letter: str) -> frozenset[date]:
    return frozenset(d for d, _, _ in find_dates(letter))


def fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


# Bidi controls, zero-width and other format characters, the soft hyphen: they change how text looks
# (U+202E shows what follows right to left) or hide inside words. No page or explanation carries them.
_INVISIBLE = str.maketrans({c: None for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0x200B, 0x2010),
                                              0xFEFF, 0x00AD]})


def clean(text: str) -> str:
    """`text` without bidi controls, zero-width or format characters and soft hyphens."""
    return text.translate(_INVISIBLE)


def without_shared_runs(text: str, other: str, n: int) -> str:
    """`text` with every run of `n` or more words that `other` also has blanked (spaces)."""
    grams = ngrams(other, n)
    found = [(m.start(), m.end(), m.group(0).lower()) for m in WORD.finditer(text)]
    shared = [False] * len(found)
    for i in range(len(found) - n + 1):
        if tuple(w for _, _, w in found[i:i + n]) in grams:
            shared[i:i + n] = [True] * n
    out = list(text)
    for (start, end, _), blank in zip(found, shared):
        if blank:
            out[start:end] = " " * (end - start)
    return "".join(out)


def tidy(text: str) -> str:
    """One line, no edge punctuation, guillemets made plain quotes (the templates add their own)."""
    return re.sub(r"\s+", " ", text).strip(" .,;:").replace("«", "\"").replace("»", "\"")


def join_words(parts: list[str], conj: str) -> str:
    """ "a, b<conj>c": a list in running text."""
    return ", ".join(parts[:-1]) + conj + parts[-1] if len(parts) > 1 else "".join(parts)
