"""The `Determination`: everything one IMR final determination letter states, as pydantic models.
The parser fills the verbatim facts; the model-filled fields are optional, so the JSON shape is stable.
Every model holding parsed values has an `evidence` map from field name (`"licensure_states[1]"`)
to an `Evidence` span with `source.raw[e.start:e.end] == e.quote`; no evidence: not in the letter."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Decision = Literal["upheld", "overturned"]
Outcome = Literal["all_upheld", "all_overturned", "mixed"]
SourceFamily = Literal["MTUS", "ODG", "ACOEM", "OTHER", "NONE"]
Priority = Literal["standard", "expedited"]
Sex = Literal["male", "female"]
LetterFormat = Literal["dwc_2016", "dwc_body_only", "unknown"]
Verdict = Literal["not_medically_necessary", "medically_necessary"]
Laterality = Literal["left", "right", "bilateral"]
BodyRegion = Literal[
    "neck", "upper_back", "low_back", "spine", "shoulder", "elbow", "forearm_wrist_hand",
    "upper_extremity", "hip_pelvis", "knee", "lower_extremity", "ankle_foot", "head", "trunk",
    "psych", "eye", "other",
]
Category = Literal[
    "Diagnostic Testing", "DMEPOS", "Evaluation & Management", "Home Health", "Injection",
    "Pharmaceuticals", "Programs", "Psych Services", "Rehabilitation", "Surgery", "Therapies",
    "Transportation",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Evidence(_Strict):
    """Where a value came from: a span of the letter as read (`SourceText.raw`)."""

    start: int = Field(description="offset of the first character of the quote in the letter as read")
    end: int = Field(description="offset one past the quote's last character")
    quote: str = Field(description="the letter's text at [start, end), verbatim")
    origin: Literal["parser", "model", "rules", "section_table"] = Field(
        "parser", description="parser: stated verbatim; model: the model's value, its quote verified; "
                              "rules: decided by the vocabulary or quantity rules from these words; "
                              "section_table: decided by the guideline topic the reviewer cites (these words)")
    alignment: Literal["exact", "normalized", "fuzzy"] = Field(
        "exact", description="how the quote was matched to the letter (the parser is always exact)"
    )


EvidenceMap = dict[str, Evidence]


class Citation(_Strict):
    """One guideline a party cited, e.g. MTUS Chronic Pain Medical Treatment 2016, Section(s): ..."""

    family: SourceFamily = Field(description="MTUS, ODG, ACOEM (outside MTUS), OTHER or NONE")
    title: str | None = Field(None, description="the guideline's name as printed, without family prefix")
    edition_year: int | None = Field(None, description="edition or year printed with the title")
    chapter_or_section: str | None = Field(None, description="chapter, section(s) or topic as printed")
    pages: list[str] = Field(default_factory=list, description='page references, e.g. ["98-99"], ["98", "99"]')
    raw: str = Field(description="the citation text, whitespace collapsed")
    evidence: Evidence | None = Field(None, description="the citation's span in the letter")


class GuidelineBasis(_Strict):
    """A party's stated guideline basis: the 'Claims Administrator guideline:' or 'MAXIMUS guideline:' field."""

    party: Literal["claims_administrator", "reviewer"] = Field(description="whose basis this is")
    sources: list[SourceFamily] = Field(description="families in order of first mention, each once")
    based_on_mtus: bool | None = Field(None, description="False when the party says it did not base its decision on the MTUS")
    none_cited: bool = Field(False, description="the party did not cite any medical evidence")
    citations: list[Citation] = Field(default_factory=list, description="each guideline cited, in order")
    raw: str = Field(description="the whole field, whitespace collapsed")
    evidence: Evidence | None = Field(None, description="the field's span in the letter")


class Quantity(_Strict):
    """How much was requested. Filled by the model (later); the parser leaves it empty."""

    raw: str | None = Field(None, description="the quantity words as printed")
    count: float | None = Field(None, description="units or sessions stated as a number")
    frequency_per_week: float | None = Field(None, description="sessions per week")
    duration_weeks: float | None = Field(None, description="weeks (a rental period counts as a duration)")
    total_sessions: float | None = Field(None, description="stated, or frequency × duration")
    strength: str | None = Field(None, description='drug strength, e.g. "10mg", "5%"')
    dispense_qty: float | None = Field(None, description='"#60" for a drug → 60')


