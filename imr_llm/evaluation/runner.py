"""Run an eval: extract every labelled letter with the given task (normally `Pipeline.extract`,
so what is scored is exactly what users run), score it field by field, judge free text when a
judge is given, and assemble the report (metrics, confusion matrix, cost, manifest)."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from statistics import median

from ..api import Pipeline, load
from ..errors import ImrError
from ..fields import FIELDS
from ..parsing import PARSER_VERSION
from ..prompts import prompt_hashes
from ..schema import Determination, schema_hash
from ..version import __version__
from .gold import Suite
from .scoring import LetterResult, aggregate, decision_confusion, score_letter
from .split import HALVES, load_split

REPO_ROOT = Path(__file__).resolve().parents[2]  # the source tree, when running from one (git, cassettes)
Task = Callable[[Path], Determination]


@dataclass
class EvalRun:
    """A finished run: the JSON report, and the letters' text for the HTML view (kept out of report.json)."""

    report: dict
    texts: dict[tuple[str, str], str] = field(default_factory=dict)  # (suite, stem) → letter as read


def run_eval(suites: Iterable[Suite], task: Task, *, judge=None, usage=None, model_config=None, keep_text: bool = False,
             on_letter: Callable[[str, str], None] | None = None, explain_languages: tuple[str, ...] = ()) -> EvalRun:
    """Score `task(path)` on every labelled letter of `suites`. An `ImrError` from the task is that
    letter's error; any other exception ends the run. When the task is a bound `Pipeline.extract`,
    `usage` and `model_config` default to the pipeline's, and it explains (`explain_languages`).
    `keep_text` keeps each letter's text for the HTML report."""
    suites = list(suites)
    explainer = getattr(task, "__self__", None)
    if isinstance(explainer, Pipeline):  # a bound Pipeline.extract: its usage log, model and explanation step
        usage = explainer.usage if usage is None else usage
        model_config = explainer.model if model_config is None else model_config
    else:
        explainer = Pipeline()
    run = EvalRun(report={})
    started = time.perf_counter()
    suite_reports = {suite.name: _run_suite(suite, task, judge=judge, texts=run.texts if keep_text else None,
                                            on_letter=on_letter, explainer=explainer, languages=explain_languages)
                     for suite in suites}
    elapsed, n_letters = time.perf_counter() - started, sum(len(s.pairs) for s in suites)
    cost = {"letters": n_letters, "seconds_total": round(elapsed, 3),
            "seconds_per_letter": round(elapsed / n_letters, 4) if n_letters else None}
    cost.update(usage.summary() if usage is not None else
                {"requests": 0, "model_calls": 0, "cache_hits": 0, "cache_hit_rate": None,
                 "prompt_tokens": 0, "completion_tokens": 0, "model_seconds": 0.0})
    run.report = {"manifest": manifest(suites, model_config), "cost": cost, "suites": suite_reports}
    return run


def _run_suite(suite: Suite, task: Task, *, judge, texts: dict | None, on_letter, explainer,
               languages: tuple[str, ...]) -> dict:
    results: list[LetterResult] = []
    grounding = {"model_values": 0, "ungrounded": [], "dropped": 0, "corrected": 0}
    explained: list[dict] = []
    chosen: list[dict] = []  # per labelled item: what each category decider said
    for stem, path, gold in suite.pairs:
        pred, error = None, None
        if texts is not None:
            with suppress(ImrError):  # the task reports the same error for this letter
                texts[(suite.name, stem)] = load(path).raw
        try:
            det = task(path)
            pred = det.model_dump(mode="json")
            checked = det.model_step.status != "not_requested"
            source = load(path) if checked or languages else None  # read once for both checks
            if checked:
                _check_grounding(grounding, stem, det, source.raw)
            for language in languages:
                explained.append(_explanation_figures(stem, explainer.explain(det, source, language), language))
        except ImrError as exc:
            error = f"[{exc.code}] {exc}"
        result = score_letter(stem, pred, gold, error)
        chosen += _decider_rows(stem, result, pred, gold)
        if judge is not None:
            for c in result.checks:
                if c.kind == "free" and c.expected:
                    c.judge = judge.score(c.metric.split(".")[-1], list(c.expected), list(c.got or []))
        results.append(result)
        if on_letter:
            on_letter(suite.name, stem)
    return {"letters": len(suite.pairs), "letters_dir": str(suite.letters_dir), "gold_dir": str(suite.gold_dir),
            "unlabelled_letters": suite.unlabelled, "gold_without_letter": suite.missing_letters,
            "gold_warnings": suite.warnings, "errors": {r.stem: r.error for r in results if r.error},
            "metrics": aggregate(results), "decision_confusion": decision_confusion(results), "grounding": grounding,
            **_split_figures(suite, results, chosen),
            **({"explanations": _explanation_summary(explained, load_split(suite.gold_dir))} if languages else {}),
            "per_letter": {r.stem: r.to_json() for r in results}}


