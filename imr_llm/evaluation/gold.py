"""Gold labels: one JSON file per letter (format in evals/README.md), paired with letters by stem.

An absent key is not labelled (not scored); `null`/`[]` is labelled as not stated; unknown keys are
reported and ignored; a malformed file is an error naming the file and the problem. The known keys
and the allowed values are read from the schema, so a schema change cannot leave the format behind."""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import NamedTuple

from ..errors import ImrError
from ..fields import FIELDS
from ..reading import SUPPORTED_SUFFIXES
from ..schema import Determination, DisputedItem, GuidelineBasis, Patient, Quantity, Reviewer
from ..taxonomy import SUBCATEGORIES, subcategory_problem
from .scoring import LETTER_RULES, item_rules

GOLD_ONLY_KEYS = frozenset({"letter", "notes"})  # labeller's bookkeeping, never scored
LETTER_KEYS = frozenset(Determination.model_fields) | GOLD_ONLY_KEYS
ITEM_KEYS = frozenset(DisputedItem.model_fields) | {"notes"}
QUANTITY_KEYS = frozenset(Quantity.model_fields)
SECTION_KEYS = {"reviewer": frozenset(Reviewer.model_fields), "patient": frozenset(Patient.model_fields)}
# schema fields a gold file may hold that no scoring rule reads (evidence, rationale, ...): noted, ignored
SCORED_LETTER_KEYS = frozenset(path.split(".")[0] for path in LETTER_RULES) | {"items"}


def _literal_values(annotation: object) -> tuple:
    """Every value a field's `Literal` types allow (through Optional, lists and aliases)."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    return tuple(dict.fromkeys(v for arg in typing.get_args(annotation) for v in _literal_values(arg)))


def _has_type(annotation: object, wanted: type) -> bool:
    return annotation is wanted or any(_has_type(a, wanted) for a in typing.get_args(annotation))


def allowed_values(model: type, name: str) -> tuple:
    return _literal_values(model.model_fields[name].annotation)


PRIORITIES = allowed_values(Determination, "priority")
OUTCOMES = allowed_values(Determination, "outcome")
SEXES = allowed_values(Patient, "sex")
DECISIONS = allowed_values(DisputedItem, "decision")
CATEGORIES = allowed_values(DisputedItem, "category")
LATERALITIES = allowed_values(DisputedItem, "laterality")
BODY_REGIONS = allowed_values(DisputedItem, "body_regions")
FAMILIES = allowed_values(GuidelineBasis, "sources")
DATE_KEYS = tuple(name for name, f in Determination.model_fields.items() if _has_type(f.annotation, date))
ALL_SUBCATEGORIES = frozenset(s for subs in SUBCATEGORIES.values() for s in subs)


class GoldFormatError(ImrError):
    code = "gold_format_error"


class SuitesFileError(GoldFormatError):
    code = "suites_file_error"


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
    for what, folder in (("letters", letters_dir), ("gold", gold_dir)):
        if not folder.is_dir():
            raise GoldFormatError(f"suite '{name}': {what} folder {folder} is not a folder")
    letters = {p.stem: p for p in sorted(letters_dir.iterdir()) if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES}
    golds = sorted(gold_dir.glob("*.json"))
    if not golds:
        raise GoldFormatError(f"suite '{name}': gold folder {gold_dir} has no .json gold files")
    suite = Suite(name, letters_dir, gold_dir, unlabelled=sorted(set(letters) - {path.stem for path in golds}))
    for path in golds:
        gold, notes = load_gold_file(path, with_warnings=True)
        suite.warnings += [f"{path.name}: {note}" for note in notes]
        if path.stem in letters:
            suite.pairs.append((path.stem, letters[path.stem], gold))
        else:
            suite.missing_letters.append(path.stem)
    return suite


SUITES_FILE = Path("evals") / "suites.json"  # looked for in the current directory
DEFAULT_BASELINE_NAME = "baseline.json"  # next to the suites file unless it names another


class SuitesConfig(NamedTuple):
    """A suites file, loaded: the suites whose letters are present, notes on those skipped, its baseline."""

    suites: list[Suite]
    skipped: list[str]
    baseline: Path


def find_suites_file() -> Path | None:
    path = Path.cwd() / SUITES_FILE
    return path if path.is_file() else None


def load_suites_file(path: Path) -> SuitesConfig:
    """`{"suites": [{"name", "letters", "gold"}, ...], "baseline": "baseline.json"}`, every path
    relative to the file. A suite whose letters folder is absent (letters that are not committed,
    on a machine without them) is skipped with a note; a missing gold folder is an error."""
    entries, baseline = read_suites_file(path)
    skipped = [f"suite '{name}' skipped: its letters folder {letters} is not on this machine"
               for name, letters, _ in entries if not letters.is_dir()]
    suites = [load_suite(name, letters, gold) for name, letters, gold in entries if letters.is_dir()]
    return SuitesConfig(suites=suites, skipped=skipped, baseline=baseline)


def read_suites_file(path: Path) -> tuple[list[tuple[str, Path, Path]], Path]:
    """The suites file's entries as (name, letters folder, gold folder) and its baseline path,
    resolved against the file's folder; nothing is loaded."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuitesFileError(f"{path}: cannot read the suites file ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise SuitesFileError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    entries = data.get("suites") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("name", "letters", "gold")) for e in entries):
        raise SuitesFileError(f'{path}: expected {{"suites": [{{"name": ..., "letters": ..., "gold": ...}}, ...]}}')
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names):
        raise SuitesFileError(f"{path}: suite names must be distinct, got {names}")
    baseline = data.get("baseline", DEFAULT_BASELINE_NAME)
    if not isinstance(baseline, str):
        raise SuitesFileError(f"{path}: 'baseline' must be a path")
    base = path.parent
    return [(e["name"], base / e["letters"], base / e["gold"]) for e in entries], base / baseline


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
    """Keys that are not scored: unknown to the format, or schema fields no rule scores."""
    notes = [_unscored(k, LETTER_KEYS, SCORED_LETTER_KEYS | GOLD_ONLY_KEYS) for k in gold]
    for section, known in SECTION_KEYS.items():
        if isinstance(gold.get(section), dict):
            notes += [f"{section}: unknown key '{k}' ignored" for k in gold[section] if k not in known]
    known, scored = ITEM_KEYS | set(FIELDS), {p.split(".")[0] for p in item_rules()} | {"notes"}  # registered later too
    for i, item in enumerate(gold.get("items") or []):
        notes += [f"items[{i}]: {_unscored(k, known, scored)}" for k in item if _unscored(k, known, scored)]
        quantity = item.get("quantity")
        if isinstance(quantity, dict):
            notes += [f"items[{i}].quantity: unknown key '{k}' ignored" for k in quantity if k not in QUANTITY_KEYS]
    return [n for n in notes if n]


