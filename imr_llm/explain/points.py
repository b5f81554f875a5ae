"""Points specific to the letter, by rules: the rule-based simplifier, sure or silent.

For upheld items: the guideline's allowance or limit, why the request is more than that, and what
the records did not show (each with its "what could help" sentence); for overturned items, that
the records or guidelines support it. A negated, conditional or retold (UR) sentence gives no point.
The phrasing rules were fitted on the fitting half of the dev letters only (evals/gold/split.json);
every point still goes through the per-point guards (`guards.PointGuard`)."""

from __future__ import annotations

import re
from typing import NamedTuple

from ..schema import DisputedItem, Evidence
from . import languages
from .model import Language

_NUM = r"\d+(?:\s*(?:-|to)\s*\d+)?"
_QUALS = r"up\s+to\s+|about\s+|approximately\s+|a\s+maximum\s+of\s+|a\s+total\s+of\s+(?:up\s+to\s+)?"
_NOUN = r"(?:[a-z]+\s+){0,3}?(?:visits?|sessions?|treatments?)"
_ALLOWANCE = re.compile(
    rf"\b(?P<qual>{_QUALS})?(?P<count>{_NUM})\s+{_NOUN}\s+(?:over|in|within|during)\s+"
    rf"(?:a\s+period\s+of\s+)?(?P<span>{_NUM})\s+(?P<unit>weeks?|months?)\b", re.I)
# "guidelines recommend 3 to 6 treatments": the count right after the verb, and no span
_COUNT = re.compile(rf"\b(?:recommend|allow|support|suggest)\w*\s+(?:for\s+)?(?:an?\s+)?(?:initial\s+)?(?:trial\s+of\s+)?"
                    rf"(?P<qual>{_QUALS})?(?P<count>{_NUM})\s+{_NOUN}\b", re.I)
_LIMIT = re.compile(rf"\bnot\s+(?:be\s+)?recommended\s+(?:for\s+)?(?:use\s+)?(?:for\s+)?(?:longer|more)\s+than\s+"
                    rf"(?P<count>{_NUM})\s+(?P<unit>days?|weeks?|months?)\b", re.I)
_SHORT = re.compile(r"(?<!not\s)\b(?:recommended|suggested)\s+(?:only\s+)?(?:for|as)\s+(?:an?\s+)?(?:option\s+for\s+)?"
                    r"(?:short[- ]term|a\s+short\s+(?:course|period|time))|\bnot\s+recommended\s+for\s+(?:chronic|"
                    r"long[- ]term|prolonged|ongoing)\s+(?:use|treatment|therapy)|\brecommended\s+(?:only\s+)?(?:for|"
                    r"using)\s+a\s+short\s+course", re.I)
_EXCEEDS = re.compile(r"\b(?:exceed\w*|in\s+excess\s+of)\b", re.I)
_ALREADY = re.compile(r"\b(?:already|completed|attended|to\s+date|has\s+had|have\s+had|had\s+(?:at\s+least\s+)?\d+|"
                      r"prior|previous(?:ly)?)\b", re.I)
_LONGER = re.compile(r"\b(?:duration|length|long|longer|weeks?|months?)\b", re.I)
_VISITS = re.compile(r"\b(?:visits?|sessions?|treatments?|therapy)\b", re.I)
_CONDITIONAL = re.compile(r"\b(?:if|unless|when|should|would|may|might|could)\b", re.I)
_ANCILLARY = re.compile(r"\b(?:ancillary|associated|post-?op\w*|pre-?op\w*|peri-?op\w*|related|concurrent)\b", re.I)
_PRIMARY_DENIED = re.compile(r"\b(?P<what>surg\w*|procedure|operation|primary\s+(?:request|treatment))\b[^.;]*?"
                             r"\b(?:is|was|has\s+been|are|were)\s+not\s+(?:medically\s+necessary|certified|approved|"
                             r"supported|indicated)", re.I)
