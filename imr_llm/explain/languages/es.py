"""Spanish: the explanation's fixed sentences, vetted facts, labels, guard words, readability formula and grammar."""

from __future__ import annotations

import re

from ...enrich.quantity import NUMBER_WORDS
from ...enrich.vocabulary import classify_drug
from ..text import fmt_number, join_words, tidy

TEMPLATES: dict = {  # vetted sentences: planted text may copy them
    'headlines': {
        ('all_upheld', True):
            'El tratamiento que pidió su médico sigue sin aprobarse.',
        ('all_upheld', False):
            'Ninguno de los tratamientos que pidió su médico fue aprobado.',
        ('all_upheld_modified', True):
            'La revisión no aprobó la parte de la solicitud que seguía en disputa. La parte que ya se aprobó sigue aprobada.',
        ('all_upheld_modified', False):
            'La revisión no aprobó ninguna de las solicitudes que seguían en disputa. Lo que ya se aprobó sigue aprobado.',
        ('all_overturned', True):
            'Buenas noticias: el tratamiento que pidió su médico ahora está aprobado.',
        ('all_overturned', False):
            'Buenas noticias: todos los tratamientos que pidió su médico ahora están aprobados.',
        ('mixed', False):
            'Algunos de los tratamientos que pidió su médico ahora están aprobados, y otros no.',
    },
    'why_verdict': {
        'upheld':
            'El revisor decidió que este tratamiento no es médicamente necesario para usted ahora.',
        'overturned':
            'El revisor decidió que este tratamiento es médicamente necesario para usted.',
    },
    'why_decision': {
        'upheld':
            'La carta marca esta solicitud como no aprobada («Upheld»).',
        'overturned':
            'La carta marca esta solicitud como aprobada («Overturned»).',
    },
    'why_guidelines': {
        'upheld':
            'El revisor consultó las guías de tratamiento médico ({families}). La solicitud no las cumplía.',
        'overturned':
            'El revisor consultó las guías de tratamiento médico ({families}). La solicitud sí las cumplía.',
    },
    'why_other_sources': {
        'upheld':
            'El revisor usó otras fuentes médicas. La solicitud no las cumplía.',
        'overturned':
            'El revisor usó otras fuentes médicas. La solicitud sí las cumplía.',
    },
    'why_no_guideline': 'La carta no nombra una guía para esta decisión.',
    'other_sources': 'otras fuentes',
    'help_generic': 'Su médico podría enviar una nueva solicitud con notas que muestren qué ha cambiado. Por ejemplo: nuevos resultados del examen, nuevas pruebas, o cómo le ayudó la atención anterior.',
    'planted_request': 'el tratamiento de esta solicitud',
    'disputed_part': 'la parte de la solicitud que seguía en disputa',
    'unknown_quantity': ' (cantidad desconocida)',
    'purchase': 'la compra de {core}',
    'as_printed_treatment': 'un tratamiento{suffix} (la carta lo llama: «{words}»)',
    'as_printed_medicine': 'un medicamento{suffix} (la carta lo llama: «{words}»)',
}
WORDS = {"and": " y ", "for_time": "durante", "after_surgery": " después de la cirugía",
         "for_surgery": " para la cirugía", "letter_says": " (la carta dice: «{raw}»)"}

REGIONS = {"neck": "el cuello", "upper_back": "la parte alta de la espalda", "low_back": "la parte baja de la espalda",
           "spine": "la columna", "head": "la cabeza"}
