"""The model-filled fields with the local model, by half (evals/gold/split.json) and by category
decider, for one request mode; the same harness and pipeline users run. Scores only, no letter text.

    flock /tmp/imr-model.lock .venv/bin/python benchmarks/model_fields.py --mode fields-letter \
        --every 5 --letters 5 [--json OUT]

`--every 5 --letters N` takes the first N of every 5th dev letter by name (the subset of
BENCHMARKS.md); `--half checking` keeps only that half's letters, `--min-items K` only letters
with at least K items.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from imr_llm.api import Pipeline
from imr_llm.evaluation.gold import load_suite
from imr_llm.evaluation.runner import run_eval
from imr_llm.evaluation.split import load_split
from imr_llm.model import ModelConfig

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"
FIELDS = ("items.decision", "items.category", "items.subcategory", "items.service", "items.body_regions",
          "items.laterality", "items.quantity.raw", "items.quantity.count", "items.quantity.total_sessions",
          "items.quantity.strength", "items.quantity.dispense_qty", "items.reasons", "items.missing_documentation")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["fields", "fields-letter"], default="fields-letter")
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--letters", type=int)
    ap.add_argument("--half", choices=["fitting", "checking"])
    ap.add_argument("--min-items", type=int, default=1, help="only letters with at least this many labelled items")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--base-url", default="http://127.0.0.1:8011/v1")
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "imr-llm-bench"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    suite = load_suite("dev", DEV, ROOT / "evals" / "gold" / "dev")
    halves = load_split(ROOT / "evals" / "gold" / "dev")
    pairs = [p for i, p in enumerate(sorted(suite.pairs)) if i % args.every == 0 and len(p[2]["items"]) >= args.min_items]
    suite.pairs = [p for p in pairs if args.half in (None, halves.get(p[0]))][:args.letters]
    config = ModelConfig(model=args.model, endpoint_kind="llamacpp", base_url=args.base_url)
    started = time.perf_counter()
    with Pipeline(config, cache_dir=args.cache_dir, requests_per_call=args.mode) as pipeline:
        run = run_eval([suite], pipeline.extract, usage=pipeline.usage, model_config=config,
                       on_letter=lambda s, stem: print(f"  {halves.get(stem)} {time.perf_counter() - started:.0f}s",
                                                       flush=True))
    report = run.report["suites"]["dev"]
    out = {"mode": args.mode, "letters": len(suite.pairs), "cost": run.report["cost"],
           "grounding": {k: (len(v) if isinstance(v, list) else v) for k, v in report["grounding"].items()},
           "deciders": report.get("deciders"), "errors": len(report["errors"]),
           "all": {f: report["metrics"].get(f, {}).get("mean_score" if f.endswith(("reasons", "documentation"))
                                                       else "accuracy") for f in FIELDS},
           "halves": {h: {"letters": v["letters"], **{f: v["metrics"].get(f, {}).get("accuracy") for f in FIELDS}}
                      for h, v in (report.get("halves") or {}).items()}}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