# "not recommended" read only where it is about the request itself
_NOT_SUGGESTED = [(k, re.compile(p, re.I)) for k, p in [
    ("not_routine", r"\broutine\s+(?:use|testing|imaging)\s+(?:is|are)\s+not\s+recommended\b|"
                    r"\bnot\s+recommended\s+(?:for\s+|as\s+a\s+)?routine\b"),
    ("not_repeat", r"\brepeat\s+(?:[\w-]+\s+){0,2}?(?:is|are)\s+not\s+(?:routinely\s+)?recommended\b"),
    ("not_recommended", r"\b(?:guidelines?|MTUS|ODG|ACOEM)\s+(?:do|does)\s+not\s+(?:recommend|support)\b|"
                        r"\bnot\s+(?:recommended|supported)\s+by\s+(?:the\s+)?(?:\w+\s+)?guidelines\b|"
                        r"^(?:this|the\s+requested)\s+(?:[\w-]+\s+){0,3}?(?:is|are)\s+not\s+(?:\w+\s+)?recommended\b"),
    ("unspecified", r"\b(?:did|does|do)\s+not\s+(?:specify|include|indicate|state)\s+(?:the\s+|a\s+)?(?:frequency|"
                    r"duration|quantity|dosage|dose|number)\b|\b(?:frequency|duration|quantity|dosage|dose)\s+(?:was|"
                    r"were|is|are)\s+not\s+(?:specified|provided|indicated|stated)\b"),
    ("only_for", r"^(?:this|the\s+requested)\s+(?:[\w-]+\s+){0,3}?(?:is|are)\s+only\s+recommended\s+for\s+(?!a\s+short|short)"),
]]
# overturned items: the guidelines or the records support the request (no negation, nothing conditional)
_SUPPORTED = re.compile(r"\b(?:is|are|was|were)\s+(?:medically\s+)?(?:supported|indicated|recommended)\s+(?:by|per|under)\s+"
                        r"(?:the\s+)?(?:ACOEM|MTUS|ODG|(?:\w+\s+)?guidelines?|(?:the\s+)?records?)\b|"
                        r"\b(?:records?|documentation)\s+(?:[\w-]+\s+){0,4}?(?:do\s+|does\s+)?(?:indicate|show|support|"
                        r"document|demonstrate)s?\b", re.I)
_CONTINGENT = re.compile(r"\b(?:additional|further|more|continued)\s+(?:[\w-]+\s+){0,3}?(?:is|are)\s+(?:contingent|"
                         r"dependent|based)\s+(?:up)?on\s+(?:the\s+)?(?:patient'?s?\s+|worker'?s?\s+)?(?:documented\s+|"
                         r"objective\s+)?(?:response|improvement|progress|benefit)", re.I)
_BECAUSE = re.compile(r"\b(?:as|since|because|given)\b", re.I)
# the earlier review (utilization review) retold: its reading, not the reviewer's, gives no point
_EARLIER = re.compile(r"\b(?:UR|utilization\s+review|denied|denial|non-?certif\w*|modified|(?:previous|prior)\s+"
                      r"review\w*)\b", re.I)
_GUIDELINE = re.compile(r"\b(?:recommend\w*|allow\w*|support\w*|guidelines?|MTUS|ODG|ACOEM)\b", re.I)
_NEGATION = re.compile(r"\b(?:not|no|never|without)\b", re.I)
# a sentence that quotes a guideline or retells the earlier review says nothing of the records
_NOT_THE_RECORDS = re.compile(r"\b(?:UR|utilization\s+review|denied|denial|non-?certif\w*|states?|stated|says|"
                              r"according|recommend\w*|guidelines?|MTUS|ODG|ACOEM)\b|[\"“”]", re.I)
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")
_LEAD = " \t\r\n\"”’')"

