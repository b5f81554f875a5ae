"""Each category decider alone, on every dev letter, by half (evals/gold/split.json), without a model.

The product's own path (`Pipeline.extract` → the enricher) runs with a stand-in endpoint that
answers every request with no service (so the model decides nothing) and every rationale with one
quote; the eval harness then scores the rules' fields and reports, per half, what the section
table and the vocabulary each said (`model_step.candidates`) against the labels.

    .venv/bin/python benchmarks/category_deciders.py [--json OUT]

Prints figures only, never letter text. The model alone is measured by benchmarks/model_eval.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"
FIELDS = ("items.category", "items.subcategory", "items.body_regions", "items.laterality", "items.quantity.raw",
          "items.quantity.count", "items.quantity.frequency_per_week", "items.quantity.duration_weeks",
          "items.quantity.total_sessions", "items.quantity.strength", "items.quantity.dispense_qty")


def _answer(body: dict) -> dict:
    """request_mode_tokens' stand-in answer, with no service: the model decides nothing."""
    from request_mode_tokens import _answer as answer

    out = answer(body)
    return {**out, "service": ""} if "service" in out else out


def main() -> None:
    import httpx2 as httpx

    from imr_llm.api import Pipeline
    from imr_llm.evaluation.gold import load_suite
    from imr_llm.evaluation.runner import run_eval
    from imr_llm.model import ModelConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    def handler(request):
        content = json.dumps(_answer(json.loads(request.content)))
        return httpx.Response(200, json={"id": "x", "object": "chat.completion", "created": 0, "model": "f",
                                         "choices": [{"index": 0, "finish_reason": "stop",
                                                      "message": {"role": "assistant", "content": content}}],
                                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    suite = load_suite("dev", DEV, ROOT / "evals" / "gold" / "dev")
    config = ModelConfig(model="rules-only", endpoint_kind="llamacpp", base_url="http://127.0.0.1:9/v1")
    with Pipeline(config, use_cache=False, http_client=httpx.Client(transport=httpx.MockTransport(handler))) as pipeline:
        run = run_eval([suite], pipeline.extract)
    report = run.report["suites"]["dev"]
    out = {"deciders": report.get("deciders"), "halves": {}}
    for half, figures in report.get("halves", {}).items():
        out["halves"][half] = {f: figures["metrics"][f]["accuracy"] for f in FIELDS if f in figures["metrics"]}
        print(f"{half:9s} ({figures['letters']} letters): "
              + " ".join(f"{f.split('.', 1)[1]}={v:.3f}" for f, v in out["halves"][half].items()))
    for part, d in (report.get("deciders") or {}).items():
        cells = [f"{name} {d[name]['category_right']}/{d[name]['answered']} "
                 f"(+sub {d[name]['category_and_subcategory_right']})" for name in ("section_table", "vocabulary", "decided")]
        print(f"deciders {part:9s} {d['items']} items: " + "; ".join(cells) + f"; decided by {d['decided_by']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
