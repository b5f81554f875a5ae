"""LLM judge for free-text fields: one yes/no per labelled point (far more reliable from a small
model than a free 0-1 score); the score is the share covered. Calls are cached, so it reproduces."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, create_model

from ..prompts import Prompt, load_prompt

if TYPE_CHECKING:  # the client loads openai and instructor: `imr-llm eval` without a model never needs them
    from ..model.client import StructuredClient

FIELD_DESCRIPTIONS = {
    "reasons": "the reviewer's reasons for the decision",
    "missing_documentation": "what the reviewer said the medical records did not show",
}


class FreeTextJudge:
    def __init__(self, client: StructuredClient, prompt: Prompt | None = None) -> None:
        self.client = client
        self.prompt = prompt or load_prompt("judge_free_text")

    def score(self, field: str, reference: list[str], candidate: list[str]) -> float:
        if not reference or not candidate:  # nothing to judge: no call needed
            return float(not reference and not candidate)
        n = len(reference)
        verdict_model = create_model(f"JudgeVerdict{n}", covered=(
            list[bool], Field(min_length=n, max_length=n, description="one value per reference point")))
        variables = {"field_description": FIELD_DESCRIPTIONS.get(field, field), "reference": reference, "candidate": candidate}
        verdict = self.client.complete(task=f"judge:{field}", prompt=self.prompt, variables=variables,
                                       response_model=verdict_model)
        return round(sum(verdict.covered) / n, 6)
