"""Model-written points through the per-point guards, with a fake OpenAI-compatible transport: a
faithful sentence is used (keeping its value's evidence), a sentence that misstates a decision or
invents a number is re-asked once with what failed and then left out (the rest of the page keeps
its points), a sentence the model reads back as the opposite decision is left out, and the
letter's text never reaches the prompts."""

from __future__ import annotations

import json
import re
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
    """Writes `sentences[note]` for each note (the last one on a re-ask when a list), reads every sentence back as `reading`."""

    def __init__(self, sentences, reading="not approved"):
        self.sentences, self.reading, self.bodies = sentences, reading, []

    def __call__(self, request):
        body = json.loads(request.content)
        self.bodies.append(body)
        user = body["messages"][-1]["content"]
        if "read short sentences" in body["messages"][0]["content"]:
            n = len(re.findall(r"^\d+\. ", user, re.M))
            return httpx.Response(200, json=_chat({"answers": [self.reading] * n}))
        note = next(k for k in self.sentences if k.lower() in user.lower())  # the writer sends the value's clause
        sentence = self.sentences[note]
        if isinstance(sentence, list):
            sentence = sentence["Rewrite this one sentence" in user]
        return httpx.Response(200, json=_chat({"sentence": sentence}))

    def writes(self, note):
        return [b for b in self.bodies if note.lower() in b["messages"][-1]["content"].lower()]


def _writer(fake, tmp_path):
    client = StructuredClient(CONFIG, cache=ResponseCache(tmp_path / "cache"),
                              http_client=httpx.Client(transport=httpx.MockTransport(fake)))
    return ModelWriter(client)


REASON = "it is unknown how many acupuncture sessions were done"
MISSING = "the number of acupuncture sessions completed"


def _det():
    det = Pipeline().extract(SEED)
    det.items[0].reasons = [REASON]
    det.items[0].missing_documentation = [MISSING]
    for ref in ("reasons[0]", "missing_documentation[0]"):
        det.items[0].evidence[ref] = det.items[0].evidence["rationale"]
    return det


GOOD = {REASON: "No one knows how many acupuncture visits you had.",
        MISSING: "Your doctor could send a count of your past acupuncture visits."}


def test_faithful_model_points_are_used_with_their_evidence(tmp_path):
    fake = Fake(GOOD)
    det = _det()
    expl = explain(det, load(SEED), "en", _writer(fake, tmp_path))
    assert not expl.fallback.used, expl.fallback.reason
    assert expl.written_by.kind == "model" and set(expl.written_by.prompt_hashes) == {"explain_point", "explain_readback"}
    item = expl.items[0]
    assert item.why[0].text == GOOD[REASON] and item.why[0].written_by == "model"
    assert item.why[0].evidence == det.items[0].evidence["reasons[0]"]
    assert [h.text for h in item.what_could_help] == [GOOD[MISSING]] and item.what_could_help[0].written_by == "model"
    # the headline and the plain request are never the model's
    template = write_template(det, load(SEED), "en")
    assert expl.headline == template.headline and item.plain_request == template.items[0].plain_request
    assert [i.decision for i in expl.items] == ["upheld", "upheld"]
    assert any(g.name == "readback_model" and g.passed for g in expl.guards)
    # the prompts carry parsed fields, never the letter's text (the rationale is not in them)
    sent = json.dumps(fake.bodies)
    assert "Labor Code 9792.20" not in sent and "helping him" not in sent


def test_a_misstating_point_is_reasked_once_then_left_out(tmp_path):
    bad = "Good news: this treatment was approved after 37 visits."
    fake = Fake({**GOOD, REASON: [bad, bad]})
    expl = explain(_det(), load(SEED), "en", _writer(fake, tmp_path))
    writes = fake.writes(REASON)
    assert len(writes) == 2 and "Rewrite this one sentence" in writes[1]["messages"][-1]["content"]
    assert "decision:" in writes[1]["messages"][-1]["content"] and "numbers:" in writes[1]["messages"][-1]["content"]
    assert expl.passed and expl.fallback.used and "item 1 reasons[0]" in expl.fallback.reason
    assert "37" not in json.dumps([i.model_dump() for i in expl.items])
    # only that point fell back: the other one is the model's
    assert [h.written_by for h in expl.items[0].what_could_help] == ["model"]


