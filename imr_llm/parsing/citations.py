"""A party's guideline basis → source families and citations.

"Decision based on MTUS Low Back Complaints 2004, Section(s): Summary, and Chronic Pain Medical
Treatment 2016, Section(s): Facet blocks. Decision based on Non-MTUS Citation ACOEM ..., pg. 607."
becomes families [MTUS, ACOEM] and three citations. ACOEM chapters cited *as* MTUS stay MTUS.
"""

from __future__ import annotations

import re

from ..reading import SourceText
from ..schema import Citation, GuidelineBasis
from .common import between, collapse, evidence

NONE_CITED = re.compile(r"did\s+not\s+cite\s+any\s+(?:medical\s+)?evidence", re.IGNORECASE)
NOT_MTUS = re.compile(
    r"did\s+not\s+base\s+(?:their|its|his/her|the)\s+decision\s+on\s+the\s+MTUS"
    r"|based\s+(?:their|its)\s+decision\s+on\s+recommendation\(s\)\s+outside\s+of\s+the\s+MTUS",
    re.IGNORECASE,
)
DECISION_BASED = re.compile(r"Decision\s+based\s+on\s+", re.IGNORECASE)
NON_MTUS = re.compile(r"Non-?\s?MTUS\s+Citation\s*:?\s*", re.IGNORECASE)

ODG = re.compile(r"Official\s+Disability\s+Guidelines?|\bODG\b", re.IGNORECASE)
ACOEM = re.compile(r"\bACOEM\b|American\s+College\s+of\s+Occupational", re.IGNORECASE)
MTUS = re.compile(r"\bMTUS\b|Medical\s+Treatment\s+Utilization\s+Schedule", re.IGNORECASE)
# ODG chapter names: a non-MTUS citation that starts with one of these (and names no other
# guideline) cites an ODG chapter without saying "ODG".
ODG_CHAPTER = re.compile(
    r"^(?:Low\s+Back|Neck\s+(?:and|&)\s+Upper\s+Back|Shoulder|Knee\s+(?:and|&)\s+Leg|Pain\s*\(Chronic\)|Pain\b"
    r"|Hip\s+(?:and|&)\s+Pelvis|Hips?\s+&\s+Pelvis|Ankle\s+(?:and|&)\s+Foot|Forearm,?\s+Wrist|Elbow|Head\b"
    r"|Mental\s+Illness|Carpal\s+Tunnel|Knee\b|Preface)",
    re.IGNORECASE,
)
OTHER_SOURCE = re.compile(
    r"UpToDate|https?://|www\.|\bet\s+al\b|Journal|Medscape|drugs\.com|\bFDA\b|Cochrane|PubMed|Micromedex"
    r"|Lexicomp|Epocrates|AMA\s+Guides|Health\s+System|Clinical\s+Practice\s+Guideline|Medicare|\bNIH\b|\bCDC\b",
    re.IGNORECASE,
)
PAGES = re.compile(r"(?:Page\(s\)|Pages?|pgs?\.?|p\.)\s*(?::\s*)?(?P<p>\d+(?:\s*[-–,]\s*\d+)*(?:\s+of\s+\d+)?)", re.IGNORECASE)
SECTIONS = re.compile(r"Section\(s\)\s*:\s*(?P<s>.+)$", re.IGNORECASE | re.DOTALL)
_SEMICOLON = re.compile(";")
YEAR = re.compile(r"\b(19[89]\d|20[0-4]\d)\b")
# Second and later MTUS guidelines in one field: ", and Chronic Pain Medical Treatment 2016, ...".
# (?<!\s): a match starts where its whitespace run starts, not again at every space inside it.
MTUS_SPLIT = re.compile(
    r",?(?<!\s)\s+and\s+(?=(?:Chronic\s+Pain|Acupuncture|Postsurgical|Opioid|General\s+Approaches|Drug\s+Formulary"
    r"|Low\s+Back|Neck\s+and|Shoulder|Elbow|Forearm|Knee|Ankle|Hip|Stress|Eye|ACOEM)\b)",
    re.IGNORECASE,
)


def parse_basis(source: SourceText, party: str, start: int, end: int) -> GuidelineBasis:
    text = source.text
    raw = collapse(text[start:end])
    basis = GuidelineBasis(party=party, sources=[], raw=raw)  # type: ignore[arg-type]
    if end > start:
        basis.evidence = evidence(source, start, end)
    if NONE_CITED.search(raw):
        basis.none_cited = True
    if NOT_MTUS.search(raw):
        basis.based_on_mtus = False

    leads = list(DECISION_BASED.finditer(text, start, end))
    for lead, after in zip(leads, leads[1:] + [None]):  # each segment ends where the next lead-in starts
        basis.citations.extend(_segment_citations(source, lead.end(), after.start() if after else end))

    families = list(dict.fromkeys((["NONE"] if basis.none_cited else []) + [c.family for c in basis.citations]))
    if not basis.citations and not basis.none_cited:
        families.extend(_families_in(raw))  # a field without "Decision based on": keywords only
    basis.sources = families  # type: ignore[assignment]
    if basis.based_on_mtus is None and "MTUS" in families:
        basis.based_on_mtus = True
    return basis


def _families_in(raw: str) -> list[str]:
    hits = []
    for family, pattern in (("MTUS", MTUS), ("ODG", ODG), ("ACOEM", ACOEM)):
        m = pattern.search(raw)
        if m and not (family == "MTUS" and re.search(r"Non-?\s?MTUS|not\s+base|outside\s+of\s+the\s+MTUS", raw, re.I)):
            hits.append((m.start(), family))
    return [f for _, f in sorted(hits)]


