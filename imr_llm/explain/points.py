"""Points specific to the letter, by rules: the rule-based simplifier.

It writes a plain sentence only where it safely can, in English and Spanish alike:
* the guideline's allowed count and duration ("The guidelines suggest up to 18 visits over 6 to
  8 weeks."), from a sentence that states one such allowance and no negation;
* what the records did not show, for a small set of common findings (progress in what the worker
  can do, simpler care tried first, signs of a serious problem, nerve damage, plans for surgery,
  the doctor's reason for the request), each with the matching "what could help" sentence: from a
  missing-documentation value, or a sentence that says something is missing, names one finding
  and neither quotes a guideline nor retells the earlier review (upheld items only).

It reads the reviewer's reasons and missing documentation when the model step filled them (each
point's evidence is that value's quote), and the item's rationale sentence by sentence (each
point's evidence is the sentence). It never glues the letter's words into a sentence: a finding
outside the table gives no point, and the generic template points stay. Every point it writes
still goes through the per-point guards (`guards.PointGuard`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..schema import DisputedItem, Evidence
from .model import Language

_NUM = r"\d+(?:\s*(?:-|to)\s*\d+)?"
_ALLOWANCE = re.compile(
    rf"\b(?P<qual>up\s+to\s+|about\s+|approximately\s+|a\s+maximum\s+of\s+|a\s+total\s+of\s+(?:up\s+to\s+)?)?"
    rf"(?P<count>{_NUM})\s+(?:[a-z]+\s+){{0,3}}?(?:visits?|sessions?|treatments?)\s+(?:over|in|within|during)\s+"
    rf"(?:a\s+period\s+of\s+)?(?P<span>{_NUM})\s+(?P<unit>weeks?|months?)\b", re.I)
_GUIDELINE = re.compile(r"\b(?:recommend\w*|allow\w*|support\w*|guidelines?|MTUS|ODG|ACOEM)\b", re.I)
_NEGATION = re.compile(r"\b(?:not|no|never|without)\b", re.I)
# a sentence that quotes a guideline or retells the earlier review says nothing of the records
_NOT_THE_RECORDS = re.compile(r"\b(?:UR|utilization\s+review|denied|denial|non-?certif\w*|states?|stated|says|"
                              r"according|recommend\w*|guidelines?|MTUS|ODG|ACOEM)\b|[\"“”]", re.I)
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")

ALLOWANCE = {"en": "The guidelines suggest {qual}{count} visits over {span} {unit}.",
             "es": "Las guías sugieren {qual}{count} sesiones en {span} {unit}."}
_QUAL = {"up to": ("up to ", "hasta "), "about": ("about ", "unas "), "approximately": ("about ", "unas "),
         "a maximum of": ("up to ", "hasta "), "a total of": ("up to ", "hasta "), "a total of up to": ("up to ", "hasta ")}
_UNITS = {"week": ("week", "weeks", "semana", "semanas"), "month": ("month", "months", "mes", "meses")}

# "The records did not show ..." — how a reason or a rationale sentence says something is missing
_MISSING = re.compile(
    r"\b(?:no|not|without|lack\s+of|absence\s+of|insufficient|unclear|undocumented|not\s+documented|not\s+shown|"
    r"did\s+not\s+(?:show|document)|does\s+not\s+(?:show|document)|has\s+not|have\s+not|no\s+longer)\b", re.I)


class Finding(NamedTuple):
    key: str
    pattern: re.Pattern
    why: dict[str, str]
    help: dict[str, str]


FINDINGS: list[Finding] = [Finding(k, re.compile(p, re.I), why, help) for k, p, why, help in [
    ("functional_improvement",
     r"\bfunctional\s+(?:improvement|gains?|benefit|response)|\bobjective\s+(?:improvement|response|benefit)",
     {"en": "The records did not show that past care helped you do more.",
      "es": "Los expedientes no mostraron que la atención anterior le ayudó a hacer más."},
     {"en": "Your doctor could send notes that show how past care helped you do more.",
      "es": "Su médico podría enviar notas que muestren cómo la atención anterior le ayudó a hacer más."}),
    ("conservative_care",
     r"\bconservative\s+(?:care|treatment|therapy|course|management|measures)",
     {"en": "The records did not show that simpler care, like rest or therapy, was tried first and did not help.",
      "es": "Los expedientes no mostraron que antes se probó una atención más simple, como reposo o terapia, sin mejorar."},
     {"en": "Your doctor could send notes about the simpler care you tried first and how it went.",
      "es": "Su médico podría enviar notas sobre la atención más simple que usted probó antes y cómo le fue."}),
    ("red_flags",
     r"\bred[- ]flags?\b",
     {"en": "The records did not show signs of a serious problem.",
      "es": "Los expedientes no mostraron señales de un problema grave."},
     {"en": "Your doctor could send exam notes that show any signs of a serious problem.",
      "es": "Su médico podría enviar notas del examen que muestren cualquier señal de un problema grave."}),
    ("nerve_damage",
     r"\bneurologic(?:al)?\s+(?:deficits?|compromise|dysfunction|findings|signs)|\bnerve\s+(?:root\s+)?compromise\b",
     {"en": "The records did not show signs of nerve damage.",
      "es": "Los expedientes no mostraron señales de daño en los nervios."},
     {"en": "Your doctor could send exam notes that show any signs of nerve damage.",
      "es": "Su médico podría enviar notas del examen que muestren cualquier señal de daño en los nervios."}),
    ("surgery_planned",
     r"\bsurg(?:ical|ery)\s+(?:candidate|candidacy|planning|plan|is\s+(?:not\s+)?(?:planned|being\s+considered))|"
     r"\bcandidate\s+for\s+surgery|\bplan\s+for\s+surgery|\bdiscussion\s+of\s+surgery|\bconsider\w*\s+surgery",
     {"en": "The records did not show that surgery is being considered.",
      "es": "Los expedientes no mostraron que se esté pensando en una cirugía."},
     {"en": "Your doctor could send notes that say if surgery is being considered.",
      "es": "Su médico podría enviar notas que digan si se está pensando en una cirugía."}),
    ("reason_for_request",
     r"\b(?:physician\s+|clinical\s+|medical\s+)?(?:rationale|reason(?:ing)?|indication|explanation)\s+(?:for|why)\b",
     {"en": "The records did not explain why you need this treatment.",
      "es": "Los expedientes no dicen por qué usted necesita esta atención."},
     {"en": "Your doctor could send a note that explains why you need this treatment.",
      "es": "Su médico podría enviar una nota que diga por qué usted necesita esta atención."}),
]]


class RulePoint(NamedTuple):
    part: str  # "why" or "help"
    text: str
    ref: str
    evidence: Evidence | None


def _fmt_range(value: str, language: Language) -> str:
    return re.sub(r"\s*(?:-|to)\s*", " to " if language == "en" else " a ", value.strip())


def allowance(sentence: str, language: Language) -> str | None:
    """The guideline's allowed count and duration, when `sentence` states exactly one and no negation."""
    found = list(_ALLOWANCE.finditer(sentence))
    if len(found) != 1 or not _GUIDELINE.search(sentence) or _NEGATION.search(sentence):
        return None
    m = found[0]
    qual = " ".join((m.group("qual") or "").lower().split())
    span = _fmt_range(m.group("span"), language)
    unit = _UNITS[m.group("unit").lower().rstrip("s")]
    plural = span != "1"
    en, es = _QUAL.get(qual, ("", ""))
    return ALLOWANCE[language].format(
        qual=en if language == "en" else es, count=_fmt_range(m.group("count"), language), span=span,
        unit=(unit[1] if plural else unit[0]) if language == "en" else (unit[3] if plural else unit[2]))