TRUNK = {"chest": "el pecho", "abdom": "el abdomen", "rib": "las costillas", "trunk": "el tronco"}
# a service (wording.py's key): its name, and the word before a body part (None: no body part is said)
SERVICES = {
    "hand_therapy": ("terapia de la mano", "para"),
    "physical_therapy": ("terapia física", "para"),
    "occupational_therapy": ("terapia ocupacional", "para"),
    "water_therapy": ("terapia en el agua", "para"),
    "manual_therapy": ("terapia manual", "para"),
    "exercise_therapy": ("ejercicio terapéutico", "para"),
    "myofascial_release": ("liberación miofascial (un tipo de masaje)", "para"),
    "electro_acupuncture": ("electroacupuntura", "para"),
    "acupuncture": ("acupuntura", "para"),
    "chiropractic": ("atención quiropráctica", "para"),
    "massage": ("terapia de masaje", "para"),
    "infrared_heat": ("terapia de calor infrarrojo", "para"),
    "biofeedback": ("biorretroalimentación", "para"),
    "shockwave": ("terapia de ondas de choque", "para"),
    "electrical_stimulation": ("estimulación eléctrica", "para"),
    "talk_therapy": ("terapia psicológica", "para"),
    "mri": ("una resonancia magnética (MRI)", "de"),
    "x_rays": ("radiografías", "de"),
    "ct": ("una tomografía (CT)", "de"),
    "bone_scan": ("una gammagrafía ósea", "de"),
    "emg_ncv": ("pruebas de nervios y músculos (EMG y conducción nerviosa)", "de"),
    "emg": ("una prueba de músculos y nervios (EMG)", "de"),
    "nerve_conduction": ("una prueba de nervios (estudio de conducción nerviosa)", "de"),
    "drug_test": ("una prueba de drogas en la orina", "de"),
    "ekg": ("una prueba del corazón (EKG)", None),
    "cbc": ("un conteo sanguíneo (CBC)", None),
    "clotting_test": ("una prueba de coagulación de la sangre", None),
    "blood_chemistry": ("una prueba de química de la sangre", None),
    "urinalysis": ("un análisis de orina", None),
    "labs": ("análisis de laboratorio", None),
    "epidural": ("una inyección epidural", "en"),
    "facet": ("inyecciones en las articulaciones de la columna (facetas)", "en"),
    "trigger_point": ("inyecciones en puntos gatillo", "en"),
    "steroid": ("una inyección de esteroides", "en"),
    "carpal_tunnel_release": ("cirugía del túnel carpiano", "de"),
    "assistant_surgeon": ("un asistente para la cirugía", None),
    "clearance": ("un chequeo médico", None),
    "specialist_visit": ("una consulta con un especialista", "para"),
    "home_nurse": ("visitas de enfermería en casa", None),
    "transportation": ("transporte a sus citas médicas", None),
    "functional_restoration": ("un programa de restauración funcional", None),
    "inpatient_rehab": ("una estancia en un centro de rehabilitación", None),
    "tens": ("una unidad TENS", None),
    "wheelchair": ("una silla de ruedas", None),
    "walker": ("un andador", None),
    "commode": ("un inodoro portátil", None),
    "shower_chair": ("una silla para la ducha", None),
    "cold_therapy": ("terapia de frío", None),
    "sling": ("un cabestrillo", None),
}
# a paired body part (wording.py's key): singular, gender, plural
BODY_PARTS = {
    "shoulder": ("hombro", "m", "hombros"), "elbow": ("codo", "m", "codos"),
    "forearm": ("antebrazo", "m", "antebrazos"), "wrist": ("muñeca", "f", "muñecas"),
    "hand": ("mano", "f", "manos"), "finger": ("dedo", "m", "dedos"), "thumb": ("pulgar", "m", "pulgares"),
    "arm": ("brazo", "m", "brazos"), "hip": ("cadera", "f", "caderas"), "pelvis": ("pelvis", "f", "pelvis"),
    "knee": ("rodilla", "f", "rodillas"), "leg": ("pierna", "f", "piernas"), "ankle": ("tobillo", "m", "tobillos"),
    "foot": ("pie", "m", "pies"), "toe": ("dedo del pie", "m", "dedos de los pies"),
    "heel": ("talón", "m", "talones"), "eye": ("ojo", "m", "ojos"),
}


def times(n: float) -> str:
    return f"{fmt_number(n)} {'veces' if n != 1 else 'vez'} por semana"


def weeks(n: float) -> str:
    return f"{fmt_number(n)} semana{'s' if n != 1 else ''}"


def body_part(part: tuple, side: str | None, plural: bool) -> str:
    """A paired body part (a `BODY_PARTS` entry) with its article and side."""
    one, gender, many = part
    if side == "bilateral":
        return f"{'ambos' if gender == 'm' else 'ambas'} {many}"
    article = ("los" if gender == "m" else "las") if plural else ("el" if gender == "m" else "la")
    adj = {"left": " izquierd", "right": " derech"}.get(side)  # agrees with the noun: izquierdo, derechas
    adj = adj + ("o" if gender == "m" else "a") + ("s" if plural else "") if adj else ""
    return f"{article} {many if plural else one}{adj}"