def _segment_citations(source: SourceText, start: int, end: int) -> list[Citation]:
    text = source.text
    seg = text[start:end]
    non = NON_MTUS.match(seg)
    if non:
        return _non_mtus_citations(source, start + non.end(), end)
    mtus = re.match(r"(?:the\s+)?(?:CA\s+)?MTUS\b\s*", seg, re.IGNORECASE)
    if not mtus:
        fams = _families_in(collapse(seg))
        family = fams[0] if fams else "OTHER"
        return [_citation(source, family, start, end)]
    return [_citation(source, "MTUS", s, e) for s, e in between(MTUS_SPLIT, text, start + mtus.end(), end)]


def _non_mtus_citations(source: SourceText, start: int, end: int) -> list[Citation]:
    """Non-MTUS citations, split on ';'. A part that names no source continues the one before
    it ("ODG: Low Back - TPII; Hyperstimulation analgesia"), unless it names another kind of
    source (UpToDate, a web page, a journal)."""
    text = source.text
    parts = [(s, e) for s, e in between(_SEMICOLON, text, start, end) if text[s:e].strip(" \n,.")]
    out: list[Citation] = []
    for p_start, p_end in parts:
        part = text[p_start:p_end]
        hits = sorted([(m.start(), "ODG") for m in ODG.finditer(part)] + [(m.start(), "ACOEM") for m in ACOEM.finditer(part)])
        if not hits:
            if OTHER_SOURCE.search(part) or not out:
                family = "ODG" if not out and ODG_CHAPTER.match(part.strip()) else "OTHER"
            else:
                family = out[-1].family
            out.append(_citation(source, family, p_start, p_end))
            continue
        groups: list[tuple[int, str]] = []
        for pos, fam in hits:
            if not groups or groups[-1][1] != fam:
                groups.append((pos, fam))
        if groups[0][0] > 0 and part[: groups[0][0]].strip(" ,.;:\n"):
            groups.insert(0, (0, "OTHER"))
        for i, (pos, fam) in enumerate(groups):
            g_start = p_start + (0 if i == 0 else pos)
            g_end = p_start + groups[i + 1][0] if i + 1 < len(groups) else p_end
            out.append(_citation(source, fam, g_start, g_end))
    return out


# Chapter words are `&` or `[A-Z][\w&]*` (which, ignoring case, covers "and" too: listing "and" as
# its own alternative made every "and" matchable two ways, 2^n paths on "Chapter 1 and and ...").
MTUS_TITLE = re.compile(
    r"ACOEM\s+(?:Practice\s+Guidelines,?\s*)?(?:Chapter|Ch\.?)\s*\d+(?:\s+[A-Z][\w&]*(?:\s+(?:&|[A-Z][\w&]*),?)*?\s+Complaints)?"
    r"|Chronic\s+Pain\s+(?:Medical\s+)?Treatment(?:\s+Guidelines)?"
    r"|Acupuncture\s+(?:Medical\s+)?Treatment(?:\s+Guidelines)?"
    r"|Post-?surgical\s+Treatment(?:\s+Guidelines)?"
    r"|Opioids?\s+Treatment(?:\s+Guidelines)?"
    r"|General\s+Approaches|Drug\s+Formulary|Stress\s+Related\s+Conditions"
    r"|(?:Low\s+Back|Neck\s+and\s+Upper\s+Back|Shoulder|Elbow|Forearm,?\s+Wrist,?\s+and\s+Hand|Knee|Ankle\s+and\s+Foot|Hip\s+and\s+Pelvis|Eye)\s+Complaints",
    re.IGNORECASE,
)
ODG_TITLE = re.compile(r"(?:Official\s+Disability\s+Guidelines?(?:\s*\(ODG\))?|ODG)(?:\s+Guidelines)?", re.IGNORECASE)


def _split_title(family: str, head: str) -> tuple[str, str]:
    """("Chronic Pain Treatment Guidelines", "Physical Medicine") from an MTUS citation head;
    the guideline's name for ODG; the whole text for other sources."""
    pattern = MTUS_TITLE if family == "MTUS" else ODG_TITLE if family == "ODG" else None
    if pattern is not None:
        m = pattern.match(head)
        if m:
            return head[: m.end()].strip(" ,.:-"), head[m.end():]
    return head, ""


def _citation(source: SourceText, family: str, start: int, end: int) -> Citation:
    text = source.text
    end = start + len(text[start:end].rstrip(" \n.;,"))
    raw = collapse(text[start:end])
    citation = Citation(family=family, raw=raw)  # type: ignore[arg-type]
    if end > start:
        citation.evidence = evidence(source, start, end)
    pages = PAGES.search(raw)
    if pages:
        citation.pages = [p.strip() for p in re.split(r"\s*,\s*", re.sub(r"\s+of\s+\d+$", "", pages.group("p")))]
    head = raw[: pages.start()] if pages else raw
    sections = SECTIONS.search(head)
    if sections:
        citation.chapter_or_section = sections.group("s").strip(" ,.")
        head = head[: sections.start()]
    title, rest = _split_title(family, head.strip(" ,.("))
    year = YEAR.search(rest[:12]) if rest else None
    if year is None and title:
        year = YEAR.search(title)
    if year:
        citation.edition_year = int(year.group(1))
        if rest and rest[: year.end()].strip(" ,.") == year.group(1):
            rest = rest[year.end():]
    rest = (rest or "").strip(" ,.:-(")
    if rest and citation.chapter_or_section is None:
        citation.chapter_or_section = rest
    citation.title = title or None
    return citation
