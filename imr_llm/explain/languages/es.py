"""Spanish: the offline writer's fixed sentences, words and grammar (readability: Fernández-Huerta)."""

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


def times(n: float) -> str:
    return f"{fmt_number(n)} {'veces' if n != 1 else 'vez'} por semana"


def weeks(n: float) -> str:
    return f"{fmt_number(n)} semana{'s' if n != 1 else ''}"


def body_part(part: tuple, side: str | None, plural: bool) -> str:
    """A paired body part (`templates._PAIRED` row) with its article and side."""
    one, gender, many = part[2], part[3], part[4]
    if side == "bilateral":
        return f"{'ambos' if gender == 'm' else 'ambas'} {many}"
    article = ("los" if gender == "m" else "las") if plural else ("el" if gender == "m" else "la")
    noun = many if plural else one
    if side in ("left", "right"):
        adj = {"left": "izquierd", "right": "derech"}[side] + ("o" if gender == "m" else "a") + ("s" if plural else "")
        return f"{article} {noun} {adj}"
    return f"{article} {noun}"


def request_core(service, count: float | None, more: bool, visits: bool, places: list[str]) -> str:
    """A known service in words: "8 sesiones más de terapia física para la parte baja de la espalda"."""
    if visits and count is not None:
        core = f"{fmt_number(count)} sesi{'ones' if count != 1 else 'ón'}{' más' if more else ''} de {service.es}"
    else:
        core = f"{'más ' if more and visits else ''}{service.es}"
    if places:
        core += f" {'para' if visits else service.joins[1]} " + join_words(places, WORDS["and"])
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