def finding(text: str) -> Finding | None:
    """The one finding of the table that `text` (something missing from the records) names."""
    hits = [f for f in FINDINGS if f.pattern.search(text)]
    return hits[0] if len(hits) == 1 else None


def rule_points(item: DisputedItem, letter: str, language: Language) -> list[RulePoint]:
    """The points the rules can write for one item: from its reasons and missing documentation
    (model-filled), then from its rationale's sentences; no two points with the same text."""
    out: list[RulePoint] = []
    upheld = item.decision == "upheld"
    sources: list[tuple[str, str, Evidence | None, bool]] = []  # text, ref, evidence, is it missing documentation?
    sources += [(r, f"reasons[{k}]", item.evidence.get(f"reasons[{k}]"), False) for k, r in enumerate(item.reasons)]
    sources += [(d, f"missing_documentation[{k}]", item.evidence.get(f"missing_documentation[{k}]"), True)
                for k, d in enumerate(item.missing_documentation)]
    ev = item.evidence.get("rationale")
    if item.rationale and ev is not None and letter[ev.start:ev.end] == ev.quote:
        for m in _SENTENCE.finditer(ev.quote):
            sentence = m.group(0).strip()
            if sentence:
                start = ev.start + m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
                sources.append((sentence, "rationale", Evidence(start=start, end=start + len(sentence), quote=sentence,
                                                                origin="parser"), False))
    for text, ref, evidence, missing in sources:
        if (said := allowance(text, language)) is not None:
            out.append(RulePoint("why", said, ref, evidence))
        elif upheld and (missing or _MISSING.search(text) and not _NOT_THE_RECORDS.search(text)) \
                and (f := finding(text)) is not None:
            out.append(RulePoint("why", f.why[language], ref, evidence))
            out.append(RulePoint("help", f.help[language], ref, evidence))
    seen: set[str] = set()
    return [p for p in out if not (p.text in seen or seen.add(p.text))]
