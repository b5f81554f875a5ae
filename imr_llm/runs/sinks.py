"""Where a batch's letters go: the JSONL (every line starts with the letter's key and status, so a
re-run reads only those prefixes), the CSV rebuilt from it at the end of every run (so it always
matches), and the explanation pages."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..explain.render import EXTENSIONS, render
from ..fields import FIELDS
from ..output import private_file, write_private
from ..redaction import redact_explanation, redacted

PREFIX = re.compile(r'^\{"letter_sha256": "([0-9a-f]{64})?", "status": "(ok|error)"')


def done_keys(out: Path) -> set[str]:
    """The keys of the letters already in `out`, from each whole line's prefix; a last line without its
    newline (a killed run) does not count: it is cut off when the file is next opened for writing."""
    keys: set[str] = set()
    if not out.exists():
        return keys
    with out.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            match = PREFIX.match(line[:120].decode("utf-8", "replace"))
            key = (match.group(1) or record_key(loads(line))) if match else None
            if key:
                keys.add(key)
    return keys


def loads(line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def record_key(record: dict[str, Any]) -> str | None:
    """An output line's letter key (`LetterResult.key`)."""
    return record.get("letter_sha256") or ("path:" + record["path_sha256"] if record.get("path_sha256") else None)


def csv_columns() -> list[str]:
    """The CSV's header: the model-filled fields' columns are the registry's (imr_llm/fields.py)."""
    return ["letter_sha256", "source", "case_number", "decision_date", "outcome", "item", "request", "decision",
            "modified_by_ur", *(f.name for f in FIELDS.values() if f.csv), "claims_administrator_sources",
            "reviewer_sources", "model_status", "error"]


def csv_rows(record: dict[str, Any]) -> Iterator[list[Any]]:
    """One row per item (a failed letter: one row with its error)."""
    base = [record.get("letter_sha256"), record.get("source")]
    if record.get("status") == "error":
        yield base + [None] * (len(csv_columns()) - 3) + [f"{record['error']['code']}: {record['error']['message']}"]
        return
    for item in record.get("items", []):
        yield base + [
            record.get("case_number"), record.get("decision_date"), record.get("outcome"), item["index"] + 1,
            item.get("request"), item.get("decision"), item.get("modified_by_ur"),
            *(f.cell(item) for f in FIELDS.values() if f.csv),
            "; ".join((item.get("claims_administrator_basis") or {}).get("sources") or []),
            "; ".join((item.get("reviewer_basis") or {}).get("sources") or []),
            (record.get("model_step") or {}).get("status"), None,
        ]


#: what a spreadsheet reads as the start of a formula (OWASP, "CSV Injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet cannot run: text that starts like a formula gets a leading quote."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def rebuild_csv(out: Path, target: Path, redact: bool = False) -> int:
    """Write `target` (atomically, user-only) from the JSONL at `out`; the number of letters in it
    (each once, the first line winning). `redact`: every row, whatever the line holds."""
    seen: set[str] = set()
    with private_file(target, replace_stale=True) as handle:
        writer = csv.writer(handle)
        writer.writerow(csv_columns())
        if out.exists():
            with out.open("rb") as lines:
                for line in lines:
                    record = loads(line)
                    key = record_key(record)
                    if key is None or key in seen:
                        continue
                    seen.add(key)
                    record = redacted(record) if redact else record
                    writer.writerows([csv_cell(v) for v in row] for row in csv_rows(record))
    return len(seen)


def page_path(result, folder: Path, language: str, fmt: str, redact: bool) -> Path:
    """Where a letter's explanation page goes (redacted: named by the hash only)."""
    stem = f"letter-{result.letter_sha256[:16]}" if redact else f"{Path(result.source).stem}-{result.letter_sha256[:8]}"
    return folder / f"{stem}.{language}.{EXTENSIONS[fmt]}"


def write_page(result, folder: Path, language: str, fmt: str, redact: bool) -> None:
    """A letter's explanation page in `folder` (redacted: no letter text, and no path)."""
    expl, source, source_name = result.explanation, result.source_text, result.source
    if redact:
        expl, source, source_name = redact_explanation(expl), None, None
    page = render(expl, fmt, source=source, source_name=source_name)
    # a temporary of this page that a killed run left is removed: this run holds the output
    write_private(page_path(result, folder, language, fmt, redact), page, replace_stale=True)