# "The records did not show ..." — how a reason or a rationale sentence says something is missing
_MISSING = re.compile(
    r"\b(?:no|not|without|lack\s+of|absence\s+of|insufficient|unclear|undocumented|not\s+documented|not\s+shown|"
    r"did\s+not\s+(?:show|document)|does\s+not\s+(?:show|document)|has\s+not|have\s+not|no\s+longer|"
    r"fail(?:ed|s)?\s+to\s+(?:document|show|provide|mention)|unremarkable)\b", re.I)
# a finding counts in a sentence naming several only when a negation governs it: before it, no clause break between
_SCOPE = re.compile(r"\b(?:no|not|without|lack\s+of|absence\s+of|insufficient|fail(?:ed|s)?\s+to\s+document)\b", re.I)
_SCOPE_WORDS = 60
_BREAK = re.compile(r"\b(?:and|but|however|although|though|while|whereas|yet)\b", re.I)


class Finding(NamedTuple):
    """A finding the records may lack: its sentences are each language's `POINTS["findings"][key]`."""

    key: str
    pattern: re.Pattern


FINDINGS: list[Finding] = [Finding(k, re.compile(p, re.I)) for k, p in [
    ("functional_improvement",
     r"\bfunctional\s+(?:improvement|gains?|benefit|response)|\bobjective\s+(?:improvement|response|benefit)|"
     r"\b(?:improve\w*|increase\w*|gains?)\s+in\s+(?:function|ADLs?|activities)|\bimproved\s+function|"
     r"\breturn(?:ed|ing)?\s+to\s+work"),
    ("pain_relief",
     r"\bpain\s+(?:relief|reduction)|\b(?:reduction|decrease|improvement)\s+(?:in|of)\s+(?:the\s+)?(?:pain|VAS)\b|"
     r"\banalgesic\s+(?:effect|benefit|response)"),
    ("conservative_care", r"\bconservative\s+(?:care|treatment|therapy|course|management|measures)"),
    ("tried_first",
     r"\bfirst[- ]line\b|\btrial(?:ed)?\s+and\s+fail\w*|\b(?:adequate|failed|prior)\s+trials?\s+of\b|\bfailed\s+(?:a\s+)?trials?\b|\bfailure\s+of\s+(?:a\s+)?"
     r"(?:trial|first|other|oral)\b|\b(?:in)?toleran(?:t|ce)\s+(?:to|of)\s+(?:oral|other|first)"),
    ("red_flags", r"\bred[- ]flags?\b"),
    ("nerve_damage",
     r"\bneurologic(?:al)?\s+(?:deficits?|compromise|dysfunction|findings|signs)|\bnerve\s+(?:root\s+)?compromise\b|"
     r"\bunremarkable\s+(?:[\w-]+\s+){0,3}?neurologic(?:al)?\s+exam|\b(?:evidence|signs|findings)\s+of\s+"
     r"radiculopathy|\bradicular\s+(?:signs|symptoms|findings)"),
    ("exam_findings",
     r"\b(?:physical\s+)?exam(?:ination)?\s+findings|\bobjective\s+(?:\w+\s+)?(?:findings|evidence|signs|deficits)|"
     r"\bclinical\s+findings|\b(?:imaging|MRI|x-?ray|radiographic)\s+findings|\bmuscle\s+spasms?"),
    ("home_program",
     r"\bhome\s+(?:exercise\s+)?program\b|\bself[- ]directed\s+(?:home\s+)?(?:exercise|physical\s+medicine|program)|"
     r"\bindependent\s+(?:home\s+)?exercise\s+program"),
    ("exercise_program",
     r"\b(?:adjunct\w*\s+to|in\s+conjunction\s+with|along\s+with|part\s+of)\s+(?:an?\s+)?(?:active\s+|ongoing\s+)?"
     r"(?:exercise|rehab\w*|functional\s+restoration|home\s+exercise)\s+program"),
    ("trial_first", r"\b(?:one|1|30)[- ](?:month|day)\s+(?:home[- ]based\s+)?trial\b"),
    ("mental_health_check", r"\bpsycholog\w*\s+(?:evaluation|screening|clearance|assessment)"),
    ("drug_checks", r"\burine\s+drug\s+(?:screen|test)\w*|\bUDS\b|\b(?:opioid|pain|narcotic)\s+(?:contract|agreement)|"
                    r"\baberrant\s+(?:drug[- ])?behavio|\brisk\s+of\s+(?:addiction|abuse|misuse)|\bCURES\b"),
    ("condition_changed",
     r"\b(?:significant\s+)?change\s+in\s+(?:the\s+)?(?:patient'?s\s+|worker'?s\s+)?(?:symptoms|condition|findings|"
     r"clinical\s+status)"),
    ("surgery_planned",
     r"\bsurg(?:ical|ery)\s+(?:candidate|candidacy|planning|plan|is\s+(?:not\s+)?(?:planned|being\s+considered))|"
     r"\bcandidate\s+for\s+surgery|\bplan\s+for\s+surgery|\bdiscussion\s+of\s+surgery|\bconsider\w*\s+surgery"),
    ("goals", r"\b(?:specific|functional|treatment|therapy)\s+goals?\b|\btime[- ]?frame\b"),
    ("symptoms", r"\b(?:subjective\s+)?complaints\s+of\b|\b(?:active|ongoing|current)\s+(?:[\w-]+\s+)?symptoms\b|"
                 r"\bsymptoms\s+(?:of|that|to\s+(?:support|warrant))\b"),
    ("diagnosis", r"\b(?:any|a|the)\s+diagnosis\s+(?:for|that|which)\b|\bfor\s+diagnosing\b|"
                  r"\bsupport\w*\s+(?:for\s+)?(?:the\s+|a\s+)?diagnos\w+"),
    ("past_help",  # the least specific: only where no other finding is named
     r"\b(?:documented|significant|measurable|objective|sustained|meaningful)\s+(?:improvement|benefit|gains?|relief)\b|"
     r"\b(?:efficacy|effectiveness|benefit|response)\s+(?:of|from|to)\s+(?:the\s+)?(?:prior|previous|past|recent)\s+"),
    ("reason_for_request",
     r"\b(?:physician\s+|clinical\s+|medical\s+)?(?:rationale|rational|reason(?:ing)?|explanation)\s+"
     r"(?:[\w-]+\s+){0,6}?(?:for|why|as\s+to)\b|\bindication\s+(?:is\s+|was\s+)?(?:for|why)\b|"
     r"\b(?:clear|stated|established|explained)\s+why\b"),
]]