class DisputedItem(_Strict):
    """One disputed treatment request and the reviewer's decision on it."""

    index: int = Field(description="0-based position in the letter")
    request: str = Field(description="the heading as printed, whitespace collapsed, without ': Upheld'")
    decision: Decision = Field(description="the decision token printed after the heading")
    modified_by_ur: bool = Field(False, description="UR authorized part or a modified version of the original request")
    original_request: str | None = Field(None, description="UR-modified items: the original request")
    ur_authorized: str | None = Field(None, description="UR-modified items: what the claims administrator authorized")
    disputed_portion: str | None = Field(None, description="UR-modified items: what IMR decided on")
    claims_administrator_basis: GuidelineBasis | None = Field(None, description="the 'Claims Administrator guideline:' field (the UR basis)")
    reviewer_basis: GuidelineBasis | None = Field(None, description="the 'MAXIMUS guideline:' field (the IMR reviewer's basis)")
    rationale: str | None = Field(None, description="the decision rationale, whitespace collapsed")
    rationale_verdict: Verdict | None = Field(None, description="what the rationale's closing verdict says")
    verdict_phrase: str | None = Field(None, description="the rationale's verdict phrase as printed")
    # Filled by the model (later). None = not filled / not stated.
    category: Category | None = Field(None, description="DWC request category")
    subcategory: str | None = Field(None, description="DWC request subcategory or drug class")
    service: str | None = Field(None, description="the treatment in plain words")
    body_regions: list[BodyRegion] = Field(default_factory=list, description="body regions the request names")
    laterality: Laterality | None = Field(None, description="side the request names")
    quantity: Quantity | None = Field(None, description="how much was requested")
    reasons: list[str] = Field(default_factory=list, description="the reviewer's reasons, plainly")
    missing_documentation: list[str] = Field(default_factory=list, description="what the records did not show")
    evidence: EvidenceMap = Field(default_factory=dict, description="field name → its span in the letter")


class Reviewer(_Strict):
    """The expert reviewer's qualifications (the letter never names the reviewer)."""

    licensure_states: list[str] = Field(default_factory=list, description="states as printed, in order")
    specialties: list[str] = Field(default_factory=list, description="board certifications as printed")
    subspecialties: list[str] = Field(default_factory=list, description="sentence form only: 'has a subspecialty in X'")
    form: Literal["list", "sentence"] | None = Field(None, description="how the letter states the credentials")
    evidence: EvidenceMap = Field(default_factory=dict, description="'licensure_states[0]' etc. → span")


class Patient(_Strict):
    age: int | None = Field(None, description="age the case summary states")
    sex: Sex | None = Field(None, description="sex the case summary states")
    evidence: EvidenceMap = Field(default_factory=dict, description="'age'/'sex' → span")


class Conflict(_Strict):
    """Two statements in the letter (or the letter and a model) that disagree. Reported, never resolved silently."""

    field: str = Field(description="the field concerned, e.g. 'date_of_injury' or 'items[0].decision'")
    kept: str | None = Field(description="the value the Determination holds")
    other: str | None = Field(description="the disagreeing value")
    note: str = Field(description="what disagrees and which value was kept")


SuspiciousKind = Literal[
    "instruction", "addressed_to_model", "system_prompt", "role_marker", "structured_data", "markup",
    "note_to_reader", "decision_claim", "contact", "heading_in_text",
]


class SuspiciousText(_Strict):
    """Text in the letter that reads like it was written for a machine or for the reader rather than
    as part of the letter: an instruction, a planted heading, a fake note, JSON. Reported, never
    obeyed; model-filled values resting on it are dropped, and no explanation shows it."""

    kind: SuspiciousKind = Field(description="instruction: 'ignore previous instructions' and the like; "
                                             "addressed_to_model: text addressed to an AI/model/assistant; "
                                             "system_prompt: talk of system prompts, jailbreaks; "
                                             "role_marker: chat role lines ('system:', '<|im_start|>'); "
                                             "structured_data: a JSON-like object; markup: tags, code fences; "
                                             "note_to_reader: a note or message to the patient/claimant; "
                                             "decision_claim: a decision stated outside the item's decision line; "
                                             "contact: a phone number, link or e-mail address; "
                                             "heading_in_text: a heading-and-decision line inside another item's text")
    section: str = Field(description="where it is: header, credentials, case_summary, items[0].rationale, ...")
    note: str = Field(description="a short fixed label of what matched (never the letter's text)")
    evidence: Evidence = Field(description="the suspicious sentence or block in the letter (provenance)")


class OcrPage(_Strict):
    """One page of the letter read by OCR."""

    page: int = Field(description="page number in the letter, from 1")
    mean_confidence: float = Field(description="the OCR engine's mean word confidence on this page, 0-100")
    words: int = Field(description="words read on the page")
    dpi: int | None = Field(None, description="resolution the page was read at")
    steps: list[str] = Field(default_factory=list, description="preprocessing applied: perspective, contrast, "
                                                                  "deskew, turned (orientation), scaled")


class OcrReading(_Strict):
    """How a letter that was (partly) a picture was read: present only when OCR read a page. Evidence
    spans point into the OCR text, which is the letter as read (`source_sha256` is its hash)."""

    engine: str = Field("tesseract", description="the OCR engine")
    engine_version: str = Field(description="its version")
    wrapper: str = Field(description="how imr-llm calls it, with its version")
    language: str = Field("eng", description="the engine's language data")
    pages: list[OcrPage] = Field(description="the pages read by OCR (other pages had a text layer)")
    pages_total: int = Field(description="pages in the letter as given")
    complete: bool = Field(True, description="False when no decided item was found: a page or part of a letter "
                                             "(the header or case number may still be read); see warnings")
    low_confidence: list[str] = Field(default_factory=list, description="fields whose words were read with low "
                                                                        "confidence, e.g. 'items[0].decision'")


