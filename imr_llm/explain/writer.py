"""The model writer: one short sentence for the worker from each grounded reason and missing-
documentation value (`prompts/explain_point.j2`), from the parsed fields only, never the letter's
text, so nothing the letter says to a model can reach it. Everything else stays the template's: a
model-written headline once added a health claim the letter never made ("your neck pain is better
now"). The model also reads the passing sentences back (`prompts/explain_readback.j2`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..prompts import load_prompt
from . import languages
from .model import Language

Reading = Literal["approved", "not approved", "not said"]


class WrittenPoint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sentence: str = Field(max_length=400)


@lru_cache(maxsize=64)
def read_back_answer(n: int) -> type[BaseModel]:
    """{"answers": [...]} with exactly `n` answers (the server's grammar holds the model to it)."""
    return create_model(f"ReadBack{n}", __config__=ConfigDict(extra="ignore"),
                        answers=(list[Reading], Field(min_length=n, max_length=n)))


def without_label(sentence: str, language: Language) -> str:
    """The sentence after a label of the prompt's that the model copied or translated at its start
    ("Por qué no se aprobó la solicitud: faltan ..." → "Faltan ..."); the sentence as it is when
    that leaves fewer than 4 words."""
    label = languages.get(language).guards["point_label"].match(sentence)
    rest = sentence[label.end():] if label else ""
    return rest[:1].upper() + rest[1:] if len(rest.split()) >= 4 else sentence


class ModelWriter:
    """A point writer for `explain()`: `awrite(note, language, draft=None, problems=None)` → one
    sentence; `aread(texts)` → the model's reading of each ("approved", "not approved", "not said")."""

    def __init__(self, client) -> None:
        self.client = client
        self.prompt = load_prompt("explain_point")
        self.readback_prompt = load_prompt("explain_readback")

    @property
    def model(self) -> str | None:
        return self.client.config.model

    def prompt_hashes(self) -> dict[str, str]:
        return {p.name: p.short_hash for p in (self.prompt, self.readback_prompt)}

    async def awrite(self, note: dict, language: Language, *, draft: str | None = None,
                     problems: list[str] | None = None) -> str:
        """`note`: decision ("approved"/"not approved"), kind ("reason"/"missing"), note (the value)."""
        answer = await self.client.acomplete(
            "explain_point", self.prompt,
            {**note, "language": languages.get(language).NAME, "draft": draft or "", "problems": problems or []},
            WrittenPoint)
        return without_label(" ".join(answer.sentence.split()), language)

    async def aread(self, texts: list[str]) -> list[str]:
        if not texts:
            return []
        answer = await self.client.acomplete("explain_readback", self.readback_prompt, {"texts": texts},
                                             read_back_answer(len(texts)))
        if len(answer.answers) != len(texts):
            raise ValueError(f"the model read {len(answer.answers)} sentences back, not {len(texts)}")
        return list(answer.answers)