def vetted_texts() -> list[str]:
    """Every sentence the rules can write (their numbers left as fields), in every language: planted
    text may copy them."""
    out = []
    for code in languages.codes():
        said = languages.get(code).points
        out += [said[k] for k in ("allowance", "count", "limit", "supported")]
        out += [s for pair in (*said["findings"].values(), *said["reasons"].values()) for s in pair if s]
    return out


class RulePoint(NamedTuple):
    part: str  # "why" or "help"
    text: str
    ref: str
    evidence: Evidence | None


def _fmt_range(value: str, said: dict) -> str:
    return re.sub(r"\s*(?:-|to)\s*", said["range"], value.strip())


def _unit(name: str, count: str, said: dict) -> str:
    return said["units"][name.lower().rstrip("s")][count != "1"]


def _qual(m: re.Match, said: dict) -> str:
    return said["quals"].get(" ".join((m.group("qual") or "").lower().split()), "")


def allowance(sentence: str, language: Language) -> str | None:
    """The guideline's allowed count (and duration, or limit on how long), when `sentence` states
    exactly one and no negation other than the limit's own."""
    said = languages.get(language).points
    if (limits := list(_LIMIT.finditer(sentence))) and len(limits) == 1 and not _CONDITIONAL.search(sentence):
        m = limits[0]
        count = _fmt_range(m.group("count"), said)
        return said["limit"].format(count=count, unit=_unit(m.group("unit"), count, said))
    if _NEGATION.search(sentence) or not _GUIDELINE.search(sentence):
        return None
    if len(found := list(_ALLOWANCE.finditer(sentence))) == 1:
        m = found[0]
        span = _fmt_range(m.group("span"), said)
        return said["allowance"].format(qual=_qual(m, said), count=_fmt_range(m.group("count"), said),
                                        span=span, unit=_unit(m.group("unit"), span, said))
    if not found and len(counts := list(_COUNT.finditer(sentence))) == 1:
        m = counts[0]
        return said["count"].format(qual=_qual(m, said), count=_fmt_range(m.group("count"), said))
    return None


