"""What the model is asked to return: lean response models with the validators that ground them.

Validators run with instructor's validation context (`{"items": [(heading, rationale), ...]}`);
a value whose quote is not in its section raises, so instructor re-asks with that reason (one-item
calls; a shared call is not re-asked). Without a context (cache replays, a salvaged answer) the
grounding checks are skipped here and done again, value by value, by the enricher.
"""

from __future__ import annotations

import copy
import functools
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator, model_validator

from ..fields import FIELDS, of_kind
from ..schema import BodyRegion, Category, Laterality
from ..taxonomy import SUBCATEGORIES, subcategory_problem
from ..model.validation import context_of
from .grounding import locate

Subcategory = Literal[tuple(sorted({s for subs in SUBCATEGORIES.values() for s in subs}))]  # type: ignore[valid-type]


class _Answer(BaseModel):
    """instructor's JSON mode prints `model_json_schema()` into the prompt (indented: about 700
    tokens for the enum-heavy request schema, 40 s on a 2-core CPU). The prompt already lists the
    allowed values and the server's grammar enforces them (`grammar_schema()`, the full schema),
    so the printed schema is a compact one: no titles, enums shown as plain strings. Validation
    still uses the full types."""

    model_config = ConfigDict(extra="ignore")

    @classmethod
    def model_json_schema(cls, *args, **kwargs):  # type: ignore[override]
        if args or kwargs:
            return _compact(super().model_json_schema(*args, **kwargs))
        return copy.deepcopy(_schemas(cls)[0])  # built once per class: every call asks for it

    @classmethod
    def grammar_schema(cls) -> dict:
        return copy.deepcopy(_schemas(cls)[1])  # the full schema, enums included


@functools.cache
def _schemas(cls) -> tuple[dict, dict]:
    """(the compact schema the prompt prints, the full schema the server's grammar enforces)."""
    full = BaseModel.model_json_schema.__func__(cls)
    return _compact(full, full.get("$defs", {}) if getattr(cls, "TERSE", False) else None), full


def _compact(node, defs: dict | None = None):
    """No titles or defaults, enums as their type. With `defs`, terse too (the printed schema only
    shows the form): references inlined, no descriptions, an `anyOf` of types as one list of types."""
    if isinstance(node, list):
        return [_compact(v, defs) for v in node]
    if not isinstance(node, dict):
        return node
    if "enum" in node:
        return {"type": node.get("type", "string")}
    if defs is not None and "$ref" in node:
        return _compact(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    dropped = ("title", "default") + (("description", "$defs", "required") if defs is not None else ())
    node = {k: _compact(v, defs) for k, v in node.items() if k not in dropped}
    options = node.get("anyOf") if defs is not None else None
    if options and all(set(o) == {"type"} for o in options):
        return {"type": [o["type"] for o in options]}
    return node


class RequestAnswer(_Answer):
    """One request heading, read: the treatment, its DWC category, where on the body, how much."""

    service: str = Field(description="the treatment words copied from the request, lower case")
    category: Category
    subcategory: Subcategory | None = None  # type: ignore[valid-type]
    body_regions: list[BodyRegion] = Field(default_factory=list)
    laterality: Laterality | None = None
    quantity: str | None = Field(None, description="the quantity words copied from the request, or null")

    @field_validator("service", "quantity")
    @classmethod
    def _stripped(cls, value: str | None) -> str | None:
        return value.strip() if value else value  # found in the request or not: ItemsAnswer's check

    @model_validator(mode="after")
    def _taxonomy(self, info: ValidationInfo) -> "RequestAnswer":
        if context_of(info) is None:
            return self  # a salvaged or cached answer: the enricher drops a subcategory that does not fit
        problem = subcategory_problem(self.category, self.subcategory)
        if problem:
            allowed = ", ".join(SUBCATEGORIES[self.category]) or "null"
            raise ValueError(f"{problem}; for {self.category} use one of: {allowed}")
        return self


class Point(_Answer):
    point: str = Field(description="one short plain statement")
    quote: str = Field(description="the exact words of the rationale it rests on")


class ItemAnswer(RequestAnswer):
    """One request and its rationale, read in one call: the request's fields and the reasons."""

    conclusion: Literal["not medically necessary", "medically necessary"]
    reasons: list[Point] = Field(min_length=1, max_length=4)
    missing_documentation: list[Point] = Field(default_factory=list, max_length=5)


class ItemsAnswer(_Answer):
    """Requests with their rationales (one item, or several of one letter), read in one call."""

    TERSE: ClassVar[bool] = True  # its printed schema is the terse one (about 150 tokens instead of 600)
    items: list[ItemAnswer]

    @model_validator(mode="after")
    def _grounded(self, info: ValidationInfo) -> "ItemsAnswer":
        sections = (context_of(info) or {}).get("items")
        if sections is None:
            return self
        if len(self.items) != len(sections):
            raise ValueError(f"give exactly {len(sections)} items, one per request, in order (got {len(self.items)})")
        bad = [problem for k, (item, (heading, rationale)) in enumerate(zip(self.items, sections), 1)
               for problem in item_problems(item, heading, rationale, k)]
        if bad:
            raise ValueError("; ".join(bad) + ". Copy the words exactly, or leave that point out")
        return self


def item_problems(item: ItemAnswer, heading, rationale, k: int = 1) -> list[str]:
    """What in one item's answer is not found where it says it comes from: the words it copied from
    the request, the quotes from the rationale (the validator's re-ask reasons)."""
    copied = [getattr(item, f.name) for f in of_kind("text", "quantity", grounding="heading")]
    bad = [f"request {k}: {v!r} is not in the request" for v in copied if v and locate(heading, v) is None]
    return bad + [f"rationale {k}: {p.quote[:80]!r} is not in the rationale"
                  for f in of_kind("points") for p in getattr(item, f.name) if locate(rationale, p.quote) is None]


_NEW_ANSWERS = {"text": (str | None, None), "points": (list[Point], [])}  # the kinds fields.register() allows


def items_answer(n: int | None = None) -> type[ItemsAnswer]:
    """ItemsAnswer, with the fields registered at run time that its items lack (imr_llm/fields.py);
    with `n`, the server's grammar holds the answer to exactly n items (a small model otherwise
    often answers a letter's eight requests with one item)."""
    extra = tuple((f.name, f.kind) for f in FIELDS.values() if f.name not in ItemAnswer.model_fields)
    base = _extended(extra) if extra else ItemsAnswer
    return _counted(base, n) if n else base


@functools.cache
def _counted(base: type[ItemsAnswer], n: int) -> type[ItemsAnswer]:
    """`base` whose grammar schema asks for exactly n items. Only the grammar: validation and the
    printed schema stay `base`'s, so an answer of another length from a server without a grammar
    is still read item by item (enricher._aligned)."""
    def grammar_schema(cls) -> dict:
        schema = base.grammar_schema()
        schema["properties"]["items"].update(minItems=n, maxItems=n)
        return schema

    return type(base.__name__, (base,), {"__module__": base.__module__, "grammar_schema": classmethod(grammar_schema)})


@functools.cache
def _extended(extra: tuple[tuple[str, str], ...]) -> type[ItemsAnswer]:
    item = create_model("ItemAnswer", __base__=ItemAnswer, **{name: _NEW_ANSWERS[kind] for name, kind in extra})
    return create_model("ItemsAnswer", __base__=ItemsAnswer, items=(list[item], ...))  # type: ignore[valid-type]
