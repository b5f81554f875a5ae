"""Quantities read by rules from the words that state them ("2xwk x 4 wks", "Twelve sessions",
"10mg #60", "14 days rental"), so every number is one the letter prints. Conventions
(evals/README.md): ranges stay null; days become weeks only in whole weeks; months are never
converted; "daily" is 7 a week; a drug's "#60" is a dispense quantity, a service's "#6" a count;
refills are not a count.
"""

from __future__ import annotations

import re

from ..schema import Quantity
from .vocabulary import blank_admin, fold, folded, regions, sides

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "twenty-four": 24, "thirty": 30,
    "single": 1, "once": 1, "twice": 2, "thrice": 3,
}
_NUM = r"(?:\d+(?:\.\d+)?|" + "|".join(sorted((w for w in NUMBER_WORDS if w not in ("once", "twice", "thrice")), key=len, reverse=True)) + r")"
_RANGE = rf"{_NUM}\s*(?:-|to)\s*{_NUM}"
_SESSIONS = r"(?:sessions?|visits?|treatments?|appointments?)"
_DATE = re.compile(r"\s*[\d/]*/[\d/]*\s*")  # "12/01/2016" is a date, not a quantity

_PATTERNS: dict[str, re.Pattern] = {
    # "2 times a week for 6 weeks", "2xwk x 4 wks", "three times per week for four weeks", "2 times 4", "2 X 4"
    "freq_dur": folded(rf"(?<![\w.])(?P<f>{_RANGE}|{_NUM})\s*(?:x|times?)\s*(?:(?:(?:a|per|/)?\s*(?:wk|week|weekly)s?\b)?\s*(?:,\s*)?(?:for|x|times|over)\s*)?(?P<d>{_RANGE}|{_NUM})\s*(?P<u>wks?|weeks?|visits?|sessions?)?(?:\s*\((?P<t>\d+)\s*(?:sessions?|visits?)?\))?"),
    "freq": folded(rf"(?P<f>{_RANGE}|{_NUM}|once|twice|thrice)\s*(?:x|times?|days?)?\s*(?:a|per|/)\s*(?:wk|week)\b|(?P<f2>{_RANGE}|{_NUM}|once|twice|thrice)\s*(?:x|times)?\s*weekly"),
    "daily": folded(r"\bdaily\b"),
    "count": folded(rf"(?P<n>{_RANGE}|{_NUM})\s*(?:\((?P<n2>\d+)\)\s*)?(?:[a-z/-]+\s+){{0,3}}?{_SESSIONS}\b|(?<![a-z])(?<!\d\s)(?<!\d)(?:x|times)\s*(?P<n3>\d+)\s*{_SESSIONS}?(?!\s*(?:mg|mcg|ml|%|/|weeks?|wks?|days?|hours?|hrs?|x))|#\s*(?P<hash>\d+)|\((?P<paren>\d+)\)|^\s*(?P<lead>(?!single){_NUM})\b(?!\s*(?:-|to|times|x|months?|weeks?|days?|hours?|hrs?|%|mg|mcg|ml|/|\.\d|phase|level|part|view))"),
    "duration": folded(rf"(?:for\s+)?(?P<d>{_RANGE}|{_NUM})[\s-]*(?P<u>days?|weeks?|wks?|months?)\b(?!\s*(?:a|per|/)\s*(?:wk|week)\b)"
                       rf"(?:\s+(?:rental|supply|coverage))?|(?P<d2>{_NUM})[\s-]*(?P<u2>day|week|month)\s+rental"),
    "supply": folded(r"day\s+supply\s*:?\s*\d+"),  # "day supply: 30" (a drug's days, not a count)
    "strength": folded(r"\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?\s*(?:mg|mcg|meq|gm|g|ml|%)(?:/\s*ml)?(?:\s*-\s*\d+(?:\.\d+)?\s*%)*"),
}


def _num(text: str | None) -> float | None:
    if text is None:
        return None
    t = text.strip().lower()
    if t in NUMBER_WORDS:
        return float(NUMBER_WORDS[t])
    try:
        return float(t)
    except ValueError:
        return None  # a range ("2-3", "two to four") is not one number