def reason(sentence: str) -> str | None:
    """The key in `POINTS["reasons"]` of what `sentence` says is more than the guidelines suggest, or that
    the request goes with one that was not approved; None when unsure."""
    if (m := _PRIMARY_DENIED.search(sentence)) and _ANCILLARY.search(sentence) and _BECAUSE.search(sentence):
        return "with_surgery" if m.group("what").lower().startswith("surg") else "with_other"
    if _CONTINGENT.search(sentence) and not _NEGATION.search(sentence):
        return "depends_on_response"
    if _SHORT.search(sentence) and not _CONDITIONAL.search(sentence):
        return "short_term"
    for key, pattern in _NOT_SUGGESTED:  # the rule's own negation the sentence's only one
        if (m := pattern.search(sentence)) and not _CONDITIONAL.search(sentence) \
                and len(_NEGATION.findall(sentence)) == len(_NEGATION.findall(m.group(0))):
            return key
    if _EXCEEDS.search(sentence) and _GUIDELINE.search(sentence) and not _NEGATION.search(sentence) \
            and not _CONDITIONAL.search(sentence):
        if _ALREADY.search(sentence) and _VISITS.search(sentence):
            return "exceeds_already"
        return "exceeds_longer" if _LONGER.search(sentence) else "exceeds"
    return None


def supported(sentence: str) -> bool:
    """Does `sentence` say, without negation or condition, that the guidelines or records support the request?"""
    return bool(_SUPPORTED.search(sentence)) and not _NEGATION.search(sentence) and not _CONDITIONAL.search(sentence)


def finding(text: str) -> Finding | None:
    """The one finding of the table that `text` (something missing from the records) names."""
    hits = _narrowest([f for f in FINDINGS if f.pattern.search(text)])
    return hits[0] if len(hits) == 1 else None


def _narrowest(found: list[Finding]) -> list[Finding]:
    """"A trial of conservative care" names simpler care tried first once, not twice; "no documented
    improvement in function" is the finding about function, not the vaguer one about past care."""
    keys = {f.key for f in found}
    return [f for f in found if not (f.key == "tried_first" and "conservative_care" in keys
                                     or f.key == "past_help" and len(keys) > 1)]


def negated_findings(text: str) -> list[Finding]:
    """In a sentence naming several findings, those a negation governs ("no documentation of A and
    no discussion of B"): none when any of them is not."""
    out = []
    for f in FINDINGS:
        for m in f.pattern.finditer(text):
            before = text[:m.start()]
            last = ([None] + list(_SCOPE.finditer(before)))[-1]
            between = before[last.end():] if last is not None else ""
            if last is None or len(between) > _SCOPE_WORDS or re.search(r"[,;:]", between) or _BREAK.search(between):
                return []
            out.append(f)
            break
    return _narrowest(out)


