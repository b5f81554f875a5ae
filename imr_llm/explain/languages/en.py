"""English: the offline writer's fixed sentences, words and grammar (readability: Flesch-Kincaid grade)."""

from __future__ import annotations

import re

from ..text import fmt_number, join_words, tidy

TEMPLATES: dict = {  # vetted sentences: planted text may copy them
    'headlines': {
        ('all_upheld', True):
            'The treatment your doctor asked for is still not approved.',
        ('all_upheld', False):
            'None of the treatments your doctor asked for were approved.',
        ('all_upheld_modified', True):
            'The review did not approve the part of the request that was still in dispute. The part already approved stays approved.',
        ('all_upheld_modified', False):
            'The review did not approve any of the requests that were still in dispute. Any part already approved stays approved.',
        ('all_overturned', True):
            'Good news: the treatment your doctor asked for is now approved.',
        ('all_overturned', False):
            'Good news: all the treatments your doctor asked for are now approved.',
        ('mixed', False):
            'Some of the treatments your doctor asked for are now approved, and some are not.',
    },
    'why_verdict': {
        'upheld':
            'The reviewer decided this treatment is not medically necessary for you now.',
        'overturned':
            'The reviewer decided this treatment is medically necessary for you.',
    },
    'why_decision': {
        'upheld':
            'The letter marks this request as not approved (upheld).',
        'overturned':
            'The letter marks this request as approved (overturned).',
    },
    'why_guidelines': {
        'upheld':
            'The reviewer checked the medical treatment guidelines ({families}). The request did not meet them.',
        'overturned':
            'The reviewer checked the medical treatment guidelines ({families}). The request met them.',
    },
    'why_other_sources': {
        'upheld':
            'The reviewer used other medical sources. The request did not meet them.',
        'overturned':
            'The reviewer used other medical sources. The request met them.',
    },
    'why_no_guideline': 'The letter does not name a guideline for this decision.',
    'other_sources': 'other sources',
    'help_generic': 'Your doctor could send a new request with notes that show what has changed. For example: new exam results, new test results, or how past care helped you.',
    'planted_request': 'the treatment in this request',
    'disputed_part': 'the part of the request that was still in dispute',
    'unknown_quantity': ' (unknown quantity)',
    'purchase': 'buying {core}',
}
WORDS = {"and": " and ", "for_time": "for", "after_surgery": " after surgery", "for_surgery": " for the surgery",
         "letter_says": " (the letter says: \"{raw}\")"}

REGIONS = {"neck": "neck", "upper_back": "upper back", "low_back": "lower back", "spine": "spine", "head": "head",
           "psych": "mental health", "other": "body"}
TRUNK = {"chest": "chest", "abdom": "belly", "rib": "ribs", "trunk": "trunk"}


def times(n: float) -> str:
    return f"{fmt_number(n)} time{'s' if n != 1 else ''} a week"


def weeks(n: float) -> str:
    return f"{fmt_number(n)} week{'s' if n != 1 else ''}"


def body_part(part: tuple, side: str | None, plural: bool) -> str:
    """A paired body part (`templates._PAIRED` row) with its side, without "your"."""
    one, many = part[0], part[1]
    if side == "bilateral":
        return f"both {many}"
    if side in ("left", "right"):
        return f"{side} {many if plural else one}"
    return many if plural else one


def _your(places: list[str]) -> str:
    joined = join_words(places, WORDS["and"])
    return "both your " + joined[5:] if joined.startswith("both ") else "your " + joined


def request_core(service, count: float | None, more: bool, visits: bool, places: list[str]) -> str:
    """A known service in words: "8 more physical therapy visits for your lower back"."""
    if visits and count is not None:
        core = f"{fmt_number(count)} {'more ' if more else ''}{service.en_visit} visit{'s' if count != 1 else ''}"
    else:
        core = f"{'more ' if more and visits else ''}{service.en}"
    if places:
        core += f" {'for' if visits else service.joins[0]} " + _your(places)
    return core


def medicine(text: str, match, suffix: str) -> str:
    return "the medicine " + tidy(text) + suffix


def as_printed(text: str, suffix: str = "") -> str:
    """The heading as printed, in lower case except short acronyms (EKG, TENS), unless it is all capitals."""
    tokens = text.split()
    letters = [t for t in tokens if re.search(r"[A-Za-z]", t)]
    shouting = letters and sum(t.isupper() for t in letters) / len(letters) > 0.6 and len(letters) >= 3
    out = []
    for t in tokens:
        core = re.sub(r"[^A-Za-z]", "", t)
        if not shouting and core.isupper() and 1 < len(core) <= 5:
            out.append(t)
        else:
            out.append(t.lower())
    return tidy(" ".join(out)) + suffix


def quantity(words: str) -> str:
    """How much, how often, how long: the letter's own words."""
    return words
