"""The model-filled fields of a disputed item, each declared once: what it holds, the prompt's
instruction for it, how the eval scores it, its CSV column, whether `--redact` drops it, and the
section its value must be found in. The enricher, the CSV, redaction, scoring and the eval read
this table. Adding a field: declare it here (or `register()` it), give it its line and example
answers in prompts/item_fields.j2, and label it in the gold. A field that needs its own logic
(the quantity rules, the category deciders) has it in the enricher, found by the field's name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field
from pydantic.fields import FieldInfo

from .schema import Determination, DisputedItem, schema_hash

Kind = Literal["text", "enum", "texts", "enums", "quantity", "points"]
_NEW_TYPES = {"text": (str | None, None), "points": (list[str], list)}  # kinds a field declared at run time may have
_ADDED: set[str] = set()  # names register() added to DisputedItem


@dataclass(frozen=True)
class ModelField:
    name: str
    kind: Kind  # text / enum: one value; texts / enums / points (text with a quote): a list; quantity
    instruction: str  # what the model is told: its words in prompts/item_fields.j2
    scoring: tuple[tuple[str, str], ...]  # (path inside the item, measure of evaluation/scoring.py)
    csv: bool = True  # a column of the CSV, in this table's order
    free_text: bool = False  # the model's own words: `--redact` drops them
    grounding: Literal["heading", "rationale"] | None = "heading"  # None: no span of its own

    def cell(self, item: dict) -> Any:
        """The field's CSV cell from an item's JSON."""
        value = item.get(self.name)
        if self.kind in ("texts", "enums", "points"):
            return "; ".join(value or [])
        return (value or {}).get("raw") if self.kind == "quantity" else value


_QUANTITY = ("count", "frequency_per_week", "duration_weeks", "total_sessions", "dispense_qty")
_CATEGORY = "category and subcategory (for a drug, the subcategory is its drug class):"
FIELDS: dict[str, ModelField] = {f.name: f for f in [
    ModelField("category", "enum", _CATEGORY, (("category", "exact"),)),
    ModelField("subcategory", "enum", _CATEGORY, (("subcategory", "exact"),), grounding=None),  # on the category's span
    ModelField("service", "text", "the treatment words copied from the request, lower case, without quantity, "
               "strength, body part or side.", (("service", "text"),)),
    ModelField("body_regions", "enums", "[] unless the request names a body part.", (("body_regions", "set"),)),
    ModelField("laterality", "enum", "left, right, bilateral or null.", (("laterality", "exact"),)),
    ModelField("quantity", "quantity", "the request's words for how much or how often, copied exactly, or null.",
               tuple((f"quantity.{q}", "exact") for q in _QUANTITY) + (("quantity.raw", "text"), ("quantity.strength", "text"))),
    ModelField("reasons", "points", '1 to 3 reasons the reviewer gives; "point": one short plain sentence in your words; '
               '"quote": up to 15 words copied exactly from the rationale.', (("reasons", "free"),), csv=False,
               free_text=True, grounding="rationale"),
    ModelField("missing_documentation", "points", "what the reviewer says the records do not show or document; "
               "same form; [] if none.", (("missing_documentation", "free"),), csv=False, free_text=True,
               grounding="rationale"),
]}


def of_kind(*kinds: str, grounding: str | None = None) -> list[ModelField]:
    return [f for f in FIELDS.values() if f.kind in kinds and (grounding is None or f.grounding == grounding)]


def register(field: ModelField) -> ModelField:
    """Declare a field at run time (a plugin, a test): a name `DisputedItem` does not have is added
    to it (a text or a list of points), so it is in the JSON and the schema."""
    if field.name not in DisputedItem.model_fields:
        annotation, default = _NEW_TYPES[field.kind]
        made = Field(default_factory=default, description=field.instruction) if default else \
            Field(None, description=field.instruction)
        DisputedItem.model_fields[field.name] = FieldInfo.from_annotated_attribute(annotation, made)
        _ADDED.add(field.name)
        _rebuild()
    FIELDS[field.name] = field
    return field


def unregister(name: str) -> None:
    """Take back a field `register()` declared (and added to `DisputedItem`)."""
    FIELDS.pop(name, None)
    if name in _ADDED:
        _ADDED.discard(name)
        del DisputedItem.model_fields[name]
        _rebuild()


def _rebuild() -> None:
    DisputedItem.model_rebuild(force=True)
    Determination.model_rebuild(force=True)
    schema_hash.cache_clear()


for _new in [f for f in FIELDS.values() if f.name not in DisputedItem.model_fields]:
    register(_new)  # a field declared above that schema.py does not type: a text or points, added