def _split_figures(suite: Suite, results: list[LetterResult], chosen: list[dict]) -> dict:
    """The metrics of each half of a split suite, and what each category decider got right."""
    halves = load_split(suite.gold_dir)
    out = {}
    if halves:
        out["halves"] = {h: {"letters": sum(halves.get(r.stem) == h for r in results),
                             "metrics": aggregate([r for r in results if halves.get(r.stem) == h])} for h in HALVES}
    if any(row["candidates"] for row in chosen):
        out["deciders"] = {part: decider_figures([r for r in chosen if part == "all" or halves.get(r["stem"]) == part])
                           for part in ("all", *(HALVES if halves else ()))}
    return out


DECIDERS = ("section_table", "vocabulary", "model")


def _decider_rows(stem: str, result: LetterResult, pred: dict | None, gold: dict) -> list[dict]:
    """Per labelled item with an extracted partner: its gold category and what each decider said."""
    if not pred or "items" not in gold:
        return []
    candidates = (pred.get("model_step") or {}).get("candidates") or {}
    return [{"stem": stem, "gold": (g["category"], g.get("subcategory")),
             "candidates": candidates.get(f"items[{pj}].category") or {}}
            for gi, pj, _ in result.alignment if gi is not None and pj is not None and "category" in (g := gold["items"][gi])]


def decider_figures(rows: list[dict]) -> dict:
    """Each category decider alone on these items, and the chosen value: answered, and right."""
    out: dict = {"items": len(rows)}
    for name in DECIDERS + ("decided",):
        answered = right = both = 0
        for row in rows:
            c = row["candidates"]
            pair = c.get("chosen") if name == "decided" else c.get(name)
            if pair is None:
                continue
            category, _, subcategory = pair.partition("/")
            answered += 1
            right += category == row["gold"][0]
            both += (category, subcategory or None) == row["gold"]
        out[name] = {"answered": answered, "category_right": right, "category_and_subcategory_right": both,
                     "accuracy_when_answered": round(right / answered, 4) if answered else None}
    out["decided_by"] = {name: sum(r["candidates"].get("decided_by") == name for r in rows) for name in DECIDERS}
    return out


def _check_grounding(tally: dict, stem: str, det, raw: str) -> None:
    """Every model-filled value must carry evidence whose quote is the letter's text at its span."""
    tally["dropped"] += len(det.model_step.dropped)
    tally["corrected"] += len(det.model_step.corrected)
    grounded = [f.name for f in FIELDS.values() if f.grounding is not None]
    for item in det.items:
        names = [f for f in grounded if not isinstance(getattr(item, f), list) and getattr(item, f) is not None]
        names += [f"{f}[{k}]" for f in grounded if isinstance(getattr(item, f), list) for k in range(len(getattr(item, f)))]
        for name in names:
            tally["model_values"] += 1
            ev = item.evidence.get(name)
            if ev is None or raw[ev.start:ev.end] != ev.quote or ev.origin == "parser":
                tally["ungrounded"].append(f"{stem}: items[{item.index}].{name}")


def _explanation_figures(stem: str, expl, language: str) -> dict:
    """One letter's explanation, checked: what the guards found (no text kept)."""
    guards = {g.name: g.passed for g in expl.guards}
    points = [p for item in expl.items for p in (*item.why, *item.what_could_help)]
    return {"letter": stem, "language": language, "written_by": expl.written_by.kind,
            "items": len(expl.items),
            "items_with_specific_why": sum(any(p.written_by != "template" for p in i.why) for i in expl.items),
            "points_by": {who: sum(p.written_by == who for p in points)
                          for who in ("model", "model_reasked", "rules", "template")},
            "points_fallen_back": (expl.fallback.reason or "").count("the model's point failed"),
            "point_grades": [p.grade for p in points if p.grade is not None],
            "decisions_consistent": guards.get("decision", False), "readback_model": guards.get("readback_model"),
            "numbers_ok": guards.get("numbers", False), "all_guards": expl.passed,
            "grade": getattr(expl.readability, "overall", None), "written_grade": getattr(expl.readability, "written", None),
            "metric": getattr(expl.readability, "metric", None), "fallback": expl.fallback.used}


