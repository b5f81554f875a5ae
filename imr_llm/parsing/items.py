"""Disputed items: each "<heading>: Upheld|Overturned" with its two guideline fields and rationale.

The decision is the *last* ": Upheld"/": Overturned" before a line end or a field label, so colons
inside names ("day supply: 30: Overturned") stay in the heading. Only structure drops a line (fail
safe): a heading must open the item's fields, the same ones the first item has, after the previous
rationale; any other decision line is returned as a `RejectedHeading`, and what looks planted about a
kept heading is a suspicion shown to the patient. Letters without those fields keep every decision line.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

from ..reading import SourceText
from ..safety import finditer_words
from ..schema import DisputedItem
from .citations import parse_basis
from .common import collapse, evidence, trim_span
from .ocr_damage import AFTER_DECISION_SPECKS, DECISION_SPECKS, items_leads, near_labels, past_leading_specks, without_trailing_specks
from .verdicts import closing_verdicts, read_verdict

# A decision token: any short word after the heading's last colon, read as Upheld/Overturned when it
# is one of them with at most one character wrong ("Overtumed", "0verturned": OCR and typing errors;
# look-alike and format characters are already folded by reading.normalize).
DECISION = re.compile(
    r":[ \t]*" + DECISION_SPECKS + r"(?:\n[ \t]*)?(?P<d>[A-Za-z0-9]{5,11})\b\.?[ \t]*" + AFTER_DECISION_SPECKS +
    r"(?=\n|\Z|Claims\s+Administrator\s+guideline|MAXIMUS\s+guideline|Decision\s+rationale)",
)
DECISION_WORDS = ("upheld", "overturned")
# The fields that open an item's body, in the order the letters print them.
BODY_LABEL = re.compile(
    r"(?P<ca>Claims\s+Administrator\s+guideline\s*:)|(?P<rv>MAXIMUS\s+guideline\s*:)|(?P<rat>Decision\s+rationale\s*:)",
    re.IGNORECASE,
)
SENTENCE_END_LINE = re.compile(r"[.!?][\"'”’)\]]*\s*$")
# A rationale's closing verdict ends the previous item even when the period is missing.
VERDICT_END_LINE = re.compile(
    r"(?:medically\s+(?:necessary|appropriate)|(?:is|are|was|were|be|been)\s+(?:not\s+)?(?:supported|warranted|indicated|"
    r"appropriate|recommended|certified|established)|denial|non-?certification)\W*$",
    re.IGNORECASE,
)
# A rationale that ends in a citation rather than a sentence: a link, or a reference with its year.
CITATION_END_LINE = re.compile(r"(?:https?://|www\.)\S+$|\bet\s+al\b.*$|(?<![/\-.\d])(?:19|20)\d\d(?:\)\W*|;\S*)$",
                               re.IGNORECASE)
UR_TAIL = re.compile(r"IMR\s+eligible|The\s+original\s+request,", re.IGNORECASE)
UR_HEAD = re.compile(r"was\s+the\s+original\s+request", re.IGNORECASE)
VERDICT_CUT = re.compile(r"(?:medically\s+necessary|medically\s+appropriate|denial|non-?certification|(?:be|is|are)\s+"
                         r"(?:not\s+)?(?:recommended|supported|warranted|indicated|established))\s*\.", re.IGNORECASE)

# each part bounded (the dev letters' longest is under 200 characters): nested lazy groups are
# quadratic in the heading's length otherwise
MODIFIED_PATTERNS = [
    # (i) "X was the original request. Y was authorized by the Claims Administrator. The remaining
    #     IMR eligible portion of the original request, Z is"
    re.compile(
        r"(?P<orig>.{1,600}?)\s+was\s+the\s+original\s+request\.\s*(?P<auth>.{1,600}?)\s+(?:was|were)\s+authorized\s+by\s+the\s+"
        r"Claims\s+Administrator\.\s*The\s+remaining\s+IMR\s+eligible\s+portion\s+of\s+the\s+original\s+request,?\s*"
        r"(?P<rem>.{1,600}?)(?:\s+(?:is|are|was|were))?$",
        re.IGNORECASE | re.DOTALL,
    ),
    # (ii) "X was the original request. The Claims Administrator authorized Y, leaving the original
    #      request IMR eligible. The original request, X is"
    re.compile(
        r"(?P<orig>.{1,600}?)\s+was\s+the\s+original\s+request\.\s*The\s+Claims\s+Administrator\s+(?:authorized|modified\s+the\s+request\s+to)\s+"
        r"(?P<auth>.{1,600}?),?\s+leaving\s+the\s+original\s+request\s+IMR\s+eligible\.\s*The\s+original\s+request,?\s*"
        r"(?P<rem>.{1,600}?)(?:\s+(?:is|are|was|were))?$",
        re.IGNORECASE | re.DOTALL,
    ),
]

@dataclass
class _Marker:
    colon: int
    decision: str
    d_start: int
    d_end: int
    exact: bool = True  # False: read with one character wrong, or backwards
    line_end: int = 0  # past the decision word and what may follow it on its line (a period, specks)


def decision_word(token: str) -> tuple[str, bool] | None:
    """("upheld"|"overturned", exact?) for a decision token within one edit of either word, or
    stored backwards (a right-to-left override, dropped by reading, made it display forwards)."""
    low = token.lower()
    if low in DECISION_WORDS:
        return low, True
    # OCR's usual confusions first ("rn" read as "m", "l" as "1", "o" as "0"), then one edit more
    ocr = {low, low.replace("m", "rn"), low.translate(_OCR_DIGITS)}
    for word in DECISION_WORDS:
        if low[::-1] == word or any(abs(len(t) - len(word)) <= 1 and _within_one_edit(t, word) for t in ocr):
            return word, False
    return None


_OCR_DIGITS = str.maketrans("105", "los")


def _within_one_edit(a: str, b: str) -> bool:
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:]
    return a[i:] == b[i + 1:]


@dataclass
class RejectedHeading:
    """A heading-and-decision line that is not structurally an item heading (normalized offsets)."""

    start: int  # where the heading-like text begins
    d_end: int  # end of its decision token
    decision: str
    heading: str  # whitespace collapsed
    inside: int | None  # index of the item whose text it sits in; None: before the first item
    reason: str


def find_markers(text: str, start: int, end: int) -> list[_Marker]:
    return [_Marker(m.start(), read[0], m.start("d"), m.end("d"), exact=read[1], line_end=m.end())
            for m in DECISION.finditer(text, start, end) if (read := decision_word(m.group("d"))) is not None]


class FieldLabels:
    """The items' field labels: every exact one, and an OCR near-label (ocr_damage.near_labels) only
    after a decision line, in field order, before the rationale; later ones go to `in_rationale`."""

    ORDER = {"ca": 0, "rv": 1, "rat": 2}

    def __init__(self, text: str, start: int, end: int, markers: list[_Marker]) -> None:
        exact = [(m.start(), m.end(), m.lastgroup or "")
                 for m in finditer_words(BODY_LABEL, text, ("claims", "maximus", "decision"), start, end)]
        taken = {s for s, _, _ in exact}
        events = sorted([(m.d_end, 0, "", 0) for m in markers] + [(s, 1, kind, e) for s, e, kind in exact]
                        + [(s, 2, kind, e) for s, e, kind in near_labels(text, start, end) if s not in taken])
        self.labels: list[tuple[int, int, str]] = []
        self.in_rationale: list[tuple[int, int, str]] = []  # near-labels left in a rationale
        last = None  # the kind of the last label since the last decision line; None: none yet
        for pos, what, kind, stop in events:
            if what == 0:
                last = ""
            elif what == 1 or (last is not None and last != "rat" and self.ORDER[kind] > self.ORDER.get(last, -1)):
                self.labels.append((pos, stop, kind))
                last = kind if last is not None else None
            elif last == "rat" and not any(s < stop and pos < e for s, e, _ in self.labels):
                self.in_rationale.append((pos, stop, kind))
        self.starts = [s for s, _, _ in self.labels]

    def within(self, start: int, end: int, kind: str | None = None) -> list[tuple[int, int, str]]:
        """The labels (of `kind`) lying in [start, end), in text order."""
        i = bisect.bisect_left(self.starts, start)
        out = []
        while i < len(self.labels) and self.labels[i][1] <= end:
            if kind is None or self.labels[i][2] == kind:
                out.append(self.labels[i])
            i += 1
        return out

    def first(self, kind: str, start: int, end: int) -> tuple[int, int, str] | None:
        return next(iter(self.within(start, end, kind)), None)

    def kinds(self, start: int, end: int) -> set[str]:
        return {kind for _, _, kind in self.within(start, end)}

    def opens_body(self, text: str, marker: _Marker) -> bool:
        """Is the decision token followed directly (after whitespace) by one of an item's fields?"""
        at = _body_start(text, marker)
        i = bisect.bisect_left(self.starts, at)
        return i < len(self.starts) and self.starts[i] == at


