"""The model side: provider profiles, configuration, prompt files, the cache, both retry layers,
usage accounting — with fake transports — and the LLM judge replayed from a recorded cassette."""

from __future__ import annotations

import json
import os

import httpx2 as httpx  # openai 3.x runs on httpx2
import instructor
import pytest
import yaml

from imr_llm.cache import ResponseCache, cache_key
from imr_llm.errors import ConfigError, ModelError
from imr_llm.evaluation.judge import FreeTextJudge
from imr_llm.model import ModelConfig, StructuredClient, UsageLog
from imr_llm.model.config import PROFILES
from imr_llm.prompts import load_prompt, prompt_hashes
from conftest import ROOT

LOCAL = ModelConfig(model="qwen2.5-coder-1.5b", endpoint_kind="llamacpp", base_url="http://127.0.0.1:8011/v1",
                    max_tokens=64)


def test_every_profile_names_a_real_instructor_mode():
    for kind, profile in PROFILES.items():
        assert hasattr(instructor.Mode, profile.mode), kind
    extra = PROFILES["llamacpp"].structured({"type": "object"})
    assert extra == {"response_format": {"type": "json_object", "schema": {"type": "object"}}}


def test_config_from_env_and_clear_errors(monkeypatch):
    monkeypatch.delenv("IMR_LLM_MODEL", raising=False)
    with pytest.raises(ConfigError, match="no model configured"):
        ModelConfig.from_env()
    monkeypatch.setenv("IMR_LLM_MODEL", "m")
    monkeypatch.setenv("IMR_LLM_ENDPOINT_KIND", "ollama")
    config = ModelConfig.from_env()
    assert (config.model, config.endpoint_kind, config.resolved_base_url) == ("m", "ollama", "http://127.0.0.1:11434/v1")
    with pytest.raises(ConfigError, match="unknown endpoint kind"):
        ModelConfig.from_env(endpoint_kind="nonsense")
    monkeypatch.delenv("IMR_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="IMR_LLM_API_KEY"):
        ModelConfig(model="gpt", endpoint_kind="openai").api_key()
    monkeypatch.setenv("IMR_LLM_API_KEY", "sk-secret-value")
    assert ModelConfig(model="gpt", endpoint_kind="openai", base_url="https://host.example:8443/v1").endpoint_host == "host.example:8443"


def test_prompts_are_files_with_strict_variables():
    prompt = load_prompt("judge_free_text")
    messages = prompt.render(field_description="reasons", reference=["a", "b"], candidate=["c"])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "1. a" in messages[1]["content"] and "exactly 2 true/false" in messages[1]["content"]
    with pytest.raises(Exception, match="candidate"):
        prompt.render(field_description="x", reference=["a"])
    assert prompt_hashes()["judge_free_text"] == prompt.short_hash


def test_cache_key_changes_with_every_input():
    base = dict(model="m", endpoint_kind="llamacpp", prompt_hash="p", schema_hash="s",
                messages=[{"role": "user", "content": "x"}], params={"temperature": 0})
    key = cache_key(**base)
    for field, value in [("model", "m2"), ("prompt_hash", "p2"), ("schema_hash", "s2"),
                         ("messages", [{"role": "user", "content": "y"}]), ("params", {"temperature": 1})]:
        assert cache_key(**{**base, field: value}) != key, field
    assert cache_key(**base) == key


def _chat_response(content: str, prompt_tokens=50, completion_tokens=7) -> dict:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def _client_with(responses, tmp_path, **config):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        status, body = responses[min(len(calls) - 1, len(responses) - 1)]
        return httpx.Response(status, json=body)

    cfg = LOCAL.model_copy(update=config)
    usage = UsageLog()
    client = StructuredClient(cfg, cache=ResponseCache(tmp_path / "cache"), usage=usage,
                              http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    return client, usage, calls


def test_transport_errors_are_retried_and_counted(tmp_path, monkeypatch):
    client, usage, calls = _client_with(
        [(503, {"error": {"message": "busy"}}), (200, _chat_response('{"covered": [true, false]}'))], tmp_path)
    waits: list[float] = []
    client.sleep = waits.append  # the backoff is asked for, not slept
    judge = FreeTextJudge(client)
    assert judge.score("reasons", ["a", "b"], ["a"]) == 0.5
    assert len(calls) == 2 and waits == [1.0]
    assert usage.summary()["prompt_tokens"] == 50 and usage.summary()["model_calls"] == 1
    # the request carried the llama.cpp grammar constraint and no other vendor specifics
    assert calls[-1]["response_format"]["type"] == "json_object" and "schema" in calls[-1]["response_format"]


def test_invalid_output_is_reasked_and_tokens_summed(tmp_path):
    client, usage, calls = _client_with(
        [(200, _chat_response('{"covered": [true]}')),  # wrong length: fails validation
         (200, _chat_response('{"covered": [true, true]}', prompt_tokens=80, completion_tokens=9))], tmp_path)
    assert FreeTextJudge(client).score("reasons", ["a", "b"], ["x"]) == 1.0
    summary = usage.summary()
    assert len(calls) == 2 and summary["model_calls"] == 2
    assert summary["prompt_tokens"] == 130 and summary["completion_tokens"] == 16


def test_persistent_invalid_output_is_a_model_error(tmp_path):
    client, usage, _ = _client_with([(200, _chat_response("not json at all"))], tmp_path, max_validation_retries=1)
    with pytest.raises(ModelError, match="failed validation"):
        FreeTextJudge(client).score("reasons", ["a"], ["b"])
    assert usage.records[-1].attempts == 2


def test_error_messages_never_include_the_key_or_content(tmp_path, monkeypatch):
    monkeypatch.setenv("IMR_LLM_API_KEY", "sk-very-secret-123456")
    client, _, _ = _client_with([(401, {"error": {"message": "bad key sk-very-secret-123456"}})], tmp_path,
                                max_transport_retries=0)
    with pytest.raises(ModelError) as info:
        FreeTextJudge(client).score("reasons", ["patient Jane has pain"], ["x"])
    assert "sk-very" not in str(info.value) and "Jane" not in str(info.value)


def test_no_call_when_there_is_nothing_to_judge(tmp_path):
    client, usage, calls = _client_with([(500, {})], tmp_path)
    judge = FreeTextJudge(client)
    assert judge.score("reasons", [], []) == 1.0
    assert judge.score("reasons", ["a"], []) == 0.0
    assert calls == [] and list(usage.records) == []


REFERENCE = ["no measured functional gains from the 24 sessions already done",
             "the extra visits would exceed guideline limits",
             "no sign a home exercise program failed"]
CANDIDATE = ["The records show no objective improvement in function after prior physical therapy.",
             "The added sessions go beyond the number of visits the guidelines recommend."]


@pytest.mark.prompts("judge_free_text")
def test_judge_replayed_from_cassette_then_cached(cassette, tmp_path):
    """A real recorded exchange with the local instruct model (llama.cpp server), replayed."""
    usage = UsageLog()
    client = StructuredClient(LOCAL, cache=ResponseCache(tmp_path / "cache"), usage=usage)
    judge = FreeTextJudge(client)
    score = judge.score("reasons", REFERENCE, CANDIDATE)

    recorded = yaml.safe_load(open(cassette._path).read())
    body = json.loads(recorded["interactions"][-1]["response"]["body"]["string"])
    covered = json.loads(body["choices"][0]["message"]["content"])["covered"]
    assert score == round(sum(covered) / len(REFERENCE), 6)
    assert usage.summary()["model_calls"] == 1 and usage.summary()["prompt_tokens"] > 100

    # the same question again: answered from the cache, no HTTP (the cassette allows no repeats)
    assert judge.score("reasons", REFERENCE, CANDIDATE) == score
    assert usage.summary()["cache_hits"] == 1 and usage.summary()["model_calls"] == 1

    text = open(cassette._path).read().lower()
    assert "authorization" not in text and "bearer" not in text


def test_tool_calling_endpoints_get_the_full_schema_and_answers_parse(tmp_path, monkeypatch):
    """endpoint_kind openai uses tool calling, which needs the schema's title (the JSON modes
    print a compact schema without it)."""
    from imr_llm.enrich.answers import ItemsAnswer
    from imr_llm.prompts import load_prompt

    monkeypatch.setenv("IMR_LLM_API_KEY", "sk-test-not-a-real-key-000000")
    sent: list[dict] = []
    answer = {"items": [{"service": "physical therapy", "category": "Rehabilitation", "subcategory": None,
                         "body_regions": [], "laterality": None, "quantity": None, "conclusion": "medically necessary",
                         "reasons": [{"point": "A reason.", "quote": "it helps"}], "missing_documentation": []}]}

    def handler(request):
        body = json.loads(request.content)
        sent.append(body)
        name = body["tools"][0]["function"]["name"]
        return httpx.Response(200, json={
            "id": "x", "object": "chat.completion", "created": 0, "model": "gpt-test",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": None,
                "tool_calls": [{"id": "c1", "type": "function",
                                "function": {"name": name, "arguments": json.dumps(answer)}}]}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}})

    config = ModelConfig(model="gpt-test", endpoint_kind="openai", base_url="http://127.0.0.1:9/v1")
    client = StructuredClient(config, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    from imr_llm.taxonomy import SUBCATEGORIES

    value = client.complete("item_fields", load_prompt("item_fields"),
                            {"items": [{"request": "Physical therapy x 6", "rationale": "it helps"}], "taxonomy": SUBCATEGORIES},
                            ItemsAnswer)
    assert value.items[0].service == "physical therapy" and isinstance(value, ItemsAnswer)
    tool = sent[0]["tools"][0]["function"]
    assert tool["name"] == "ItemsAnswer" and "items" in tool["parameters"]["properties"]


def test_the_peer_benchmark_counts_each_letters_own_calls_past_the_usage_logs_limit(monkeypatch):
    """benchmarks/compare_with_peer.py reads a letter's calls from the usage log, which keeps only
    its latest records (a deque: no slicing, and old records fall off)."""
    import sys

    from imr_llm.model import usage as usage_module
    from imr_llm.model.usage import UsageRecord

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import compare_with_peer
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    monkeypatch.setattr(usage_module, "KEEP_RECORDS", 3)
    log = UsageLog()
    for _ in range(5):  # an earlier letter's calls, more than the log keeps
        log.add(UsageRecord(task="t", model="m", prompt_tokens=1000, completion_tokens=1000, attempts=1))

    def extract(path):
        log.add(UsageRecord(task="t", model="m", prompt_tokens=7, completion_tokens=2, attempts=1))
        log.add(UsageRecord(task="t", model="m", prompt_tokens=5, completion_tokens=1, attempts=1))

    run, _ = compare_with_peer._run_one("x", ROOT / "README.md", extract, log, None, "f")
    assert (run.prompt_tokens, run.completion_tokens, run.model_calls) == (12, 3, 2)
