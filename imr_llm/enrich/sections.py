"""The guideline section table: a reviewer's cited guideline topic -> the DWC request category.

The reviewer chose the cited topic for this treatment, so a topic that names one kind of treatment
decides the item's category before the heading's words do (issue 16: "Ultrasound 1 times 8" cited
under "Ultrasound, therapeutic" is a therapy session, not imaging). Rows were written from the
public tables of contents of the guidelines below, not from letters; each is pinned by
tests/test_vocabulary.py on headings written there (fitting half only, evals/gold/split.json).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .vocabulary import course_of_sessions, fold, folded

CPMTG = "MTUS Chronic Pain Medical Treatment Guidelines (8 CCR 9792.24.2), topic list"
ACOEM = "MTUS ACOEM Practice Guidelines, 2nd ed. (8 CCR 9792.23), chapter sections"
ACU = "MTUS Acupuncture Medical Treatment Guidelines (8 CCR 9792.24.1)"
OPIOID = "MTUS Opioid Treatment Guidelines (8 CCR 9792.24.4)"
ODG = "Official Disability Guidelines (ODG), treatment topics"


@dataclass(frozen=True)
class Row:
    topic: str  # pattern over the cited topic text (lower case, run on folded text)
    category: str
    subcategory: str | None
    source: str
    structural: bool = False


# First matching row wins, so more specific topics come first.
ROWS: tuple[Row, ...] = (
    # -- modalities and rehabilitation -------------------------------------------------------
    Row(r"ultrasound,?\s+therapeutic|therapeutic ultrasound", "Rehabilitation", "PT/OT", CPMTG),
    Row(r"physical medicine|physical therapy|physical/occupational therapy|occupational therapy|"
        r"aquatic therapy|therapeutic exercise|\bexercise\b|work conditioning|work hardening", "Rehabilitation", "PT/OT", CPMTG),
    Row(r"massage", "Rehabilitation", "Other", CPMTG),
    Row(r"manual therapy|manipulation|chiropractic", "Rehabilitation", "Chiropractic", CPMTG),
    Row(r"acupuncture", "Rehabilitation", "Acupuncture", ACU),
    Row(r"\btens\b|transcutaneous electrical|interferential|\bics\b|h-wave|neuromuscular electrical|\bnmes\b|"
        r"electrical stimulat|galvanic|\bpens\b|percutaneous electrical", "DMEPOS", "Electrical Stimulation", CPMTG),
    Row(r"biofeedback|low-level laser|\blllt\b|shock ?wave|\beswt\b|hyperstimulation analgesia|infrared therapy|"
        r"diathermy|iontophoresis|hot/cold|cold/heat|heat therapy", "Therapies", None, CPMTG),
    # -- programs ---------------------------------------------------------------------------------
    Row(r"functional restoration|chronic pain programs?|interdisciplinary", "Programs", "Functional Restoration", CPMTG),
    Row(r"detoxification|weight loss|gym membership", "Programs", "Other", CPMTG),
    Row(r"skilled nursing|inpatient rehabilitation", "Programs", "Inpatient/Skilled Nursing", ODG),
    Row(r"home health", "Home Health", None, CPMTG),
    Row(r"transportation", "Transportation", None, ODG),
    # -- psych ------------------------------------------------------------------------------------
    Row(r"psychological evaluation|psychological testing", "Psych Services", "E&M", CPMTG),
    Row(r"psychological treatment|behavioral interventions|cognitive behavio", "Psych Services", "Therapies", CPMTG),
    # -- injections -------------------------------------------------------------------------------
    Row(r"facet|medial branch|radiofrequency", "Injection", "Facet", CPMTG),
    Row(r"epidural steroid|\besis?\b|trigger point injection|sympathetic block|stellate|botulinum|"
        r"hyaluronic acid|platelet-rich|\bprp\b|corticosteroid injection|injections?\b", "Injection", "Other", CPMTG),
    # -- diagnostic testing -------------------------------------------------------------------
    Row(r"electrodiagnostic|electro-diagnostic|\bemg\b|\bncs\b|nerve conduction", "Diagnostic Testing", "EMG/NCV/NCS", CPMTG),
    Row(r"urine drug|drug testing|\budt\b|laboratory|lab testing|preoperative lab", "Diagnostic Testing", "Lab & Pathology", OPIOID),
    Row(r"\bmri\b|magnetic resonance|\bct\b|computed tomography|x-?ray|radiograph|bone scan|imaging|myelograph|"
        r"arthrograph|discograph", "Diagnostic Testing", "Imaging/Radiology", ODG),
    Row(r"functional capacity|\bfce\b|trigger point impedance|preoperative electrocardiogram|\bekg\b|\becg\b|"
        r"sleep stud|polysomno", "Diagnostic Testing", "Other", ODG),
    Row(r"special studies", "Diagnostic Testing", None, ACOEM, structural=True),
    # -- surgery ----------------------------------------------------------------------------------
    Row(r"spinal cord stimulat|fusion|laminectomy|discectomy|decompression", "Surgery", "Spine", ODG),
    Row(r"arthroscop|meniscectomy|slap lesion|acromioplasty", "Surgery", "Arthroscopic", ODG),
    Row(r"surgical assistant|assistant surgeon", "Surgery", "Adjunct", ODG),
    Row(r"surgical considerations|surgery for", "Surgery", None, ACOEM, structural=True),
    # -- DME --------------------------------------------------------------------------------------
    Row(r"durable medical equipment|\bdme\b|wheelchair|walking aids|bathtub|toilet|hospital bed|"
        r"cryotherapy|vasopneumatic|cold therapy unit|sling|continuous passive", "DMEPOS", "DME", ODG),
    Row(r"brace|orthos[ie]s|orthotic|splint|collar", "DMEPOS", "Prosthetics/Orthotics", ODG),
    # -- visits -----------------------------------------------------------------------------------
    Row(r"office visits?|consultation|independent medical exam", "Evaluation & Management", "Medical Specialties", CPMTG),
    # -- drugs: the category; the drug class is the heading's drug (the vocabulary) --------------
    Row(r"opioid|tramadol|methadone|buprenorphine|fentanyl", "Pharmaceuticals", "Opioids", OPIOID),
    Row(r"nsaid|non-steroidal|celebrex|cox-2", "Pharmaceuticals", "NSAID", CPMTG),
    Row(r"muscle relaxant|cyclobenzaprine|carisoprodol|tizanidine|baclofen", "Pharmaceuticals", "Muscle Relaxant", CPMTG),
    Row(r"topical analgesic|capsaicin|lidocaine|lidoderm|compound", "Pharmaceuticals", "Topical Analgesics/Compounds", CPMTG),
    Row(r"proton pump|\bppis?\b", "Pharmaceuticals", "PPIs", ODG),
    Row(r"antidepressant|tricyclic|\btcas?\b|\bssris?\b|snris?|duloxetine|bupropion", "Pharmaceuticals", "Antidepressant", CPMTG),
    Row(r"anti-epilepsy|antiepilepsy|\baeds?\b|gabapentin|pregabalin|lyrica|topiramate", "Pharmaceuticals", "AEDs", CPMTG),
    Row(r"benzodiazepine", "Pharmaceuticals", "Benzodiazepines", CPMTG),
    Row(r"insomnia", "Pharmaceuticals", "Sleep Aids", ODG),
    Row(r"antiemetic", "Pharmaceuticals", "Antiemetics", ODG),
    Row(r"medications? for chronic pain|medical food|acetaminophen", "Pharmaceuticals", None, CPMTG),
)
_ROW_RE = [(row, folded(row.topic)) for row in ROWS]

# Words that say nothing about which treatment a topic is: they do not make a heading relevant.
_GENERIC = frozenset(
    "therapy therapies therapeutic treatment treatments chronic pain acute testing test tests program programs "
    "services service care medical management guidelines guideline chapter section sections topic and the for of "
    "with complaints disorders summary initial general approaches official disability post operative postoperative "
    "neck upper lower back low shoulder elbow forearm wrist hand knee leg ankle foot hip hips pelvis head spine "
    "cervical thoracic lumbar chest".split())
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class TopicMatch:
    row: Row
    citation: int  # index in the reviewer basis' citations
    text: str  # the cited topic text the row matched (chapter_or_section, else title)
    start: int  # span of the matching words in `text`
    end: int


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(fold(text)) if len(w) >= 3 and w not in _GENERIC}


def decide(heading: str, citations) -> TopicMatch | None:
    """The row that decides the category of an item with this heading and these reviewer citations,
    or None. A row decides only for a topic the heading shares a treatment word with (a 5-letter
    stem, generic and body-region words left out: an MRI whose reviewer also cites "Epidural steroid
    injections" is not an injection); a structural row (a chapter section such as ACOEM "Special
    Studies") only when no cited topic maps to another category."""
    found: list[TopicMatch] = []
    sessions = course_of_sessions(heading)
    for k, citation in enumerate(citations):
        text = citation.chapter_or_section or citation.title or ""  # ODG titles often hold the topic
        folded_text = fold(text)
        hit = next(((row, m) for row, regex in _ROW_RE if (m := regex.search(folded_text))), None)
        if hit is not None:
            found.append(TopicMatch(hit[0], k, text, *hit[1].span()))
    for match in found:
        if match.row.category == "DMEPOS" and sessions:
            continue  # a device topic cited for a course of office sessions: the sessions are not a device
        if not match.row.structural and _stems(heading) & _stems(match.text):
            return match
    structural = [m for m in found if m.row.structural]
    if structural and len({m.row.category for m in found}) == 1:
        return structural[0]
    return None
