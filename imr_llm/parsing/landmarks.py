"""The letter's sections: the headings every DWC letter prints, and where each part of a parsed
letter lies. Found once by `parse` and handed to the safety scanner, which places its findings by
them."""

from __future__ import annotations

import re

from ..reading import SourceText
from ..safety import finditer_words
from ..schema import Determination, Evidence

SUMMARY_START = re.compile(r"CLINICAL\s+CASE\s+SUMMARY", re.IGNORECASE)
ISSUES_START = re.compile(r"IMR\s+ISSUES,?\s+DECISIONS?\s+AND\s+RATIONALES?|IMR\s+DECISION\(S\)\s+AND\s+RATIONALE\(S\)",
                          re.IGNORECASE)
MADE_START = re.compile(r"HOW\s+THE\s+IMR\s+FINAL\s+DETERMINATION\s+WAS\s+MADE", re.IGNORECASE)


def landmarks(text: str) -> tuple[re.Match[str] | None, re.Match[str] | None, list[re.Match[str]]]:
    """The first "HOW THE IMR FINAL DETERMINATION WAS MADE" and "CLINICAL CASE SUMMARY" headings, and
    every "IMR ISSUES, DECISIONS AND RATIONALES" (a letter may print it more than once)."""
    made = next(finditer_words(MADE_START, text, ("how",)), None)
    summary = next(finditer_words(SUMMARY_START, text, ("clinical",)), None)
    return made, summary, list(finditer_words(ISSUES_START, text, ("imr",)))


def letter_sections(source: SourceText, det: Determination, made: re.Match | None, summary: re.Match | None,
                    issues: re.Match | None) -> list[tuple[str, int, int]]:
    """(name, normalized start, normalized end) of every part of the letter, most specific first:
    each item's fields, each item, the case summary, the credentials, the header, the issues lead."""
    n = len(source.text)

    def norm(ev: Evidence | None) -> tuple[int, int] | None:
        if ev is None or ev.end <= ev.start:
            return None
        return source.norm_offset(ev.start), source.norm_offset(ev.end - 1) + 1

    out: list[tuple[str, int, int]] = []
    starts: list[int] = []
    for item in det.items:
        where = f"items[{item.index}]"
        for field, ev in (("request", item.evidence.get("request")),
                          ("claims_administrator_basis", item.claims_administrator_basis and item.claims_administrator_basis.evidence),
                          ("reviewer_basis", item.reviewer_basis and item.reviewer_basis.evidence),
                          ("rationale", item.evidence.get("rationale"))):
            span = norm(ev)
            if span:
                out.append((f"{where}.{field}", *span))
        span = norm(item.evidence.get("request"))
        starts.append(span[0] if span else n)
    for k, item in enumerate(det.items):
        out.append((f"items[{item.index}]", starts[k], starts[k + 1] if k + 1 < len(starts) else n))
    first_item = starts[0] if starts else n
    if summary:
        out.append(("case_summary", summary.start(), issues.start() if issues and issues.start() > summary.start() else first_item))
    if made:
        out.append(("credentials", made.start(), summary.start() if summary else first_item))
        out.append(("header", 0, made.start()))
    if issues:
        out.append(("issues", issues.start(), first_item))
    out.append(("letter", 0, n))
    return out
