"""The guards: checks every explanation must pass before it is shown, whoever wrote it.

`decision` (decisions, status wording and a rules read-back equal the parse), `numbers` (each one
the letter or the vetted facts state), `readability` (target FK grade 6 / FH 70, limit 8 / FH 60),
`injection` (nothing instruction-like, copied from outside the item's sections or repeating the
letter's suspicious text) and `vetted_text`. Each detail is specific enough to give a model as feedback."""

from __future__ import annotations

import re
from functools import lru_cache

from textstat.textstat import textstatistics

from ..parsing.items import decision_word
from ..reading import SourceText, fold
from ..safety import YOU_NOTE, findings_in, ngrams
from ..schema import Determination, DisputedItem
from . import facts, languages
from .model import GuardResult, Language, PatientExplanation, Readability
from .points import vetted_texts
from .text import (allowed_dates, allowed_numbers, clean, find_dates, find_numbers, fmt_number, letter_text, words,
                   without_shared_runs)
from .wording import notices, plain_request

COPY_NGRAM = 6  # a run of this many words from the letter must come from the item's own sections


def _result(name: str, problems: list[str], passed: str) -> GuardResult:
    """A guard's result: its problems joined, or what it checked when there are none."""
    return GuardResult(name=name, passed=not problems, detail="; ".join(problems) if problems else passed)


# -- 1. decisions --------------------------------------------------------------------------------

_QUOTED = re.compile(r"«[^»]*»")


def _heading_sections(item: DisputedItem) -> str:
    return "\n".join(p for p in (item.request, item.original_request, item.ur_authorized, item.disputed_portion) if p)


def _item_sections(item: DisputedItem) -> str:
    bases = (b.raw for b in (item.reviewer_basis, item.claims_administrator_basis) if b is not None)
    return "\n".join(p for p in (_heading_sections(item), item.rationale, item.verdict_phrase, *bases) if p)


def readback_status(status: str, language: Language) -> str | None:
    """The decision an item's status sentence states, read from the words alone."""
    for regex, decision in languages.get(language).guards["status"]:
        if regex.search(status):
            return decision
    return None


def readback_headline(headline: str, language: Language) -> str | None:
    rules = languages.get(language).guards
    headline = rules["stays_approved"].sub(" ", headline)  # UR's approval of a part, which the review leaves
    neg, pos, good = (bool(rules[k].search(headline)) for k in ("neg", "pos", "good"))
    if neg and pos:
        # "None of ... were approved" / "ninguno ... fue aprobado" are all-upheld; "some ... some are not" mixed
        return "all_upheld" if not good and rules["none"].search(headline) else "mixed"
    if neg:
        return "all_upheld"
    return "all_overturned" if pos else None


def opposite_claim(text: str, parsed: DisputedItem, language: Language) -> str | None:
    """What in `text` claims the opposite of the item's decision. The letter's own words ("... six
    sessions was authorized by the Claims Administrator"), quoted or retold, are no claim."""
    opposite = "overturned" if parsed.decision == "upheld" else "upheld"
    claims = languages.get(language).guards[opposite]
    m = claims.search(without_shared_runs(_QUOTED.sub(" ", text), _heading_sections(parsed), 3))
    return f"{m.group(0)!r} reads as {opposite!r}, the letter says {parsed.decision!r}" if m else None


