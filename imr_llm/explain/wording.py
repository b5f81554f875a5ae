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
    """A treatment the rules name in everyday words, in both languages."""

    pattern: re.Pattern
    en: str
    en_visit: str  # before "visits" ("8 physical therapy visits"); "" when it is not counted in visits
    es: str
    categories: tuple[str, ...]  # the vocabulary's category (or "category:subcategory") it must agree with
    joins: tuple[str, str] | None = ("of", "de")  # how a body part joins it (visits: "for"/"para"); None: no body part


# First match that agrees with the vocabulary wins (a modality given as a course of sessions is
# Rehabilitation, as a unit to buy or rent DMEPOS: issue 16). A heading the vocabulary files elsewhere ("Labs -
# PT/PTT" is a lab test, not physical therapy) is not named by the rule that disagrees.
_SERVICES: list[_Service] = [
    _Service(re.compile(p, re.I), en, visit, es, tuple(cats.split("|")),
             tuple(joins) if len(joins) == 2 else joins[0] if joins else ("of", "de"))
    for p, en, visit, es, cats, *joins in [
        (r"hand therap", "hand therapy", "hand therapy", "terapia de la mano", "Rehabilitation"),
        (r"physical therap|physiotherap|\bpt\b", "physical therapy", "physical therapy", "terapia física",
         "Rehabilitation"),
        (r"occupational therap|\bot\b", "occupational therapy", "occupational therapy", "terapia ocupacional",
         "Rehabilitation"),
        (r"aqua(?:tic)? therap|pool therap", "water therapy", "water therapy", "terapia en el agua", "Rehabilitation"),
        (r"manual therap", "manual therapy", "manual therapy", "terapia manual", "Rehabilitation"),
        (r"therapeutic exercise", "exercise therapy", "exercise therapy", "ejercicio terapéutico", "Rehabilitation"),
        (r"myofascial release", "myofascial release (a kind of massage)", "myofascial release",
         "liberación miofascial (un tipo de masaje)", "Rehabilitation"),
        (r"electro[- ]?acupuncture|elect\w* acupuncture", "electro-acupuncture", "electro-acupuncture",
         "electroacupuntura", "Rehabilitation"),
        (r"acupuncture", "acupuncture", "acupuncture", "acupuntura", "Rehabilitation"),
        (r"chiropract", "chiropractic care", "chiropractic", "atención quiropráctica", "Rehabilitation"),
        (r"massage", "massage therapy", "massage", "terapia de masaje", "Rehabilitation"),
        (r"infrared", "infrared heat therapy", "infrared heat", "terapia de calor infrarrojo", "Therapies|Rehabilitation"),
        (r"biofeedback", "biofeedback", "biofeedback", "biorretroalimentación", "Therapies|Rehabilitation"),
        (r"shock ?wave|\beswt\b", "shockwave therapy", "shockwave therapy", "terapia de ondas de choque", "Therapies|Rehabilitation"),
        (r"electrical stimulation|electric stimulation", "electrical stimulation", "electrical stimulation",
         "estimulación eléctrica", "DMEPOS|Rehabilitation"),
        (r"cognitive behavio|\bcbt\b|psychotherap|counseling", "talk therapy (counseling)", "talk therapy",
         "terapia psicológica", "Psych Services"),
        (r"\bmri\b|magnetic resonance", "an MRI scan", "", "una resonancia magnética (MRI)", "Diagnostic Testing"),
        (r"x-?rays?\b|radiograph", "x-rays", "", "radiografías", "Diagnostic Testing"),
        (r"\bct\b|cat scan|computed tomogra", "a CT scan", "", "una tomografía (CT)", "Diagnostic Testing"),
        (r"bone scan", "a bone scan", "", "una gammagrafía ósea", "Diagnostic Testing"),
        (r"(?=.*\bemg\b)(?=.*(?:\bncv\b|\bncs\b|nerve conduction))", "nerve and muscle tests (EMG and nerve conduction)", "",
         "pruebas de nervios y músculos (EMG y conducción nerviosa)", "Diagnostic Testing"),
        (r"\bemg\b|electromyogra", "a muscle and nerve test (EMG)", "", "una prueba de músculos y nervios (EMG)",
         "Diagnostic Testing"),
        (r"\bncv\b|\bncs\b|nerve conduction", "a nerve test (nerve conduction study)", "",
         "una prueba de nervios (estudio de conducción nerviosa)", "Diagnostic Testing"),
        (r"urine drug|drug screen|drug test", "a urine drug test", "", "una prueba de drogas en la orina",
         "Diagnostic Testing"),
        (r"\bekg\b|\becg\b|electrocardiogra", "a heart test (EKG)", "", "una prueba del corazón (EKG)",
         "Diagnostic Testing", None),
        (r"\bcbc\b|complete blood count", "a blood count (CBC)", "", "un conteo sanguíneo (CBC)", "Diagnostic Testing", None),
        (r"pt/ptt|\binr\b", "a blood clotting test", "", "una prueba de coagulación de la sangre", "Diagnostic Testing", None),
        (r"chem(?:istry)? panel|metabolic panel|\bcmp\b|\bbmp\b", "a blood chemistry test", "",
         "una prueba de química de la sangre", "Diagnostic Testing", None),
        (r"\bua\b|urinalysis", "a urine test", "", "un análisis de orina", "Diagnostic Testing", None),
        (r"\blabs?\b|laboratory|blood (?:test|work)", "lab tests", "", "análisis de laboratorio", "Diagnostic Testing", None),
        (r"epidural", "an epidural injection", "", "una inyección epidural", "Injection", "in", "en"),
        (r"facet", "facet joint injections", "", "inyecciones en las articulaciones de la columna (facetas)",
         "Injection", "in", "en"),
        (r"trigger point", "trigger point injections", "", "inyecciones en puntos gatillo", "Injection", "in", "en"),
        (r"steroid|cortisone", "a steroid injection", "", "una inyección de esteroides", "Injection", "in", "en"),
        (r"carpal tunnel release", "carpal tunnel surgery", "", "cirugía del túnel carpiano", "Surgery", "on", "de"),
        (r"assistant surgeon|surgical assist|\bpa assist", "an assistant for the surgery", "",
         "un asistente para la cirugía", "Surgery", None),
        (r"clearance", "a medical check-up", "", "un chequeo médico", "Evaluation & Management", None),
        (r"consult|referral|evaluation|office visit|follow[- ]up", "a visit with a specialist", "",
         "una consulta con un especialista", "Surgery:Surgical Consult|Evaluation & Management|Psych Services:E&M",
         "for", "para"),
        (r"home health|\brn\b|nurse|nursing care", "home nurse visits", "", "visitas de enfermería en casa",
         "Home Health", None),
        (r"transport", "rides to your medical visits", "", "transporte a sus citas médicas", "Transportation", None),
        (r"functional restoration|\bfrp\b", "a functional restoration program", "",
         "un programa de restauración funcional", "Programs", None),
        (r"inpatient rehab|acute inpatient", "a stay in an inpatient rehab center", "",
         "una estancia en un centro de rehabilitación", "Programs", None),
        (r"\btens\b", "a TENS unit", "", "una unidad TENS", "DMEPOS", None),
        (r"wheelchair", "a wheelchair", "", "una silla de ruedas", "DMEPOS", None),
        (r"walker", "a walker", "", "un andador", "DMEPOS", None),
        (r"commode", "a bedside commode (a portable toilet)", "", "un inodoro portátil", "DMEPOS", None),
        (r"shower chair|bath chair", "a shower chair", "", "una silla para la ducha", "DMEPOS", None),
        (r"cold therapy|cryotherapy|vascutherm|game ready|polar care", "cold therapy", "", "terapia de frío",
         "DMEPOS", None),
        (r"sling", "an arm sling", "", "un cabestrillo", "DMEPOS", None),
    ]]
