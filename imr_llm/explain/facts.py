"""The vetted facts: fixed wording, in English and Spanish, each fact with its citation.

Everything a worker could act on — what a decision means, deadlines, where to get help — comes
from this module, never from a model. Sources: the domain brief (shared/docs/domain-brief.md,
section 2) and the laws it cites; the DWC Information & Assistance line (1-800-736-7401) and its
office finder (dir.ca.gov/dwc/IandA.html) as the brief and the DWC's I&A page give them. Change a
text here only with its source checked, and bump `FACTS_VERSION` (it is stamped on every
explanation).

Rules kept by the tests:
* every number in this module's text is one the cited law states (5 working days, 20 days,
  30 days, 12 months, five grounds);
* an all-overturned letter gets no appeal step at all (no deadline the worker must meet);
* every text is at or under a 6th-8th grade reading level (tests/test_explain.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Citation, GlossaryEntry, Language, NextStep

FACTS_VERSION = "1.2 (2026-12-04)"
LANGUAGES: tuple[Language, ...] = ("en", "es")

# -- sources ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """Where a fact comes from: its label in each language, and the page to read."""

    label: dict[str, str]
    url: str

    def citation(self, language: Language) -> Citation:
        return Citation(label=self.label[language], url=self.url)


_LC_4610_6 = "https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml?lawCode=LAB&sectionNum=4610.6"
CCR_9792_10_7 = Source({"en": "8 CCR 9792.10.7(a)", "es": "8 CCR 9792.10.7(a)"}, "https://www.dir.ca.gov/t8/9792_10_7.html")
LC_4610_K = Source({"en": "Labor Code 4610(k)", "es": "Código Laboral 4610(k)"},
                   "https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml?lawCode=LAB&sectionNum=4610")
LC_4610_6_H = Source({"en": "Labor Code 4610.6(h); 8 CCR 10575", "es": "Código Laboral 4610.6(h); 8 CCR 10575"}, _LC_4610_6)
LC_4610_6_GROUNDS = Source({"en": "Labor Code 4610.6(h)", "es": "Código Laboral 4610.6(h)"}, _LC_4610_6)
LC_4610_6_I = Source({"en": "Labor Code 4610.6(i)", "es": "Código Laboral 4610.6(i)"}, _LC_4610_6)
DWC_IA = Source({"en": "DWC, Information & Assistance Unit", "es": "DWC, Unidad de Información y Asistencia"},
                "https://www.dir.ca.gov/dwc/IandA.html")
DWC_IMR_GLOSSARY = Source({"en": "DWC, IMR glossary (LC 4610.6)", "es": "DWC, glosario de IMR (LC 4610.6)"},
                          "https://www.dir.ca.gov/dwc/IMR/IMRGlossary.htm")


@dataclass(frozen=True)
class Fact:
    key: str
    text: dict[str, str]  # language → wording
    source: Source
    applies_to: str = "all"  # "overturned" | "upheld" | "all"
    contact: dict[str, str] | None = None  # language → how to reach the help the fact names

    def step(self, language: Language) -> NextStep:
        return NextStep(key=self.key, applies_to=self.applies_to, text=self.text[language],  # type: ignore[arg-type]
                        contact=self.contact[language] if self.contact else None,
                        citation=self.source.citation(language))


# -- status wording per decision ---------------------------------------------------------------

STATUS: dict[tuple[str, bool], Fact] = {
    ("upheld", False): Fact("status_upheld", {
        "en": "Not approved — the reviewer agreed with the earlier denial.",
        "es": "No aprobado — el revisor estuvo de acuerdo con la denegación anterior.",
    }, DWC_IMR_GLOSSARY),
    ("overturned", False): Fact("status_overturned", {
        "en": "Approved — the earlier denial was reversed.",
        "es": "Aprobado — la denegación anterior fue revocada.",
    }, DWC_IMR_GLOSSARY),
    # UR approved part of the request (or a changed version of it): that part stays approved.
    ("upheld", True): Fact("status_upheld_modified", {
        "en": "Not approved — the reviewer agreed with the earlier decision. The part already approved stays approved.",
        "es": "No aprobado — el revisor estuvo de acuerdo con la decisión anterior. La parte que ya se aprobó sigue aprobada.",
    }, DWC_IMR_GLOSSARY),
    ("overturned", True): Fact("status_overturned_modified", {
        "en": "Approved — the earlier decision was reversed. The part already approved stays approved.",
        "es": "Aprobado — la decisión anterior fue revocada. La parte que ya se aprobó sigue aprobada.",
    }, DWC_IMR_GLOSSARY),
}


def status(decision: str, modified_by_ur: bool, language: Language) -> str:
    return STATUS[(decision, bool(modified_by_ur))].text[language]


# -- next steps by outcome ---------------------------------------------------------------------

NEXT_STEPS: tuple[Fact, ...] = (
    Fact("authorize_5_working_days", {
        "en": "The claims administrator must authorize this treatment within 5 working days after it gets this decision.",
        "es": "El administrador de reclamos debe autorizar este tratamiento dentro de 5 días hábiles después de recibir esta decisión.",
    }, CCR_9792_10_7, "overturned"),
    Fact("reimburse_20_days", {
        "en": "If you already had the treatment, they must pay for it within 20 days.",
        "es": "Si usted ya recibió el tratamiento, deben pagarlo dentro de 20 días.",
    }, CCR_9792_10_7, "overturned"),
    Fact("new_request_change_in_facts", {
        "en": "Your doctor can ask again with a new request. The new request must show a change in your health that is written in your medical records.",
        "es": "Su médico puede pedirlo otra vez con una nueva solicitud. La nueva solicitud debe mostrar un cambio en su salud que esté escrito en su expediente médico.",
    }, LC_4610_K, "upheld"),
    Fact("same_request_12_months", {
        "en": "Without such a change, the denial stays in place for 12 months when the same doctor or office asks for the same treatment.",
        "es": "Sin ese cambio, la denegación sigue vigente por 12 meses si el mismo médico o consultorio pide el mismo tratamiento.",
    }, LC_4610_K, "upheld"),
    Fact("appeal_30_days", {
        "en": "You can appeal this decision to the WCAB. You must file the appeal within 30 days from the date this letter was served (sent) to you.",
        "es": "Usted puede apelar esta decisión ante la WCAB. Debe presentar la apelación dentro de 30 días a partir de la fecha en que se le entregó (envió) esta carta.",
    }, LC_4610_6_H, "upheld"),
    Fact("appeal_five_grounds", {
        "en": "An appeal can only win for five narrow reasons, such as fraud, bias, a conflict of interest, or a plain mistake about the facts. Not agreeing with the doctor's opinion is not enough.",
        "es": "Una apelación solo puede ganar por cinco razones limitadas, como fraude, prejuicio, un conflicto de interés o un error claro sobre los hechos. No estar de acuerdo con la opinión del médico no es suficiente.",
    }, LC_4610_6_GROUNDS, "upheld"),
    Fact("appeal_gets_new_review", {
        "en": "If you win the appeal, you get a new review by a different reviewer. The judge does not order the treatment.",
        "es": "Si gana la apelación, recibe una nueva revisión por otro revisor. El juez no ordena el tratamiento.",
    }, LC_4610_6_I, "upheld"),
    Fact("free_help", {
        "en": "For free help, call a DWC Information & Assistance officer. You can also talk to a lawyer.",
        "es": "Para recibir ayuda gratis, llame a un oficial de Información y Asistencia de la DWC. También puede hablar con un abogado.",
    }, DWC_IA, "all", contact={
        "en": "Information & Assistance line: 1-800-736-7401 (free call, recorded information). "
              "Local offices: dir.ca.gov/dwc/IandA.html",
        "es": "Línea de Información y Asistencia: 1-800-736-7401 (llamada gratis, información grabada). "
              "Oficinas locales: dir.ca.gov/dwc/IandA.html",
    }),
)
_STEP_BY_KEY = {f.key: f for f in NEXT_STEPS}


def next_steps(decisions: list[str], language: Language) -> list[NextStep]:
    """The vetted steps for a letter's decisions: overturned items get the 5-working-day
    authorization, upheld items the new-request route and the appeal; everyone gets free help.
    A letter with no upheld item gets no appeal step (nothing the worker must act on)."""
    has_overturned = "overturned" in decisions
    has_upheld = "upheld" in decisions
    steps = []
    for fact in NEXT_STEPS:
        if (fact.applies_to == "overturned" and has_overturned) or (fact.applies_to == "upheld" and has_upheld) \
                or fact.applies_to == "all":
            steps.append(fact.step(language))
    return steps


# -- glossary ----------------------------------------------------------------------------------

# term per language, the words that show the term is used (lower case), definition per language.
GLOSSARY: tuple[tuple[dict[str, str], tuple[str, ...], dict[str, str]], ...] = (
    ({"en": "Independent Medical Review (IMR)", "es": "Revisión Médica Independiente (IMR)"},
     ("imr", "independent medical review", "revisión médica independiente", "review", "revisión", "revisor", "reviewer"),
     {"en": "A review of your case by an outside doctor. This doctor checks if the treatment is medically necessary.",
      "es": "Una revisión de su caso por un médico de afuera. Este médico decide si el tratamiento es médicamente necesario."}),
    ({"en": "utilization review (UR)", "es": "revisión de utilización (UR)"},
     ("earlier denial", "earlier decision", "negación anterior", "decisión anterior", "utilization review"),
     {"en": "The first check of your doctor's request. The claims administrator had it done. It denied or changed the request.",
      "es": "La primera revisión de la solicitud de su médico. La pidió el administrador de reclamos. Negó o cambió la solicitud."}),
    ({"en": "claims administrator", "es": "administrador de reclamos"},
     ("claims administrator", "administrador de reclamos"),
     {"en": "The insurance company or group that handles your workers' comp claim.",
      "es": "La compañía de seguros o el grupo que maneja su reclamo de compensación de trabajadores."}),
    ({"en": "medically necessary", "es": "médicamente necesario"},
     ("medically necessary", "médicamente necesario"),
     {"en": "Needed to treat your work injury, based on the guidelines and your records.",
      "es": "Necesario para tratar su lesión de trabajo, según las guías y su expediente."}),
    ({"en": "medical treatment guidelines", "es": "guías de tratamiento médico"},
     ("guideline", "guía"),
     {"en": "Written rules that say which care helps which health problems, and how much.",
      "es": "Reglas escritas que dicen qué atención ayuda para cada problema de salud, y cuánta."}),
    ({"en": "MTUS", "es": "MTUS"}, ("mtus",),
     {"en": "The Medical Treatment Utilization Schedule. These are the care rules California uses for workers' comp.",
      "es": "El «Medical Treatment Utilization Schedule». Son las reglas de atención que usa California para la compensación de trabajadores."}),
    ({"en": "ODG", "es": "ODG"}, ("odg",),
     {"en": "The Official Disability Guidelines, another set of care rules.",
      "es": "Las «Official Disability Guidelines», otro grupo de reglas de atención."}),
    ({"en": "ACOEM", "es": "ACOEM"}, ("acoem",),
     {"en": "Care rules from a group of doctors who treat work injuries.",
      "es": "Reglas de atención de un grupo de médicos que tratan lesiones de trabajo."}),
    ({"en": "WCAB", "es": "WCAB"}, ("wcab",),
     {"en": "The Workers' Compensation Appeals Board. It is the court for workers' comp cases.",
      "es": "La Junta de Apelaciones de Compensación de Trabajadores. Es la corte para casos de compensación de trabajadores."}),
    ({"en": "served", "es": "entregó"}, ("served", "entregó"),
     {"en": "When the letter was officially sent to you.",
      "es": "Cuando la carta se le envió de forma oficial."}),
    ({"en": "Information & Assistance officer", "es": "oficial de Información y Asistencia"},
     ("information & assistance", "información y asistencia"),
     {"en": "A state worker who answers workers' comp questions for free.",
      "es": "Un empleado del estado que contesta preguntas sobre compensación de trabajadores gratis."}),
)

# Words that stay as they are (terms) and so are left out of reading-level scores.
GLOSSARY_TERMS: dict[str, tuple[str, ...]] = {
    "en": ("Independent Medical Review", "IMR", "utilization review", "UR", "claims administrator",
           "medically necessary", "medical treatment guidelines", "guidelines", "MTUS", "ODG", "ACOEM", "WCAB",
           "Information & Assistance officer", "DWC", "workers' comp", "reviewer", "administrator"),
    "es": ("Revisión Médica Independiente", "IMR", "revisión de utilización", "UR", "administrador de reclamos",
           "médicamente necesario", "médicamente necesaria", "guías de tratamiento médico", "guías", "MTUS", "ODG",
           "ACOEM", "WCAB", "oficial de Información y Asistencia", "Información y Asistencia", "DWC",
           "compensación de trabajadores", "revisor", "administrador"),
}


def glossary(text: str, language: Language) -> list[GlossaryEntry]:
    """The glossary entries for the terms the explanation (or its letter) uses, in a fixed order."""
    lowered = text.lower()
    return [GlossaryEntry(term=term[language], definition=definition[language])
            for term, cues, definition in GLOSSARY if any(c in lowered for c in cues)]


# Shown first on the page of a letter read by OCR (a scan or a photo; provenance.ocr): the picture
# may have been misread, so the worker checks the decisions on paper (issue 19).
FROM_PICTURE = {
    "en": "This letter was read from a picture. Check each decision against your paper copy.",
    "es": "Esta carta se leyó de una imagen. Compare cada decisión con su copia en papel.",
}

DISCLAIMER = {
    "en": "A computer program made this summary from your letter. It is not legal advice. If this summary and the "
          "letter differ, the letter is what counts. For help with your case, ask an Information & Assistance "
          "officer or a lawyer.",
    "es": "Un programa de computadora hizo este resumen a partir de su carta. No es asesoría legal. Si este resumen y "
          "la carta no dicen lo mismo, vale lo que dice la carta. Para ayuda con su caso, pregunte a un oficial de "
          "Información y Asistencia o a un abogado.",
}

# Section titles and labels the renderers print (fixed text, both languages).
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "What your IMR letter means", "case": "IMR case", "requests": "Your doctor's requests",
        "decision": "Decision", "why": "Why", "what_could_help": "What could help",
        "already_approved": "Already approved before this review", "letter_words": "The letter's words",
        "next_steps": "What happens next", "for_overturned": "For the treatment that was approved",
        "for_upheld": "For the treatment that was not approved", "for_all": "Help",
        "glossary": "Words to know", "about": "About this summary", "source": "Source",
        "letter": "Your letter", "letter_note": "The highlighted words are the ones each point above rests on.",
        "see_letter": "see the letter",
        "reading": "Reading level", "facts": "Vetted facts",
        "notice": "This letter has a line we could not check{quote}. Compare it with your paper letter before you act.",
        "words_hidden": "The letter's words for this request are not shown here: they hold text we could not check.",
        "checks_failed": "Parts of this summary may not match your letter. Read the letter itself before you act.",
        "withheld": "a line we could not check is left out here: see your paper letter",
        "back_to_point": "back to point", "skip": "Skip to the explanation",
    },
    "es": {
        "title": "Qué significa su carta de IMR", "case": "Caso de IMR", "requests": "Lo que pidió su médico",
        "decision": "Decisión", "why": "Por qué", "what_could_help": "Qué podría ayudar",
        "already_approved": "Ya aprobado antes de esta revisión", "letter_words": "Palabras de la carta",
        "next_steps": "Qué pasa ahora", "for_overturned": "Para el tratamiento aprobado",
        "for_upheld": "Para el tratamiento no aprobado", "for_all": "Ayuda",
        "glossary": "Palabras que debe conocer", "about": "Sobre este resumen", "source": "Fuente",
        "letter": "Su carta", "letter_note": "Las palabras resaltadas son las que apoyan cada punto de arriba.",
        "see_letter": "ver la carta",
        "reading": "Nivel de lectura", "facts": "Datos verificados",
        "notice": "Esta carta tiene una línea que no pudimos revisar{quote}. Compárela con su carta en papel antes de actuar.",
        "words_hidden": "Las palabras de la carta para esta solicitud no se muestran aquí: tienen texto que no pudimos revisar.",
        "checks_failed": "Partes de este resumen pueden no coincidir con su carta. Lea la carta antes de actuar.",
        "withheld": "aquí falta una línea que no pudimos revisar: vea su carta en papel",
        "back_to_point": "volver al punto", "skip": "Ir a la explicación",
    },
}


def all_fact_text(language: Language | None = None) -> str:
    """Every vetted text (both languages unless one is named): what the numbers guard allows."""
    langs = LANGUAGES if language is None else (language,)
    parts: list[str] = []
    for lang in langs:
        parts += [f.text[lang] for f in STATUS.values()]
        parts += [f.text[lang] for f in NEXT_STEPS] + [f.contact[lang] for f in NEXT_STEPS if f.contact]
        parts += [t[lang] + " " + d[lang] for t, _, d in GLOSSARY]
        parts.append(DISCLAIMER[lang])
        parts.append(FROM_PICTURE[lang])
    parts += [f.source.label[lang] for f in (*STATUS.values(), *NEXT_STEPS) for lang in langs]
    return "\n".join(parts)