def check_decisions(expl: PatientExplanation, det: Determination) -> GuardResult:
    problems: list[str] = []
    lang = expl.language
    if len(expl.items) != len(det.items):
        problems.append(f"{len(expl.items)} items explained, the letter has {len(det.items)}")
    for item, parsed in zip(expl.items, det.items):
        n = parsed.index + 1
        if item.index != parsed.index or item.request != clean(parsed.request):
            problems.append(f"item {n}: not the letter's item {n} (index or request differs)")
        if item.decision != parsed.decision:
            problems.append(f"item {n}: decision {item.decision!r}, the letter says {parsed.decision!r}")
        expected = facts.status(parsed.decision, parsed.modified_by_ur, lang)
        if item.status != expected:
            problems.append(f"item {n}: status is not the vetted wording for {parsed.decision!r}: use {expected!r}")
        ev = item.decision_evidence
        # read as the parser reads it: look-alike and invisible characters folded, one OCR slip allowed
        word = decision_word("".join(map(fold, ev.quote.strip()))) if ev is not None else None
        if ev is not None and (word is None or word[0] != parsed.decision):
            problems.append(f"item {n}: its decision evidence quotes {ev.quote!r}, not {parsed.decision!r}")
        read = readback_status(item.status, lang)
        if read != parsed.decision:
            problems.append(f"item {n}: its status reads back as {read or 'no decision'!r}, the letter says {parsed.decision!r}")
        problems += [f"item {n}: {claim}" for text in [item.plain_request, *(p.text for p in item.why),
                                                       *(h.text for h in item.what_could_help)]
                     if (claim := opposite_claim(text, parsed, lang))]
    read = readback_headline(expl.headline, lang)
    if det.outcome is not None and read != det.outcome:
        problems.append(f"headline reads back as {read or 'no outcome'!r}, the letter's outcome is {det.outcome!r}")
    return _result("decision", problems, f"{len(det.items)} item(s): decision and status equal the parser's; "
                                         "read-back agrees")


# -- 2. numbers and dates --------------------------------------------------------------------------

def shown_strings(expl: PatientExplanation, glossary: bool = True) -> list[str]:
    """Every string the worker reads, in order (the glossary before the disclaimer, unless left out)."""
    out = [expl.headline]
    for item in expl.items:
        out += [item.plain_request, item.status]
        if item.already_approved:
            out.append(item.already_approved)
        out += [p.text for p in item.why] + [h.text for h in item.what_could_help]
    out += [t for s in expl.next_steps for t in (s.text, s.contact) if t]
    if glossary:
        out += [f"{g.term} {g.definition}" for g in expl.glossary]
    return out + [expl.disclaimer]


def check_numbers(expl: PatientExplanation, source: SourceText | str) -> GuardResult:
    letter, texts, forms = letter_text(source), shown_strings(expl), languages.get(expl.language).guards["dates"]
    kinds = [("numbers not in the letter or the vetted facts", allowed_numbers(letter, facts.all_fact_text()),
              [(v, w) for t in texts for v, w in find_numbers(t, dates=forms)]),
             ("dates not in the letter", allowed_dates(letter),
              [(d, t[s:e]) for t in texts for d, s, e in find_dates(t, forms)])]
    parts = [f"{label}: {', '.join(dict.fromkeys(w for v, w in found if v not in ok))}"
             for label, ok, found in kinds if any(v not in ok for v, _ in found)]
    checked = sum(len(found) for _, _, found in kinds)
    return _result("numbers", parts, f"{checked} number(s) and date(s), each in the letter or the vetted facts")


# -- 3. readability ------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _scorer(textstat_lang: str):
    scorer = textstatistics()
    scorer.set_lang(textstat_lang)
    return scorer


def _terms_regex(language: Language, extra: list[str]) -> re.Pattern:
    terms = sorted({*languages.get(language).GLOSSARY_TERMS, *(e for e in extra if e)}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in terms) + r")(?!\w)", re.I)


# At most 500 characters inside: unbounded, every "(" with no ")" after it read to the end of the
# text (quadratic on a string of many "(").
_BRACKETED = re.compile(r"\([^)]{0,500}\)|«[^»]{0,500}»")


def _for_scoring(texts: list[str], language: Language, extra_terms: list[str]) -> str:
    """Sentences ready to score: glossary terms, the request's own words, numbers and brackets out."""
    out = []
    regex = _terms_regex(language, extra_terms)
    for text in texts:
        t = regex.sub(" ", text)
        t = _BRACKETED.sub(" ", t)
        t = re.sub(r"\d+(?:[.,/:-]\d+)*\s*(?:mg|ml|gm|%)?", " 8 ", t)
        t = t.replace("—", ",").replace("&", " and ")
        t = re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s+", " ", t)).strip(" ,;:")
        if not re.search(r"[A-Za-zÁÉÍÓÚáéíóúñ]", t):
            continue
        if t[-1] not in ".!?":
            t += "."
        out.append(t)
    return " ".join(out)


