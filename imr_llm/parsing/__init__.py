"""The exact parser: `SourceText` → `Determination`, no model involved. Only what the letter states
is taken (else None); disagreements inside it (header vs. summary dates, a rationale verdict against
the decision) are kept as `conflicts`, never resolved silently."""

from __future__ import annotations

import re

from ..errors import NotAnImrLetter, UnsupportedLayout
from ..ocr import INCOMPLETE
from ..reading import SourceText
from ..safety import Sections, scan, section_at
from ..schema import Conflict, Determination
from .common import evidence
from .credentials import parse_reviewer
from .dates import find_dates
from .header import parse_header
from .items import read_items
from .landmarks import landmarks, letter_sections
from .summary import find_diagnoses, find_injury_date, find_ur_date, parse_patient

PARSER_VERSION = "5"  # stamped on every result: bump it when a rule changes one (the rule tables of enrich/ too)

IMR_MARKERS = re.compile(
    r"Independent\s+Medical\s+Review|\bIMR\b|MAXIMUS|Final\s+Determination|Expert\s+Reviewer", re.IGNORECASE
)


def parse(source: SourceText) -> Determination:
    """Parse a letter. Raises NotAnImrLetter / UnsupportedLayout when there is nothing to parse."""
    text = source.text
    n = len(text)
    made, summary, headings = landmarks(text)
    issues = headings[0] if headings else None

    items_start = issues.end() if issues else 0
    items, rejected, suspects = read_items(source, items_start, n)
    if not items:
        name = source.path or "<text>"
        if len(IMR_MARKERS.findall(text)) >= 2:
            raise UnsupportedLayout(f"{name}: looks like an IMR letter, but no disputed item with an Upheld/Overturned "
                                    "decision was found")
        raise NotAnImrLetter(f"{name}: not an IMR final determination letter (no IMR sections or decisions found)")

    det = Determination(items=items)
    _header(source, det, made, summary)

    cred_start = made.end() if made else 0
    cred_end = summary.start() if summary else items_start
    det.reviewer = parse_reviewer(source, cred_start, max(cred_end, cred_start))

    sum_start = summary.end() if summary else cred_end
    sum_end = issues.start() if issues else n
    if sum_end <= sum_start:
        sum_start, sum_end = 0, n
    det.patient = parse_patient(source, sum_start, sum_end)
    # Rationales restate diagnoses too ("The patient is diagnosed with ..."), so look there as well.
    for i, (value, s, e) in enumerate(find_diagnoses(source, sum_start, n)):
        det.diagnoses.append(value)
        det.evidence[f"diagnoses[{i}]"] = evidence(source, s, e)

    _body_dates(source, det, sum_start, sum_end)
    _cross_check(det)
    sections = letter_sections(source, det, made, summary, issues)
    _rejected_headings(det, rejected, sections)
    det.suspicious = scan(source, sections, rejected)
    _suspect_items(source, det, suspects, headings)
    if det.suspicious:
        where = ", ".join(dict.fromkeys(f.section for f in det.suspicious))
        det.warnings.append(f"suspicious text in {where} (see `suspicious`): it reads like instructions or planted "
                            "content; nothing in it was taken as a decision or an item")
    for item in det.items:
        if item.modified_by_ur and item.original_request is None:
            det.warnings.append(f"items[{item.index}]: UR-modified wording not recognised; original/authorized parts left empty")
        if item.rationale is None:
            det.warnings.append(f"items[{item.index}]: no 'Decision rationale:' found")
        if not item.request.strip():
            det.warnings.append(f"items[{item.index}]: no words of the request before its decision; see the letter")
    return det


def parse_source(source: SourceText) -> Determination:
    """`parse`; for an OCR letter without decided items (one photographed page), instead of
    `UnsupportedLayout`, its header, credentials and patient with the INCOMPLETE warning."""
    try:
        return parse(source)
    except UnsupportedLayout:
        if source.ocr is None:
            raise
    text = source.text
    det = Determination()
    made, summary, _ = landmarks(text)
    _header(source, det, made, summary)
    if made:
        det.reviewer = parse_reviewer(source, made.end(), summary.start() if summary and summary.start() > made.end()
                                      else len(text))
    if summary:
        det.patient = parse_patient(source, summary.end(), len(text))
    det.warnings.append(INCOMPLETE)
    return det


