"""The offline writer: a whole `PatientExplanation` from the parse, by fixed templates.

No model, no network: decisions and status from the parser and the vetted facts, the plain request
from `wording.py`, the letter's own points from the rule-based simplifier (`points.py`) where they
pass the per-point guards, and generic points where there are fewer than two. A model writer
(`writer.py`) replaces points one by one. Written for about a 6th-grade reader."""

from __future__ import annotations

from ..reading import SourceText
from ..safety import overlapping
from ..schema import Determination, DisputedItem
from . import facts, languages
from .guards import PointGuard, shown_strings
from .model import ExplainedItem, Language, PatientExplanation, Point, SuspiciousMark
from .points import rule_points
from .text import clean, join_words, letter_text
from .wording import notices, plain_request

def headline(det: Determination, language: Language) -> str:
    outcome = det.outcome or "all_upheld"
    if outcome == "all_upheld" and any(i.modified_by_ur for i in det.items):
        outcome = "all_upheld_modified"  # not "none approved": UR had approved a part, and it stays approved
    return languages.get(language).templates["headlines"][(outcome, len(det.items) == 1 and outcome != "mixed")]


def why_points(item: DisputedItem, language: Language, specific: list[Point]) -> list[Point]:
    """The points specific to this letter (written by the model or the rules, each guarded), at most
    three; with fewer than two, the generic template points after them."""
    points = specific[:3]
    if len(points) >= 2:
        return points
    decision = item.decision
    says = languages.get(language).templates
    if not points:
        agrees = bool(item.rationale_verdict) and \
            (item.rationale_verdict == "not_medically_necessary") == (decision == "upheld")
        key, ref = ("why_verdict", "verdict_phrase") if agrees else ("why_decision", "decision")
        points.append(Point(text=says[key][decision], evidence=item.evidence.get(ref), ref=ref))
    basis = item.reviewer_basis
    if basis is not None:
        named = [f for f in basis.sources if f in ("MTUS", "ODG", "ACOEM")]
        if named:
            families = join_words(named + ([says["other_sources"]] if "OTHER" in basis.sources else []),
                                  languages.get(language).words["and"])
            text = says["why_guidelines"][decision].format(families=families)
        elif "OTHER" in basis.sources:
            text = says["why_other_sources"][decision]
        else:
            text = says["why_no_guideline"]
        points.append(Point(text=text, evidence=basis.evidence, ref="reviewer_basis"))
    return points


def what_could_help(item: DisputedItem, language: Language, specific: list[Point]) -> list[Point]:
    """Upheld items: what the doctor could send (the specific points, at most three), else the generic line."""
    if item.decision != "upheld":
        return []
    return specific[:3] if specific else [Point(text=languages.get(language).templates["help_generic"])]


def specific_points(item: DisputedItem, pos: int, letter: str, language: Language,
                    guard: PointGuard) -> tuple[list[Point], list[Point]]:
    """The rules' points for one item (`points.rule_points`), those that pass the per-point guards:
    (why, what could help)."""
    why: list[Point] = []
    helps: list[Point] = []
    for p in rule_points(item, letter, language):
        if not guard.check(p.text, pos):
            point = Point(text=p.text, evidence=p.evidence, ref=p.ref, written_by="rules", grade=guard.grade(p.text, pos))
            (why if p.part == "why" else helps).append(point)
    return why, helps


def write_template(det: Determination, source: SourceText | str, language: Language = "en", *,
                   specific: bool = True) -> PatientExplanation:
    """The offline explanation: the rules' specific points where they pass the per-point guards,
    the generic points otherwise. `specific=False` uses only the fixed template points (the last
    resort when a page fails its guards)."""
    lang = languages.get(language)  # UnknownLanguage for a language nobody added
    raw = letter_text(source)
    guard = PointGuard(det, source, language) if specific else None
    items = []
    for pos, item in enumerate(det.items):
        why, helps = specific_points(item, pos, raw, language, guard) if guard is not None else ([], [])
        # a heading with suspicious text in it (a phone number, an instruction) is neither retold nor shown
        planted = overlapping(item.evidence.get("request"), det.suspicious) is not None
        items.append(ExplainedItem(
            index=item.index,
            request=clean(item.request),
            request_hidden=planted,
            plain_request=lang.templates["planted_request"] if planted else plain_request(item, raw, language),
            decision=item.decision,
            status=facts.status(item.decision, item.modified_by_ur, language),
            decision_evidence=item.evidence.get("decision"),
            already_approved=clean(item.ur_authorized) if item.modified_by_ur and item.ur_authorized else None,
            why=why_points(item, language, why),
            what_could_help=what_could_help(item, language, helps),
        ))
    explanation = PatientExplanation(
        headline=headline(det, language),
        notices=notices(det),
        from_picture=bool(det.provenance is not None and det.provenance.ocr is not None),
        outcome=det.outcome,
        case_number=det.case_number,
        items=items,
        next_steps=facts.next_steps([i.decision for i in det.items], language),
        disclaimer=lang.facts["disclaimer"],
        language=language,
        facts_version=facts.FACTS_VERSION,
        suspicious=[SuspiciousMark(kind=f.kind, section=f.section, note=f.note, start=f.evidence.start,
                                   end=f.evidence.end) for f in det.suspicious],
    )
    explanation.glossary = facts.glossary(shown_text(explanation), language)
    return explanation


def shown_text(expl: PatientExplanation) -> str:
    """All the text a worker reads, in order (without the glossary)."""
    return "\n".join(shown_strings(expl, glossary=False))