def _explanation_summary(rows: list[dict], halves: dict[str, str]) -> dict:
    out: dict = {}
    for language in sorted({r["language"] for r in rows}):
        mine = [r for r in rows if r["language"] == language]
        grades = [r["grade"] for r in mine if r["grade"] is not None]
        readback = [r["readback_model"] for r in mine if r["readback_model"] is not None]
        out[language] = {
            "letters": len(mine),
            "decision_consistency": round(sum(r["decisions_consistent"] for r in mine) / len(mine), 4),
            "readback_agreement": round(sum(readback) / len(readback), 4) if readback else None,
            "numbers_not_in_source": sum(not r["numbers_ok"] for r in mine),
            "guards_passed": sum(r["all_guards"] for r in mine),
            "fallbacks": sum(r["fallback"] for r in mine),
            "written_by_model": sum(r["written_by"] == "model" for r in mine),
            "grade_metric": mine[0]["metric"],
            **_grades(grades, mine[0]["metric"], "grade"),
            **_point_summary(mine),
            **({"halves": {h: _point_summary(part) for h in HALVES
                           if (part := [r for r in mine if halves.get(r["letter"]) == h])}} if halves else {}),
            "per_letter": mine,
        }
    return out


def _point_summary(rows: list[dict]) -> dict:
    items = sum(r["items"] for r in rows)
    specific = sum(r["items_with_specific_why"] for r in rows)
    return {"items": items, "items_with_specific_why": specific,
            "specific_why_rate": round(specific / items, 4) if items else None,
            "points_by": {who: sum(r["points_by"][who] for r in rows) for who in rows[0]["points_by"]},
            "points_fallen_back": sum(r["points_fallen_back"] for r in rows),
            **_grades([g for r in rows for g in r["point_grades"]], rows[0]["metric"], "point_grade")}


def _grades(grades: list[float], metric: str, prefix: str) -> dict:
    """Median and worst reading grade: the worst is the highest Flesch-Kincaid, the lowest Fernández-Huerta."""
    worst = max if metric == "flesch_kincaid_grade" else min
    return {f"{prefix}_median": round(median(grades), 2) if grades else None,
            f"{prefix}_worst": round(worst(grades), 2) if grades else None}


def manifest(suites: list[Suite], model_config=None) -> dict:
    """What produced a report: enough to tell whether two reports are comparable."""
    in_source_tree = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "imr_llm").is_dir()  # not installed
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "imr_llm_version": __version__,
        "parser_version": PARSER_VERSION,
        "schema_hash": schema_hash(),
        "prompt_hashes": prompt_hashes(),
        **{key: getattr(model_config, key, None) for key in ("model", "endpoint_kind", "endpoint_host")},
        "packages": _packages(),
        "git": _git() if in_source_tree and (REPO_ROOT / ".git").exists() else {"commit": None, "dirty": None},
        "suites": {s.name: {"letters": len(s.pairs), "gold_sha256": _gold_hash(s)} for s in suites},
        "stale_cassettes": _stale_prompts(REPO_ROOT / "cassettes" / "manifest.json") if in_source_tree else [],
    }


def _stale_prompts(recorded: Path) -> list[str]:
    """Prompts whose current hash differs from the one the cassettes were recorded with."""
    if not recorded.exists():
        return []
    current = prompt_hashes()
    return sorted(name for name, digest in json.loads(recorded.read_text(encoding="utf-8")).get("prompt_hashes", {}).items()
                  if current.get(name) != digest)


def _packages() -> dict[str, str | None]:
    names = ("pydantic", "pypdfium2", "openai", "instructor", "jinja2", "diskcache")
    out: dict[str, str | None] = {"python": platform.python_version(), **dict.fromkeys(names)}
    for name in names:
        with suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _git() -> dict[str, object]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout

    try:
        return {"commit": git("rev-parse", "HEAD").strip() or None,
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no").strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _gold_hash(suite: Suite) -> str:
    digest = hashlib.sha256()
    for path in sorted(suite.gold_dir.glob("*.json")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
