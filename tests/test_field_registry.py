"""The model-filled fields are declared once (imr_llm/fields.py): a field declared there flows to the
JSON, the CSV, redaction and the eval table with nothing else edited. Shown with a toy field,
"urgency" (words copied from the rationale), that a fake model answers."""

from __future__ import annotations

import json
import re
import shutil

import httpx2 as httpx
import pytest

from imr_llm.api import Pipeline
from imr_llm.evaluation.gold import load_suite
from imr_llm.evaluation.runner import run_eval
from imr_llm.fields import FIELDS, ModelField, register, unregister
from imr_llm.prompts import load_prompt
from imr_llm.redaction import redacted
from imr_llm.runs.sinks import csv_columns, csv_rows
from imr_llm.schema import DisputedItem, schema_hash
from conftest import GOLD_SEEDS, LETTERS
from fake_openai_server import chat_completion
from test_enrich import CONFIG

MULTI = "synthetic_2016_multi"
URGENCY = ModelField("urgency", "text", "how soon the reviewer says the treatment is needed, copied from the rationale",
                     (("urgency", "text"),), free_text=True, grounding="rationale")


def _words(rationale: str) -> str:
    return " ".join(rationale.split()[:4])


def _answer(request: httpx.Request) -> httpx.Response:
    """The fake model: every field of the real ones, and the toy field as the rationale's first words."""
    last = json.loads(request.content)["messages"][-1]["content"]
    pairs = zip(re.findall(r"^Request \d+: (.*)$", last, re.M), re.findall(r"^Rationale \d+: (.*)$", last, re.M))
    items = [{"service": r.split()[0].lower(), "category": "Therapies", "subcategory": None, "body_regions": [],
              "laterality": None, "quantity": None, "conclusion": "not medically necessary",
              "reasons": [{"point": "A reason.", "quote": _words(t)}], "missing_documentation": [],
              "urgency": _words(t)} for r, t in pairs]
    return httpx.Response(200, json=chat_completion(json.dumps({"items": items})))


@pytest.fixture
def urgency():
    before = schema_hash()
    register(URGENCY)
    try:
        yield URGENCY
    finally:
        unregister("urgency")
    assert "urgency" not in FIELDS and "urgency" not in DisputedItem.model_fields and schema_hash() == before


def test_a_field_declared_once_flows_to_the_json_the_csv_redaction_and_the_eval_table(tmp_path, urgency):
    letters, gold = tmp_path / "letters", tmp_path / "gold"
    letters.mkdir(), gold.mkdir()
    shutil.copy(LETTERS / f"{MULTI}.txt", letters)
    with Pipeline(CONFIG, cache_dir=tmp_path / "cache", requests_per_call="fields-letter",
                  http_client=httpx.Client(transport=httpx.MockTransport(_answer))) as pipeline:
        det = pipeline.extract(letters / f"{MULTI}.txt")
        record = det.model_dump(mode="json")
        # the JSON: the model's words, grounded in the rationale
        first = det.items[0]
        said = _words(record["items"][0]["rationale"])
        assert record["items"][0]["urgency"] == first.urgency == said
        assert first.evidence["urgency"].origin == "model" and "urgency" in det.model_json_schema()["$defs"][
            "DisputedItem"]["properties"]
        # the CSV: a column of its own, after the other model-filled fields
        columns = csv_columns()
        assert columns[columns.index("quantity") + 1] == "urgency"
        rows = list(csv_rows({"letter_sha256": "x", **record}))
        assert [row[columns.index("urgency")] for row in rows] == [i["urgency"] for i in record["items"]]
        # redaction: free text, dropped
        assert all(item["urgency"] == "" for item in redacted(record)["items"])
        assert said not in json.dumps(redacted(record))
        # the eval table: labelled in the gold, scored
        labelled = json.loads((GOLD_SEEDS / f"{MULTI}.json").read_text())
        for item, extracted in zip(labelled["items"], record["items"]):
            item["urgency"] = extracted["urgency"]
        (gold / f"{MULTI}.json").write_text(json.dumps(labelled))
        suite = load_suite("toy", letters, gold)
        assert suite.warnings == []  # a labelled field the registry declares is known and scored
        metrics = run_eval([suite], pipeline.extract).report["suites"]["toy"]["metrics"]
    assert metrics["items.urgency"]["n"] == len(labelled["items"]) and metrics["items.urgency"]["accuracy"] == 1.0


def test_an_ungrounded_value_of_a_declared_field_is_dropped(tmp_path, urgency):
    def wrong(request: httpx.Request) -> httpx.Response:
        body = json.loads(_answer(request).content)
        content = json.loads(body["choices"][0]["message"]["content"])
        for item in content["items"]:
            item["urgency"] = "within the next hour"
        return httpx.Response(200, json=chat_completion(json.dumps(content)))

    with Pipeline(CONFIG, cache_dir=tmp_path / "cache", requests_per_call="fields-letter",
                  http_client=httpx.Client(transport=httpx.MockTransport(wrong))) as pipeline:
        det = pipeline.extract(LETTERS / f"{MULTI}.txt")
    assert all(item.urgency is None for item in det.items)
    assert "items[0].urgency" in det.model_step.dropped


def test_the_prompt_asks_for_every_field_of_the_registry_in_its_words_and_its_examples_answer_it():
    prompt = load_prompt("item_fields")
    for name, field in FIELDS.items():
        assert field.instruction in prompt.source and re.search(rf"\b{name}\b", prompt.source), name
        assert all(name in answer for example in prompt.examples for answer in example["answers"]), name


def test_a_declared_text_field_of_the_request_is_kept_where_the_heading_says_it_and_dropped_elsewhere(tmp_path):
    """A field grounded in the heading (the default) without rules of its own: the model's words,
    found in the request heading, or dropped; a shared call is not re-asked for it."""
    setting = register(ModelField("setting", "text", "where the treatment is given, copied from the request",
                                  (("setting", "text"),)))

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(_answer(request).content)
        content = json.loads(body["choices"][0]["message"]["content"])
        for k, item in enumerate(content["items"]):
            item["setting"] = {2: "rental", 3: None}.get(k, "in a hospital")  # the cold therapy unit's "rental"
        return httpx.Response(200, json=chat_completion(json.dumps(content)))

    try:
        with Pipeline(CONFIG, cache_dir=tmp_path / "cache", requests_per_call="fields-letter",
                      http_client=httpx.Client(transport=httpx.MockTransport(answer))) as pipeline:
            det = pipeline.extract(LETTERS / f"{MULTI}.txt")
    finally:
        unregister(setting.name)
    cold = det.items[2]
    assert cold.setting == "rental" and cold.evidence["setting"].quote == "rental"
    assert cold.evidence["setting"].origin == "model"
    assert cold.evidence["request"].start <= cold.evidence["setting"].start < cold.evidence["request"].end
    assert [item.setting for item in det.items] == [None, None, "rental", None]
    assert [d for d in det.model_step.dropped if "setting" in d] == ["items[0].setting", "items[1].setting"]  # null: nothing
    assert det.model_step.usage.calls == 1 and det.model_step.status == "partial"