def _sources(item: DisputedItem, letter: str) -> list[tuple[str, str, Evidence | None, bool]]:
    """text, ref, evidence, is it missing documentation? — reasons, missing documentation, then
    the rationale sentence by sentence (each with its span of the letter)."""
    sources = [(r, f"reasons[{k}]", item.evidence.get(f"reasons[{k}]"), False) for k, r in enumerate(item.reasons)]
    sources += [(d, f"missing_documentation[{k}]", item.evidence.get(f"missing_documentation[{k}]"), True)
                for k, d in enumerate(item.missing_documentation)]
    ev = item.evidence.get("rationale")
    if item.rationale and ev is not None and letter[ev.start:ev.end] == ev.quote:
        for m in _SENTENCE.finditer(ev.quote):
            sentence = m.group(0).lstrip(_LEAD).rstrip()  # a quote's closing mark starts the next sentence
            if sentence:
                start = ev.start + m.start() + (len(m.group(0)) - len(m.group(0).lstrip(_LEAD)))
                sources.append((sentence, "rationale", Evidence(start=start, end=start + len(sentence), quote=sentence,
                                                                origin="parser"), False))
    return sources


def points_for(text: str, language: Language, *, upheld: bool, missing: bool = False) -> list[tuple[str, str]]:
    """(part, sentence) the rules write for one reason, missing-documentation value or sentence."""
    text = " ".join(text.split())  # a sentence of the letter runs over lines
    if _EARLIER.search(text):
        return []
    if (said := allowance(text, language)) is not None:
        return [("why", said)]
    if not upheld:
        return [("why", languages.get(language).points["supported"])] if supported(text) else []
    if (key := reason(text)) is not None:
        why, help = languages.get(language).points["reasons"][key]
        return [("why", why)] + ([("help", help)] if help else [])
    if not missing and (not _MISSING.search(text) or _NOT_THE_RECORDS.search(text)):
        return []
    found = [f] if (f := finding(text)) is not None else negated_findings(text)
    said = languages.get(language).points["findings"]
    return [(part, said[f.key][part == "help"]) for f in found for part in ("why", "help")]


def rule_points(item: DisputedItem, letter: str, language: Language) -> list[RulePoint]:
    """The points the rules can write for one item, from its reasons and missing documentation
    (model-filled), then from its rationale's sentences; no two points with the same text."""
    out = [RulePoint(part, said, ref, evidence) for text, ref, evidence, missing in _sources(item, letter)
           for part, said in points_for(text, language, upheld=item.decision == "upheld", missing=missing)]
    seen: set[str] = set()
    return [p for p in out if not (p.text in seen or seen.add(p.text))]


_LEADS = re.compile(r"^(?:(?:however|additionally|also|further(?:more)?|moreover|in\s+addition|in\s+this\s+case|here|"
                    r"as\s+such|therefore|thus|given\s+the\s+above|notably|again)\s*,?\s*)+", re.I)
_CLAUSE_BREAK = re.compile(r"\s*;\s*|,\s+(?=(?:and|but|however|which|as|although|while|so)\b)", re.I)
CLAUSE_WORDS = 25


def reason_clause(text: str) -> str:
    """The clause of a reason that states it, for the model to simplify: no leading connective,
    no parenthesis, and of a long sentence the first clause with a negation (else the first), cut
    at its first comma when that leaves 6 words or more; with no such comma it is kept whole (cut at
    `CLAUSE_WORDS` words it read as a fragment, and on unseen letters a sentence was lost: BENCHMARKS.md)."""
    text = _LEADS.sub("", re.sub(r"\s*\([^()]*\)", "", " ".join(text.split()))).strip()
    clauses = [c for c in _CLAUSE_BREAK.split(text) if c and c.strip()]
    if len(text.split()) > CLAUSE_WORDS and len(clauses) > 1:
        text = re.sub(r"^(?:and|but|however)\s+", "", next((c for c in clauses if _NEGATION.search(c)), clauses[0]).strip(),
                      flags=re.I)
    if len(text.split()) > CLAUSE_WORDS:
        head = ",".join(text.split(",")[:1])
        text = head if len(head.split()) >= 6 else " ".join(text.split()[:CLAUSE_WORDS])
    return text[:1].upper() + text[1:]
