"""The model-written explanation: the model rewrites the written parts (plain request, why,
what could help) of the template explanation in plain words, from the parsed and model-filled
fields only — never from the letter's text, so nothing the letter says to a model can reach it.
Everything vetted (headline, decisions, status wording, next steps, glossary, disclaimer) stays
the template's: a model-written headline once added a health claim the letter never made ("your
neck pain is better now"), and the headline is the sentence most read. Each "why" point names
the reason it restates, so it keeps that reason's evidence span. The guards then check the result like any other (`explain()`), with one re-ask
carrying their feedback, and the model also reads the text back: which items does it say were
approved?
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..prompts import load_prompt
from ..reading import SourceText
from ..schema import Determination
from .model import GuardResult, Language, PatientExplanation, WhyPoint, WrittenBy
from .templates import write_template

LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WrittenPoint(_Answer):
    text: str
    reason: int | None = Field(None, description="number of the reason this point restates, or null")


class WrittenItem(_Answer):
    plain_request: str
    why: list[WrittenPoint] = Field(min_length=1, max_length=4)
    what_could_help: list[str] = Field(default_factory=list, max_length=3)


class WrittenExplanation(_Answer):
    items: list[WrittenItem]


class ReadBack(_Answer):
    approved: list[Literal["approved", "not approved"]]


class ModelWriter:
    """A `Writer` for `explain()`: `writer(det, source, language, feedback=None)`."""

    def __init__(self, client) -> None:
        self.client = client
        self.prompt = load_prompt("explain_letter")
        self.readback_prompt = load_prompt("explain_readback")

    def prompt_hashes(self) -> dict[str, str]:
        return {p.name: p.short_hash for p in (self.prompt, self.readback_prompt)}

    def __call__(self, det: Determination, source: SourceText | str, language: Language = "en", *,
                 feedback: list[str] | None = None) -> PatientExplanation:
        from ..runtime import run_sync

        return run_sync(self.acall(det, source, language, feedback=feedback))

    async def acall(self, det: Determination, source: SourceText | str, language: Language = "en", *,
                    feedback: list[str] | None = None) -> PatientExplanation:
        base = write_template(det, source, language)
        items = [{"request": i.request, "decision": e.status, "plain_request": e.plain_request,
                  "reasons": i.reasons, "missing_documentation": i.missing_documentation if i.decision == "upheld" else []}
                 for i, e in zip(det.items, base.items)]
        written = await self.client.acomplete(
            "explain_letter", self.prompt,
            {"language": LANGUAGE_NAMES[language], "items": items, "feedback": feedback or []},
            WrittenExplanation)
        if len(written.items) != len(base.items):
            raise ValueError(f"the model explained {len(written.items)} items, the letter has {len(base.items)}")
        expl = base.model_copy(deep=True)
        for item, parsed, out in zip(expl.items, det.items, written.items):
            item.plain_request = out.plain_request.strip()
            item.why = [WhyPoint(text=p.text.strip(),
                                 evidence=parsed.evidence.get(f"reasons[{p.reason - 1}]") if p.reason else None,
                                 ref=f"reasons[{p.reason - 1}]" if p.reason and 0 < p.reason <= len(parsed.reasons) else None)
                        for p in out.why if p.text.strip()]
            item.what_could_help = [h.strip() for h in out.what_could_help if h.strip()] if parsed.decision == "upheld" else []
        from .facts import glossary
        from .templates import shown_text

        expl.glossary = glossary(shown_text(expl), language)
        expl.written_by = WrittenBy(kind="model", model=self.client.config.model, prompt_hashes=self.prompt_hashes())
        return expl

    def readback(self, expl: PatientExplanation, det: Determination) -> GuardResult:
        from ..runtime import run_sync

        return run_sync(self.areadback(expl, det))

    async def areadback(self, expl: PatientExplanation, det: Determination) -> GuardResult:
        """The model reads each item's explanation (plain request and why, not the status line)
        and says whether it was approved; it must agree with the letter for every item."""
        texts = [" ".join([i.plain_request, i.status, *(p.text for p in i.why)]) for i in expl.items]
        answer = await self.client.acomplete("explain_readback", self.readback_prompt, {"texts": texts}, ReadBack)
        wanted = ["approved" if i.decision == "overturned" else "not approved" for i in det.items]
        if answer.approved != wanted:
            return GuardResult(name="readback_model", passed=False,
                               detail=f"the model read {answer.approved}, the letter says {wanted}")
        return GuardResult(name="readback_model", passed=True, detail=f"the model read all {len(wanted)} item(s) as the letter says")
