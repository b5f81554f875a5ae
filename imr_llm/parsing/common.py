"""Helpers shared by the parser modules: evidence spans and whitespace handling."""

from __future__ import annotations

import re

from ..reading import SourceText, trim_span
from ..schema import Evidence

_WS = re.compile(r"\s+")


def collapse(text: str) -> str:
    """Collapse every whitespace run to one space and trim."""
    return _WS.sub(" ", text).strip()


def evidence(source: SourceText, start: int, end: int) -> Evidence:
    """Evidence for the normalized span [start, end): trimmed, mapped to the letter as read."""
    start, end = trim_span(source.text, start, end)
    raw_start, raw_end = source.raw_span(start, end)
    return Evidence(start=raw_start, end=raw_end, quote=source.raw[raw_start:raw_end])