def score(texts: list[str], language: Language, extra_terms: list[str] | None = None) -> float | None:
    text = _for_scoring(texts, language, extra_terms or [])
    if not text:
        return None
    reading = languages.get(language).reading  # its formula: a textstat method
    value = getattr(_scorer(reading["textstat"]), reading["metric"])(text)
    return round(float(value), 2)


def readability(expl: PatientExplanation) -> Readability:
    lang = expl.language
    extra = [s for i in expl.items for s in (i.request, i.plain_request, i.already_approved or "")]
    texts = {"headline": [expl.headline], "why": [p.text for i in expl.items for p in i.why],
             "what_could_help": [h.text for i in expl.items for h in i.what_could_help],
             "status": list(dict.fromkeys(i.status for i in expl.items)),
             "next_steps": [s.text for s in expl.next_steps]}
    written = [*texts["headline"], *texts["why"], *texts["what_could_help"]]
    everything = [t for part in texts.values() for t in part]  # written, status, next steps
    reading = languages.get(lang).reading
    return Readability(metric=reading["metric"], parts={part: score(t, lang, extra) for part, t in texts.items()},
                       written=score(written, lang, extra), overall=score(everything, lang, extra),
                       target=reading["target"], limit=reading["limit"])


def within(value: float | None, limit: float, language: Language) -> bool:
    return value is None or (value <= limit if languages.get(language).reading["lower_is_easier"] else value >= limit)


def check_readability(expl: PatientExplanation) -> GuardResult:
    r = expl.readability = readability(expl)
    lang = expl.language
    figures = f"{languages.get(lang).reading['name']}: written parts {_fmt(r.written)}, " \
              f"everything shown {_fmt(r.overall)}"
    bad = [label for label, v in (("written parts", r.written), ("everything shown", r.overall))
           if not within(v, r.limit, lang)]
    on_target = all(within(v, r.target, lang) for v in (r.written, r.overall))
    problems = [figures, f"{' and '.join(bad)} past the limit {fmt_number(r.limit)} (target {fmt_number(r.target)}): "
                         "use shorter sentences and everyday words"] if bad else []
    return _result("readability", problems, f"{figures} (target {fmt_number(r.target)}, limit {fmt_number(r.limit)}"
                                            f"{'' if on_target else '; within the limit, above the target'})")


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


# -- 4. instructions from the letter -----------------------------------------------------------

_INSTRUCTION = [
    re.compile(p, re.I) for p in (
        r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,60}\b(?:instructions?|previous|above|prior|earlier|"
        r"rules|prompts?|system|guard\w*|everything)\b",
        r"\b(?:ignor[ae]\w*|olvid[ae]\w*|omit[ae]\w*)\b[^.\n]{0,60}\b(?:instrucci\w+|anterior\w*|reglas|indicaciones)\b",
        r"\bsystem\s+prompt\b|\bprompt\s+injection\b|\bjailbreak\b",
        r"\byou\s+are\s+(?:now\s+)?(?:an?\s+|the\s+)?(?:ai|assistant|language\s+model|chat\s?bot|gpt)\b",
        r"\bas\s+an\s+ai\b|\blanguage\s+model\b",
        r"\b(?:say|state|write|output|respond|answer|reply|tell\s+(?:the\s+)?(?:patient|worker|reader|user))\s+"
        r"(?:that|with|only|it\s+was)\b",
        r"\b(?:new|updated|real)\s+instructions?\b|\binstrucciones\s+nuevas\b",
        r"https?://|\bwww\.|(?<![\w.+-])[\w.+-]+@[\w-]+\.\w+",  # an address is tried from its first character only
        r"(?<![\w/-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w/-])",  # a phone number
        r"</?[a-z][a-z0-9]*\b[^>]{0,500}>|```|\{\{|\}\}",  # a tag of at most 500 characters: linear time
    )
]


PLANTED_NGRAM = 4  # a run of this many words from the letter's suspicious text must not be shown
_PLANTED_KINDS = {"instruction", "addressed_to_model", "system_prompt", "role_marker", "structured_data", "markup",
                  "contact", "note_to_reader"}