_PURCHASE = re.compile(r"^\s*purchase\s+of\s+(?:an?\s+)?", re.I)
_UNKNOWN = re.compile(r"\(?\bunknown\s+(?:quantity|number|amount)\)?", re.I)
_MORE = re.compile(r"\badditional\b|\bcontinu(?:ed|ation)\b|\bmore\b", re.I)
_POST_OP = re.compile(r"\bpost[- ]?op(?:erative)?\b", re.I)
_ASSOCIATED = re.compile(r"^\s*associated\s+surgical\s+services?\s*:\s*", re.I)
_RETRO = re.compile(r"\bretrospective\b\s*:?\s*", re.I)
_CUT = re.compile(r"\b(?:to evaluate|to rule out|for evaluation|due to|because)\b", re.I)

_UNPAIRED = {"neck", "upper_back", "low_back", "spine", "head", "psych", "other"}  # regions without a side
# paired body parts: the word in the heading → (English, English plural, Spanish, gender, Spanish plural)
_PAIRED = {
    "shoulder": ("shoulder", "shoulders", "hombro", "m", "hombros"),
    "elbow": ("elbow", "elbows", "codo", "m", "codos"),
    "forearm": ("forearm", "forearms", "antebrazo", "m", "antebrazos"),
    "wrist": ("wrist", "wrists", "muñeca", "f", "muñecas"),
    "hand": ("hand", "hands", "mano", "f", "manos"),
    "finger": ("finger", "fingers", "dedo", "m", "dedos"),
    "thumb": ("thumb", "thumbs", "pulgar", "m", "pulgares"),
    "carpal": ("wrist", "wrists", "muñeca", "f", "muñecas"),
    "arm": ("arm", "arms", "brazo", "m", "brazos"),
    "upper extremit": ("arm", "arms", "brazo", "m", "brazos"),
    "upper limb": ("arm", "arms", "brazo", "m", "brazos"),
    "hip": ("hip", "hips", "cadera", "f", "caderas"),
    "pelvi": ("pelvis", "pelvis", "pelvis", "f", "pelvis"),
    "knee": ("knee", "knees", "rodilla", "f", "rodillas"),
    "leg": ("leg", "legs", "pierna", "f", "piernas"),
    "lower extremit": ("leg", "legs", "pierna", "f", "piernas"),
    "lower limb": ("leg", "legs", "pierna", "f", "piernas"),
    "ankle": ("ankle", "ankles", "tobillo", "m", "tobillos"),
    "foot": ("foot", "feet", "pie", "m", "pies"),
    "feet": ("foot", "feet", "pie", "m", "pies"),
    "toe": ("toe", "toes", "dedo del pie", "m", "dedos de los pies"),
    "heel": ("heel", "heels", "talón", "m", "talones"),
    "eye": ("eye", "eyes", "ojo", "m", "ojos"),
}
_ABBREVIATED_LIMB = {"rue": "arm", "lue": "arm", "bue": "arm", "rle": "leg", "lle": "leg", "ble": "leg"}