def structural_markers(text: str, markers: list[_Marker], end: int, labels: FieldLabels) -> tuple[list[_Marker], list[tuple[_Marker, int | None, str]], dict[int, str]]:
    """(accepted, [(rejected marker, index of the item it sits in or None, why)], {accepted index: suspicion}).
    A body runs to the next decision line followed by the fields with a "Decision rationale:" between;
    every later heading must open a body with the first item's fields."""
    opens = [labels.opens_body(text, m) for m in markers]
    if not any(opens):
        return list(markers), [], {}  # an unfamiliar layout without the fields: nothing to check against

    @functools.cache
    def kinds(start: int, stop: int) -> set[str]:  # each stretch's labels read once
        return labels.kinds(start, stop)

    @functools.cache
    def body_end(k: int) -> int:
        marker = markers[k]
        for j in range(k + 1, len(markers)):
            if opens[j] and "rat" in kinds(marker.d_end, markers[j].colon):
                return markers[j].colon
        return end

    def body_kinds(k: int) -> set[str]:
        return kinds(markers[k].d_end, body_end(k))

    reference = body_kinds(opens.index(True))
    accepted: list[_Marker] = []
    rejected: list[tuple[_Marker, int | None, str]] = []
    suspects: dict[int, str] = {}
    for k, (marker, opens_body) in enumerate(zip(markers, opens)):
        inside = len(accepted) - 1 if accepted else None
        if not opens_body:
            rejected.append((marker, inside, "not followed by the item's guideline or rationale fields"))
            continue
        if accepted:
            prev = accepted[-1]
            no_rationale = "rat" in reference and "rat" not in kinds(prev.d_end, marker.colon)
            if not reference <= body_kinds(k):
                rejected.append((marker, inside, "inside the previous item's guideline fields, before its rationale"
                                 if no_rationale else
                                 "without the guideline and rationale fields every item of this letter has"))
                continue
            # a whole item where the previous one's rationale label should be: kept (a real item whose
            # neighbour lost its label, or planted text), and flagged
            odd = NO_RATIONALE_BEFORE if no_rationale else _odd_place(text, labels, prev, marker, body_end(k))
            if odd:
                suspects[len(accepted)] = odd
        if not marker.exact:
            suspects.setdefault(len(accepted), f"its decision word is misspelled or written backwards; read as "
                                               f"{marker.decision.capitalize()}")
        accepted.append(marker)
    return accepted, rejected, suspects