class Provenance(_Strict):
    """What produced this result; keys the cache and lets two runs be compared."""

    imr_llm_version: str = Field(description="package version")
    parser_version: str = Field(description="bumped whenever parsing rules change")
    schema_hash: str = Field(description="hash of this JSON schema")
    source_sha256: str = Field(description="sha256 of the letter text as read")
    source_kind: Literal["pdf", "text", "image"] = Field(description="how the letter was read (image: picture files, by OCR)")
    model: str | None = Field(None, description="model that filled fields, if any")
    endpoint_kind: str | None = Field(None, description="provider profile of the model, if any")
    prompt_hashes: dict[str, str] = Field(default_factory=dict, description="prompt name → sha256 prefix, if a model ran")
    ocr: OcrReading | None = Field(None, exclude_if=lambda v: v is None,
                                   description="pages read by OCR, the engine and each page's confidence (absent: none was)")


class ModelUsage(_Strict):
    """What the model step cost for one letter (counted per call, never shared between letters)."""

    calls: int = Field(0, description="model requests that were answered (not cache hits)")
    http_attempts: int = Field(0, description="HTTP responses received, re-asks included")
    retries: int = Field(0, description="re-asks after invalid output plus transport retries")
    prompt_tokens: int = Field(0, description="prompt tokens over every attempt")
    completion_tokens: int = Field(0, description="completion tokens over every attempt")
    cache_hits: int = Field(0, description="requests answered from the response cache")
    model_seconds: float = Field(0.0, description="wall time spent waiting for the model")


class ModelStep(_Strict):
    """Whether and how the model filled the interpretive fields of this letter."""

    status: Literal["not_requested", "complete", "partial", "failed"] = Field(
        "not_requested",
        description="not_requested: no model configured, the model-filled fields are empty on purpose; "
                    "partial: some values were dropped (see warnings); failed: the model step errored")
    model: str | None = Field(None, description="model name, when a model ran")
    endpoint_kind: str | None = Field(None, description="provider profile used")
    usage: ModelUsage = Field(default_factory=ModelUsage, description="calls, tokens, cache hits, seconds")
    dropped: list[str] = Field(default_factory=list, description="values dropped, each 'field: why' in words")
    corrected: list[str] = Field(default_factory=list, description="model answers the vocabulary overruled, and how")
    candidates: dict[str, dict[str, str | None]] = Field(
        default_factory=dict, description="'items[0].category' → what each decider said ('Category/Subcategory' or "
                                          "null): section_table, vocabulary, model; decided_by (the one used) and chosen (the value kept)")


class Determination(_Strict):
    """One IMR final determination letter, parsed."""

    letter_format: LetterFormat = Field(
        "unknown", description="dwc_2016: header block + body; dwc_body_only: body without header (the seeds)")
    case_number: str | None = Field(None, description="IMR case number, e.g. CM16-0219557 (header only)")
    date_assigned: date | None = Field(None, description="header 'Date Assigned'")
    decision_date: date | None = Field(None, description="header 'Decision Date'")
    date_of_injury: date | None = Field(None, description="header 'Date of Injury'; without a header, the summary's")
    ur_denial_date: date | None = Field(None, description="header 'UR Denial Date'; without a header, the summary's")
    application_received: date | None = Field(None, description="header 'Application Received'")
    priority: Priority | None = Field(None, description="header 'Priority': standard or expedited")
    reviewer: Reviewer = Field(default_factory=Reviewer, description="the expert reviewer's credentials")
    patient: Patient = Field(default_factory=Patient, description="age and sex as the case summary states them")
    diagnoses: list[str] = Field(default_factory=list, description="diagnoses the letter explicitly lists")
    items: list[DisputedItem] = Field(default_factory=list, description="disputed items in letter order")
    outcome: Outcome | None = Field(None, description="computed from the item decisions")
    conflicts: list[Conflict] = Field(default_factory=list, description="disagreements inside the letter, kept visible")
    suspicious: list[SuspiciousText] = Field(
        default_factory=list, description="instruction-like or planted text found in the letter (imr_llm/safety.py)")
    warnings: list[str] = Field(default_factory=list, description="anything the parser could not settle")
    evidence: EvidenceMap = Field(default_factory=dict, description="field name → where its value is in the letter")
    model_step: ModelStep = Field(default_factory=ModelStep, description="the model step: requested or not, and its cost")
    provenance: Provenance | None = Field(None, description="what produced this result")

    @model_validator(mode="after")
    def _compute_outcome(self) -> "Determination":
        # The case outcome is a roll-up of the item decisions, never stated independently.
        object.__setattr__(self, "outcome", case_outcome([i.decision for i in self.items]))
        return self


def case_outcome(decisions: list[str]) -> Outcome | None:
    if not decisions:
        return None
    if all(d == "upheld" for d in decisions):
        return "all_upheld"
    if all(d == "overturned" for d in decisions):
        return "all_overturned"
    return "mixed"


def fingerprint(schema: dict) -> str:
    """A short hash of a JSON schema; changes whenever the schema does."""
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def schema_hash() -> str:
    return fingerprint(Determination.model_json_schema())
