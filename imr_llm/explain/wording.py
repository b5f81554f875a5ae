"""The letter's own words, said plainly: a request heading in everyday words (the heading itself
where the rules do not know it), and the lines a worker should check on paper. Both the offline
writer and the page guards read these, so they live below both."""

from __future__ import annotations

import re
from typing import NamedTuple

from ..enrich.quantity import find_quantity
from ..enrich.vocabulary import classify, regions, sides
from ..safety import findings_in
from ..schema import Determination, DisputedItem
from . import facts, languages
from .languages import Lang
from .model import Language, Notice
from .text import allowed_numbers, clean, tidy

# -- plain request -----------------------------------------------------------------------------

class _Service(NamedTuple):
    """A treatment the rules name in everyday words: each language names it by `key` (its `SERVICES`)."""

    pattern: re.Pattern
    key: str
    categories: tuple[str, ...]  # the vocabulary's category (or "category:subcategory") it must agree with
    visits: bool  # counted in visits ("8 physical therapy visits")
    places: bool  # the body part the heading names is said ("an MRI scan of your lower back")


_VISITS, _PART, _ALONE = (True, True), (False, True), (False, False)
# First match that agrees with the vocabulary wins (a modality given as a course of sessions is
# Rehabilitation, as a unit to buy or rent DMEPOS: issue 16). A heading the vocabulary files elsewhere ("Labs -
# PT/PTT" is a lab test, not physical therapy) is not named by the rule that disagrees.
_SERVICES: list[_Service] = [
    _Service(re.compile(p, re.I), key, tuple(cats.split("|")), *how)
    for p, key, cats, how in [
        (r"hand therap", "hand_therapy", "Rehabilitation", _VISITS),
        (r"physical therap|physiotherap|\bpt\b", "physical_therapy", "Rehabilitation", _VISITS),
        (r"occupational therap|\bot\b", "occupational_therapy", "Rehabilitation", _VISITS),
        (r"aqua(?:tic)? therap|pool therap", "water_therapy", "Rehabilitation", _VISITS),
        (r"manual therap", "manual_therapy", "Rehabilitation", _VISITS),
        (r"therapeutic exercise", "exercise_therapy", "Rehabilitation", _VISITS),
        (r"myofascial release", "myofascial_release", "Rehabilitation", _VISITS),
        (r"electro[- ]?acupuncture|elect\w* acupuncture", "electro_acupuncture", "Rehabilitation", _VISITS),
        (r"acupuncture", "acupuncture", "Rehabilitation", _VISITS),
        (r"chiropract", "chiropractic", "Rehabilitation", _VISITS),
        (r"massage", "massage", "Rehabilitation", _VISITS),
        (r"infrared", "infrared_heat", "Therapies|Rehabilitation", _VISITS),
        (r"biofeedback", "biofeedback", "Therapies|Rehabilitation", _VISITS),
        (r"shock ?wave|\beswt\b", "shockwave", "Therapies|Rehabilitation", _VISITS),
        (r"electrical stimulation|electric stimulation", "electrical_stimulation", "DMEPOS|Rehabilitation", _VISITS),
        (r"cognitive behavio|\bcbt\b|psychotherap|counseling", "talk_therapy", "Psych Services", _VISITS),
        (r"\bmri\b|magnetic resonance", "mri", "Diagnostic Testing", _PART),
        (r"x-?rays?\b|radiograph", "x_rays", "Diagnostic Testing", _PART),
        (r"\bct\b|cat scan|computed tomogra", "ct", "Diagnostic Testing", _PART),
        (r"bone scan", "bone_scan", "Diagnostic Testing", _PART),
        (r"(?=.*\bemg\b)(?=.*(?:\bncv\b|\bncs\b|nerve conduction))", "emg_ncv", "Diagnostic Testing", _PART),
        (r"\bemg\b|electromyogra", "emg", "Diagnostic Testing", _PART),
        (r"\bncv\b|\bncs\b|nerve conduction", "nerve_conduction", "Diagnostic Testing", _PART),
        (r"urine drug|drug screen|drug test", "drug_test", "Diagnostic Testing", _PART),
        (r"\bekg\b|\becg\b|electrocardiogra", "ekg", "Diagnostic Testing", _ALONE),
        (r"\bcbc\b|complete blood count", "cbc", "Diagnostic Testing", _ALONE),
        (r"pt/ptt|\binr\b", "clotting_test", "Diagnostic Testing", _ALONE),
        (r"chem(?:istry)? panel|metabolic panel|\bcmp\b|\bbmp\b", "blood_chemistry", "Diagnostic Testing", _ALONE),
        (r"\bua\b|urinalysis", "urinalysis", "Diagnostic Testing", _ALONE),
        (r"\blabs?\b|laboratory|blood (?:test|work)", "labs", "Diagnostic Testing", _ALONE),
        (r"epidural", "epidural", "Injection", _PART),
        (r"facet", "facet", "Injection", _PART),
        (r"trigger point", "trigger_point", "Injection", _PART),
        (r"steroid|cortisone", "steroid", "Injection", _PART),
        (r"carpal tunnel release", "carpal_tunnel_release", "Surgery", _PART),
        (r"assistant surgeon|surgical assist|\bpa assist", "assistant_surgeon", "Surgery", _ALONE),
        (r"clearance", "clearance", "Evaluation & Management", _ALONE),
        (r"consult|referral|evaluation|office visit|follow[- ]up", "specialist_visit", 
         "Surgery:Surgical Consult|Evaluation & Management|Psych Services:E&M", _PART),
        (r"home health|\brn\b|nurse|nursing care", "home_nurse", "Home Health", _ALONE),
        (r"transport", "transportation", "Transportation", _ALONE),
        (r"functional restoration|\bfrp\b", "functional_restoration", "Programs", _ALONE),
        (r"inpatient rehab|acute inpatient", "inpatient_rehab", "Programs", _ALONE),
        (r"\btens\b", "tens", "DMEPOS", _ALONE),
        (r"wheelchair", "wheelchair", "DMEPOS", _ALONE),
        (r"walker", "walker", "DMEPOS", _ALONE),
        (r"commode", "commode", "DMEPOS", _ALONE),
        (r"shower chair|bath chair", "shower_chair", "DMEPOS", _ALONE),
        (r"cold therapy|cryotherapy|vascutherm|game ready|polar care", "cold_therapy", "DMEPOS", _ALONE),
        (r"sling", "sling", "DMEPOS", _ALONE),
    ]]
