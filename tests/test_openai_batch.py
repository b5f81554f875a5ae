"""The OpenAI Batch API path (imr_llm/openai_batch.py), offline: prepare writes one valid Batch API
request per model call (one a letter by default), deduplicated, each the very body a live run sends; collect reads a
Batch API output file and writes what `imr-llm batch` writes against an endpoint giving the same
answers; an ungrounded answer is salvaged (dropped, listed), a missing or failed request is
reported and not cached, and a second prepare asks for just those; afterwards a normal run makes
no model call at all."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import httpx2 as httpx
import pytest

from fake_openai_server import asked_text, fields_items, task_of, valid_answer
from imr_llm.api import Pipeline
from imr_llm.runs.batch import BatchOptions, run_batch
from imr_llm.cli import main
from imr_llm.model import ModelConfig
from imr_llm.runs.openai_batch import BATCH_URL, BatchResults, _failure

LETTERS = Path(__file__).resolve().parent / "fixtures" / "letters"
SEEDS = sorted(LETTERS.glob("00*.txt"))[:3]
MODEL = "gpt-4o-mini"
INVENTED = "the reviewer examined the patient on the moon"


@pytest.fixture(autouse=True)
def _no_key_no_bar(monkeypatch):
    for name in ("IMR_LLM_API_KEY", "OPENAI_API_KEY", "IMR_LLM_MODEL", "IMR_LLM_CACHE_BACKEND", "IMR_LLM_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMR_LLM_NO_PROGRESS", "1")


# -- answers ------------------------------------------------------------------------------------

def completion(body: dict, answer: dict | None, *, refusal: bool = False, prompt_tokens: int = 120) -> dict:
    """A chat completion as the endpoint answers `body`: a tool call (TOOLS) or JSON content."""
    message: dict = {"role": "assistant", "content": None}
    if refusal:
        message["refusal"] = "I can't help with that."
    elif "tools" in body:
        name = body["tool_choice"]["function"]["name"]
        message["tool_calls"] = [{"id": "call_1", "type": "function",
                                  "function": {"name": name, "arguments": json.dumps(answer)}}]
    else:
        message["content"] = json.dumps(answer)
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": f"{MODEL}-2024-07-18",
            "choices": [{"index": 0, "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                         "message": message}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 30, "total_tokens": prompt_tokens + 30}}


def with_invented_point(body: dict) -> dict:
    """A rationale answer with one grounded reason and one whose quote is in no letter."""
    answer = valid_answer(body)
    answer["items"][0]["reasons"].append({"point": "Invented.", "quote": INVENTED})
    return answer


def output_line(custom_id: str, body: dict | None = None, error: dict | None = None) -> dict:
    response = None if body is None else {"status_code": 200, "request_id": "req_1", "body": body}
    return {"id": f"batch_req_{custom_id[:8]}", "custom_id": custom_id, "response": response, "error": error}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Plan:
    """Which answer each request gets: valid, except one ungrounded, one missing, one failed."""

    def __init__(self, requests: list[dict]):
        self.requests = requests
        # one call per letter; the two without an answer are one-item letters' (a live run reads a
        # refused shared call item by item, which a Batch API pass cannot)
        calls = sorted((r for r in requests if task_of(r["body"]) == "item_fields"),
                       key=lambda r: -len(fields_items(asked_text(r["body"]))))
        self.ungrounded, self.missing, self.failed = calls[0]["custom_id"], calls[1]["custom_id"], calls[-1]["custom_id"]
        assert len({self.ungrounded, self.missing, self.failed}) == 3

    def answer(self, request: dict) -> dict:
        body, key = request["body"], request["custom_id"]
        if key in (self.missing, self.failed):
            return completion(body, None, refusal=True)  # what the live endpoint gives for these two
        return completion(body, with_invented_point(body) if key == self.ungrounded else valid_answer(body))

    def output(self) -> list[dict]:
        lines = []
        for request in reversed(self.requests):  # the Batch API's lines come in any order
            key = request["custom_id"]
            if key == self.missing:
                continue
            if key == self.failed:
                lines.append(output_line(key, error={"code": "server_error", "message": "The server had an error."}))
            else:
                lines.append(output_line(key, self.answer(request)))
        return lines

    def request_for(self, body: dict) -> dict:
        """The request line a live request (first try or re-ask) starts from."""
        for request in self.requests:
            sent = request["body"]
            if ({k: v for k, v in body.items() if k != "messages"} == {k: v for k, v in sent.items() if k != "messages"}
                    and body["messages"][: len(sent["messages"])] == sent["messages"]):
                return request
        raise AssertionError("a live request that prepare did not write")


def live_batch(letters: Path, out: Path, cache: Path, config: ModelConfig, plan: Plan, sent: list[dict]) -> None:
    """`imr-llm batch` (the same Pipeline + run_batch) against a fake endpoint answering as `plan`."""
    def endpoint(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        return httpx.Response(200, json=plan.answer(plan.request_for(body)))

    with Pipeline(config, cache_dir=cache, http_client=httpx.Client(transport=httpx.MockTransport(endpoint))) as pipeline:
        asyncio.run(run_batch([str(letters)], pipeline, BatchOptions(out=out)))


def comparable(record: dict) -> dict:
    """A batch line without what differs between a live run and a batch: usage, and the wording of
    the two calls that have no answer (a refusal live; missing / failed in the batch)."""
    record = json.loads(json.dumps(record))
    record["model_step"].pop("usage")
    record["warnings"] = [re.sub(r"model step failed \(.*\)$", "model step failed", w) for w in record["warnings"]]
    return record


# -- the whole path -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["openai", "vllm"])
def test_prepare_collect_is_a_live_batch_through_the_batch_api(tmp_path, capsys, monkeypatch, kind):
    letters = tmp_path / "letters"
    letters.mkdir()
    for seed in SEEDS:
        shutil.copy(seed, letters / seed.name)
    cache, requests = tmp_path / "cache", tmp_path / "batch" / "requests.jsonl"
    model = ["--model", MODEL, "--endpoint-kind", kind, "--cache-dir", str(cache)]
    config = ModelConfig(model=MODEL, endpoint_kind=kind)

    # prepare: the letters, and one of them again (same requests: written once); no key, no network
    assert main(["openai-batch", "prepare", str(letters), str(SEEDS[0]), "--requests", str(requests), *model]) == 0
    lines = read_jsonl(requests)
    assert requests.stat().st_mode & 0o077 == 0
    keys = [r["custom_id"] for r in lines]
    assert len(keys) == len(set(keys)) and all(re.fullmatch(r"[0-9a-f]{64}", k) for k in keys)
    for line in lines:
        assert set(line) == {"custom_id", "method", "url", "body"}
        assert (line["method"], line["url"], line["body"]["model"]) == ("POST", BATCH_URL, MODEL)
        assert ("tools" in line["body"]) == (kind == "openai") and ("response_format" in line["body"]) == (kind == "vllm")
    tasks = sorted(task_of(r["body"]) for r in lines)
    assert tasks == ["item_fields"] * len(SEEDS)  # one call per letter: its items share it
    err = capsys.readouterr().err
    deferred = int(re.search(r"\((\d+) model call\(s\) deferred", err).group(1))
    # the letter given twice (in the folder, and by name) is one letter: its requests deferred once
    assert f"{len(lines)} request(s) written" in err and deferred == len(lines) and f"letters: {len(SEEDS)} " in err
    assert not any(cache.iterdir()) or not _cached_keys(cache, keys)  # nothing cached by prepare

    # the live path sends exactly these bodies (the ungrounded point of a shared call is dropped, not re-asked)
    plan = Plan(lines)
    sent: list[dict] = []
    live_out = tmp_path / "live.jsonl"
    with monkeypatch.context() as env:
        env.setenv("IMR_LLM_API_KEY", "sk-live-only")  # the live run needs a key; prepare and collect do not
        live_batch(letters, live_out, tmp_path / "live_cache", config, plan, sent)
    first_tries = [b for b in sent if any(b == r["body"] for r in lines)]
    assert sorted(map(_canonical, first_tries)) == sorted(_canonical(r["body"]) for r in lines)
    assert len(sent) == len(lines)

    # collect: the Batch API's output file
    results = tmp_path / "batch" / "output.jsonl"
    results.write_text("".join(json.dumps(line) + "\n" for line in plan.output()))
    out, csv = tmp_path / "collected.jsonl", tmp_path / "collected.csv"
    assert main(["openai-batch", "collect", str(letters), "--results", str(results), "--out", str(out),
                 "--csv", str(csv), *model]) == 1  # two requests have no answer
    err = capsys.readouterr().err
    assert f"{len(lines) - 2} answer(s) taken from the batch results; 1 request(s) missing from them, " \
           "1 failed in the batch, 0 with an unusable answer" in err
    assert "run prepare again" in err and csv.read_text().count("\n") > len(SEEDS)

    collected = {r["source"]: r for r in read_jsonl(out)}
    live = {r["source"]: r for r in read_jsonl(live_out)}
    assert collected.keys() == live.keys() and len(collected) == len(SEEDS)
    assert {s: comparable(r) for s, r in collected.items()} == {s: comparable(r) for s, r in live.items()}

    records = list(collected.values())
    warnings = [w for r in records for w in r["warnings"]]
    assert sum(f"no answer in the batch results for request {plan.missing[:16]}" in w for w in warnings) == 1
    assert sum(f"request {plan.failed[:16]} failed in the batch (server_error)" in w for w in warnings) == 1
    assert not any("The server had an error" in w for w in warnings)
    salvaged = [r for r in records if any("reasons: ungrounded quote" in d for d in r["model_step"]["dropped"])]
    assert len(salvaged) == 1 and salvaged[0]["model_step"]["status"] == "partial"
    assert INVENTED not in json.dumps(records) and "Invented." not in json.dumps(records)
    usage = [r["model_step"]["usage"] for r in records]
    assert sum(u["calls"] for u in usage) == len(lines) - 2 and sum(u["retries"] for u in usage) == 0
    assert sum(u["prompt_tokens"] for u in usage) == 120 * (len(lines) - 2)

    # a second round: prepare asks for just the two without an answer; collect answers them
    again = tmp_path / "batch" / "requests-2.jsonl"
    assert main(["openai-batch", "prepare", str(letters), "--requests", str(again), *model]) == 0
    assert sorted(r["custom_id"] for r in read_jsonl(again)) == sorted([plan.missing, plan.failed])
    assert f"{len(lines) - 2} already answered in the cache" in capsys.readouterr().err
    results2 = tmp_path / "batch" / "output-2.jsonl"
    results2.write_text("".join(json.dumps(output_line(r["custom_id"], completion(r["body"], valid_answer(r["body"]))))
                                + "\n" for r in read_jsonl(again)))
    assert main(["openai-batch", "collect", str(letters), "--results", str(results2), "--out",
                 str(tmp_path / "collected-2.jsonl"), *model]) == 0
    assert "2 answer(s) taken from the batch results; 0 request(s) missing" in capsys.readouterr().err

    # now a normal run is all cache hits: not one HTTP request
    def no_calls(request):
        raise AssertionError("a model call after the batch")

    with Pipeline(config, cache_dir=cache, http_client=httpx.Client(transport=httpx.MockTransport(no_calls))) as pipeline:
        asyncio.run(run_batch([str(letters)], pipeline, BatchOptions(out=tmp_path / "rerun.jsonl")))
    rerun = read_jsonl(tmp_path / "rerun.jsonl")
    assert sum(r["model_step"]["usage"]["calls"] for r in rerun) == 0
    assert sum(r["model_step"]["usage"]["cache_hits"] for r in rerun) == len(lines)
    # ... and the salvaged answer is dropped the same way from the cache
    assert sum(any("reasons: ungrounded quote" in d for d in r["model_step"]["dropped"]) for r in rerun) == 1

    # with everything cached, prepare has nothing to submit
    assert main(["openai-batch", "prepare", str(letters), "--requests", str(again), *model]) == 0
    assert read_jsonl(again) == [] and "nothing to submit" in capsys.readouterr().err


def _canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True)


def _cached_keys(cache: Path, keys: list[str]) -> list[str]:
    from imr_llm.cache import ResponseCache

    store = ResponseCache(cache)
    try:
        return [k for k in keys if store.get(k) is not None]
    finally:
        store.close()


def test_collect_with_another_model_finds_nothing_and_says_why(tmp_path, capsys):
    requests = tmp_path / "requests.jsonl"
    assert main(["openai-batch", "prepare", str(SEEDS[0]), "--requests", str(requests), "--model", MODEL,
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    lines = read_jsonl(requests)
    results = tmp_path / "output.jsonl"
    results.write_text("".join(json.dumps(output_line(r["custom_id"], completion(r["body"], valid_answer(r["body"]))))
                               + "\n" for r in lines))
    assert main(["openai-batch", "collect", str(SEEDS[0]), "--results", str(results), "--out", str(tmp_path / "o.jsonl"),
                 "--model", "gpt-4.1-mini", "--cache-dir", str(tmp_path / "cache")]) == 1
    assert "are --model and --endpoint-kind the ones prepare was run with?" in capsys.readouterr().err


def test_an_unusable_batch_answer_is_a_failed_call_and_not_cached(tmp_path, capsys):
    cache = tmp_path / "cache"
    requests = tmp_path / "requests.jsonl"
    model = ["--model", MODEL, "--cache-dir", str(cache)]
    assert main(["openai-batch", "prepare", str(SEEDS[0]), "--requests", str(requests), *model]) == 0
    lines = read_jsonl(requests)
    results = tmp_path / "output.jsonl"
    results.write_text("".join(json.dumps(output_line(r["custom_id"], completion(r["body"], None, refusal=True)))
                               + "\n" for r in lines))
    assert main(["openai-batch", "collect", str(SEEDS[0]), "--results", str(results), "--out",
                 str(tmp_path / "o.jsonl"), *model]) == 1
    assert f"0 answer(s) taken from the batch results; 0 request(s) missing from them, 0 failed in the batch, " \
           f"{len(lines)} with an unusable answer" in capsys.readouterr().err
    record = read_jsonl(tmp_path / "o.jsonl")[0]
    assert record["status"] == "ok" and record["model_step"]["status"] == "failed"
    assert all("refused to answer" in w for w in record["warnings"] if "model step failed" in w)
    assert _cached_keys(cache, [r["custom_id"] for r in lines]) == []


# -- the results file --------------------------------------------------------------------------------

def test_results_index_prefers_an_answer_and_reports_only_codes(tmp_path):
    ok = output_line("a", {"choices": []})
    failed = output_line("a", error={"code": "batch_expired", "message": "letter text must never show"})
    bad_request = {"custom_id": "b", "response": {"status_code": 400, "body": {
        "error": {"type": "invalid_request_error", "code": "context_length_exceeded", "message": "quoted text"}}},
        "error": None}
    first, second = tmp_path / "errors.jsonl", tmp_path / "output.jsonl"
    first.write_text(json.dumps(failed) + "\n" + json.dumps(bad_request) + "\nnot json\n\n")
    second.write_text(json.dumps(ok) + "\n" + json.dumps(failed) + "\n")
    results = BatchResults([first, second])
    assert len(results) == 2 and results.lines == 4 and results.bad_lines == 1
    assert results.get("a") == ok  # an answer wins over a failure, in either order
    assert results.get("missing") is None and "missing" not in results
    assert _failure(results.get("b")) == "HTTP 400, context_length_exceeded"
    assert _failure(failed) == "batch_expired"
