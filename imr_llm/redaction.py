"""What `--redact` keeps: decisions, outcome, categories and the structured fields; it drops what
REDACTED_FIELDS declares (every piece of free text, the case number, the patient's age, every
date, the letter's path) and what REDACTED_PATTERNS match in any string left, the same for every
output format (JSON Lines, CSV, the terminal table, every explanation format)."""

from __future__ import annotations

import re
from typing import Any

from .explain import languages
from .fields import FIELDS

_EMPTY = object()  # the field's value becomes "", [] or {} (its type kept), else None

#: By field name at any depth, and what it becomes. No field holds a name: a name can only be in
#: free text, which goes whole (the model-filled fields' too: imr_llm/fields.py, `free_text`).
REDACTED_FIELDS: dict[str, object] = {
    # the letter's words, or a model's
    **dict.fromkeys(["evidence", "quote", "request", "original_request", "ur_authorized", "disputed_portion",
                     "rationale", "verdict_phrase", "raw", "diagnoses", "plain_request", "why", "what_could_help",
                     "source_text", "already_approved", "dropped", "corrected", "detail"], _EMPTY),
    "decision_evidence": None,
    "kept": None,  # a conflict keeps its field and note, not the two values (one may be a date of injury)
    "other": None,
    # what identifies the patient or the case
    **dict.fromkeys(["case_number", "age", "date_of_injury", "date_assigned", "decision_date", "ur_denial_date",
                     "application_received"], None),
    # where the letter is on this machine (its file name may be a name)
    "source": None,
    "source_paths": None,
}

#: What `--redact` removes from any string left (a warning, a note, a headline), as "[redacted]".
REDACTED_PATTERNS = [
    re.compile(r"\b[A-Z]{2}\d{2}-\d{5,8}\b"),  # an IMR case number: CM16-0219557
    re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b"),  # dates: 2016-03-30, 03/30/2016, March 30, 2016
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),
    re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4}\b"),
]
#: strings of ours that the patterns are not applied to (versions and hashes)
_OURS = {"facts_version", "imr_llm_version", "parser_version", "schema_hash", "source_sha256", "letter_sha256",
         "prompt_hashes"}


def redact(record: Any, key: str | None = None) -> Any:
    """A copy of an output record with REDACTED_FIELDS replaced and REDACTED_PATTERNS removed from
    every other string."""
    if isinstance(record, dict):
        out: dict[str, Any] = {}
        for name, value in record.items():
            if name in REDACTED_FIELDS or (name in FIELDS and FIELDS[name].free_text):
                how = REDACTED_FIELDS.get(name, _EMPTY)
                out[name] = how if how is not _EMPTY else type(value)() if isinstance(value, (str, list, dict)) else None
            else:
                out[name] = redact(value, name)
        return out
    if isinstance(record, list):
        return [redact(v, key) for v in record]
    if isinstance(record, str) and key not in _OURS:
        for pattern in REDACTED_PATTERNS:
            record = pattern.sub("[redacted]", record)
    return record


def redacted(record: dict[str, Any]) -> dict[str, Any]:
    """An output line (one letter's JSON) under `--redact`: `redact(record)`, the letter's paths
    gone from its error message too, and marked `"redacted": true`."""
    out = redact(record)
    error = out.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = error["message"]
        for path in sorted({record.get("source") or "", *(record.get("source_paths") or [])}, key=len, reverse=True):
            message = message.replace(path, "[redacted]") if path else message
        out["error"] = {**error, "message": message}
    return {**out, "redacted": True}


def redact_explanation(expl):
    """An explanation with REDACTED_FIELDS gone; each request becomes "Treatment 1", "Treatment 2", ... in
    the explanation's language."""
    label = languages.get(expl.language).labels["treatment"]
    out = type(expl).model_validate(redact(expl.model_dump(mode="json")))
    for item in out.items:
        item.plain_request = f"{label} {item.index + 1}"
    return out
