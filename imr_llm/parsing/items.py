"""Disputed items: each "<heading>: Upheld|Overturned" with its two guideline fields and rationale.

A decision marker is the *last* ": Upheld"/": Overturned" before a line end or a guideline
label, so colons inside names ("day supply: 30: Overturned", "Associated surgical service:
Cold therapy: Overturned") stay in the heading. A heading may wrap over lines; it starts
after the previous rationale's closing sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..reading import SourceText
from ..schema import DisputedItem
from .citations import parse_basis
from .common import collapse, evidence, trim_span

DECISION = re.compile(
    r":[ \t]*\n?[ \t]*(?P<d>Upheld|Overturned|UPHELD|OVERTURNED)\b\.?[ \t]*"
    r"(?=\n|\Z|Claims\s+Administrator\s+guideline|MAXIMUS\s+guideline|Decision\s+rationale)",
)
CA_LABEL = re.compile(r"Claims\s+Administrator\s+guideline\s*:", re.IGNORECASE)
REVIEWER_LABEL = re.compile(r"MAXIMUS\s+guideline\s*:", re.IGNORECASE)
RATIONALE_LABEL = re.compile(r"Decision\s+rationale\s*:", re.IGNORECASE)
ITEMS_LEAD = re.compile(r"set\s+forth\s+below\s*:", re.IGNORECASE)
SENTENCE_END_LINE = re.compile(r"[.!?][\"'”’)\]]*\s*$")
# A rationale's closing verdict ends the previous item even when the period is missing.
VERDICT_END_LINE = re.compile(
    r"(?:medically\s+necessary|(?:is|are|was|were)\s+(?:not\s+)?(?:supported|warranted|indicated|appropriate))\W*$",
    re.IGNORECASE,
)
UR_TAIL = re.compile(
    r"IMR\s+eligible|The\s+original\s+request,",
    re.IGNORECASE,
)
UR_HEAD = re.compile(r"was\s+the\s+original\s+request", re.IGNORECASE)
VERDICT_CUT = re.compile(r"(?:medically\s+necessary|medically\s+appropriate|denial)\s*\.", re.IGNORECASE)

MODIFIED_PATTERNS = [
    # (i) "X was the original request. Y was authorized by the Claims Administrator. The remaining
    #     IMR eligible portion of the original request, Z is"
    re.compile(
        r"(?P<orig>.+?)\s+was\s+the\s+original\s+request\.\s*(?P<auth>.+?)\s+(?:was|were)\s+authorized\s+by\s+the\s+"
        r"Claims\s+Administrator\.\s*The\s+remaining\s+IMR\s+eligible\s+portion\s+of\s+the\s+original\s+request,?\s*"
        r"(?P<rem>.+?)\s+(?:is|are)$",
        re.IGNORECASE | re.DOTALL,
    ),
    # (ii) "X was the original request. The Claims Administrator authorized Y, leaving the original
    #      request IMR eligible. The original request, X is"
    re.compile(
        r"(?P<orig>.+?)\s+was\s+the\s+original\s+request\.\s*The\s+Claims\s+Administrator\s+(?:authorized|modified\s+the\s+request\s+to)\s+"
        r"(?P<auth>.+?),?\s+leaving\s+the\s+original\s+request\s+IMR\s+eligible\.\s*The\s+original\s+request,?\s*"
        r"(?P<rem>.+?)\s+(?:is|are)$",
        re.IGNORECASE | re.DOTALL,
    ),
]

VERDICT = re.compile(
    r"(?P<phrase>(?:\b(?:is|was|are|were|be|been|IS|WAS)\s+)?(?P<neg>\bnot\s+|\bNOT\s+|n't\s+)?medically\s+necessary"
    r"|Recommendation\s+is\s+for\s+(?P<deny>denial|non-?certification)|Recommendation\s+is\s+for\s+(?:authorization|certification|approval))",
    re.IGNORECASE,
)


@dataclass
class _Marker:
    colon: int
    decision: str
    d_start: int
    d_end: int


def find_markers(text: str, start: int, end: int) -> list[_Marker]:
    return [
        _Marker(m.start(), m.group("d").lower(), m.start("d"), m.end("d"))
        for m in DECISION.finditer(text, start, end)
    ]


def parse_items(source: SourceText, start: int, end: int) -> list[DisputedItem]:
    text = source.text
    markers = find_markers(text, start, end)
    if not markers:
        return []
    lead = ITEMS_LEAD.search(text, start, markers[0].colon)
    first_lo = lead.end() if lead else start

    items: list[DisputedItem] = []
    heading_starts: list[int] = []
    for k, marker in enumerate(markers):
        if k == 0:
            lo = first_lo
        else:
            prev = markers[k - 1]
            rat = RATIONALE_LABEL.search(text, prev.d_end, marker.colon)
            lo = rat.end() if rat else prev.d_end
        heading_starts.append(_heading_start(text, lo, marker.colon))

    for k, marker in enumerate(markers):
        h_start, h_end = trim_span(text, heading_starts[k], marker.colon)
        body_end = heading_starts[k + 1] if k + 1 < len(markers) else end
        items.append(_build_item(source, k, marker, h_start, h_end, marker.d_end, body_end))
    return items


def _heading_start(text: str, lo: int, colon: int) -> int:
    """Walk back line by line from the decision line to where the heading begins."""
    line_start = text.rfind("\n", lo, colon) + 1
    if line_start <= lo:
        return _cut_fused_verdict(text, lo, colon)
    start = line_start
    while start > lo:
        prev_end = start - 1  # the "\n" before the current first line
        prev_start = text.rfind("\n", lo, prev_end) + 1
        prev_start = max(prev_start, lo)
        prev_line = text[prev_start:prev_end]
        candidate = text[start:colon]
        needs_head = UR_TAIL.search(collapse(candidate)) and not UR_HEAD.search(candidate)
        if not prev_line.strip():  # a page break inside the heading: look past it
            start = prev_start
            continue
        if not needs_head and (SENTENCE_END_LINE.search(prev_line) or _verdict_ends_at(text, lo, prev_start, prev_end)):
            break
        if re.search(r"(?:guideline|rationale)\s*:\s*$", prev_line, re.IGNORECASE):
            break
        start = prev_start
    return _cut_fused_verdict(text, start, colon)


def _verdict_ends_at(text: str, lo: int, line_start: int, line_end: int) -> bool:
    """Does a verdict phrase end this line? It may have started on the line before."""
    before = text.rfind("\n", lo, max(lo, line_start - 1)) + 1
    return bool(VERDICT_END_LINE.search(text[max(lo, before):line_end]))


def _cut_fused_verdict(text: str, start: int, colon: int) -> int:
    """'...is not medically necessary.X-rays of the lumbar spine' → start at 'X-rays'."""
    last = None
    for m in VERDICT_CUT.finditer(text, start, colon):
        last = m
    return last.end() if last else start


def _build_item(
    source: SourceText, index: int, marker: _Marker, h_start: int, h_end: int, body_start: int, body_end: int
) -> DisputedItem:
    text = source.text
    request = collapse(text[h_start:h_end])
    item = DisputedItem(index=index, request=request, decision=marker.decision)  # type: ignore[arg-type]
    item.evidence["request"] = evidence(source, h_start, h_end)
    item.evidence["decision"] = evidence(source, marker.d_start, marker.d_end)

    for pattern in MODIFIED_PATTERNS:
        m = pattern.match(text, h_start, h_end)
        if m:
            item.modified_by_ur = True
            for field, group in (("original_request", "orig"), ("ur_authorized", "auth"), ("disputed_portion", "rem")):
                s, e = m.start(group), m.end(group)
                setattr(item, field, collapse(text[s:e]))
                item.evidence[field] = evidence(source, s, e)
            break
    else:
        if re.search(r"original\s+request|authorized\s+by\s+the\s+Claims\s+Administrator", request, re.I):
            item.modified_by_ur = True  # an unfamiliar wording: flag it, leave the parts unknown

    ca = CA_LABEL.search(text, body_start, body_end)
    rv = REVIEWER_LABEL.search(text, body_start, body_end)
    rat = RATIONALE_LABEL.search(text, body_start, body_end)
    if ca:
        ca_end = rv.start() if rv else (rat.start() if rat else body_end)
        item.claims_administrator_basis = parse_basis(source, "claims_administrator", ca.end(), ca_end)
    if rv:
        rv_end = rat.start() if rat and rat.start() > rv.start() else body_end
        item.reviewer_basis = parse_basis(source, "reviewer", rv.end(), rv_end)
    if rat:
        r_start, r_end = trim_span(text, rat.end(), body_end)
        if r_end > r_start:
            item.rationale = collapse(text[r_start:r_end])
            item.evidence["rationale"] = evidence(source, r_start, r_end)
            _verdict(source, item, r_start, r_end)
    return item


def _verdict(source: SourceText, item: DisputedItem, start: int, end: int) -> None:
    last = None
    for m in VERDICT.finditer(source.text, start, end):
        last = m
    if last is None:
        return
    phrase = last.group("phrase")
    negative = bool(last.group("neg") or last.group("deny"))
    item.rationale_verdict = "not_medically_necessary" if negative else "medically_necessary"
    item.verdict_phrase = collapse(phrase)
    item.evidence["verdict_phrase"] = evidence(source, last.start(), last.end())