def _unscored(key: str, known: frozenset, scored: frozenset) -> str:
    if key not in known:
        return f"unknown key '{key}' ignored"
    if key not in scored:
        return f"'{key}' is not scored (ignored)"
    return ""


def _one_of(values: tuple, nullable: bool = False) -> str:
    words = [str(v) for v in values] + (["null"] if nullable else [])
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


def validate(gold: object) -> list[str]:
    """Structural problems in one gold record (wrong types, values the schema does not allow, bad
    dates, a subcategory outside its category)."""
    if not isinstance(gold, dict):
        return ["the file must hold one JSON object"]
    problems = [f"'{key}' must be an object" for key in SECTION_KEYS if key in gold and not isinstance(gold[key], dict)]
    problems += [f"'{key}' must be YYYY-MM-DD or null, got {gold[key]!r}" for key in DATE_KEYS
                 if gold.get(key) is not None and not _is_iso_date(gold[key])]
    if gold.get("priority") not in (None, *PRIORITIES):
        problems.append(f"'priority' must be {_one_of(PRIORITIES, nullable=True)}")
    if "outcome" in gold and gold["outcome"] not in OUTCOMES:
        problems.append(f"'outcome' must be {_one_of(OUTCOMES)}")
    patient = gold.get("patient")
    if isinstance(patient, dict) and patient.get("sex") not in (None, *SEXES):
        problems.append(f"'patient.sex' must be {_one_of(SEXES, nullable=True)}, got {patient['sex']!r}")
    items = gold.get("items", [])
    if not isinstance(items, list):
        return problems + ["'items' must be a list"]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"items[{i}] must be an object")
            continue
        problems += [f"items[{i}].{p}" for p in _item_problems(item)]
    return problems


def _item_problems(item: dict) -> list[str]:
    problems = []
    if "decision" in item and item["decision"] not in DECISIONS:
        problems.append(f"decision must be {_one_of(DECISIONS)}")
    for basis in ("claims_administrator_basis", "reviewer_basis"):
        value = item.get(basis)
        if value is not None and not isinstance(value, dict):
            problems.append(f"{basis} must be an object or null")
            continue
        sources = (value or {}).get("sources", [])
        bad = [s for s in sources if s not in FAMILIES] if isinstance(sources, list) else sources
        if bad:
            problems.append(f"{basis}.sources has unknown families {bad}")
    if "quantity" in item and item["quantity"] is not None and not isinstance(item["quantity"], dict):
        problems.append("quantity must be an object or null")
    category = item.get("category")
    if category not in (None, *CATEGORIES):
        problems.append(f"category {category!r} is not a DWC category ({_one_of(CATEGORIES, nullable=True)})")
    if "subcategory" in item:
        subcategory = item["subcategory"]
        if subcategory is not None and not isinstance(subcategory, str):
            problems.append(f"subcategory must be a string or null, got {subcategory!r}")
        elif "category" not in item:  # category not labelled: the subcategory must exist somewhere
            if subcategory is not None and subcategory not in ALL_SUBCATEGORIES:
                problems.append(f"subcategory {subcategory!r} is in no DWC category")
        elif (category is None or category in CATEGORIES) and (problem := subcategory_problem(category, subcategory)):
            problems.append(problem)
    if item.get("laterality") not in (None, *LATERALITIES):
        problems.append(f"laterality must be {_one_of(LATERALITIES, nullable=True)}, got {item['laterality']!r}")
    regions = item.get("body_regions", [])
    if not isinstance(regions, list):
        problems.append("body_regions must be a list")
    elif bad := [r for r in regions if r not in BODY_REGIONS]:
        problems.append(f"body_regions has unknown regions {bad} (allowed: {', '.join(BODY_REGIONS)})")
    return problems


def _is_iso_date(value: object) -> bool:
    try:
        return isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False