_PURCHASE = re.compile(r"^\s*purchase\s+of\s+(?:an?\s+)?", re.I)
_UNKNOWN = re.compile(r"\(?\bunknown\s+(?:quantity|number|amount)\)?", re.I)
_MORE = re.compile(r"\badditional\b|\bcontinu(?:ed|ation)\b|\bmore\b", re.I)
_POST_OP = re.compile(r"\bpost[- ]?op(?:erative)?\b", re.I)
_ASSOCIATED = re.compile(r"^\s*associated\s+surgical\s+services?\s*:\s*", re.I)
_RETRO = re.compile(r"\bretrospective\b\s*:?\s*", re.I)
_CUT = re.compile(r"\b(?:to evaluate|to rule out|for evaluation|due to|because)\b", re.I)

_UNPAIRED = {"neck", "upper_back", "low_back", "spine", "head", "psych", "other"}  # regions without a side
# paired body parts: the word in the heading → the body part (each language's `BODY_PARTS`)
_PAIRED = {
    "shoulder": "shoulder", "elbow": "elbow", "forearm": "forearm", "wrist": "wrist", "hand": "hand",
    "finger": "finger", "thumb": "thumb", "carpal": "wrist", "arm": "arm", "upper extremit": "arm",
    "upper limb": "arm", "hip": "hip", "pelvi": "pelvis", "knee": "knee", "leg": "leg", "lower extremit": "leg",
    "lower limb": "leg", "ankle": "ankle", "foot": "foot", "feet": "foot", "toe": "toe", "heel": "heel",
    "eye": "eye",
}
_ABBREVIATED_LIMB = {"rue": "arm", "lue": "arm", "bue": "arm", "rle": "leg", "lle": "leg", "ble": "leg"}
# a region word the table above does not know ("rotator cuff", "patella", "thigh") is said as its region's
# one body part, in the singular; the foot-and-ankle, hand-and-wrist and hip-and-pelvis regions are no one part
_REGION_PART = {"shoulder": "shoulder", "elbow": "elbow", "knee": "knee", "eye": "eye", "upper_extremity": "arm",
                "lower_extremity": "leg"}


def _paired_key(word: str) -> str | None:
    w = word.lower().strip()
    if w in _ABBREVIATED_LIMB:
        return _ABBREVIATED_LIMB[w]
    return next((key for key in sorted(_PAIRED, key=len, reverse=True) if key in w), None)


def _region_phrases(text: str, lang: Lang) -> list[str]:
    """The body parts a heading names, in everyday words (English without "your")."""
    side, _, _ = sides(text)
    phrases: list[str] = []
    for name, start, end in regions(text):
        word = text[start:end].lower()
        if name == "trunk":
            phrases += [v for k, v in lang.TRUNK.items() if k in word][:1]
            continue
        key = _paired_key(word) if name not in _UNPAIRED else None
        part = _PAIRED[key] if key is not None else _REGION_PART.get(name)
        if part is None:
            phrases += [lang.REGIONS[name]] if name in lang.REGIONS else []
            continue
        plural = key is not None and word.endswith(("s", "feet")) and key != "pelvi"
        phrases.append(lang.body_part(lang.BODY_PARTS[part], side, plural))
    return list(dict.fromkeys(phrases))