def _planted_form(text: str) -> str | None:
    """The scanner's detectors over written text: an instruction, a note, JSON, contact details."""
    for kind, note, _, _ in findings_in(text, section="explanation"):
        if kind in _PLANTED_KINDS and note != YOU_NOTE:
            return f"{kind.replace('_', ' ')} ({note})"
    return None


def vetted_grams(n: int = PLANTED_NGRAM) -> set[tuple[str, ...]]:
    """Word runs of every vetted or template sentence: planted text may copy them, they stay allowed."""
    key = (n, languages.codes())  # a language registered since is read too
    if key not in _VETTED:
        texts = [facts.all_fact_text(), *(s for code in key[1] for s in languages.get(code).vetted()), *vetted_texts()]
        _VETTED[key] = set().union(*(ngrams(x, n) for x in texts))
    return _VETTED[key]


_VETTED: dict[tuple, set[tuple[str, ...]]] = {}


def _planted(det: Determination, letter: str) -> tuple[set[tuple[str, ...]], set[float]]:
    """Word runs and numbers of the letter's suspicious text (numbers the rest of the letter also
    states stay allowed)."""
    if not det.suspicious:
        return set(), set()
    spans = sorted((f.evidence.start, f.evidence.end) for f in det.suspicious)
    grams: set[tuple[str, ...]] = set()
    numbers: set[float] = set()
    rest, last = [], 0
    for start, end in spans:
        quote = letter[start:end]
        grams |= ngrams(quote, PLANTED_NGRAM)
        numbers |= {v for v, _ in find_numbers(quote)}
        if start > last:
            rest.append(letter[last:start])
        last = max(last, end)
    rest.append(letter[last:])
    elsewhere = {v for v, _ in find_numbers(" ".join(rest), words=True)}
    return grams - vetted_grams(), numbers - elsewhere


def check_injection(expl: PatientExplanation, det: Determination, source: SourceText | str) -> GuardResult:
    problems: list[str] = []
    written: list[tuple[str, str, int | None]] = [("headline", expl.headline, None)]
    for pos, item in enumerate(expl.items):
        n = item.index + 1
        written.append((f"item {n} plain request", item.plain_request, pos))
        written += [(f"item {n} why", p.text, pos) for p in item.why]
        written += [(f"item {n} what could help", h.text, pos) for h in item.what_could_help]
    guard = PointGuard(det, source, expl.language)
    for where, text, pos in written:
        problems += [f"{where}: {p}" for p in guard.injection(text, pos)]
    return _result("injection", problems, "no instruction-like text; letter words only from each item's own sections")


# -- 5. vetted text ------------------------------------------------------------------------------

def check_vetted(expl: PatientExplanation, det: Determination) -> GuardResult:
    lang = expl.language
    problems: list[str] = []
    expected = facts.next_steps([i.decision for i in det.items], lang)
    if [s.model_dump() for s in expl.next_steps] != [s.model_dump() for s in expected]:
        problems.append("next steps are not the vetted steps for this outcome: "
                        f"expected {[s.key for s in expected]}, got {[s.key for s in expl.next_steps]}")
    if expl.disclaimer != languages.get(lang).facts["disclaimer"]:
        problems.append("disclaimer is not the vetted wording")
    vetted = {(term, definition) for term, _, definition in languages.get(lang).GLOSSARY.values()}
    problems += [f"glossary entry {g.term!r} is not vetted" for g in expl.glossary
                 if (g.term, g.definition) not in vetted]
    if expl.notices != notices(det):
        problems.append("the notices are not one for each line of the letter to check on paper")
    if expl.facts_version != facts.FACTS_VERSION:
        problems.append(f"facts version {expl.facts_version!r}, current {facts.FACTS_VERSION!r}")
    return _result("vetted_text", problems,
                   f"next steps, glossary and disclaimer are the vetted facts (version {facts.FACTS_VERSION})")


# -- one point at a time --------------------------------------------------------------------------

POINT_WORDS = 20  # a written point is one short sentence