NO_RATIONALE_BEFORE = ("it stands where the previous item's \"Decision rationale:\" label should be, and that item has "
                       "none: it may be part of the previous item's text")


def _odd_place(text: str, labels: FieldLabels, prev: _Marker, marker: _Marker, end: int) -> str | None:
    """Why a heading with all the fields may have been cut into the previous rationale (that one then
    has no verdict, this one two), or None."""
    rat = labels.first("rat", prev.d_end, marker.colon)
    own = labels.first("rat", marker.d_end, end)
    if rat is None or own is None or len(closing_verdicts(text, own[1], end)) < 2:
        return None
    if read_verdict(text, rat[1], marker.colon) is None:
        return "the previous item's rationale stops before its verdict, and this item's rationale has two verdicts"
    return None


def read_items(source: SourceText, start: int, end: int) -> tuple[list[DisputedItem], list[RejectedHeading], dict[int, str]]:
    """The items, the decision lines not taken as items, and {item index: why it cannot be vouched for}."""
    split = _split(source.text, start, end)
    if split is None:
        return [], [], {}
    items = _items(source, end, split)
    suspects = {**_labels_in_rationales(source.text, split), **split[4], **_duplicates(items)}
    return items, _rejected(source, start, split) + _unreadable(source, split, end), suspects


