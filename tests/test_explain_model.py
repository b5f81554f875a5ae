"""The model-written explanation through the same guards, with a fake OpenAI-compatible
transport: a faithful rewrite is used (keeping each reason's evidence), a rewrite that misstates
a decision or invents a number is re-asked once with the guards' feedback and then replaced by
the template, a model that reads the text back differently fails the read-back guard, and the
letter's text never reaches the explanation prompt."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2 as httpx

from imr_llm.api import Pipeline, load
from imr_llm.cache import ResponseCache
from imr_llm.explain import explain
from imr_llm.explain.templates import write_template
from imr_llm.explain.writer import ModelWriter
from imr_llm.model import ModelConfig, StructuredClient

LETTERS = Path(__file__).resolve().parent / "fixtures" / "letters"
SEED = LETTERS / "002_e066e2eff228d9d9.txt"  # two upheld items
CONFIG = ModelConfig(model="fake-model", endpoint_kind="llamacpp", base_url="http://127.0.0.1:9/v1",
                     max_validation_retries=0, max_transport_retries=0)


def _chat(content) -> dict:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": json.dumps(content)}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130}}


class Fake:
    def __init__(self, writings, readback=("not approved", "not approved")):
        self.writings, self.readback, self.bodies = list(writings), list(readback), []

    def __call__(self, request):
        body = json.loads(request.content)
        self.bodies.append(body)
        if "read short explanations" in body["messages"][0]["content"]:
            return httpx.Response(200, json=_chat({"approved": self.readback}))
        writing = self.writings.pop(0) if len(self.writings) > 1 else self.writings[0]
        return httpx.Response(200, json=_chat(writing))


def _writer(fake, tmp_path):
    client = StructuredClient(CONFIG, cache=ResponseCache(tmp_path / "cache"),
                              http_client=httpx.Client(transport=httpx.MockTransport(fake)))
    return ModelWriter(client)


def _det():
    det = Pipeline().extract(SEED)
    det.items[0].reasons = ["it is unknown how many acupuncture sessions were done"]
    det.items[0].evidence["reasons[0]"] = det.items[0].evidence["rationale"]
    return det


GOOD = {"headline": "None of the treatments your doctor asked for were approved.",
        "items": [{"plain_request": "acupuncture for your lower back", "why": [{"text": "Nobody knows how many acupuncture visits you already had.", "reason": 1}],
                   "what_could_help": ["Your doctor could send a count of your past acupuncture visits."]},
                  {"plain_request": "physical therapy for your lower back", "why": [{"text": "The reviewer said it did not meet the guidelines.", "reason": None}],
                   "what_could_help": []}]}


def test_a_faithful_model_explanation_is_used_with_its_evidence(tmp_path):
    fake = Fake([GOOD])
    det = _det()
    expl = explain(det, load(SEED), "en", _writer(fake, tmp_path))
    assert not expl.fallback.used, expl.fallback.reason
    assert expl.written_by.kind == "model" and set(expl.written_by.prompt_hashes) == {"explain_letter", "explain_readback"}
    assert expl.items[0].why[0].evidence == det.items[0].evidence["reasons[0]"]
    # the headline is never the model's: it stays the vetted template sentence
    assert expl.headline == write_template(det, load(SEED), "en").headline
    assert [i.decision for i in expl.items] == ["upheld", "upheld"]
    assert any(g.name == "readback_model" and g.passed for g in expl.guards)
    # the prompt carries parsed fields, never the letter's text (the rationale is not in it)
    sent = json.dumps(fake.bodies[0])
    assert "Labor Code 9792.20" not in sent and "helping him" not in sent


def test_a_misstating_model_is_reasked_then_replaced_by_the_template(tmp_path):
    bad = json.loads(json.dumps(GOOD))
    bad["items"][0]["why"][0]["text"] = "Good news: this treatment was approved after 37 visits."
    fake = Fake([bad, bad])
    expl = explain(_det(), load(SEED), "en", _writer(fake, tmp_path))
    writes = [b for b in fake.bodies if "read short explanations" not in b["messages"][0]["content"]]
    assert len(writes) == 2 and "Fix these problems" in writes[1]["messages"][-1]["content"]
    assert expl.fallback.used and "decision" in expl.fallback.reason
    assert expl.written_by.kind == "template" and "37" not in json.dumps([i.model_dump() for i in expl.items])


def test_a_model_read_back_that_disagrees_fails_the_explanation(tmp_path):
    fake = Fake([GOOD], readback=["approved", "not approved"])
    expl = explain(_det(), load(SEED), "en", _writer(fake, tmp_path))
    assert expl.fallback.used and "readback_model" in expl.fallback.reason


def test_a_failing_endpoint_falls_back_to_the_template(tmp_path):
    def down(request):
        return httpx.Response(500, json={"error": {"message": "down"}})

    client = StructuredClient(CONFIG, http_client=httpx.Client(transport=httpx.MockTransport(down)))
    expl = explain(_det(), load(SEED), "es", ModelWriter(client))
    assert expl.fallback.used and "could not be written" in expl.fallback.reason
    assert expl.language == "es" and expl.passed


def test_the_eval_reports_explanation_checks_per_language():
    from imr_llm.evaluation.gold import load_suite
    from imr_llm.evaluation.runner import run_eval

    suite = load_suite("seeds", LETTERS, LETTERS.parent.parent.parent / "evals" / "gold" / "seeds")
    with Pipeline() as pipeline:
        report = run_eval([suite], pipeline.extract, explain_languages=("en", "es")).report
    ex = report["suites"]["seeds"]["explanations"]
    assert set(ex) == {"en", "es"}
    assert ex["en"]["letters"] == len(suite.pairs) and ex["en"]["decision_consistency"] == 1.0
    assert ex["en"]["fallbacks"] == 0 and ex["en"]["numbers_not_in_source"] == 0
    assert ex["en"]["grade_metric"] == "flesch_kincaid_grade" and ex["en"]["grade_median"] <= 6 and ex["en"]["grade_worst"] <= 8
    assert ex["es"]["grade_metric"] == "fernandez_huerta" and ex["es"]["grade_worst"] >= 60
    assert "text" not in json.dumps(ex)  # figures only, no explanation text in the report


# -- the real local model, replayed ---------------------------------------------------------------

import pytest  # noqa: E402

LOCAL = ModelConfig(model="qwen2.5-coder-1.5b", endpoint_kind="llamacpp", base_url="http://127.0.0.1:8011/v1")


@pytest.mark.prompts("item_request", "item_reasons", "explain_letter", "explain_readback")
def test_model_written_explanations_in_both_languages_replayed(cassette, tmp_path):
    """Seed 003 (one overturned item) through the model step and the model writer, English and
    Spanish, replayed from the local model: whatever the model wrote, the decision shown is the
    letter's, every guard passed (or the template replaced it and says why), and the second
    language reuses the cached model step."""
    letter = LETTERS / "003_bd44697b6f0a7cef.txt"
    with Pipeline(LOCAL, cache_dir=tmp_path / "cache") as pipeline:
        source = load(letter)
        det = pipeline.extract_source(source)
        writer = ModelWriter(pipeline.enricher.client)
        for language in ("en", "es"):
            expl = explain(det, source, language, writer)
            assert [i.decision for i in expl.items] == [i.decision for i in det.items] == ["overturned"]
            assert expl.items[0].status.startswith("Approved" if language == "en" else "Aprobado")
            assert expl.passed, [g for g in expl.guards if not g.passed]
            assert expl.fallback.used or expl.written_by.kind == "model"
            if expl.fallback.used:
                assert expl.fallback.reason
            assert not any(s.applies_to == "upheld" for s in expl.next_steps)  # no appeal call to action
        assert pipeline.usage.summary()["model_calls"] >= 4
