"""The offline writer: a whole `PatientExplanation` from the parse, by fixed templates.

No model, no network: decisions and status from the parser and the vetted facts; the plain
request from the heading by the vocabulary, region, side and quantity rules (else the heading
itself); the "why" points from the model-filled `reasons` when a model ran (English), else from
the decision and the reviewer's guideline families; "what could help" from the missing
documentation (English, when a model ran), else one vetted line for upheld items. Written for
about a 6th-grade reader.
"""

from __future__ import annotations

import re

from ..enrich.quantity import find_quantity
from ..enrich.vocabulary import classify, regions, sides
from ..reading import SourceText
from ..safety import overlapping
from ..schema import Determination, DisputedItem
from . import facts
from .model import ExplainedItem, Language, PatientExplanation, SuspiciousMark, WhyPoint, WrittenBy
from .text import allowed_numbers, fmt_number

# -- headline ----------------------------------------------------------------------------------

HEADLINES: dict[tuple[str, bool], dict[str, str]] = {  # (outcome, one item?) → language → text
    ("all_upheld", True): {"en": "The treatment your doctor asked for is still not approved.",
                           "es": "El tratamiento que pidió su médico sigue sin aprobarse."},
    ("all_upheld", False): {"en": "None of the treatments your doctor asked for were approved.",
                            "es": "Ninguno de los tratamientos que pidió su médico fue aprobado."},
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
               "es": "La carta marca esta solicitud como no aprobada (upheld)."},
    "overturned": {"en": "The letter marks this request as approved (overturned).",
                   "es": "La carta marca esta solicitud como aprobada (overturned)."},
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
AND_OTHER = {"en": " and other sources", "es": " y otras fuentes"}

HELP_GENERIC = {
    "en": "Your doctor could send a new request with notes that show what has changed. For example: new exam "
          "results, new test results, or how past care helped you.",
    "es": "Su médico podría enviar una nueva solicitud con notas que muestren qué ha cambiado. Por ejemplo: nuevos "
          "resultados del examen, nuevas pruebas, o cómo le ayudó la atención anterior.",
}
HELP_MISSING = {"en": "With a new request, your doctor could send notes about {doc}.",
                "es": "Con una nueva solicitud, su médico podría enviar notas sobre {doc}."}

# -- plain request -----------------------------------------------------------------------------

# (pattern, English, English before "visits", Spanish, counted in visits?, the vocabulary category it
# must agree with) — first match wins. A heading the vocabulary files elsewhere ("Labs - PT/PTT" is a
# lab test, not physical therapy) is left as printed.
_SERVICES: list[tuple[re.Pattern, str, str, str, bool, str]] = [
    (re.compile(p, re.I), en, en_visit, es, visits, category) for p, en, en_visit, es, visits, category in [
        (r"hand therap", "hand therapy", "hand therapy", "terapia de la mano", True, "Rehabilitation"),
        (r"physical therap|physiotherap|\bpt\b", "physical therapy", "physical therapy", "terapia física", True,
         "Rehabilitation"),
        (r"occupational therap|\bot\b", "occupational therapy", "occupational therapy", "terapia ocupacional", True,
         "Rehabilitation"),
        (r"electro[- ]?acupuncture|elect\w* acupuncture", "electro-acupuncture", "electro-acupuncture",
         "electroacupuntura", True, "Rehabilitation"),
        (r"acupuncture", "acupuncture", "acupuncture", "acupuntura", True, "Rehabilitation"),
        (r"chiropract", "chiropractic care", "chiropractic", "atención quiropráctica", True, "Rehabilitation"),
        (r"massage", "massage therapy", "massage", "terapia de masaje", True, "Rehabilitation"),
        (r"\bmri\b|magnetic resonance", "an MRI scan", "", "una resonancia magnética (MRI)", False, "Diagnostic Testing"),
        (r"x-?rays?\b|radiograph", "x-rays", "", "radiografías", False, "Diagnostic Testing"),
        (r"\bct\b|cat scan|computed tomogra", "a CT scan", "", "una tomografía (CT)", False, "Diagnostic Testing"),
        (r"bone scan", "a bone scan", "", "una gammagrafía ósea", False, "Diagnostic Testing"),
        (r"(?=.*\bemg\b)(?=.*(?:\bncv\b|\bncs\b|nerve conduction))", "nerve and muscle tests (EMG and nerve conduction)", "",
         "pruebas de nervios y músculos (EMG y conducción nerviosa)", False, "Diagnostic Testing"),
        (r"\bemg\b|electromyogra", "a muscle and nerve test (EMG)", "", "una prueba de músculos y nervios (EMG)", False,
         "Diagnostic Testing"),
        (r"\bncv\b|\bncs\b|nerve conduction", "a nerve test (nerve conduction study)", "",
         "una prueba de nervios (estudio de conducción nerviosa)", False, "Diagnostic Testing"),
        (r"urine drug|drug screen|drug test", "a urine drug test", "", "una prueba de drogas en la orina", False,
         "Diagnostic Testing"),
    ]]
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