def request_core(service: tuple, count: float | None, more: bool, visits: bool, places: list[str]) -> str:
    """A known service (a `SERVICES` entry) in words: "8 sesiones más de terapia física para la rodilla derecha"."""
    name, join = service
    if visits and count is not None:
        core = f"{fmt_number(count)} sesi{'ones' if count != 1 else 'ón'}{' más' if more else ''} de {name}"
    else:
        core = f"{'más ' if more and visits else ''}{name}"
    if places:
        core += f" {join} " + join_words(places, WORDS["and"])
    return core.replace(" de el ", " del ")


_DOSE = re.compile(r"\d+(?:[.,/]\d+)*\s*(?:mg|mcg|meq|ml|gm|g|%)?|#|[^\w\s]", re.I)


def medicine(text: str, match, suffix: str) -> str:
    """A drug's name, strength and count read the same in Spanish; any other word ("patch", "refills") is quoted."""
    rest = re.findall(r"[^\W\d_]+", _DOSE.sub(" ", text[:match.start] + text[match.end:]))
    named = all((w.isupper() and len(w) <= 4) or classify_drug(w) for w in rest)  # HCL, ER; "(Mobic)"
    return ("el medicamento " + tidy(text) + suffix if named
            else TEMPLATES["as_printed_medicine"].format(suffix=suffix, words=tidy(text)))


def as_printed(text: str, suffix: str = "") -> str:
    """The heading quoted as printed, introduced in Spanish."""
    return TEMPLATES["as_printed_treatment"].format(suffix=suffix, words=tidy(text))


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


def quantity(words: str) -> str | None:
    """How much, how often and how long, in Spanish ("1 to 2 times per week for 4 weeks" → "1 a 2
    veces por semana durante 4 semanas"); None when the words hold anything the rules do not know."""
    text = _NUMBER_WORD.sub(lambda m: fmt_number(NUMBER_WORDS[m.group(1)]), words.lower())
    for regex, spanish in _QUANTITY_ES:
        text = regex.sub(spanish, text)
    text = tidy(re.sub(r"\s*,\s*", " ", text))
    return text if set(re.findall(r"[^\W\d_]+", text)) <= _QUANTITY_ES_WORDS else None

