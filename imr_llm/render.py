"""Human-readable terminal rendering of a parsed letter (the CLI's default output)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

_DECISION_STYLE = {"upheld": "bold red", "overturned": "bold green"}
_OUTCOME_TEXT = {
    "all_upheld": "all requests upheld (denials stand)",
    "all_overturned": "all requests overturned (treatment found necessary)",
    "mixed": "mixed: some upheld, some overturned",
}

_HEADER = {"Case number": "case_number", "Decision date": "decision_date", "Date assigned": "date_assigned",
           "Date of injury": "date_of_injury", "UR denial date": "ur_denial_date",
           "Application received": "application_received", "Priority": "priority"}


def print_determination(console: Console, source: str, det: dict[str, Any]) -> None:
    """Print one letter: header facts, reviewer, patient, then one row per disputed item."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    rows = [(label, det.get(key)) for label, key in _HEADER.items()] + [
        ("Reviewer licensed in", ", ".join(det["reviewer"]["licensure_states"]) or None),
        ("Reviewer specialties", ", ".join(det["reviewer"]["specialties"] + det["reviewer"]["subspecialties"]) or None),
        ("Patient", _patient(det["patient"])),
        ("Outcome", _OUTCOME_TEXT.get(det.get("outcome") or "", det.get("outcome"))),
    ]
    for label, value in rows:
        facts.add_row(label, Text(str(value)) if value is not None else Text("not stated", style="dim"))

    items = Table(Column("#", justify="right"), Column("Request", overflow="fold", max_width=60), "Decision",
                  "UR basis", "Reviewer basis", title=None, show_lines=False, expand=False)
    for item in det["items"]:
        request = Text(item["request"])
        if item.get("modified_by_ur"):
            request.append("  [UR modified]", style="yellow")
        items.add_row(
            str(item["index"] + 1),
            request,
            Text(item["decision"], style=_DECISION_STYLE.get(item["decision"], "")),
            _sources(item.get("claims_administrator_basis")),
            _sources(item.get("reviewer_basis")),
        )
    console.rule(Text(source, style="bold"))
    console.print(facts)
    console.print(items)
    _print_model_fields(console, det)
    for conflict in det.get("conflicts", []):
        console.print(
            Text(f"conflict: {conflict['field']}: kept {conflict['kept']}, letter also says {conflict['other']} "
                 f"({conflict['note']})", style="yellow")
        )
    for warning in det.get("warnings", []):
        console.print(Text(f"warning: {warning}", style="yellow"))


def _print_model_fields(console: Console, det: dict[str, Any]) -> None:
    step = det.get("model_step") or {}
    if step.get("status", "not_requested") == "not_requested":
        console.print(Text("model fields (category, service, quantity, reasons): not requested "
                           "(run with --model to fill them)", style="dim"))
        return
    for item in det["items"]:
        quantity = (item.get("quantity") or {}).get("raw")
        where = ", ".join(item.get("body_regions") or [])
        if item.get("laterality"):
            where = f"{item['laterality']} {where}".strip()
        line = Text(f"{item['index'] + 1}. ", style="bold")
        line.append(f"{item.get('service') or '?'}")
        line.append(f"  [{item.get('category') or '?'}" + (f" / {item['subcategory']}" if item.get("subcategory") else "") + "]",
                    style="cyan")
        if where:
            line.append(f"  {where}")
        if quantity:
            line.append(f"  qty: {quantity}")
        console.print(line)
        for reason in item.get("reasons") or []:
            console.print(Text(f"     why: {reason}"))
        for missing in item.get("missing_documentation") or []:
            console.print(Text(f"     not shown: {missing}", style="yellow"))
    usage = step.get("usage") or {}
    console.print(Text(f"model {step.get('model')}: {step.get('status')}; {usage.get('calls', 0)} calls, "
                       f"{usage.get('cache_hits', 0)} cache hits, {usage.get('prompt_tokens', 0)}+"
                       f"{usage.get('completion_tokens', 0)} tokens, {usage.get('model_seconds', 0)} s", style="dim"))


def _patient(p: dict[str, Any]) -> str | None:
    parts = [f"{p['age']} years" if p.get("age") is not None else None, p.get("sex")]
    return ", ".join(x for x in parts if x) or None


def _sources(basis: dict[str, Any] | None) -> str:
    return (", ".join(basis["sources"]) if basis else "") or "-"