def _weeks(value: float | None, unit: str | None) -> float | None:
    if value is None or unit is None:
        return None
    unit = unit.lower()
    if unit.startswith("d"):
        return value / 7 if value % 7 == 0 else None
    return value if unit.startswith("w") else None  # months are not a whole number of weeks


def parse_quantity(words: str, *, drug: bool = False) -> Quantity:
    """Numbers read from quantity words (`raw` is the words themselves)."""
    q = Quantity(raw=words.strip() or None)
    _fill(q, blank_admin(words), drug)
    return q


def find_quantity(heading: str, *, drug: bool = False) -> tuple[Quantity, int, int] | None:
    """The quantity words of a heading: numbers, and the span of the shortest stretch holding them."""
    heading = blank_admin(heading)
    text = fold(heading)  # the patterns are lower-case (vocabulary.fold): same length, same spans
    spans = [m.span() for regex in _PATTERNS.values() for m in regex.finditer(text)
             if m.group(0).strip() and not _DATE.fullmatch(m.group(0))]
    if not spans:
        return None
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    while end > start and heading[end - 1] in " ,;.":
        end -= 1
    q = Quantity(raw=heading[start:end])
    _fill(q, heading, drug)
    return q, start, end


def _fill(q: Quantity, text: str, drug: bool) -> None:
    low = fold(text)  # what the patterns read; `text` keeps its case for what is copied out
    m = _PATTERNS["freq_dur"].search(low)
    if m:
        q.frequency_per_week = _num(m.group("f"))
        unit = m.group("u")
        if unit and unit.lower().startswith(("visit", "session")):
            f, d, t = q.frequency_per_week, _num(m.group("d")), _num(m.group("t"))
            if t is not None and f is not None and d is not None and f * d == t:
                q.duration_weeks = d  # "two times four visits (8)": 2 a week for 4 weeks
            else:
                q.frequency_per_week, q.count = None, d
        else:
            q.duration_weeks = _weeks(_num(m.group("d")), unit or "weeks")
        if m.group("t"):
            q.count = _num(m.group("t"))
    else:
        m = _PATTERNS["freq"].search(low)
        if m:
            q.frequency_per_week = _num(m.group("f") or m.group("f2"))
        elif _PATTERNS["daily"].search(low):
            q.frequency_per_week = 7.0
        m = _PATTERNS["duration"].search(low)
        if m and q.duration_weeks is None:
            q.duration_weeks = _weeks(_num(m.group("d") or m.group("d2")), m.group("u") or m.group("u2"))
    strength = _PATTERNS["strength"].search(low)
    if strength and drug:
        q.strength = re.sub(r"\s+", "", text[strength.start():strength.end()])
    lead_only = False
    for m in _PATTERNS["count"].finditer(low):  # a drug's count is dropped below: only its "#60" is read here
        if m.group("hash") and drug:
            if q.dispense_qty is None and not re.search(r"refill", text[max(0, m.start() - 20):m.start()], re.I):
                q.dispense_qty = _num(m.group("hash"))
        elif q.count is None and not (m.group("lead") and q.frequency_per_week is not None):
            lead_only = lead_only or bool(m.group("lead"))
            q.count = _num(next(v for v in m.group("hash", "paren", "lead", "n2", "n", "n3") if v))
    if drug:
        q.count = None
    if q.frequency_per_week is not None and q.duration_weeks is not None:
        q.total_sessions = q.frequency_per_week * q.duration_weeks
    elif q.count is not None and not drug and not lead_only:
        q.total_sessions = q.count  # "One bone scan" is a count, not sessions


# -- the service words, trimmed to the label convention -------------------------------------------
_LEAD_WORDS = re.compile(
    rf"^(?:(?:(?:{_NUM}|#?\d+)(?!\s+(?:phase|level|part|view))|x|additional|continued|continuation of|retrospective|"
    rf"post-?op(?:erative)?|pre-?op(?:erative)?|purchase of|rental of|of|for|the|a|an)\s+)+", re.I)