NAME = "Spanish"  # in the model writer's prompt
FACTS = {  # vetted facts (facts.py: their keys, sources and outcomes); change with the source checked
    "status_upheld": "No aprobado — el revisor estuvo de acuerdo con la denegación anterior.",
    "status_overturned": "Aprobado — la denegación anterior fue revocada.",
    "status_upheld_modified": "No aprobado — el revisor estuvo de acuerdo con la decisión anterior. La parte que ya se aprobó sigue aprobada.",
    "status_overturned_modified": "Aprobado — la decisión anterior fue revocada. La parte que ya se aprobó sigue aprobada.",
    "authorize_5_working_days": "El administrador de reclamos debe autorizar este tratamiento dentro de 5 días hábiles después de recibir esta decisión.",
    "reimburse_20_days": "Si usted ya recibió el tratamiento, deben pagarlo dentro de 20 días.",
    "new_request_change_in_facts": "Su médico puede pedirlo otra vez con una nueva solicitud. La nueva solicitud debe mostrar un cambio en su salud que esté escrito en su expediente médico.",
    "same_request_12_months": "Sin ese cambio, la denegación sigue vigente por 12 meses si el mismo médico o consultorio pide el mismo tratamiento.",
    "appeal_30_days": "Usted puede apelar esta decisión ante la WCAB. Debe presentar la apelación dentro de 30 días a partir de la fecha en que se le entregó (envió) esta carta.",
    "appeal_five_grounds": "Una apelación solo puede ganar por cinco razones limitadas, como fraude, prejuicio, un conflicto de interés o un error claro sobre los hechos. No estar de acuerdo con la opinión del médico no es suficiente.",
    "appeal_gets_new_review": "Si gana la apelación, recibe una nueva revisión por otro revisor. El juez no ordena el tratamiento.",
    "free_help": "Para recibir ayuda gratis, llame a un oficial de Información y Asistencia de la DWC. También puede hablar con un abogado.",
    "free_help_contact": "Línea de Información y Asistencia: 1-800-736-7401 (llamada gratis, información grabada). Oficinas locales: dir.ca.gov/dwc/IandA.html",
    "disclaimer": "Un programa de computadora hizo este resumen a partir de su carta. No es asesoría legal. Si este resumen y la carta no dicen lo mismo, vale lo que dice la carta. Para ayuda con su caso, pregunte a un oficial de Información y Asistencia o a un abogado.",
    "from_picture": "Esta carta se leyó de una imagen. Compare cada decisión con su copia en papel.",
    "source_ccr_9792_10_7": "8 CCR 9792.10.7(a)", "source_lc_4610_k": "Código Laboral 4610(k)",
    "source_lc_4610_6_h": "Código Laboral 4610.6(h); 8 CCR 10575",
    "source_lc_4610_6_grounds": "Código Laboral 4610.6(h)", "source_lc_4610_6_i": "Código Laboral 4610.6(i)",
    "source_dwc_ia": "DWC, Unidad de Información y Asistencia",
    "source_dwc_imr_glossary": "DWC, glosario de IMR (LC 4610.6)",
}
GLOSSARY = {  # term, the words that show it is used (lower case), definition
    "imr": ("Revisión Médica Independiente (IMR)", ("imr", "independent medical review", "revisión médica independiente", "review", "revisión", "revisor", "reviewer"),
        "Una revisión de su caso por un médico de afuera. Este médico decide si el tratamiento es médicamente necesario."),
    "ur": ("revisión de utilización (UR)", ("earlier denial", "earlier decision", "negación anterior", "decisión anterior", "utilization review"),
        "La primera revisión de la solicitud de su médico. La pidió el administrador de reclamos. Negó o cambió la solicitud."),
    "claims_administrator": ("administrador de reclamos", ("claims administrator", "administrador de reclamos"),
        "La compañía de seguros o el grupo que maneja su reclamo de compensación de trabajadores."),
    "medically_necessary": ("médicamente necesario", ("medically necessary", "médicamente necesario"),
        "Necesario para tratar su lesión de trabajo, según las guías y su expediente."),
    "guidelines": ("guías de tratamiento médico", ("guideline", "guía"),
        "Reglas escritas que dicen qué atención ayuda para cada problema de salud, y cuánta."),
    "mtus": ("MTUS", ("mtus",),
        "El «Medical Treatment Utilization Schedule». Son las reglas de atención que usa California para la compensación de trabajadores."),
    "odg": ("ODG", ("odg",), "Las «Official Disability Guidelines», otro grupo de reglas de atención."),
    "acoem": ("ACOEM", ("acoem",), "Reglas de atención de un grupo de médicos que tratan lesiones de trabajo."),
    "wcab": ("WCAB", ("wcab",),
        "La Junta de Apelaciones de Compensación de Trabajadores. Es la corte para casos de compensación de trabajadores."),
    "served": ("entregó", ("served", "entregó"), "Cuando la carta se le envió de forma oficial."),
    "ia_officer": ("oficial de Información y Asistencia", ("information & assistance", "información y asistencia"),
        "Un empleado del estado que contesta preguntas sobre compensación de trabajadores gratis."),
}
GLOSSARY_TERMS = (  # words that stay as they are, left out of reading-level scores
    "Revisión Médica Independiente", "IMR", "revisión de utilización", "UR", "administrador de reclamos",
    "médicamente necesario", "médicamente necesaria", "guías de tratamiento médico", "guías", "MTUS", "ODG", "ACOEM",
    "WCAB", "oficial de Información y Asistencia", "Información y Asistencia", "DWC", "compensación de trabajadores",
    "revisor", "administrador",
)
LABELS = {  # section titles and labels the renderers print
    "title": "Qué significa su carta de IMR", "case": "Caso de IMR", "requests": "Lo que pidió su médico",
    "decision": "Decisión", "why": "Por qué", "what_could_help": "Qué podría ayudar",
    "already_approved": "Ya aprobado antes de esta revisión", "letter_words": "Palabras de la carta",
    "next_steps": "Qué pasa ahora", "for_overturned": "Para el tratamiento aprobado",
    "for_upheld": "Para el tratamiento no aprobado", "for_all": "Ayuda", "glossary": "Palabras que debe conocer",
    "about": "Sobre este resumen", "source": "Fuente", "letter": "Su carta",
    "letter_note": "Las palabras resaltadas son las que apoyan cada punto de arriba.", "see_letter": "ver la carta",
    "reading": "Nivel de lectura", "facts": "Datos verificados",
    "notice": "Esta carta tiene una línea que no pudimos revisar{quote}. Compárela con su carta en papel antes de actuar.",
    "words_hidden": "Las palabras de la carta para esta solicitud no se muestran aquí: tienen texto que no pudimos revisar.",
    "checks_failed": "Partes de este resumen pueden no coincidir con su carta. Lea la carta antes de actuar.",
    "withheld": "aquí falta una línea que no pudimos revisar: vea su carta en papel",
    "back_to_point": "volver al punto", "skip": "Ir a la explicación", "treatment": "Tratamiento",
}
_MORE = "Su médico podría explicar por qué usted necesita más de lo que sugieren las guías."  # the help of the "exceeds" reasons
POINTS = {  # the rules' sentences (points.py reads the letter for when to say them)
    "supported": "El revisor encontró que sus expedientes y las guías apoyan esta atención.",
    "allowance": "Las guías sugieren {qual}{count} sesiones en {span} {unit}.",
    "count": "Las guías sugieren {qual}{count} sesiones.",
    "limit": "Las guías lo sugieren por no más de {count} {unit}.",
    "range": " a ",
    "quals": {  # the letter's words -> this language's
        "up to": "hasta ", "about": "unas ", "approximately": "unas ", "a maximum of": "hasta ",
        "a total of": "hasta ", "a total of up to": "hasta ",
    },
    "units": {"day": ("día", "días"), "week": ("semana", "semanas"), "month": ("mes", "meses")},
    "findings": {
        "functional_improvement": ("Los expedientes no mostraron que la atención anterior le ayudó a hacer más.",
            "Su médico podría enviar notas que muestren cómo la atención anterior le ayudó a hacer más."),
        "pain_relief": ("Los expedientes no mostraron que la atención anterior le calmó el dolor.",
            "Su médico podría enviar notas que muestren cuánto le calmó el dolor la atención anterior."),
        "conservative_care": ("Los expedientes no mostraron que antes se probó una atención más simple, como reposo o terapia, sin mejorar.",
            "Su médico podría enviar notas sobre la atención más simple que usted probó antes y cómo le fue."),
        "tried_first": ("Los expedientes no mostraron que antes probó otros tratamientos que no le ayudaron.",
            "Su médico podría enviar notas sobre otros tratamientos que usted probó antes y cómo le fue."),
        "red_flags": ("Los expedientes no mostraron señales de un problema grave.",
            "Su médico podría enviar notas del examen que muestren cualquier señal de un problema grave."),
        "nerve_damage": ("Los expedientes no mostraron señales de daño en los nervios.",
            "Su médico podría enviar notas del examen que muestren cualquier señal de daño en los nervios."),
        "exam_findings": ("Los expedientes no mostraron datos del examen que apoyen este pedido.",
            "Su médico podría enviar notas del examen que muestren por qué lo necesita."),
        "home_program": ("Los expedientes no mostraron por qué no bastan los ejercicios en casa.",
            "Su médico podría explicar por qué no bastan los ejercicios en casa."),
        "exercise_program": ("Los expedientes no mostraron que esto se usaría junto con un programa de ejercicios.",
            "Su médico podría enviar notas sobre el programa de ejercicios que usted sigue."),
        "trial_first": ("Los expedientes no mostraron un periodo de prueba con esto antes.",
            "Su médico podría enviar notas de un periodo de prueba con esto."),
        "mental_health_check": ("Los expedientes no mostraron una consulta de salud mental que se pide antes.",
            "Su médico podría enviar los resultados de una consulta de salud mental."),
        "drug_checks": ("Los expedientes no mostraron que le hicieron pruebas de drogas ni otros controles.",
            "Su médico podría enviar notas sobre los controles de seguridad, como pruebas de drogas."),
        "condition_changed": ("Los expedientes no mostraron que su salud cambió.",
            "Su médico podría enviar notas sobre cómo ha cambiado su salud."),
        "surgery_planned": ("Los expedientes no mostraron que se esté pensando en una cirugía.",
            "Su médico podría enviar notas que digan si se está pensando en una cirugía."),
        "goals": ("Los expedientes no mostraron metas claras para esta atención.",
            "Su médico podría enviar un plan con metas para esta atención."),
        "symptoms": ("Los expedientes no mostraron los síntomas que esta atención trata.",
            "Su médico podría enviar notas sobre sus síntomas."),
        "diagnosis": ("Los expedientes no mostraron un problema de salud que esta atención trate.",
            "Su médico podría enviar notas sobre el problema de salud que esta atención trata."),
        "past_help": ("Los expedientes no mostraron que la atención anterior le ayudó.",
            "Su médico podría enviar notas que muestren cómo le ayudó la atención anterior."),
        "reason_for_request": ("Los expedientes no dicen por qué usted necesita esta atención.",
            "Su médico podría enviar una nota que diga por qué usted necesita esta atención."),
    },
    "reasons": {  # why, what could help
        "exceeds": ("El pedido es por más de lo que sugieren las guías.", _MORE),
        "exceeds_longer": ("El pedido es por más tiempo del que sugieren las guías.", _MORE),
        "exceeds_already": ("Usted ya tuvo más sesiones de las que sugieren las guías.", _MORE),
        "not_routine": ("Las guías no sugieren esto como un paso de rutina.", None),
        "not_repeat": ("Las guías no sugieren repetir esta prueba en la mayoría de los casos.", None),
        "not_recommended": ("Las guías no sugieren esta atención para un caso como el suyo.", None),
        "unspecified": ("El pedido no dijo cuánto ni por cuánto tiempo.",
            "Su médico podría enviar un nuevo pedido que diga cuánto y por cuánto tiempo."),
        "depends_on_response": ("Más atención depende de cómo le fue con la atención que ya tuvo.",
            "Su médico podría enviar notas de cómo le fue con la atención que ya tuvo."),
        "only_for": ("Las guías sugieren esto solo para ciertos problemas de salud.", None),
        "short_term": ("Las guías lo sugieren solo por poco tiempo.",
            "Su médico podría explicar por qué lo necesita por más tiempo."),
        "with_surgery": ("Esto va con una cirugía que no fue aprobada.",
            "Su médico podría pedir esto otra vez junto con un nuevo pedido de cirugía."),
        "with_other": ("Esto va con otro tratamiento que no fue aprobado.",
            "Su médico podría pedir esto otra vez junto con un nuevo pedido de ese tratamiento."),
    },
}
LABELS.update(quote="«{}»", quote_words="«{}»", quoted_letter=' lang="en"')  # a «quote» of the letter is English
_MONTHS = {m: i for i, m in enumerate(["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                                         "septiembre", "octubre", "noviembre", "diciembre"], start=1)}
GUARDS = {  # how the page guards read this language: a status sentence, a claim of a decision, a headline
    # "7 de mayo de 2016": how a page in Spanish writes a date, beyond the letter's own forms
    "dates": ((re.compile(r"\b(\d{1,2})\s+de\s+([a-záéíóú]+)\s+de\s+(\d{4})\b", re.I), _MONTHS, (3, 2, 1)),),
    "status": ((re.compile(r"^\W*no\s+aprobad[oa]s?\b", re.I), "upheld"),
               (re.compile(r"^\W*aprobad[oa]s?\b", re.I), "overturned")),
    "upheld": re.compile(r"\bno\s+(?:fue\s+|está\s+|es\s+)?aprobad[oa]s?\b|\bsin\s+aprobarse\b|\bupheld\b", re.I),
    "overturned": re.compile(r"(?<!no\s)\b(?:fue|está|es|son|están|fueron|ahora)\s+aprobad[oa]s?\b|\brevocad[oa]\b|"
                             r"\boverturned\b", re.I),
    "neg": re.compile(r"\bsin\s+aprobarse\b|\bninguno\b|\bninguna\b|\bno\s+(?:fue|fueron|está|están)\s+aprobad|"
                      r"\bno\s+aprobó\b|\botros\s+no\b|\botras\s+no\b|\bnegad", re.I),
    "pos": re.compile(r"aprobad[oa]s?\b|\bbuenas\s+noticias\b", re.I),
    "good": re.compile(r"\bbuenas\s+noticias\b", re.I),
    "none": re.compile(r"\bninguno\b|\bninguna\b|\bsin\s+aprobarse\b", re.I),
    "stays_approved": re.compile(r"[^.]*\bya\s+se\s+aprobó\s+sigue\s+aprobad[oa]s?\b[^.]*\.?", re.I),
    # a point with two of these words outside «quotes» was written in English
    "foreign_words": {"the", "of", "and", "for", "with", "your", "you", "was", "were", "not", "is", "did", "that",
                      "this", "to", "have", "has", "records", "doctor"},
    # the writer's prompt label, translated ("Por qué no se aprobó la solicitud: ...")
    "point_label": re.compile(r"^\W*(?:por\s+qu[ée]\b[^:]{0,60}|(?:lo\s+que\s+)?falta\b[^:]{0,40}):\s*", re.I),
    "foreign_note": "written in English, not Spanish",
}
READING = {"textstat": "es", "metric": "fernandez_huerta", "name": "Fernández-Huerta",  # 70-80 "bastante fácil"
           "target": 70.0, "limit": 60.0, "point_limit": 70.0, "lower_is_easier": False}  # (~6th grade), 60-70 ~7th-8th