def plain_request(item: DisputedItem, letter: str, language: Language) -> str:
    """The request in everyday words, by rules; the heading itself where the rules do not know it.
    Every number used is one the letter prints (a total the letter never states is not computed)."""
    heading = item.disputed_portion or item.request
    associated = bool(_ASSOCIATED.search(heading))
    text = _RETRO.sub("", _ASSOCIATED.sub("", heading)).strip()
    post_op = bool(_POST_OP.search(text))
    text = _POST_OP.sub("", text).strip(" -:")
    suffix = ""
    if post_op:
        suffix = " after surgery" if language == "en" else " después de la cirugía"
    elif associated:  # "Associated surgical service: EKG" goes with the surgery, before or after it
        suffix = " for the surgery" if language == "en" else " para la cirugía"
    match = classify(text)
    category = match.category if match else None
    if category == "Pharmaceuticals":
        return ("the medicine " if language == "en" else "el medicamento ") + _tidy(text) + suffix
    service = next((entry for entry in _SERVICES if entry[0].search(text)), None)
    if service is not None and (service[5] != category or len(service[0].findall(text)) > 1):
        service = None  # the vocabulary disagrees, or the heading holds several requests: keep it as printed
    if service is None:
        return _as_printed(text, language) + suffix
    _, en, en_visit, es, visits, _ = service
    allowed = allowed_numbers(letter, facts.all_fact_text())
    found = find_quantity(text, drug=False)
    count = freq = weeks = None
    raw_quantity = None
    if found is not None:
        q = found[0]

        def ok(v):
            return v if v is not None and v in allowed and v > 0 else None
        count, freq, weeks = ok(q.count), ok(q.frequency_per_week), ok(q.duration_weeks)
        if re.search(r"\d\s*(?:-|to)\s*\d|\b\w+\s+to\s+\w+\b", q.raw or "") and visits:
            raw_quantity, count, freq, weeks = _tidy(q.raw or ""), None, None, None  # a range: the letter's words
    more = bool(_MORE.search(text))
    places = _region_phrases(_CUT.split(text)[0], language)
    if language == "en":
        if visits and count is not None:
            core = f"{fmt_number(count)} {'more ' if more else ''}{en_visit} visit{'s' if count != 1 else ''}"
        else:
            core = f"{'more ' if more and visits else ''}{en}"
        if places:
            core += (" for " if visits else " of ") + _your(places)
    else:
        if visits and count is not None:
            core = f"{fmt_number(count)} sesi{'ones' if count != 1 else 'ón'}{' más' if more else ''} de {es}"
        else:
            core = f"{'más ' if more and visits else ''}{es}"
        if places:
            core += (" para " if visits else " de ") + _join(places, "es")
        core = core.replace(" de el ", " del ")
    if visits:
        if raw_quantity:
            core += f" ({raw_quantity})" if language == "en" else f" («{raw_quantity}»)"
        elif freq is not None and weeks is not None:
            core += f", {_times(freq, language)} {'for' if language == 'en' else 'durante'} {_weeks(weeks, language)}"
        elif freq is not None:
            core += f", {_times(freq, language)}"
        elif weeks is not None:
            core += f", {'for' if language == 'en' else 'durante'} {_weeks(weeks, language)}"
    return core + suffix