# One trailing word each; `_strip_trailing` takes them off one at a time from the end. (As one
# `(?:\s+(?:...))+$` pattern, a service of n such words cost n^2: the search retried the whole run
# from every word and failed at `$` each time when something else followed.)
_TRAIL_WORDS = re.compile(r"\s+(?:visits?|sessions?|rental|purchase)$", re.I)  # a unit stays: "cold therapy unit"
_DOSE_FORMS = re.compile(r"\s+(?:pads?|patch(?:es)?|cream|ointment|gel|lotion|tablets?|capsules?|oral suspension|"
                         r"suspension|hcl|er|xr)$", re.I)
_LONGEST_TRAIL = 40  # longer than any one trailing word with its space (the texts are single-spaced)
# `(?<![A-Za-z/])`: a word is tried from its start only, not again from each of its letters; the
# search stops at the last ")" (past it, every "(" read to the end of the text and failed).
_PAREN = re.compile(r"(?<![A-Za-z/])([A-Za-z/]+)\s*\(([^)]*)\)")


# Words that join the treatment to what follows it: "physical therapy for the right knee",
# "MRI of the cervical spine", "injection at L4-5", "unit rental for seven days".
_JOIN = re.compile(r"(?:[\s,:;-]+(?:for|of|to|on|at|in|x)?(?:\s+the)?)+\s*$", re.I)


def service_span(heading: str, start: int, end: int, *, drug: bool = False) -> tuple[int, int]:
    """The model's service [start, end) in the heading, cut to the convention by the heading's own
    spans (evals/README.md (5)): no administrative words at its start; it ends before the quantity,
    and before a side or body part that a joining word leads to ("for the right knee"), never
    inside the treatment's own words ("total knee replacement")."""
    admin = blank_admin(heading)
    while start < end and admin[start] == " ":
        start += 1
    found = find_quantity(heading, drug=drug)
    cuts = [found[1]] if found is not None else []
    side, side_start, _ = sides(heading)
    places = [s for _, s, _ in regions(heading)] + ([side_start] if side else [])
    for place in places:
        joined = _JOIN.search(heading, start, place)
        if joined is not None and joined.group(0).strip(" ,:;-"):
            cuts.append(joined.start())
    cut = min((c for c in cuts if start < c < end), default=end)
    joined = _JOIN.search(heading, start, cut)
    cut = joined.start() if joined is not None and joined.start() > start else cut
    return start, cut


def trim_service(heading: str, service: str, *, drug: bool = False) -> str:
    """The model's service words, trimmed to the convention (evals/README.md): no quantity or
    count words at the start, no visits/sessions or dose-form words at the end, and an
    abbreviation rather than its bracketed expansion ("MRI (magnetic resonance imaging)" → "MRI").
    The result is still words of the heading, so it is grounded like the model's answer."""
    text = " ".join(service.split())
    for m in _PAREN.finditer(heading, 0, heading.rfind(")") + 1):
        if text.lower() == " ".join(m.group(2).split()).lower():
            return m.group(1)
    trimmed = _strip_trailing(_TRAIL_WORDS, _LEAD_WORDS.sub("", text)).strip(" ,;:-")
    if drug:
        trimmed = _strip_trailing(_DOSE_FORMS, trimmed).strip(" ,;:-")
    if trimmed.lower() in ("er", "xr"):
        return text
    # "diclofenac er" keeps its release form: only trim er/xr when the heading does not follow the drug with it
    if re.search(r"\s(?:er|xr)$", text, re.I) and _printed_with_release_form(heading, trimmed):
        trimmed = text
    return trimmed or text


def _strip_trailing(pattern: re.Pattern[str], text: str) -> str:
    """`text` without its run of trailing words (each a match of `pattern`, which ends in `$`)."""
    while True:
        m = pattern.search(text, max(0, len(text) - _LONGEST_TRAIL))
        if m is None:
            return text
        text = text[: m.start()]


def _printed_with_release_form(heading: str, words: str) -> bool:
    """Does `heading` print `words` followed by "er"/"xr" (ignoring case)?"""
    if heading.isascii() and words.isascii():
        # Lower-cased, the words are a case-sensitive literal, which `re` finds in linear time
        # (ignoring case it tries them at every position: quadratic on a long heading). For ASCII
        # text the answer is the same.
        return re.search(rf"{re.escape(words.lower())}\s+(?:er|xr)\b", heading.lower()) is not None
    return re.search(rf"{re.escape(words)}\s+(?:er|xr)\b", heading, re.I) is not None
