"""Helpers shared by the parser modules: evidence spans and whitespace handling."""

from __future__ import annotations

import re

from ..reading import SourceText, trim_span
from ..schema import Evidence

_WS = re.compile(r"\s+")


def collapse(text: str) -> str:
    """Collapse every whitespace run to one space and trim."""
    return _WS.sub(" ", text).strip()


def between(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The spans of text[start:end] that the matches of `pattern` separate (blank ones too)."""
    bounds = [start]
    for m in pattern.finditer(text, start, end):
        bounds += [m.start(), m.end()]
    bounds.append(end)
    return list(zip(bounds[::2], bounds[1::2]))


def evidence(source: SourceText, start: int, end: int) -> Evidence:
    """Evidence for the normalized span [start, end): trimmed, mapped to the letter as read."""
    start, end = trim_span(source.text, start, end)
    raw_start, raw_end = source.raw_span(start, end)
    return Evidence(start=raw_start, end=raw_end, quote=source.raw[raw_start:raw_end])