def _labels_in_rationales(text: str, split) -> dict[int, str]:
    """Items whose rationale has a line reading like a damaged field label: kept as text, item flagged."""
    colons = [m.colon for m in split[0]]
    out: dict[int, str] = {}
    for s, e, _ in split[5].in_rationale:
        k = bisect.bisect_right(colons, s) - 1
        if k >= 0:
            out.setdefault(k, f"a line of its rationale reads like a damaged field label ({collapse(text[s:e])!r}); "
                              "it was read as rationale text")
    return out


def _duplicates(items: list[DisputedItem]) -> dict[int, str]:
    """A request printed twice is one of them planted or a copy error: both stay, the later is flagged."""
    seen: dict[str, DisputedItem] = {}
    out: dict[int, str] = {}
    for item in items:
        key = item.request.casefold()
        first = seen.setdefault(key, item)
        if first is not item:
            same = first.decision == item.decision
            out[item.index] = (f"the same request is printed twice (items {first.index + 1} and {item.index + 1})"
                               + ("" if same else " with different decisions"))
    return out


def _unreadable(source: SourceText, split, end: int) -> list[RejectedHeading]:
    """Lines opening an item's fields without a readable decision: seen, not folded into the item before."""
    text = source.text
    markers, rejected_markers = split[0], split[1]
    opened = {_body_start(text, m) for m in markers} | {_body_start(text, m) for m, _, _ in rejected_markers}
    out = []
    prev_kind = None
    for at, _, kind in split[5].within(markers[0].d_end, end):
        opens_item, prev_kind = prev_kind == "rat" and kind != "rat", kind
        if not opens_item or at in opened or (at and text[at - 1] != "\n"):
            continue
        line_end = at - 1
        line_start = text.rfind("\n", 0, line_end) + 1
        heading = collapse(text[line_start:line_end])
        if not heading or SENTENCE_END_LINE.search(heading):
            continue
        inside = bisect.bisect_right([m.colon for m in markers], line_start) - 1
        out.append(RejectedHeading(start=line_start, d_end=line_end, decision="", heading=heading,
                                   inside=inside if inside >= 0 else None,
                                   reason="it opens an item's fields, but its decision could not be read"))
    return out


def _body_start(text: str, marker: _Marker) -> int:
    pos = max(marker.d_end, marker.line_end)
    while pos < len(text) and text[pos] in " \t\n.":
        pos += 1
    return pos


def _items(source: SourceText, end: int, split) -> list[DisputedItem]:
    """The disputed items, headings taken only where they are structurally headings."""
    text = source.text
    markers, _, first_lo, after_rejected, _, labels = split
    heading_starts: list[int] = []
    for k, marker in enumerate(markers):
        if k == 0:
            lo = first_lo
        else:
            prev = markers[k - 1]
            rat = labels.first("rat", prev.d_end, marker.colon)
            lo = rat[1] if rat else prev.d_end
        heading_starts.append(_heading_start(text, after_rejected(lo, marker.colon), marker.colon))

    items: list[DisputedItem] = []
    for k, marker in enumerate(markers):
        h_start, h_end = trim_span(text, heading_starts[k], marker.colon)
        h_start = past_leading_specks(text, h_start, h_end)
        body_end = heading_starts[k + 1] if k + 1 < len(markers) else end
        items.append(_build_item(source, labels, k, marker, (h_start, h_end), body_end))
    return items


def _rejected(source: SourceText, start: int, split) -> list[RejectedHeading]:
    """The heading-and-decision lines not taken as items, and why."""
    text = source.text
    markers, rejected_markers, first_lo, after_rejected, _, _ = split
    out: list[RejectedHeading] = []
    for marker, inside, why in rejected_markers:
        if inside is not None:
            lo = markers[inside].d_end
        else:  # before the first item: after the "set forth below:" lead when it comes first
            lo = first_lo if first_lo <= marker.colon else start
        lo = after_rejected(lo, marker.colon)
        h_start, h_end = trim_span(text, max(lo, text.rfind("\n", lo, marker.colon) + 1), marker.colon)
        out.append(RejectedHeading(start=h_start, d_end=marker.d_end, decision=marker.decision,
                                   heading=collapse(text[h_start:h_end]), inside=inside, reason=why))
    return out