def _paired_key(word: str) -> str | None:
    w = word.lower().strip()
    if w in _ABBREVIATED_LIMB:
        return _ABBREVIATED_LIMB[w]
    for key in sorted(_PAIRED, key=len, reverse=True):
        if w.startswith(key) or key in w:
            return key
    return None


def _region_phrases(text: str, lang: Lang) -> list[str]:
    """The body parts a heading names, in everyday words (English without "your")."""
    side, _, _ = sides(text)
    phrases: list[str] = []
    for name, start, end in regions(text):
        word = text[start:end].lower()
        if name == "trunk":
            trunk = next((v for k, v in lang.TRUNK.items() if k in word), None)
            if trunk:
                phrases.append(trunk)
            continue
        key = _paired_key(word) if name not in _UNPAIRED else None
        if key is None:
            if (phrase := lang.REGIONS.get(name)) is not None:
                phrases.append(phrase)
            continue
        phrases.append(lang.body_part(_PAIRED[key], side, word.endswith(("s", "feet")) and key != "pelvi"))
    return list(dict.fromkeys(phrases))


def plain_request(item: DisputedItem, letter: str, language: Language) -> str:
    """The request in everyday words, by rules; the heading itself where the rules do not know it
    (in Spanish, quoted and introduced in Spanish). Every number used is one the letter prints (a
    total the letter never states is not computed)."""
    lang = languages.get(language)
    if item.modified_by_ur and not item.disputed_portion:
        return lang.templates["disputed_part"]
    text, suffix = _request_words(clean(item.disputed_portion or item.request), lang)
    match = classify(text)
    if match and match.category == "Pharmaceuticals":
        return lang.medicine(text, match, suffix)
    agrees = {match.category, f"{match.category}:{match.subcategory}"} if match else set()
    service = next((s for s in _SERVICES if s.pattern.search(text) and agrees & set(s.categories)), None)
    if service is None or len(service.pattern.findall(re.sub(r"\([^)]*\)", " ", text))) > 1:
        return lang.as_printed(text, suffix)  # unknown, or several requests ("MRI (magnetic ...)" is one)
    visits = bool(service.en_visit)
    count, freq, weeks, raw = _visit_numbers(text, letter, visits)
    places = _region_phrases(_CUT.split(text)[0], lang) if service.joins else []
    core = lang.request_core(service, count, bool(_MORE.search(text)), visits, places)
    if _PURCHASE.search(text):
        core = lang.templates["purchase"].format(core=core)
    if raw:
        said = lang.quantity(raw)
        core += f" ({said})" if said else lang.words["letter_says"].format(raw=raw)
    elif freq is not None and weeks is not None:
        core += f", {lang.times(freq)} {lang.words['for_time']} {lang.weeks(weeks)}"
    elif freq is not None:
        core += f", {lang.times(freq)}"
    elif weeks is not None:
        core += f", {lang.words['for_time']} {lang.weeks(weeks)}"
    return core + suffix


def _request_words(heading: str, lang: Lang) -> tuple[str, str]:
    """The heading without its administrative words, and what they said as a suffix in words
    ("after surgery", "for the surgery", an unknown quantity)."""
    associated = bool(_ASSOCIATED.search(heading))
    text = _RETRO.sub("", _ASSOCIATED.sub("", heading)).strip()
    post_op = bool(_POST_OP.search(text))
    text = _POST_OP.sub("", text).strip(" -:")
    unknown = bool(_UNKNOWN.search(text))
    text = _UNKNOWN.sub("", text).strip(" ,;:")
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