def _header(source: SourceText, det: Determination, made: re.Match | None, summary: re.Match | None) -> None:
    """The header's fields, and the letter's format (a header, or only the body's sections)."""
    for name, found in parse_header(source).items():
        setattr(det, name, found.value)
        det.evidence[name] = evidence(source, found.start, found.end)
    det.letter_format = "dwc_2016" if det.case_number else ("dwc_body_only" if made or summary else "unknown")


def _body_dates(source: SourceText, det: Determination, start: int, end: int) -> None:
    """Date of injury and UR date from the summary: the value without a header, else a cross-check."""
    dates = find_dates(source.text, start, end)  # once for both
    for field, finder in (("date_of_injury", find_injury_date), ("ur_denial_date", find_ur_date)):
        found = finder(source, start, end, dates)
        if found is None:
            continue
        current = getattr(det, field)
        if current is None and field not in det.evidence:
            setattr(det, field, found.value)
            det.evidence[field] = evidence(source, found.start, found.end)
        elif current is not None and current != found.value:
            det.conflicts.append(Conflict(field=field, kept=current.isoformat(), other=found.value.isoformat(),
                                          note="the header and the case summary give different dates; the header is kept"))


def _cross_check(det: Determination) -> None:
    for item in det.items:
        verdict = item.rationale_verdict
        if verdict is None:
            continue
        expected = "not_medically_necessary" if item.decision == "upheld" else "medically_necessary"
        if verdict != expected:
            det.conflicts.append(Conflict(
                field=f"items[{item.index}].decision", kept=item.decision, other=verdict,
                note="the rationale's closing verdict disagrees with the printed decision; the decision is kept"))


def _rejected_headings(det: Determination, rejected, sections: Sections) -> None:
    """A heading-and-decision line inside another item's text is not an item: say so."""
    for r in rejected:
        where = section_at(sections, r.start, r.start + 1)[0] if r.inside is not None else "the text before the first item"
        det.conflicts.append(Conflict(
            field="items",
            kept=f"{len(det.items)} item(s)",
            other=f"{_short(r.heading)}: {r.decision.capitalize()}" if r.decision else _short(r.heading),
            note=f"a heading-and-decision line inside {where} was ignored, not taken as an item: {r.reason}",
        ))


def _suspect_items(source: SourceText, det: Determination, suspects: dict[int, str], headings: list[re.Match]) -> None:
    """One conflict the patient is shown per item kept that cannot be vouched for (never dropped): the
    item reader's reasons, a second "IMR ISSUES" heading, suspicious text in the item's sections."""
    why = dict(suspects)
    if len(headings) > 1:
        last = headings[-1].start()
        for item in det.items:
            ev = item.evidence.get("request")
            if ev is not None and source.norm_offset(ev.start) < last:
                why.setdefault(item.index, "it comes before the letter's last 'IMR ISSUES, DECISIONS AND RATIONALES' "
                                           "heading, and the letter prints that heading more than once")
    starts = [source.norm_offset(i.evidence["request"].start) for i in det.items]
    for f in det.suspicious:
        m = re.match(r"items\[(\d+)\]", f.section)
        if m and f.kind != "heading_in_text":
            k = int(m.group(1))
            why.setdefault(k, "its text has a part that reads like instructions or a planted note")
            # instruction-like text just before the next heading: that heading may be planted too
            end = source.norm_offset(f.evidence.end - 1) + 1
            if k + 1 < len(starts) and 0 <= starts[k + 1] - end <= _NEAR:
                why.setdefault(k + 1, "it follows instruction-like text inside the previous item's rationale")
    for index in sorted(why):
        item = det.items[index]
        det.conflicts.append(Conflict(
            field=f"items[{index}]", kept=f"item {index + 1} kept",
            other=f"{_short(item.request)}: {item.decision.capitalize()}",
            note=f"this item was kept, but {why[index]}: check it against the letter",
        ))


_NEAR = 300  # characters between planted text and a heading that it may have brought in


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57].rstrip() + "..."
