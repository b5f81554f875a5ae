"""The model step end to end, replayed from cassettes recorded from the real local model
(Qwen2.5-Coder-1.5B behind llama.cpp's OpenAI-compatible server): the seed letters and a letter
we wrote (a UR-modified item, a drug with strength and dispense quantity), scored by the eval
harness and gated by a blessed baseline (evals/baseline_model.json); then the same run again,
served from the cache with no HTTP at all.

Re-record (needs the local server, `../shared/tools/local-model/serve`; about 10 minutes):
    IMR_LLM_RECORD=1 .venv/bin/python -m pytest tests/test_model_cassettes.py
then bless the scores: IMR_LLM_BLESS=1 with the same command, replaying.
"""

from __future__ import annotations

import json
import os

import pytest

from imr_llm.api import Pipeline, load
from imr_llm.evaluation.baseline import compare, load_baseline, write_baseline
from imr_llm.evaluation.gold import load_suite
from imr_llm.evaluation.runner import run_eval
from imr_llm.model import ModelConfig
from conftest import GOLD_SEEDS, LETTERS, ROOT

LOCAL = ModelConfig(model="qwen2.5-coder-1.5b", endpoint_kind="llamacpp", base_url="http://127.0.0.1:8011/v1",
                    max_tokens=400)
MODEL_BASELINE = ROOT / "evals" / "baseline_model.json"


@pytest.mark.prompts("item_fields")
def test_seed_suite_with_the_local_model(cassette, tmp_path):
    suite = load_suite("seeds", LETTERS, GOLD_SEEDS)
    outputs: dict[str, dict] = {}

    with Pipeline(LOCAL, cache_dir=tmp_path / "cache") as pipeline:
        def task(path):
            det = pipeline.extract(path)
            outputs[path.name] = det.model_dump(mode="json")
            return det

        run = run_eval([suite], task, usage=pipeline.usage, model_config=LOCAL)
        first = dict(outputs)
        calls = pipeline.usage.summary()["model_calls"]
        assert calls >= len(suite.pairs)  # one call a letter at least: its items share it (re-asks add more)

        metrics = run.report["suites"]["seeds"]["metrics"]
        assert metrics["items.decision"]["accuracy"] == 1.0  # the model step never touches a decision
        assert metrics["items.alignment"]["precision"] == 1.0 and metrics["items.alignment"]["recall"] == 1.0
        assert metrics["items.category"]["accuracy"] >= 0.9

        for name, det in first.items():
            raw = load(LETTERS / name).raw
            assert det["model_step"]["status"] in ("complete", "partial")
            for item in det["items"]:
                # every model-filled value has a verified quote in the letter
                for key in ("service", "category", "quantity"):
                    if item[key] is not None:
                        ev = item["evidence"][key]
                        assert raw[ev["start"]:ev["end"]] == ev["quote"], (name, item["index"], key)
                for key in ("reasons", "missing_documentation", "body_regions"):
                    for k in range(len(item[key])):
                        ev = item["evidence"][f"{key}[{k}]"]
                        assert ev["origin"] in ("model", "rules") and raw[ev["start"]:ev["end"]] == ev["quote"]
                if not item["reasons"]:  # a reason the model could not ground is dropped, and says so
                    assert any(f"items[{item['index']}].reasons" in d for d in det["model_step"]["dropped"]) or \
                        any(f"items[{item['index']}]" in w for w in det["warnings"]), (name, item["index"])
        with_reasons = sum(bool(i["reasons"]) for d in first.values() for i in d["items"])
        assert with_reasons >= 0.8 * sum(len(d["items"]) for d in first.values())
        assert run.report["suites"]["seeds"]["grounding"]["ungrounded"] == []

        written = first["synthetic_2016_multi.txt"]["items"]
        assert written[0]["quantity"]["strength"] == "20mg" and written[0]["quantity"]["dispense_qty"] == 60
        assert written[1]["modified_by_ur"] and written[1]["quantity"]["count"] == 6  # the disputed six sessions

        # the same letters again: all from the cache (the cassette allows no repeat), same output
        outputs.clear()
        run_again = run_eval([suite], task, usage=pipeline.usage, model_config=LOCAL)
        assert pipeline.usage.summary()["model_calls"] == calls
        for name in first:
            a, b = first[name], outputs[name]
            assert {**a, "model_step": None} == {**b, "model_step": None}
            assert b["model_step"]["usage"]["calls"] == 0 and b["model_step"]["usage"]["cache_hits"] >= 1
        assert run_again.report["suites"]["seeds"]["metrics"] == metrics

    # the regression gate for the model fields
    if os.environ.get("IMR_LLM_BLESS") == "1":
        write_baseline(run.report, MODEL_BASELINE)
    assert MODEL_BASELINE.exists(), "no model baseline: bless one with IMR_LLM_BLESS=1 (see the module docstring)"
    comparison = compare(run.report, load_baseline(MODEL_BASELINE))
    assert not comparison.metric_regressions, json.dumps(comparison.metric_regressions, indent=1)
    assert not comparison.letter_regressions, comparison.letter_regressions
