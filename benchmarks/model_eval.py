"""Score the model step on a subset of the dev letters, with the same harness and pipeline users
run (`run_eval(task=pipeline.extract)`), and print per-field figures plus cost.

    python benchmarks/model_eval.py --every 5 [--requests-per-call fields-letter|fields|item|letter] [--judge] [--json OUT]
    python benchmarks/model_eval.py --every 5 --letters 5 --explain en --explain es   # + model-written points

`--every 5` takes every 5th dev letter by name (13 letters). Prints scores only, never letter text.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from imr_llm.api import Pipeline
from imr_llm.evaluation.gold import load_suite
from imr_llm.evaluation.split import load_split
from imr_llm.evaluation.runner import run_eval
from imr_llm.model import ModelConfig

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"
FIELDS = ["items.decision", "items.alignment", "items.category", "items.subcategory", "items.service",
          "items.body_regions", "items.laterality", "items.quantity.raw", "items.quantity.count",
          "items.quantity.frequency_per_week", "items.quantity.duration_weeks", "items.quantity.total_sessions",
          "items.quantity.strength", "items.quantity.dispense_qty", "items.reasons", "items.missing_documentation"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--requests-per-call", choices=["fields-letter", "fields"], default="fields-letter")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--base-url", default="http://127.0.0.1:8011/v1")
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "imr-llm-bench"))
    ap.add_argument("--judge", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--explain", action="append", choices=["en", "es"], help="also explain with the model (guarded)")
    ap.add_argument("--letters", type=int, help="only the first N letters of the subset")
    ap.add_argument("--offset", type=int, default=0, help="the subset is the letters i with i %% every == offset")
    ap.add_argument("--half", choices=["fitting", "checking"], help="only that half's letters (evals/gold/dev/split.json)")
    args = ap.parse_args()

    suite = load_suite("dev", DEV, ROOT / "evals" / "gold" / "dev")
    halves = load_split(ROOT / "evals" / "gold" / "dev")
    subset = [p for i, p in enumerate(sorted(suite.pairs)) if i % args.every == args.offset]
    suite.pairs = [p for p in subset if args.half in (None, halves.get(p[0]))][:args.letters]
    config = ModelConfig(model=args.model, endpoint_kind="llamacpp", base_url=args.base_url)
    judge = None
    with Pipeline(config, cache_dir=args.cache_dir, requests_per_call=args.requests_per_call) as pipeline:
        if args.judge:
            from imr_llm.evaluation.judge import FreeTextJudge

            judge = FreeTextJudge(pipeline.enricher.client)
        dets = {}

        def task(path):
            dets[path.stem] = det = pipeline.extract(path)
            return det

        writer = pipeline.writer
        started = time.perf_counter()
        run = run_eval([suite], task, judge=judge, usage=pipeline.usage, model_config=config,
                       on_letter=lambda s, stem: print(f"  {stem} {time.perf_counter() - started:.0f}s", flush=True))
        wall = time.perf_counter() - started
        explained = {language: explanation_figures(dets, suite, language, writer, pipeline.usage)
                     for language in args.explain or ()}
    report = run.report["suites"]["dev"]
    metrics = report["metrics"]
    figures = {"letters": len(suite.pairs), "requests_per_call": args.requests_per_call, "wall_s": round(wall, 1),
               "cost": run.report["cost"], "metrics": {f: metrics.get(f) for f in FIELDS}, "errors": len(report["errors"])}
    for f in FIELDS:
        m = metrics.get(f) or {}
        extra = f" f1={m['f1']:.3f}" if "f1" in m else ""
        extra += f" judge={m['judge_mean']:.3f}" if "judge_mean" in m else ""
        extra += f" token_f1={m['mean_score']:.3f}" if "mean_score" in m else ""
        print(f"{f:40s} n={m.get('n', 0):3d} acc={m.get('accuracy', 0):.3f}{extra}")
    print(json.dumps(run.report["cost"]))
    figures["deciders"] = report.get("deciders")  # each category decider alone (model_step.candidates)
    print("category deciders:", json.dumps(report.get("deciders")))
    for language, ex in explained.items():
        figures.setdefault("explanations", {})[language] = ex
        print(f"explanations {language}:", json.dumps(ex))
    print("grounding:", json.dumps({k: (len(v) if isinstance(v, list) else v) for k, v in report["grounding"].items()}))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


def explanation_figures(dets: dict, suite, language: str, writer, usage) -> dict:
    """Each letter explained with the model writer (guarded per point), timed: decisions, numbers,
    guards, and per point who wrote it (model, re-asked, rules, template), what fell back, and its
    reading level; an item counts as specific when a why point is not a fixed template point."""
    from statistics import median

    from imr_llm.api import load
    from imr_llm.explain import explain

    paths = {stem: path for stem, path, _ in suite.pairs}
    out = {"letters": 0, "items": 0, "items_with_specific_why": 0, "decisions_consistent": 0, "numbers_ok": 0,
           "pages_passed": 0, "points": {}, "fell_back": 0, "seconds": [], "tokens": []}
    grades = []
    for stem, det in dets.items():
        source = load(paths[stem])
        before, started = usage.summary(), time.perf_counter()
        expl = explain(det, source, language, writer)
        after = usage.summary()
        out["seconds"].append(round(time.perf_counter() - started, 1))
        out["tokens"].append(after["prompt_tokens"] + after["completion_tokens"] - before["prompt_tokens"] - before["completion_tokens"])
        guards = {g.name: g.passed for g in expl.guards}
        out["letters"] += 1
        out["decisions_consistent"] += guards.get("decision", False)
        out["numbers_ok"] += guards.get("numbers", False)
        out["pages_passed"] += expl.passed
        out["fell_back"] += (expl.fallback.reason or "").count("the model's point failed")
        out["reasked_and_failed"] = out.get("reasked_and_failed", 0) + (expl.fallback.reason or "").count("failed after a re-ask")
        for item in expl.items:
            out["items"] += 1
            out["items_with_specific_why"] += any(p.written_by != "template" for p in item.why)
            for point in (*item.why, *item.what_could_help):
                out["points"][point.written_by] = out["points"].get(point.written_by, 0) + 1
                if point.grade is not None:
                    grades.append(point.grade)
    en = language == "en"
    out["point_grade_median"] = round(median(grades), 2) if grades else None
    out["point_grade_worst"] = (max(grades) if en else min(grades)) if grades else None
    out["seconds_per_letter"] = round(sum(out["seconds"]) / max(1, out["letters"]), 1)
    out["tokens_per_letter"] = round(sum(out["tokens"]) / max(1, out["letters"]))
    return out


if __name__ == "__main__":
    main()
