"""Eval outputs: the terminal table (rich), report.json, and one self-contained HTML page with
per-letter diffs and the extracted values' evidence highlighted in the letter text."""

from __future__ import annotations

import html
import json
from functools import partial
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..explain import languages
from ..output import write_private
from .baseline import Comparison
from .runner import EvalRun

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def write_json(run: EvalRun, path: Path, comparison: Comparison | None = None) -> None:
    report = dict(run.report)
    if comparison is not None:
        report["comparison"] = comparison.to_json()
    write_private(path, json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n")


HALF_FIELDS = ("items.category", "items.subcategory", "items.service", "items.body_regions", "items.laterality",
               "items.quantity.raw", "items.quantity.count", "items.quantity.total_sessions")


def print_terminal(run: EvalRun, console: Console, comparison: Comparison | None = None) -> None:
    """One table per suite, readable at 80 columns and when piped: the metric names never shortened,
    and the changes against the baseline a one-character mark (▼ worse, ▲ better) with the figures
    listed under the table."""
    say = partial(console.print, markup=False, highlight=False)
    deltas: dict[tuple[str, str], list[str]] = {}
    rows = comparison.metric_regressions + comparison.improvements if comparison is not None else []
    for row in rows:
        if row.get("delta") is not None:
            deltas.setdefault((row["suite"], row["metric"]), []).append(f"{row['stat']} {row['delta']:+.3f}")
    regressed = {(row["suite"], row["metric"]) for row in comparison.metric_regressions} if comparison is not None else set()
    for name, suite in run.report["suites"].items():
        console.print(_metrics_table(name, suite, deltas, regressed))
        changes = [f"{metric} {', '.join(d)}" for (s, metric), d in sorted(deltas.items()) if s == name]
        if changes:
            say("vs baseline: " + "; ".join(changes))
        if suite["decision_confusion"]:
            console.print("decisions (labelled → extracted): " + "; ".join(
                f"{g}→{p}: {n}" for g, row in suite["decision_confusion"].items() for p, n in row.items()))
        grounding = suite.get("grounding") or {}
        if grounding.get("model_values"):
            say(f"model values {grounding['model_values']} · ungrounded {len(grounding['ungrounded'])} · "
                f"dropped {grounding['dropped']} · model answers overruled {grounding['corrected']}")
        for half, figures in (suite.get("halves") or {}).items():
            m = figures["metrics"]
            shown = [f"{k.split('.', 1)[-1]} {m[k]['accuracy']:.3f}" for k in HALF_FIELDS if k in m]
            say(f"{half} half ({figures['letters']} letters): " + " · ".join(shown))
        for part, figures in (suite.get("deciders") or {}).items():
            shown = [f"{name.replace('_', ' ')} {d['category_right']}/{d['answered']}"
                     for name, d in figures.items() if isinstance(d, dict) and "answered" in d]
            say(f"category deciders alone, {part} ({figures['items']} items; right/answered): " + " · ".join(shown))
        for language, ex in (suite.get("explanations") or {}).items():
            _print_explanations(language, ex, say)
        if suite["errors"]:
            console.print(f"[red]{len(suite['errors'])} letter(s) failed to extract[/red]: "
                          + escape(", ".join(suite["errors"])))
        for warning in suite.get("gold_warnings", [])[:10]:
            console.print("[yellow]gold:[/yellow] " + escape(warning))
        if suite["gold_without_letter"]:
            console.print("[yellow]gold files without a letter:[/yellow] " + escape(", ".join(suite["gold_without_letter"])))
    cost = run.report["cost"]
    console.print(
        f"letters {cost['letters']} · {cost['seconds_per_letter']} s/letter · model calls {cost['model_calls']} · "
        f"tokens {cost['prompt_tokens']}+{cost['completion_tokens']} · cache hit rate {cost['cache_hit_rate']}"
    )
    if comparison is not None:
        _print_comparison(comparison, console)


def _print_explanations(language: str, ex: dict, say) -> None:
    grade = languages.get(language).reading["name"]
    readback = "n/a" if ex["readback_agreement"] is None else f"{ex['readback_agreement']:.0%}"
    say(f"explanations ({language}): {ex['letters']} letters · decisions consistent {ex['decision_consistency']:.0%} · "
        f"read-back {readback} · {grade} median {ex['grade_median']}, worst {ex['grade_worst']} · numbers not in "
        f"letter {ex['numbers_not_in_source']} · fallbacks {ex['fallbacks']}")
    by = ex["points_by"]
    say(f"  points ({language}): items with a specific why {ex['items_with_specific_why']}/{ex['items']} · "
        f"model-written {by['model']} · re-asked {by['model_reasked']} · rules {by['rules']} · template {by['template']} · "
        f"model points fallen back {ex['points_fallen_back']} · {grade} per point median {ex['point_grade_median']}, "
        f"worst {ex['point_grade_worst']}")
    for half, h in (ex.get("halves") or {}).items():
        say(f"  {half} half ({language}): items with a specific why {h['items_with_specific_why']}/{h['items']} · "
            f"{grade} per point median {h['point_grade_median']}, worst {h['point_grade_worst']}")


def _metrics_table(name: str, suite: dict, deltas: dict, regressed: set) -> Table:
    metrics = suite["metrics"]
    judged = any("judge_mean" in m for m in metrics.values())
    table = Table(title=f"suite {name}: {suite['letters']} letters", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, padding=0, header_style="bold", show_edge=False)
    table.add_column("field", no_wrap=True, min_width=max((len(k) for k in metrics), default=5))
    for col in ("n", "acc", "P/R/F1·mean", "cover") + (("judge",) if judged else ()) + ("Δ",):
        table.add_column(col, justify="right", no_wrap=True)
    for metric, m in metrics.items():
        prf = f"{m['precision']:.2f}/{m['recall']:.2f}/{m['f1']:.2f}" if "f1" in m else _fmt(m.get("mean_score"))
        mark = "▼" if (name, metric) in regressed else ("▲" if (name, metric) in deltas else "")
        row = [metric, str(m["n"]), f"{m['accuracy']:.3f}", prf, f"{m['coverage']:.2f}"]
        row += [_fmt(m.get("judge_mean"))] if judged else []
        table.add_row(*row, mark, style="red" if (name, metric) in regressed else None)
    return table


def _print_comparison(comparison: Comparison, console: Console) -> None:
    for change in comparison.manifest_changes:
        console.print("[yellow]changed since baseline:[/yellow] " + escape(change))
    for suite in comparison.skipped_suites:
        console.print(f"[yellow]suite '{escape(suite)}' is in the baseline but was not run (its letters are absent)[/yellow]")
    for row in comparison.metric_regressions:
        console.print("[red]REGRESSION[/red] " + escape(f"{row['suite']} {row['metric']} {row['stat']}: "
                                                         f"{row['baseline']} → {row['current']}"))
    for row in comparison.letter_regressions:
        console.print("[red]REGRESSED LETTER[/red] " + escape(f"{row['suite']} {row['letter']}: {', '.join(row['checks'])}"))
    if not comparison.regressed:
        console.print(f"[green]no regression against the baseline (tolerance {comparison.tolerance})[/green]")


def _fmt(value) -> str:
    return "" if value is None else f"{value:.3f}"


def write_html(run: EvalRun, path: Path, comparison: Comparison | None = None) -> None:
    env = Environment(loader=FileSystemLoader(str(_TEMPLATES)), autoescape=select_autoescape(["html", "j2"]))
    suites = []
    for name, suite in run.report["suites"].items():
        letters = []
        for stem, letter in suite["per_letter"].items():
            text = run.texts.get((name, stem))
            diffs = [c for c in letter["checks"] if not c["ok"]]
            marks = [c for c in letter["checks"] if c.get("evidence")]
            html_text, ids = (_highlight(text, marks, f"{name}-{stem}") if text is not None else (None, {}))
            letters.append({
                "stem": stem, "error": letter["error"], "n_checks": len(letter["checks"]), "n_failed": len(diffs),
                "diffs": [dict(c, expected_text=_show(c["expected"]), got_text=_show(c["got"]),
                               mark_id=ids.get(_cid(c)), judge=c.get("judge")) for c in diffs],
                "html_text": html_text,
            })
        letters.sort(key=lambda x: (-x["n_failed"], x["stem"]))
        cols = sorted({p for row in suite["decision_confusion"].values() for p in row})
        suites.append({"name": name, "letters": suite["letters"], "errors": suite["errors"], "metrics": suite["metrics"],
                       "confusion": suite["decision_confusion"], "confusion_cols": cols, "per_letter": letters})
    page = env.get_template("report.html.j2").render(
        manifest=run.report["manifest"], cost=run.report["cost"], suites=suites,
        comparison=comparison.to_json() if comparison is not None else None, has_text=bool(run.texts),
    )
    write_private(path, page)  # may hold letter text: user-only


def _cid(check: dict) -> str:
    return f"{check['metric']}@{check['where']}"


def _show(value) -> str:
    if value is None:
        return "— (not stated)"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) if value else "[] (none)"
    return str(value)


def _highlight(text: str, checks: list[dict], prefix: str) -> tuple[str, dict[str, str]]:
    """Letter text as HTML, each checked value's evidence in a <mark> (red when the check failed)."""
    spans = [(c["evidence"]["start"], c["evidence"]["end"], c) for c in checks
             if 0 <= c["evidence"]["start"] < c["evidence"]["end"] <= len(text)]
    bounds = sorted({0, len(text), *[s for s, _, _ in spans], *[e for _, e, _ in spans]})
    ids: dict[str, str] = {}
    out = []
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
        covering = [c for s, e, c in spans if s <= a and b <= e]
        chunk = html.escape(text[a:b])
        if not covering:
            out.append(chunk)
            continue
        failed = any(not c["ok"] for c in covering)
        mark_id = f"{prefix}-m{k}"
        for c in covering:
            ids.setdefault(_cid(c), mark_id)
        title = html.escape(", ".join(_cid(c) for c in covering), quote=True)
        out.append(f'<mark id="{mark_id}" class="{"fail" if failed else "ok"}" title="{title}">{chunk}</mark>')
    return "".join(out), ids
