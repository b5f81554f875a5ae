"""Gold labels: one JSON file per letter (format in evals/README.md), paired with letters by stem.

A key that is absent is *not labelled* (not scored); `null`/`[]` is *labelled as not stated*.
Keys the format does not know are reported and ignored.
Malformed gold files are reported with the file and the problem, never silently skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ImrError
from ..reading import SUPPORTED_SUFFIXES

LETTER_KEYS = {
    "letter", "case_number", "date_assigned", "decision_date", "date_of_injury", "ur_denial_date",
    "application_received", "priority", "reviewer", "patient", "diagnoses", "items", "outcome", "notes",
}
ITEM_KEYS = {
    "request", "decision", "modified_by_ur", "original_request", "ur_authorized", "disputed_portion",
    "claims_administrator_basis", "reviewer_basis", "category", "subcategory", "service", "body_regions",
    "laterality", "quantity", "reasons", "missing_documentation", "notes",
}
QUANTITY_KEYS = {"raw", "count", "frequency_per_week", "duration_weeks", "total_sessions", "strength", "dispense_qty"}
FAMILIES = {"MTUS", "ODG", "ACOEM", "OTHER", "NONE"}


class GoldFormatError(ImrError):
    code = "gold_format_error"


@dataclass
class Suite:
    """A folder of letters paired with a folder of gold labels."""

    name: str
    letters_dir: Path
    gold_dir: Path
    pairs: list[tuple[str, Path, dict]] = field(default_factory=list)  # (stem, letter path, gold)
    warnings: list[str] = field(default_factory=list)  # e.g. keys the format does not know (ignored)
    unlabelled: list[str] = field(default_factory=list)  # letters with no gold file
    missing_letters: list[str] = field(default_factory=list)  # gold files with no letter


def load_suite(name: str, letters_dir: Path, gold_dir: Path) -> Suite:
    letters_dir, gold_dir = Path(letters_dir), Path(gold_dir)
    if not letters_dir.is_dir():
        raise GoldFormatError(f"--letters {letters_dir}: not a folder")
    if not gold_dir.is_dir():
        raise GoldFormatError(f"--gold {gold_dir}: not a folder")
    letters = {p.stem: p for p in sorted(letters_dir.iterdir()) if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES}
    golds = sorted(gold_dir.glob("*.json"))
    if not golds:
        raise GoldFormatError(f"--gold {gold_dir}: no .json gold files")
    suite = Suite(name, letters_dir, gold_dir)
    labelled = set()
    for path in golds:
        gold, notes = load_gold_file(path, with_warnings=True)
        suite.warnings += [f"{path.name}: {note}" for note in notes]
        stem = path.stem
        labelled.add(stem)
        if stem in letters:
            suite.pairs.append((stem, letters[stem], gold))
        else:
            suite.missing_letters.append(stem)
    suite.unlabelled = sorted(set(letters) - labelled)
    return suite


def load_gold_file(path: Path, with_warnings: bool = False):
    """One gold record. Wrong types or values are errors; keys the format does not know are
    warnings (ignored), so labels converted from another tool keep their extra fields."""
    try:
        gold = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GoldFormatError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    problems = validate(gold)
    if problems:
        raise GoldFormatError(f"{path}: " + "; ".join(problems[:5]))
    return (gold, unknown_keys(gold)) if with_warnings else gold


def unknown_keys(gold: dict) -> list[str]:
    notes = [f"unknown key '{k}' ignored" for k in gold if k not in LETTER_KEYS]
    for i, item in enumerate(gold.get("items") or []):
        notes += [f"items[{i}]: unknown key '{k}' ignored" for k in item if k not in ITEM_KEYS]
        quantity = item.get("quantity")
        if isinstance(quantity, dict):
            notes += [f"items[{i}].quantity: unknown key '{k}' ignored" for k in quantity if k not in QUANTITY_KEYS]
    return notes


def validate(gold: object) -> list[str]:
    """Structural problems in one gold record (wrong types, bad enums, bad dates)."""
    if not isinstance(gold, dict):
        return ["the file must hold one JSON object"]
    problems: list[str] = []
    for key in ("reviewer", "patient"):
        if key in gold and not isinstance(gold[key], dict):
            problems.append(f"'{key}' must be an object")
    for key in ("date_assigned", "decision_date", "date_of_injury", "ur_denial_date", "application_received"):
        value = gold.get(key)
        if value is not None and not _is_iso_date(value):
            problems.append(f"'{key}' must be YYYY-MM-DD or null, got {value!r}")
    if gold.get("priority") not in (None, "standard", "expedited"):
        problems.append("'priority' must be standard, expedited or null")
    if "outcome" in gold and gold["outcome"] not in ("all_upheld", "all_overturned", "mixed"):
        problems.append("'outcome' must be all_upheld, all_overturned or mixed")
    items = gold.get("items", [])
    if not isinstance(items, list):
        return problems + ["'items' must be a list"]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"items[{i}] must be an object")
            continue
        if "decision" in item and item["decision"] not in ("upheld", "overturned"):
            problems.append(f"items[{i}].decision must be upheld or overturned")
        for basis in ("claims_administrator_basis", "reviewer_basis"):
            sources = (item.get(basis) or {}).get("sources", [])
            bad = [s for s in sources if s not in FAMILIES]
            if bad:
                problems.append(f"items[{i}].{basis}.sources has unknown families {bad}")
        if "quantity" in item and item["quantity"] is not None and not isinstance(item["quantity"], dict):
            problems.append(f"items[{i}].quantity must be an object or null")
    return problems


def _is_iso_date(value: object) -> bool:
    from datetime import date

    try:
        return isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False