def plain_request(item: DisputedItem, letter: str, language: Language) -> str:
    """The request in everyday words, by rules; the heading itself where the rules do not know it
    (in Spanish, quoted and introduced in Spanish). Every number used is one the letter prints (a
    total the letter never states is not computed)."""
    lang = languages.get(language)
    if item.modified_by_ur and not item.disputed_portion:
        return lang.templates["disputed_part"]
    if not item.request.strip():  # a damaged heading: no words to say it by
        return lang.templates["planted_request"]
    text, suffix = _request_words(clean(item.disputed_portion or item.request), lang)
    match = classify(text)
    if match and match.category == "Pharmaceuticals":
        return lang.medicine(text, match, suffix)
    agrees = {match.category, f"{match.category}:{match.subcategory}"} if match else set()
    service = next((s for s in _SERVICES if s.pattern.search(text) and agrees & set(s.categories)), None)
    if service is None or len(service.pattern.findall(re.sub(r"\([^)]*\)", " ", text))) > 1:
        return lang.as_printed(text, suffix)  # unknown, or several requests ("MRI (magnetic ...)" is one)
    count, freq, weeks, raw = _visit_numbers(text, letter, service.visits)
    places = _region_phrases(_CUT.split(text)[0], lang) if service.places else []
    core = lang.request_core(lang.SERVICES[service.key], count, bool(_MORE.search(text)), service.visits, places)
    if _PURCHASE.search(text):
        core = lang.templates["purchase"].format(core=core)
    if raw:
        said = lang.quantity(raw)
        core += f" ({said})" if said else lang.words["letter_says"].format(raw=raw)
    elif freq is not None or weeks is not None:
        said = [lang.times(freq)] if freq is not None else []
        core += ", " + " ".join(said + ([f"{lang.words['for_time']} {lang.weeks(weeks)}"] if weeks is not None else []))
    return core + suffix


def _request_words(heading: str, lang: Lang) -> tuple[str, str]:
    """The heading without its administrative words, and what they said as a suffix in words
    ("after surgery", "for the surgery", an unknown quantity)."""
    text, associated = _ASSOCIATED.subn("", heading)
    text, post_op = _POST_OP.subn("", _RETRO.sub("", text).strip())
    text, unknown = _UNKNOWN.subn("", text.strip(" -:"))
    text = text.strip(" ,;:")
    suffix = lang.templates["unknown_quantity"] if unknown else ""
    if post_op:
        suffix += lang.words["after_surgery"]
    elif associated:  # "Associated surgical service: EKG" goes with the surgery, before or after it
        suffix += lang.words["for_surgery"]
    return text, suffix


def _visit_numbers(text: str, letter: str, visits: bool) -> tuple:
    """(count, per week, weeks, the letter's own words for a range or a span of days): only
    numbers the letter prints."""
    count = freq = weeks = raw = None
    found = find_quantity(text, drug=False)
    if found is not None:
        q = found[0]
        allowed = allowed_numbers(letter, facts.all_fact_text())

        def ok(v):
            return v if v is not None and v in allowed and v > 0 else None
        if visits and not _RANGE.search(q.raw or ""):
            count, freq, weeks = ok(q.count), ok(q.frequency_per_week), ok(q.duration_weeks)
        elif visits or re.search(r"\b(?:days?|weeks?|wks?|months?)\b", q.raw or "", re.I):
            raw = tidy(q.raw or "")  # a range, or how long a device or stay is for: the letter's words
    return count, freq, weeks, raw


_RANGE = re.compile(r"\d\s*(?:-|to)\s*\d|\b\w+\s+to\s+\w+\b")


# -- lines to check on paper --------------------------------------------------------------------

def notices(det: Determination) -> list[Notice]:
    """One notice for each line the parse could not take as it stands (a heading-and-decision line it
    ignored, an item whose decision the rationale disagrees with) and each other suspicious stretch
    of the letter: the line shortened, phone numbers and links blanked; a line inside one already
    quoted is not quoted again."""
    lines = []
    by_index = {i.index: i for i in det.items}
    for c in det.conflicts:
        if c.field == "items" and c.other:
            lines.append(c.other)  # the ignored "heading: Decision" line
        elif (m := re.match(r"items\[(\d+)\]", c.field)) and int(m.group(1)) in by_index:
            item = by_index[int(m.group(1))]
            lines.append(f"{item.request}: {item.decision.capitalize()}")
    lines += [f.evidence.quote for f in det.suspicious]
    out: list[Notice] = []
    seen: list[str] = []
    for line in lines:
        key = " ".join(clean(line).lower().split())
        if key and not any(s in key or key in s for s in seen):
            seen.append(key)
            out.append(Notice(quote=_short_quote(line)))
    return out


_CONTACT_NOTES = {"a phone number", "a link", "an e-mail address", "a web address"}
QUOTE_CHARS = 80


def _short_quote(line: str) -> str:
    """`line` in one line of at most QUOTE_CHARS characters, without invisible characters, with every
    phone number, link and address blanked ("…")."""
    text = " ".join(clean(line).replace("«", "\"").replace("»", "\"").split()).rstrip(" .;:,")
    spans = [(s, e) for kind, note, s, e in findings_in(text, section=None) if kind == "contact" and note in _CONTACT_NOTES]
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + "…" + text[end:]
    if len(text) > QUOTE_CHARS:
        text = text[:QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return text
