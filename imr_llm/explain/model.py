"""`PatientExplanation`: what one IMR letter means for the injured worker, in plain words.

Whoever wrote it, the guards and renderers take any `PatientExplanation`. Decisions, status wording,
next steps, glossary and disclaimer come from the parser and the vetted facts (`facts.py`), never
written freely; the headline, plain request and points are written, then checked by the guards."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..schema import Decision, Evidence, Outcome, SuspiciousKind

Language = str  # a code `languages.get` knows: a module in explain/languages/, or one a caller registered


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Citation(_Strict):
    """Where a vetted fact comes from."""

    label: str = Field(description='the law or page, e.g. "8 CCR 9792.10.7(a)"')
    url: str | None = Field(None, description="where to read it")


PointAuthor = Literal["model", "model_reasked", "rules", "template"]


class Point(_Strict):
    """One short point (why, or what could help), with the letter's words it rests on."""

    text: str = Field(description="one or two short sentences")
    evidence: Evidence | None = Field(None, description="the span of the letter this point rests on")
    ref: str | None = Field(None, description='the parsed field it comes from, e.g. "reasons[0]", "reviewer_basis"')
    written_by: PointAuthor = Field(
        "template", description="model: written by the model and passed its guards; model_reasked: passed after "
                                "one re-ask; rules: the rule-based simplifier; template: a fixed, vetted sentence")
    grade: float | None = Field(None, description="this point's reading level (FK grade / Fernández-Huerta), by "
                                                  "the guards; None for fixed sentences")


class ExplainedItem(_Strict):
    """One disputed treatment, explained."""

    index: int = Field(description="0-based position in the letter (the parser's index)")
    request: str = Field(description="the heading as parsed")
    request_hidden: bool = Field(
        False, description="the heading holds suspicious text: its words are not shown, a plain line says why")
    plain_request: str = Field(description='the request in everyday words, e.g. "8 physical therapy visits for your lower back"')
    decision: Decision = Field(description="the parser's decision")
    status: str = Field(description="the vetted status wording for this decision")
    decision_evidence: Evidence | None = Field(None, description="the decision word in the letter (Upheld/Overturned)")
    already_approved: str | None = Field(
        None, description="UR-modified items: what the claims administrator had already approved (the letter's words)")
    why: list[Point] = Field(default_factory=list, description="2-4 short points from the reviewer's reasons")
    what_could_help: list[Point] = Field(
        default_factory=list, description="what the worker's doctor could send with a new request (upheld items)")


class NextStep(_Strict):
    """One vetted next step, with its citation."""

    key: str = Field(description="the fact's key in facts.py")
    applies_to: Literal["overturned", "upheld", "all"] = Field(description="which items this step is about")
    text: str = Field(description="the vetted wording in the explanation's language")
    contact: str | None = Field(None, description="how to reach the help the step names (phone line, web page)")
    citation: Citation = Field(description="where the fact comes from")


class GlossaryEntry(_Strict):
    term: str = Field(description="the term as it appears in the explanation or the letter")
    definition: str = Field(description="a plain definition")


class WrittenBy(_Strict):
    """Who wrote the written parts (each point says who wrote it: `Point.written_by`)."""

    kind: Literal["template", "model"] = Field("template", description="model: at least one point shown is the model's")
    model: str | None = Field(None, description="the model name, when a model wrote it")
    prompt_hashes: dict[str, str] = Field(default_factory=dict, description="prompt name → hash, when a model wrote it")


class Readability(_Strict):
    """Reading-level figures (textstat). English: Flesch-Kincaid grade (lower is easier);
    Spanish: Fernández-Huerta (0-100, higher is easier). Glossary terms and the request's own
    words are left out before scoring."""

    metric: Literal["flesch_kincaid_grade", "fernandez_huerta"] = Field(description="the formula used")
    parts: dict[str, float | None] = Field(
        default_factory=dict, description="headline, why, what_could_help, status, next_steps → score (None: no text)")
    written: float | None = Field(None, description="the written parts together (headline, why, what could help)")
    overall: float | None = Field(None, description="everything the worker reads: written parts, status, next steps")
    target: float = Field(description="the aim: FK grade 6 / Fernández-Huerta 70")
    limit: float = Field(description="the hard limit: FK grade 8 / Fernández-Huerta 60")


class GuardResult(_Strict):
    name: str = Field(description="decision, numbers, readability, injection, vetted_text")
    passed: bool
    detail: str = Field(description="what was checked, and what failed")


class Fallback(_Strict):
    used: bool = Field(False, description="a point (or the whole explanation) shown is not the one first written")
    reason: str | None = Field(None, description="which point or explanation failed which guards, and what is shown")


class Notice(_Strict):
    """A line of the letter the worker should check on paper: suspicious text, or a line the parse
    could not take as it stands (a heading-and-decision line it ignored, a decision the rationale
    disagrees with). Shown as one plain sentence; `quote` is the line shortened, without invisible
    characters, phone numbers and links blanked (a page rendered without the letter leaves it out)."""

    quote: str | None = Field(None, description="the line, at most 80 characters")


class SuspiciousMark(_Strict):
    """Where the letter has suspicious text (`Determination.suspicious`): its kind, section and
    span, without the letter's words, so an explanation (even a redacted one) carries none."""

    kind: SuspiciousKind = Field(description="what it looks like (see Determination.suspicious)")
    section: str = Field(description="where it is, e.g. items[0].rationale")
    note: str = Field(description="a short fixed label")
    start: int = Field(description="offset of its first character in the letter as read")
    end: int = Field(description="offset one past its last character")


class PatientExplanation(_Strict):
    """One letter explained to the injured worker."""

    headline: str = Field(description="one sentence with the overall outcome in everyday words")
    outcome: Outcome | None = Field(None, description="the parser's case outcome")
    case_number: str | None = Field(None, description="the IMR case number, when the letter has one")
    items: list[ExplainedItem] = Field(default_factory=list, description="disputed items in letter order")
    next_steps: list[NextStep] = Field(default_factory=list, description="vetted steps for this outcome")
    glossary: list[GlossaryEntry] = Field(default_factory=list, description="terms that must stay, explained")
    disclaimer: str = Field(description="not legal advice")
    language: Language = Field("en", description="en or es")
    facts_version: str = Field(description="version of the vetted facts used")
    written_by: WrittenBy = Field(default_factory=WrittenBy, description="template, or a model and its prompt hashes")
    readability: Readability | None = Field(None, description="reading-level figures (set by the guards)")
    guards: list[GuardResult] = Field(default_factory=list, description="each check and its result")
    fallback: Fallback = Field(default_factory=Fallback, description="whether the template replaced a failed explanation")
    from_picture: bool = Field(False, exclude_if=lambda v: not v,
                               description="the letter was read by OCR (a scan or a photo): the page says so first")
    notices: list[Notice] = Field(
        default_factory=list, description="lines of the letter to check on paper, each shown as one plain sentence")
    suspicious: list[SuspiciousMark] = Field(
        default_factory=list, description="where the letter has suspicious text (instructions, planted lines), as the "
                                          "parse found it: the page says so in `notices`")

    @property
    def passed(self) -> bool:
        return bool(self.guards) and all(g.passed for g in self.guards)