class PointGuard:
    """The guards for one written point of one item, so a point that fails is re-asked or replaced on
    its own; `check_injection` reads every written text of a page through the same `injection`."""

    def __init__(self, det: Determination, source: SourceText | str, language: Language) -> None:
        raw = letter_text(source)
        self.det, self.language = det, language
        self.numbers_ok = allowed_numbers(raw, facts.all_fact_text())
        self.dates_ok, self.date_forms = allowed_dates(raw), languages.get(language).guards["dates"]
        self.planted_grams, self.planted_numbers = _planted(det, raw)
        self.letter_grams = ngrams(raw, COPY_NGRAM)
        self.fact_grams = vetted_grams(COPY_NGRAM)
        # an item's own sections, and the rules' own wording of its request ("your left shoulder, left
        # wrist and left hip" may also be words of the case summary)
        self.sections = [ngrams(_item_sections(i), COPY_NGRAM) | ngrams(plain_request(i, raw, language), COPY_NGRAM)
                         for i in det.items]
        # the request's own words (the treatment's name: "acupuncture", "lumbar") are not the point's to simplify
        self.terms = [[i.request, plain, *{w for w in words(f"{i.request} {plain}") if len(w) > 3}]
                      for i in det.items for plain in [plain_request(i, raw, language)]]

    def injection(self, text: str, pos: int | None) -> list[str]:
        problems = []
        m = next((m for regex in _INSTRUCTION if (m := regex.search(text))), None)
        if m:
            problems.append(f"looks like an instruction or markup ({m.group(0)[:40]!r})")
        elif hit := _planted_form(text):
            problems.append(f"looks like {hit}")
        grams = ngrams(text, PLANTED_NGRAM) & self.planted_grams
        if grams:
            problems.append(f"repeats suspicious text from the letter ({' '.join(sorted(grams)[0])!r})")
        numbers = [w for v, w in find_numbers(text, dates=self.date_forms) if v in self.planted_numbers]
        if numbers:
            problems.append(f"states a number only the letter's suspicious text states ({numbers[0]!r})")
        allowed = self.fact_grams | (self.sections[pos] if pos is not None and pos < len(self.sections) else set())
        copied = [g for g in ngrams(text, COPY_NGRAM) if g in self.letter_grams and g not in allowed]
        if copied:
            problems.append(f"copies letter text from outside this item's sections ({' '.join(copied[0])!r})")
        return problems

    def grade(self, text: str, pos: int) -> float | None:
        return score([text], self.language, self.terms[pos])

    def check(self, text: str, pos: int) -> list[str]:
        """What is wrong with `text` as a point of item `pos` (in `det.items`); [] when it may be shown."""
        lang, parsed = self.language, self.det.items[pos]
        problems = []
        if claim := opposite_claim(text, parsed, lang):
            problems.append(f"decision: {claim}")
        bad = [text[s:e] for d, s, e in find_dates(text, self.date_forms) if d not in self.dates_ok]
        bad += [w for v, w in find_numbers(text, dates=self.date_forms) if v not in self.numbers_ok]
        if bad:
            problems.append(f"numbers: not in the letter: {', '.join(dict.fromkeys(bad))}")
        n_words = len(words(text))
        if n_words > POINT_WORDS:
            problems.append(f"length: {n_words} words, at most {POINT_WORDS}: one short sentence")
        value = self.grade(text, pos)
        reading, rules = languages.get(lang).reading, languages.get(lang).guards
        if not within(value, reading["point_limit"], lang):
            problems.append(f"readability: {reading['name']} {value:.1f}, limit {fmt_number(reading['point_limit'])}: "
                            "shorter words and sentence")
        if len([w for w in words(_QUOTED.sub(" ", text)) if w in rules.get("foreign_words", ())]) >= 2:
            problems.append(f"language: {rules['foreign_note']}")
        problems += [f"injection: {p}" for p in self.injection(text, pos)]
        return problems


# -- all -----------------------------------------------------------------------------------------

def run_guards(expl: PatientExplanation, det: Determination, source: SourceText | str) -> list[GuardResult]:
    """Run every guard; sets `expl.readability` and returns the results (also stored on `expl.guards`)."""
    expl.guards = [check_decisions(expl, det), check_numbers(expl, source), check_readability(expl),
                   check_injection(expl, det, source), check_vetted(expl, det)]
    return expl.guards
