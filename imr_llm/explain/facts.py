"""The vetted facts: fixed wording, each fact with its citation; the wording of each language is in
its module (`languages/<code>.py`: `FACTS`, `GLOSSARY`), under the keys this module names.

Everything a worker could act on comes from here, never from a model. Sources: the domain brief
(shared/docs/domain-brief.md, section 2), the laws it cites, and the DWC's I&A page (1-800-736-7401).
Change a text only with its source checked, and bump `FACTS_VERSION`. The tests keep every number one
the cited law states, no appeal step for an all-overturned letter, and every text at grade 6-8.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import languages
from .model import Citation, GlossaryEntry, Language, NextStep

FACTS_VERSION = "1.2 (2026-12-04)"

# -- sources ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """Where a fact comes from: its label's key (`FACTS["source_<key>"]`), and the page to read."""

    key: str
    url: str

    def citation(self, language: Language) -> Citation:
        return Citation(label=languages.get(language).facts[f"source_{self.key}"], url=self.url)


_LC_4610_6 = "https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml?lawCode=LAB&sectionNum=4610.6"
CCR_9792_10_7 = Source("ccr_9792_10_7", "https://www.dir.ca.gov/t8/9792_10_7.html")
LC_4610_K = Source("lc_4610_k", "https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml?lawCode=LAB&sectionNum=4610")
LC_4610_6_H = Source("lc_4610_6_h", _LC_4610_6)
LC_4610_6_GROUNDS = Source("lc_4610_6_grounds", _LC_4610_6)
LC_4610_6_I = Source("lc_4610_6_i", _LC_4610_6)
DWC_IA = Source("dwc_ia", "https://www.dir.ca.gov/dwc/IandA.html")
DWC_IMR_GLOSSARY = Source("dwc_imr_glossary", "https://www.dir.ca.gov/dwc/IMR/IMRGlossary.htm")


@dataclass(frozen=True)
class Fact:
    key: str  # its wording: `FACTS[key]` of each language
    source: Source
    applies_to: str = "all"  # "overturned" | "upheld" | "all"
    contact: bool = False  # how to reach the help the fact names: `FACTS[key + "_contact"]`

    def text(self, language: Language) -> str:
        return languages.get(language).facts[self.key]

    def step(self, language: Language) -> NextStep:
        return NextStep(key=self.key, applies_to=self.applies_to, text=self.text(language),  # type: ignore[arg-type]
                        contact=languages.get(language).facts[f"{self.key}_contact"] if self.contact else None,
                        citation=self.source.citation(language))


# -- status wording per decision ---------------------------------------------------------------

STATUS: dict[tuple[str, bool], Fact] = {
    ("upheld", False): Fact("status_upheld", DWC_IMR_GLOSSARY),
    ("overturned", False): Fact("status_overturned", DWC_IMR_GLOSSARY),
    # UR approved part of the request (or a changed version of it): that part stays approved.
    ("upheld", True): Fact("status_upheld_modified", DWC_IMR_GLOSSARY),
    ("overturned", True): Fact("status_overturned_modified", DWC_IMR_GLOSSARY),
}


def status(decision: str, modified_by_ur: bool, language: Language) -> str:
    return STATUS[(decision, bool(modified_by_ur))].text(language)


# -- next steps by outcome ---------------------------------------------------------------------

NEXT_STEPS: tuple[Fact, ...] = (
    Fact("authorize_5_working_days", CCR_9792_10_7, "overturned"),
    Fact("reimburse_20_days", CCR_9792_10_7, "overturned"),
    Fact("new_request_change_in_facts", LC_4610_K, "upheld"),
    Fact("same_request_12_months", LC_4610_K, "upheld"),
    Fact("appeal_30_days", LC_4610_6_H, "upheld"),
    Fact("appeal_five_grounds", LC_4610_6_GROUNDS, "upheld"),
    Fact("appeal_gets_new_review", LC_4610_6_I, "upheld"),
    Fact("free_help", DWC_IA, "all", contact=True),
)


def next_steps(decisions: list[str], language: Language) -> list[NextStep]:
    """The vetted steps for a letter's decisions: overturned items get the 5-working-day
    authorization, upheld items the new-request route and the appeal; everyone gets free help.
    A letter with no upheld item gets no appeal step (nothing the worker must act on)."""
    return [fact.step(language) for fact in NEXT_STEPS if fact.applies_to == "all" or fact.applies_to in decisions]


# -- glossary ----------------------------------------------------------------------------------

def glossary(text: str, language: Language) -> list[GlossaryEntry]:
    """The glossary entries for the terms the explanation (or its letter) uses, in a fixed order
    (a language's `GLOSSARY`: term, the words that show it is used, definition)."""
    lowered = text.lower()
    return [GlossaryEntry(term=term, definition=definition)
            for term, cues, definition in languages.get(language).GLOSSARY.values() if any(c in lowered for c in cues)]


def all_fact_text() -> str:
    """Every vetted text of every language: what the numbers guard allows."""
    langs = [languages.get(code) for code in languages.codes()]
    parts: list[str] = []
    for lang in langs:
        parts += [text for key, text in lang.facts.items() if not key.startswith("source_")]
        parts += [term + " " + definition for term, _, definition in lang.GLOSSARY.values()]
    parts += [text for lang in langs for key, text in lang.facts.items() if key.startswith("source_")]
    return "\n".join(parts)