def _as_printed(text: str, language: Language) -> str:
    """The heading as printed, in lower case except short acronyms (EKG, TENS) — unless it is all capitals."""
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
    phrase = _tidy(" ".join(out))
    return phrase if language == "en" else f"«{phrase}»"


def _tidy(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" .,;:")


# -- the writer --------------------------------------------------------------------------------

def headline(outcome: str | None, n_items: int, language: Language) -> str:
    if outcome is None:
        outcome = "all_upheld"
    key = (outcome, n_items == 1 if outcome != "mixed" else False)
    return HEADLINES[key][language]


def why_points(item: DisputedItem, language: Language, *, use_reasons: bool = True) -> list[WhyPoint]:
    points: list[WhyPoint] = []
    if use_reasons and language == "en":  # the model's reasons are English; Spanish gets the template points
        for i, reason in enumerate(item.reasons[:4]):
            text = reason.strip()
            if not text:
                continue
            text = text[0].upper() + text[1:]
            if text[-1] not in ".!?":
                text += "."
            points.append(WhyPoint(text=text, evidence=item.evidence.get(f"reasons[{i}]"), ref=f"reasons[{i}]"))
    if len(points) >= 2:
        return points
    decision = item.decision
    agrees = (item.rationale_verdict == "not_medically_necessary") == (decision == "upheld") \
        if item.rationale_verdict else False
    if not points:
        if agrees:
            points.append(WhyPoint(text=WHY_VERDICT[decision][language], evidence=item.evidence.get("verdict_phrase"),
                                   ref="verdict_phrase"))
        else:
            points.append(WhyPoint(text=WHY_DECISION[decision][language], evidence=item.evidence.get("decision"),
                                   ref="decision"))
    basis = item.reviewer_basis
    if basis is not None:
        named = [f for f in basis.sources if f in ("MTUS", "ODG", "ACOEM")]
        if named:
            families = _join(named, language) + (AND_OTHER[language] if "OTHER" in basis.sources else "")
            text = WHY_GUIDELINES[decision][language].format(families=families)
        elif "OTHER" in basis.sources:
            text = WHY_OTHER_SOURCES[decision][language]
        else:
            text = WHY_NO_GUIDELINE[language]
        points.append(WhyPoint(text=text, evidence=basis.evidence, ref="reviewer_basis"))
    return points


def what_could_help(item: DisputedItem, language: Language, *, use_reasons: bool = True) -> list[str]:
    if item.decision != "upheld":
        return []
    if use_reasons and language == "en" and item.missing_documentation:
        return [HELP_MISSING[language].format(doc=_tidy(doc)) for doc in item.missing_documentation[:3] if doc.strip()]
    return [HELP_GENERIC[language]]


def write_template(det: Determination, source: SourceText | str, language: Language = "en", *,
                   use_reasons: bool = True, feedback: list[str] | None = None) -> PatientExplanation:
    """The offline explanation. `use_reasons=False` uses only vetted template points (the last
    resort when the model-filled reasons fail the guards). `feedback` is accepted and ignored, so
    the template fits the same writer signature as a model writer."""
    if language not in facts.LANGUAGES:
        raise ValueError(f"unsupported language {language!r}: use one of {', '.join(facts.LANGUAGES)}")
    raw = source.raw if isinstance(source, SourceText) else source
    items = [
        ExplainedItem(
            index=item.index,
            request=item.request,
            # a heading with suspicious text in it (an instruction planted in the heading line) is not retold
            plain_request=(PLANTED_REQUEST[language] if overlapping(item.evidence.get("request"), det.suspicious)
                           else plain_request(item, raw, language)),
            decision=item.decision,
            status=facts.status(item.decision, item.modified_by_ur, language),
            decision_evidence=item.evidence.get("decision"),
            already_approved=item.ur_authorized if item.modified_by_ur else None,
            why=why_points(item, language, use_reasons=use_reasons),
            what_could_help=what_could_help(item, language, use_reasons=use_reasons),
        )
        for item in det.items
    ]
    decisions = [i.decision for i in det.items]
    explanation = PatientExplanation(
        headline=headline(det.outcome, len(items), language),
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
        parts += [p.text for p in item.why] + item.what_could_help
    parts += [s.text for s in expl.next_steps]
    parts.append(expl.disclaimer)
    return "\n".join(parts)