def test_a_point_fixed_by_the_reask_is_shown(tmp_path):
    long = ("The number of acupuncture sessions previously completed by the injured worker has not been "
            "documented anywhere in the submitted medical records.")
    fake = Fake({**GOOD, REASON: [long, GOOD[REASON]]})
    expl = explain(_det(), load(SEED), "es", _writer(fake, tmp_path))
    assert expl.items[0].why[0].written_by == "model_reasked" or expl.fallback.used  # Spanish guard may refuse English


def test_a_point_read_back_as_the_opposite_is_left_out(tmp_path):
    fake = Fake(GOOD, reading="approved")
    expl = explain(_det(), load(SEED), "en", _writer(fake, tmp_path))
    assert expl.passed and expl.fallback.used and "readback_model" in expl.fallback.reason
    assert expl.written_by.kind == "template"


def test_a_failing_endpoint_leaves_the_rules_page(tmp_path):
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
    # per point: who wrote each point shown, items with a specific why, each point's grade
    assert ex["en"]["items"] == sum(r["items"] for r in ex["en"]["per_letter"]) > 0
    assert 0 < ex["en"]["items_with_specific_why"] <= ex["en"]["items"] and ex["en"]["points_by"]["rules"] > 0
    assert ex["en"]["points_by"]["model"] == ex["en"]["points_fallen_back"] == 0  # offline: no model points
    assert ex["en"]["point_grade_worst"] <= 8 and ex["es"]["point_grade_worst"] >= 70


# -- the real local model, replayed ---------------------------------------------------------------

import pytest  # noqa: E402

LOCAL = ModelConfig(model="qwen2.5-coder-1.5b", endpoint_kind="llamacpp", base_url="http://127.0.0.1:8011/v1")


@pytest.mark.prompts("item_fields", "explain_point", "explain_readback")
def test_model_written_points_in_both_languages_replayed(cassette, tmp_path):
    """Seed 001 (one upheld item) through the model step and the point writer, English and
    Spanish, replayed from the local model: whatever the model wrote, the decision shown is the
    letter's, every point shown passed its guards (FK <= 8 / Fernández-Huerta >= 70), each
    point says who wrote it, and the second language reuses the cached model step."""
    letter = LETTERS / "001_c2ed943a33e6df3f.txt"
    with Pipeline(LOCAL, cache_dir=tmp_path / "cache") as pipeline:
        source = load(letter)
        det = pipeline.extract_source(source)
        writer = ModelWriter(pipeline.enricher.client)
        for language in ("en", "es"):
            expl = explain(det, source, language, writer)
            assert [i.decision for i in expl.items] == [i.decision for i in det.items] == ["upheld"]
            assert expl.passed, [g for g in expl.guards if not g.passed]
            for point in (*expl.items[0].why, *expl.items[0].what_could_help):
                if point.written_by != "template":
                    assert point.grade <= 8 if language == "en" else point.grade >= 70
            assert not expl.fallback.used or expl.fallback.reason
        assert pipeline.usage.summary()["model_calls"] >= 4


@pytest.mark.parametrize("sentence, language, shown", [
    ("Por qué no se aprobó la solicitud: faltan señales rojas o indicaciones.", "es", "Faltan señales rojas o indicaciones."),
    ("Why the request was not approved: the records did not show improvement.", "en",
     "The records did not show improvement."),
    ("Missing from the records: notes on how your pain changed.", "en", "Notes on how your pain changed."),
    # not the prompt's label, or too little after it: the sentence as written
    ("Your doctor could send: the MRI results from May.", "en", "Your doctor could send: the MRI results from May."),
    ("Falta en los expedientes: sus resultados.", "es", "Falta en los expedientes: sus resultados."),
    ("The records did not show that therapy helped.", "en", "The records did not show that therapy helped."),
])
def test_a_point_that_opens_with_the_prompts_label_is_the_sentence_after_it(sentence, language, shown):
    from imr_llm.explain.writer import without_label

    assert without_label(sentence, language) == shown
