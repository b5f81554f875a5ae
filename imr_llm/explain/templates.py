"""The offline writer: a whole `PatientExplanation` from the parse, by fixed templates.

No model, no network: decisions and status from the parser and the vetted facts; the plain
request from the heading by the vocabulary, region, side and quantity rules (else the heading
itself); the "why" and "what could help" points specific to the letter from the rule-based
simplifier (`points.py`), each kept only when it passes the per-point guards, and the generic
points (the decision, the reviewer's guideline families, one vetted line for upheld items) where
there are fewer than two. A model writer (`writer.py`) replaces points one by one. Written for
about a 6th-grade reader.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..enrich.quantity import NUMBER_WORDS, find_quantity
from ..enrich.vocabulary import classify, classify_drug, regions, sides
from ..reading import SourceText
from ..safety import findings_in, overlapping
from ..schema import Determination, DisputedItem
from . import facts
from .guards import PointGuard
from .model import ExplainedItem, Language, Notice, PatientExplanation, Point, SuspiciousMark, WrittenBy
from .points import rule_points
from .text import allowed_numbers, clean, fmt_number

# -- headline ----------------------------------------------------------------------------------

HEADLINES: dict[tuple[str, bool], dict[str, str]] = {  # (outcome, one item?) → language → text
    ("all_upheld", True): {"en": "The treatment your doctor asked for is still not approved.",
                           "es": "El tratamiento que pidió su médico sigue sin aprobarse."},
    ("all_upheld", False): {"en": "None of the treatments your doctor asked for were approved.",
                            "es": "Ninguno de los tratamientos que pidió su médico fue aprobado."},
    # UR had approved part of a request: the review did not approve the rest, the approved part stays
    ("all_upheld_modified", True): {
        "en": "The review did not approve the part of the request that was still in dispute. The part already "
              "approved stays approved.",
        "es": "La revisión no aprobó la parte de la solicitud que seguía en disputa. La parte que ya se aprobó "
              "sigue aprobada."},
    ("all_upheld_modified", False): {
        "en": "The review did not approve any of the requests that were still in dispute. Any part already "
              "approved stays approved.",
        "es": "La revisión no aprobó ninguna de las solicitudes que seguían en disputa. Lo que ya se aprobó "
              "sigue aprobado."},
    ("all_overturned", True): {"en": "Good news: the treatment your doctor asked for is now approved.",
                               "es": "Buenas noticias: el tratamiento que pidió su médico ahora está aprobado."},
    ("all_overturned", False): {"en": "Good news: all the treatments your doctor asked for are now approved.",
                                "es": "Buenas noticias: todos los tratamientos que pidió su médico ahora están aprobados."},
    ("mixed", False): {"en": "Some of the treatments your doctor asked for are now approved, and some are not.",
                       "es": "Algunos de los tratamientos que pidió su médico ahora están aprobados, y otros no."},
}

# -- why: template points ----------------------------------------------------------------------

WHY_VERDICT = {
    "upheld": {"en": "The reviewer decided this treatment is not medically necessary for you now.",
               "es": "El revisor decidió que este tratamiento no es médicamente necesario para usted ahora."},
    "overturned": {"en": "The reviewer decided this treatment is medically necessary for you.",
                   "es": "El revisor decidió que este tratamiento es médicamente necesario para usted."},
}
WHY_DECISION = {  # when the rationale has no verdict that agrees with the decision
    "upheld": {"en": "The letter marks this request as not approved (upheld).",
               "es": "La carta marca esta solicitud como no aprobada («Upheld»)."},
    "overturned": {"en": "The letter marks this request as approved (overturned).",
                   "es": "La carta marca esta solicitud como aprobada («Overturned»)."},
}
WHY_GUIDELINES = {
    "upheld": {"en": "The reviewer checked the medical treatment guidelines ({families}). The request did not meet them.",
               "es": "El revisor consultó las guías de tratamiento médico ({families}). La solicitud no las cumplía."},
    "overturned": {"en": "The reviewer checked the medical treatment guidelines ({families}). The request met them.",
                   "es": "El revisor consultó las guías de tratamiento médico ({families}). La solicitud sí las cumplía."},
}
WHY_OTHER_SOURCES = {
    "upheld": {"en": "The reviewer used other medical sources. The request did not meet them.",
               "es": "El revisor usó otras fuentes médicas. La solicitud no las cumplía."},
    "overturned": {"en": "The reviewer used other medical sources. The request met them.",
                   "es": "El revisor usó otras fuentes médicas. La solicitud sí las cumplía."},
}
WHY_NO_GUIDELINE = {"en": "The letter does not name a guideline for this decision.",
                    "es": "La carta no nombra una guía para esta decisión."}
OTHER_SOURCES = {"en": "other sources", "es": "otras fuentes"}

HELP_GENERIC = {
    "en": "Your doctor could send a new request with notes that show what has changed. For example: new exam "
          "results, new test results, or how past care helped you.",
    "es": "Su médico podría enviar una nueva solicitud con notas que muestren qué ha cambiado. Por ejemplo: nuevos "
          "resultados del examen, nuevas pruebas, o cómo le ayudó la atención anterior.",
}

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

# region → (English, plural) and Spanish (noun, gender, plural); paired regions take a side.
_REGION_EN = {
    "neck": "neck", "upper_back": "upper back", "low_back": "lower back", "spine": "spine", "head": "head",
    "psych": "mental health", "other": "body",
}
_REGION_ES = {
    "neck": ("el cuello", None), "upper_back": ("la parte alta de la espalda", None),
    "low_back": ("la parte baja de la espalda", None), "spine": ("la columna", None),
    "head": ("la cabeza", None),
}
# trunk words → (English, Spanish)
_TRUNK = {"chest": ("chest", "el pecho"), "abdom": ("belly", "el abdomen"), "rib": ("ribs", "las costillas"),
          "trunk": ("trunk", "el tronco")}
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


def _region_phrases(text: str, language: Language) -> list[str]:
    """The body parts a heading names, in everyday words (English without "your")."""
    side, _, _ = sides(text)
    phrases: list[str] = []
    for name, start, end in regions(text):
        word = text[start:end].lower()
        if name == "trunk":
            trunk = next((v for k, v in _TRUNK.items() if k in word), None)
            if trunk:
                phrases.append(trunk[0] if language == "en" else trunk[1])
            continue
        key = _paired_key(word) if name not in _REGION_EN else None
        if key is None:
            phrase = _REGION_EN.get(name) if language == "en" else (_REGION_ES.get(name) or (None,))[0]
            if phrase is not None:
                phrases.append(phrase)
            continue
        en, en_pl, es, gender, es_pl = _PAIRED[key]
        plural = word.endswith(("s", "feet")) and key != "pelvi"
        if language == "en":
            if side == "bilateral":
                phrases.append(f"both {en_pl}")
            elif side in ("left", "right"):
                phrases.append(f"{side} {en_pl if plural else en}")
            else:
                phrases.append(en_pl if plural else en)
        else:
            if side == "bilateral":
                phrases.append(f"{'ambos' if gender == 'm' else 'ambas'} {es_pl}")
                continue
            article = ("los" if gender == "m" else "las") if plural else ("el" if gender == "m" else "la")
            noun = es_pl if plural else es
            if side in ("left", "right"):
                adj = {"left": "izquierd", "right": "derech"}[side] + ("o" if gender == "m" else "a") + ("s" if plural else "")
                phrases.append(f"{article} {noun} {adj}")
            else:
                phrases.append(f"{article} {noun}")
    seen: list[str] = []
    for p in phrases:
        if p not in seen:
            seen.append(p)
    return seen


def _join(parts: list[str], language: Language) -> str:
    conj = " and " if language == "en" else " y "
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + conj + parts[-1]


def _your(places: list[str]) -> str:
    joined = _join(places, "en")
    return "both your " + joined[5:] if joined.startswith("both ") else "your " + joined


def _times(n: float, language: Language) -> str:
    if language == "en":
        return f"{fmt_number(n)} time{'s' if n != 1 else ''} a week"
    return f"{fmt_number(n)} {'veces' if n != 1 else 'vez'} por semana"


def _weeks(n: float, language: Language) -> str:
    if language == "en":
        return f"{fmt_number(n)} week{'s' if n != 1 else ''}"
    return f"{fmt_number(n)} semana{'s' if n != 1 else ''}"


PLANTED_REQUEST = {"en": "the treatment in this request", "es": "el tratamiento de esta solicitud"}
# A UR-modified item whose disputed part the parse could not single out: its whole heading (original
# request, authorized part and the rest) would read as a run-on sentence.
DISPUTED_PART = {"en": "the part of the request that was still in dispute",
                 "es": "la parte de la solicitud que seguía en disputa"}
AS_PRINTED_ES = {"treatment": "un tratamiento{suffix} (la carta lo llama: «{words}»)",
                 "medicine": "un medicamento{suffix} (la carta lo llama: «{words}»)"}
UNKNOWN_QUANTITY = {"en": " (unknown quantity)", "es": " (cantidad desconocida)"}
PURCHASE = {"en": "buying {core}", "es": "la compra de {core}"}


def plain_request(item: DisputedItem, letter: str, language: Language) -> str:
    """The request in everyday words, by rules; the heading itself where the rules do not know it
    (in Spanish, quoted and introduced in Spanish). Every number used is one the letter prints (a
    total the letter never states is not computed)."""
    if item.modified_by_ur and not item.disputed_portion:
        return DISPUTED_PART[language]
    text, suffix = _request_words(clean(item.disputed_portion or item.request), language)
    match = classify(text)
    if match and match.category == "Pharmaceuticals":
        return _plain_medicine(text, match, suffix, language)
    agrees = {match.category, f"{match.category}:{match.subcategory}"} if match else set()
    service = next((s for s in _SERVICES if s.pattern.search(text) and agrees & set(s.categories)), None)
    if service is None or len(service.pattern.findall(re.sub(r"\([^)]*\)", " ", text))) > 1:
        return _as_printed(text, language, suffix)  # unknown, or several requests ("MRI (magnetic ...)" is one)
    visits = bool(service.en_visit)
    count, freq, weeks, raw = _visit_numbers(text, letter, visits)
    more = bool(_MORE.search(text))
    places = _region_phrases(_CUT.split(text)[0], language) if service.joins else []
    joins = ("for", "para") if visits else service.joins
    if language == "en":
        if visits and count is not None:
            core = f"{fmt_number(count)} {'more ' if more else ''}{service.en_visit} visit{'s' if count != 1 else ''}"
        else:
            core = f"{'more ' if more and visits else ''}{service.en}"
        if places:
            core += f" {joins[0]} " + _your(places)
    else:
        if visits and count is not None:
            core = f"{fmt_number(count)} sesi{'ones' if count != 1 else 'ón'}{' más' if more else ''} de {service.es}"
        else:
            core = f"{'más ' if more and visits else ''}{service.es}"
        if places:
            core += f" {joins[1]} " + _join(places, "es")
        core = core.replace(" de el ", " del ")
    if _PURCHASE.search(text):
        core = PURCHASE[language].format(core=core)
    if raw:
        spanish = quantity_es(raw) if language == "es" else raw
        core += f" ({spanish})" if spanish else f" (la carta dice: «{raw}»)"
    elif freq is not None and weeks is not None:
        core += f", {_times(freq, language)} {'for' if language == 'en' else 'durante'} {_weeks(weeks, language)}"
    elif freq is not None:
        core += f", {_times(freq, language)}"
    elif weeks is not None:
        core += f", {'for' if language == 'en' else 'durante'} {_weeks(weeks, language)}"
    return core + suffix


def _request_words(heading: str, language: Language) -> tuple[str, str]:
    """The heading without its administrative words, and what they said as a suffix in words
    ("after surgery", "for the surgery", an unknown quantity)."""
    associated = bool(_ASSOCIATED.search(heading))
    text = _RETRO.sub("", _ASSOCIATED.sub("", heading)).strip()
    post_op = bool(_POST_OP.search(text))
    text = _POST_OP.sub("", text).strip(" -:")
    unknown = bool(_UNKNOWN.search(text))
    text = _UNKNOWN.sub("", text).strip(" ,;:")
    suffix = UNKNOWN_QUANTITY[language] if unknown else ""
    if post_op:
        suffix += " after surgery" if language == "en" else " después de la cirugía"
    elif associated:  # "Associated surgical service: EKG" goes with the surgery, before or after it
        suffix += " for the surgery" if language == "en" else " para la cirugía"
    return text, suffix


def _plain_medicine(text: str, match, suffix: str, language: Language) -> str:
    if language == "en":
        return "the medicine " + _tidy(text) + suffix
    # a drug's name, strength and count read the same in Spanish; any other word ("patch", "refills") is quoted
    rest = re.findall(r"[^\W\d_]+", _DOSE.sub(" ", text[:match.start] + text[match.end:]))
    named = all((w.isupper() and len(w) <= 4) or classify_drug(w) for w in rest)  # HCL, ER; "(Mobic)"
    return ("el medicamento " + _tidy(text) + suffix if named
            else AS_PRINTED_ES["medicine"].format(suffix=suffix, words=_tidy(text)))


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
            raw = _tidy(q.raw or "")  # a range, or how long a device or stay is for: the letter's words
    return count, freq, weeks, raw


_RANGE = re.compile(r"\d\s*(?:-|to)\s*\d|\b\w+\s+to\s+\w+\b")
_DOSE = re.compile(r"\d+(?:[.,/]\d+)*\s*(?:mg|mcg|meq|ml|gm|g|%)?|#|[^\w\s]", re.I)

# Quantity words in Spanish: each rule on the lower-cased words, in order; the result is used only
# when every word left is one of _QUANTITY_ES_WORDS (else the letter's words are quoted).
_NUMBER_WORD = re.compile(r"\b(" + "|".join(sorted((w for w in NUMBER_WORDS if w not in ("single", "once", "twice", "thrice")),
                                                    key=len, reverse=True)) + r")\b")
_QUANTITY_ES: list[tuple[re.Pattern, str]] = [(re.compile(p), r) for p, r in [
    (r"\bonce\b", "1 time"), (r"\btwice\b", "2 times"), (r"\bthrice\b", "3 times"),
    (r"(\d+)\s*(?:-|to)\s*(\d+)", r"\1 a \2"),
    (r"\b(\d+(?: a \d+)?)[\s-]*(days?|weeks?|wks?|months?)\s+rental\b", r"alquiler por \1 \2"),
    (r"\brental\s+(?:for\s+)?", "alquiler por "),
    (r"\s*(?:x|times?)\s*(?:a|per|/|each)?\s*(?:weekly|wk|week)\b", " veces por semana"),
    (r"\bweekly\b", "veces por semana"),
    (r"\bdaily\b", "a diario"),
    (r"\b(?:for|over|times|x)\s+(?=\d)", "durante "),
    (r"\b(?:weeks?|wks?)\b", "semanas"), (r"\bdays?\b", "días"), (r"\bmonths?\b", "meses"),
    (r"\b(?:sessions?|visits?|treatments?)\b", "sesiones"),
    (r"\b1 (veces|semanas|días|meses|sesiones)\b", lambda m: "1 " + _SINGULAR_ES[m.group(1)]),
]]
_SINGULAR_ES = {"veces": "vez", "semanas": "semana", "días": "día", "meses": "mes", "sesiones": "sesión"}
_QUANTITY_ES_WORDS = {"a", "por", "durante", "alquiler", "diario", *_SINGULAR_ES, *_SINGULAR_ES.values()}


def quantity_es(words: str) -> str | None:
    """How much, how often and how long, in Spanish ("1 to 2 times per week for 4 weeks" → "1 a 2
    veces por semana durante 4 semanas"); None when the words hold anything the rules do not know."""
    text = _NUMBER_WORD.sub(lambda m: fmt_number(NUMBER_WORDS[m.group(1)]), words.lower())
    for regex, spanish in _QUANTITY_ES:
        text = regex.sub(spanish, text)
    text = _tidy(re.sub(r"\s*,\s*", " ", text))
    return text if set(re.findall(r"[^\W\d_]+", text)) <= _QUANTITY_ES_WORDS else None


def _as_printed(text: str, language: Language, suffix: str = "") -> str:
    """The heading as printed. English: in lower case except short acronyms (EKG, TENS), unless it is
    all capitals. Spanish: quoted as printed, and introduced in Spanish."""
    if language == "es":
        return AS_PRINTED_ES["treatment"].format(suffix=suffix, words=_tidy(text))
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
    return _tidy(" ".join(out)) + suffix


def _tidy(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" .,;:").replace("«", "\"").replace("»", "\"")


# -- the writer --------------------------------------------------------------------------------

def headline(det: Determination, language: Language) -> str:
    outcome = det.outcome or "all_upheld"
    if outcome == "all_upheld" and any(i.modified_by_ur for i in det.items):
        outcome = "all_upheld_modified"  # not "none approved": UR had approved a part, and it stays approved
    return HEADLINES[(outcome, len(det.items) == 1 and outcome != "mixed")][language]


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


def why_points(item: DisputedItem, language: Language, specific: list[Point] | None = None) -> list[Point]:
    """The points specific to this letter (written by the model or the rules, each guarded), at most
    three; with fewer than two, the generic template points after them."""
    points = list((specific or [])[:3])
    if len(points) >= 2:
        return points
    decision = item.decision
    agrees = (item.rationale_verdict == "not_medically_necessary") == (decision == "upheld") \
        if item.rationale_verdict else False
    if not points:
        if agrees:
            points.append(Point(text=WHY_VERDICT[decision][language], evidence=item.evidence.get("verdict_phrase"),
                                ref="verdict_phrase"))
        else:
            points.append(Point(text=WHY_DECISION[decision][language], evidence=item.evidence.get("decision"),
                                ref="decision"))
    basis = item.reviewer_basis
    if basis is not None:
        named = [f for f in basis.sources if f in ("MTUS", "ODG", "ACOEM")]
        if named:
            families = _join(named + ([OTHER_SOURCES[language]] if "OTHER" in basis.sources else []), language)
            text = WHY_GUIDELINES[decision][language].format(families=families)
        elif "OTHER" in basis.sources:
            text = WHY_OTHER_SOURCES[decision][language]
        else:
            text = WHY_NO_GUIDELINE[language]
        points.append(Point(text=text, evidence=basis.evidence, ref="reviewer_basis"))
    return points


def what_could_help(item: DisputedItem, language: Language, specific: list[Point] | None = None) -> list[Point]:
    """Upheld items: what the doctor could send (the specific points, at most three), else the generic line."""
    if item.decision != "upheld":
        return []
    return list(specific[:3]) if specific else [Point(text=HELP_GENERIC[language])]


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
    if language not in facts.LANGUAGES:
        raise ValueError(f"unsupported language {language!r}: use one of {', '.join(facts.LANGUAGES)}")
    raw = source.raw if isinstance(source, SourceText) else source
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
            plain_request=PLANTED_REQUEST[language] if planted else plain_request(item, raw, language),
            decision=item.decision,
            status=facts.status(item.decision, item.modified_by_ur, language),
            decision_evidence=item.evidence.get("decision"),
            already_approved=clean(item.ur_authorized) if item.modified_by_ur and item.ur_authorized else None,
            why=why_points(item, language, why),
            what_could_help=what_could_help(item, language, helps),
        ))
    decisions = [i.decision for i in det.items]
    explanation = PatientExplanation(
        headline=headline(det, language),
        notices=notices(det),
        from_picture=bool(det.provenance is not None and det.provenance.ocr is not None),
        outcome=det.outcome,
        case_number=det.case_number,
        items=items,
        next_steps=facts.next_steps(decisions, language),
        disclaimer=facts.DISCLAIMER[language],
        language=language,
        facts_version=facts.FACTS_VERSION,
        written_by=WrittenBy(kind="template"),
        suspicious=[SuspiciousMark(kind=f.kind, section=f.section, note=f.note, start=f.evidence.start,
                                   end=f.evidence.end) for f in det.suspicious],
    )
    explanation.glossary = facts.glossary(shown_text(explanation), language)
    return explanation


def shown_text(expl: PatientExplanation) -> str:
    """All the text a worker reads, in order (without the glossary)."""
    parts = [expl.headline]
    for item in expl.items:
        parts += [item.plain_request, item.status]
        if item.already_approved:
            parts.append(item.already_approved)
        parts += [p.text for p in item.why] + [h.text for h in item.what_could_help]
    parts += [t for s in expl.next_steps for t in (s.text, s.contact) if t]
    parts.append(expl.disclaimer)
    return "\n".join(parts)