def _split(text: str, start: int, end: int):
    """(accepted markers, rejected markers, where the first heading may start, and a function
    moving a heading's lower bound past any rejected decision line before it) — None without markers."""
    found = find_markers(text, start, end)
    if not found:
        return None
    labels = FieldLabels(text, start, end, found)
    markers, rejected, suspects = structural_markers(text, found, end, labels)
    rejected_ends = sorted(m.d_end for m, _, _ in rejected)

    def after_rejected(lo: int, colon: int) -> int:
        # a heading starts after the last rejected decision line before it, never inside one:
        # the largest rejected end in [lo, colon), found by bisection (a loop was quadratic)
        i = bisect.bisect_left(rejected_ends, colon) - 1
        return rejected_ends[i] if i >= 0 and rejected_ends[i] >= lo else lo

    leads = items_leads(text, start, markers[0].colon)
    first_lo = leads[-1] if leads else start
    return markers, rejected, first_lo, after_rejected, suspects, labels


def _heading_start(text: str, lo: int, colon: int) -> int:
    """Walk back line by line from the decision line to where the heading begins."""
    line_start = text.rfind("\n", lo, colon) + 1
    if line_start <= lo:
        return _cut_fused_verdict(text, lo, colon)
    start = line_start
    # The UR phrases' last starts, found once: text[start:colon] holds one iff it starts at or after
    # `start`, so walking back over n lines costs n, not n^2.
    last_tail = max((m.start() for m in finditer_words(UR_TAIL, text, ("imr", "the"), lo, colon)), default=-1)
    last_head = max((m.start() for m in finditer_words(UR_HEAD, text, ("was",), lo, colon)), default=-1)
    while start > lo:
        prev_end = start - 1  # the "\n" before the current first line
        prev_start = max(text.rfind("\n", lo, prev_end) + 1, lo)
        prev_line = text[prev_start:prev_end]
        needs_head = last_tail >= start and not last_head >= start
        if not prev_line.strip():  # a page break inside the heading: look past it
            start = prev_start
            continue
        if not needs_head and (SENTENCE_END_LINE.search(without_trailing_specks(prev_line)) or CITATION_END_LINE.search(prev_line)
                               or _verdict_ends_at(text, lo, prev_start, prev_end)):
            break
        if re.search(r"(?:guideline|rationale|set\s+forth\s+below)\s*:\s*$", prev_line, re.IGNORECASE):
            break
        start = prev_start
    return _cut_fused_verdict(text, start, colon)


def _verdict_ends_at(text: str, lo: int, line_start: int, line_end: int) -> bool:
    """Does a verdict phrase end this line? It may have started on the line before."""
    before = text.rfind("\n", lo, max(lo, line_start - 1)) + 1
    return bool(VERDICT_END_LINE.search(text[max(lo, before):line_end]))


def _cut_fused_verdict(text: str, start: int, colon: int) -> int:
    """'...is not medically necessary.X-rays of the lumbar spine' → start at 'X-rays'."""
    ends = [m.end() for m in VERDICT_CUT.finditer(text, start, colon)]
    return ends[-1] if ends else start


def _build_item(source: SourceText, labels: FieldLabels, index: int, marker: _Marker, heading: tuple[int, int],
                body_end: int) -> DisputedItem:
    text = source.text
    h_start, h_end = heading
    body_start = marker.d_end
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

    ca = labels.first("ca", body_start, body_end)
    rv = labels.first("rv", body_start, body_end)
    rat = labels.first("rat", body_start, body_end)
    if ca:
        ca_end = rv[0] if rv else (rat[0] if rat else body_end)
        item.claims_administrator_basis = parse_basis(source, "claims_administrator", ca[1], ca_end)
    if rv:
        rv_end = rat[0] if rat and rat[0] > rv[0] else body_end
        item.reviewer_basis = parse_basis(source, "reviewer", rv[1], rv_end)
    if rat:
        r_start, r_end = trim_span(text, rat[1], body_end)
        if r_end > r_start:
            item.rationale = collapse(text[r_start:r_end])
            item.evidence["rationale"] = evidence(source, r_start, r_end)
            verdict = read_verdict(text, r_start, r_end)
            if verdict is not None:
                item.rationale_verdict = "not_medically_necessary" if verdict.negative else "medically_necessary"
                item.verdict_phrase = collapse(text[verdict.start:verdict.end])
                item.evidence["verdict_phrase"] = evidence(source, verdict.start, verdict.end)
    return item
