"""Faults over real HTTP: the pipeline users run (`Pipeline(...).extract`, `imr-llm extract`)
against a fake OpenAI-compatible server on a loopback socket (tests/fake_openai_server.py) that
misbehaves on cue: rate limits with and without Retry-After, 5xx, a hang past the read timeout,
a connection reset or a body cut short, cut-off or off-schema JSON, no choices, a refusal, quotes
that are not in the letter.

For each fault: how many requests the server saw, the waits asked for (the sleep is recorded,
not slept), success after a transient fault or one clean one-line error in the letter's warnings
with `model_step.status` saying so, the tokens of every attempt in the run's usage, and a cache
that holds only answers (never a failed call). No test reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import warnings
from email.utils import formatdate
from pathlib import Path

import diskcache
import httpx2 as httpx  # openai 3.x runs on httpx2
import pytest
from fake_openai_server import COMPLETION_TOKENS, PROMPT_TOKENS, asked_text, fake_openai  # noqa: F401

from imr_llm.api import Pipeline, extract
from imr_llm.enrich.answers import ItemsAnswer
from imr_llm.errors import ConfigError, EndpointError, ModelError
from imr_llm.model import ModelConfig

LETTERS = Path(__file__).resolve().parent / "fixtures" / "letters"
ONE = LETTERS / "000_e4938e93dd873a45.txt"  # a seed letter with one item (upheld)
OTHER = LETTERS / "003_bd44697b6f0a7cef.txt"  # another one-item seed letter (overturned)
SECRET = "sk-fake-secret-4f9c2e7a1b"


@pytest.fixture(autouse=True)
def _fake_key(monkeypatch):
    monkeypatch.setenv("IMR_LLM_API_KEY", SECRET)
    for name in ("IMR_LLM_MODEL", "IMR_LLM_ENDPOINT_KIND", "IMR_LLM_BASE_URL", "IMR_LLM_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def logs():
    """Log records as a user would see them by default: a handler on the root logger, whose level
    (WARNING) is left alone."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.NOTSET)
    root = logging.getLogger()
    root.addHandler(handler)
    yield records
    root.removeHandler(handler)


class Run:
    def __init__(self, det, pipeline: Pipeline, waits: list[float], cache_dir: Path) -> None:
        self.det, self.waits = det, waits
        self.summary = pipeline.usage.summary()
        self.records = list(pipeline.usage.records)
        self.cache_dir = cache_dir

    def record(self, task: str):
        return next(r for r in self.records if r.task == task)

    def cached(self) -> list[dict]:
        with diskcache.Cache(str(self.cache_dir)) as cache:
            return [cache[key] for key in cache.iterkeys()]


@pytest.fixture(scope="module")
def http():
    """One plain HTTP client for the module's pipelines: a real socket and the openai client's own
    per-request timeouts, without building a TLS trust store (0.2 s) for every test. The CLI test
    below runs the default client the openai library builds."""
    with httpx.Client() as client:
        yield client


def run(server, tmp_path, http, letter=ONE, cache="cache", **config) -> Run:
    """One letter through the real pipeline against the fake server; transport-retry waits are
    recorded instead of slept (defaults otherwise: backoff 1 s doubling, Retry-After cap 60 s)."""
    settings = {"timeout_s": 5.0, "max_transport_retries": 2, "max_validation_retries": 1, **config}
    model = ModelConfig(model="fake", endpoint_kind="llamacpp", base_url=server.url, **settings)
    waits: list[float] = []
    with Pipeline(model, cache_dir=tmp_path / cache, http_client=http) as pipeline:
        pipeline.enricher.client.sleep = waits.append
        det = pipeline.extract(letter)
        return Run(det, pipeline, waits, tmp_path / cache)


@functools.lru_cache(maxsize=None)
def offline(letter: Path):
    """The letter parsed without a model (what every fault must leave intact)."""
    return extract(letter)


def one_line(text: str) -> bool:
    return "\n" not in text and "\r" not in text


def verbatim(det) -> list[tuple]:
    return [(i.index, i.request, i.disputed_portion, i.decision, i.evidence["request"].start) for i in det.items]


# -- transient faults: retried, then the answer ------------------------------------------------------

HANG = ("hang", 30.0)  # released when the server stops at the end of the test
HANG_TIMEOUT = 0.5  # the read timeout for the hang cases (every other request answers in milliseconds)
TRANSIENT = {
    "429 Retry-After 2": (("status", 429, {"Retry-After": "2"}), [2.0]),
    "429 no Retry-After": (("status", 429, {}), [1.0]),
    "500": (("status", 500, {}), [1.0]),
    "502": (("status", 502, {}), [1.0]),
    "503": (("status", 503, {}), [1.0]),
    "503 Retry-After 3": (("status", 503, {"Retry-After": "3"}), [3.0]),
    "hang past the read timeout": (HANG, [1.0]),
    "reset mid-body": (("reset_mid_body",), [1.0]),
    "body cut short": (("truncated_body",), [1.0]),
}


@pytest.mark.parametrize("fault, waits", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_a_transient_fault_is_retried_and_the_letter_completes(fake_openai, tmp_path, http, fault, waits):
    fake_openai.queue(fault)
    r = run(fake_openai, tmp_path, http, timeout_s=HANG_TIMEOUT if fault == HANG else 5.0)
    assert fake_openai.count("item_fields") == 2 == fake_openai.count()  # one call a letter: the fault, its retry
    assert r.waits == waits  # Retry-After honoured: max(backoff 1 s, Retry-After)
    assert r.det.model_step.status == "complete" and r.det.warnings == []
    assert r.det.items[0].service == "physical" and r.det.items[0].reasons == ["A reason."]
    # the failed attempt brought no tokens; the retry is counted
    assert r.record("item_fields").attempts == 1 and r.record("item_fields").retries == 1
    assert r.summary["model_calls"] == 1 and r.summary["retries"] == 1
    assert r.summary["prompt_tokens"] == fake_openai.prompt_tokens_served == PROMPT_TOKENS
    assert r.summary["completion_tokens"] == fake_openai.completion_tokens_served == COMPLETION_TOKENS
    assert r.det.model_step.usage.retries == 1 and r.det.model_step.usage.http_attempts == 1  # responses received
    assert len(r.cached()) == 1 and not any(v["salvaged"] for v in r.cached())


# -- Retry-After: seconds, HTTP-date, retry-after-ms, capped, ignored where it does not apply --------

def _in(seconds: float) -> str:
    return formatdate(time.time() + seconds, usegmt=True)


WAITS = {
    "seconds": ((429, {"Retry-After": "2"}), {}, lambda w: w == [2.0]),
    "HTTP-date": ((503, {"Retry-After": None}), {}, lambda w: len(w) == 1 and 5.0 <= w[0] <= 10.0),
    "retry-after-ms": ((429, {"retry-after-ms": "2500"}), {}, lambda w: w == [2.5]),
    "capped": ((429, {"Retry-After": "3600"}), {"max_retry_after_s": 5.0}, lambda w: w == [5.0]),
    "shorter than the backoff": ((429, {"Retry-After": "0"}), {}, lambda w: w == [1.0]),
    "unparseable": ((429, {"Retry-After": "soon"}), {}, lambda w: w == [1.0]),
    "not on a 500": ((500, {"Retry-After": "7"}), {}, lambda w: w == [1.0]),
}


@pytest.mark.parametrize("status_headers, config, check", WAITS.values(), ids=WAITS.keys())
def test_retry_after_sets_the_wait(fake_openai, tmp_path, http, status_headers, config, check):
    status, headers = status_headers
    headers = {k: (v if v is not None else _in(10)) for k, v in headers.items()}
    fake_openai.queue(("status", status, headers))
    r = run(fake_openai, tmp_path, http, **config)
    assert check(r.waits), r.waits
    assert r.det.model_step.status == "complete" and fake_openai.count("item_fields") == 2


def test_the_wait_is_the_longer_of_backoff_and_retry_after(fake_openai, tmp_path, http):
    fake_openai.queue(*[("status", 429, {"Retry-After": "2"})] * 3)
    r = run(fake_openai, tmp_path, http, max_transport_retries=3)
    assert r.waits == [2.0, 2.0, 4.0]  # backoff 1, 2, 4 against Retry-After 2
    assert r.det.model_step.status == "complete" and fake_openai.count("item_fields") == 4
    assert r.summary["retries"] == 3 and r.summary["prompt_tokens"] == PROMPT_TOKENS


# -- persistent transport faults: one clean error, the parse stands, nothing cached -------------------

PERSISTENT = {
    "500": (("status", 500, {}), "the model endpoint failed (HTTP 500)"),
    "502": (("status", 502, {}), "the model endpoint failed (HTTP 502)"),
    "503": (("status", 503, {}), "the model endpoint failed (HTTP 503)"),
    "429": (("status", 429, {}), "the model endpoint kept rate-limiting (HTTP 429)"),
    "hang": (HANG, "the model endpoint timed out (no answer within 0.5 s)"),
    "reset mid-body": (("reset_mid_body",), "the connection to the model endpoint failed"),
    "body cut short": (("truncated_body",), "the connection to the model endpoint failed"),
}


@pytest.mark.parametrize("fault, message", PERSISTENT.values(), ids=PERSISTENT.keys())
def test_a_persistent_transport_fault_fails_the_model_step_cleanly(fake_openai, tmp_path, http, fault, message):
    fake_openai.responder = lambda body: fault
    r = run(fake_openai, tmp_path, http, timeout_s=HANG_TIMEOUT if fault == HANG else 5.0)
    # 1 + max_transport_retries attempts of the letter's one call
    assert fake_openai.count("item_fields") == 3 == fake_openai.count()
    assert r.waits == [1.0, 2.0]
    assert r.det.model_step.status == "failed"
    [first] = r.det.warnings
    assert first.startswith(f"items[0]: model step failed (item_fields: {message}")
    assert f"after 3 tries (127.0.0.1:{fake_openai.port})" in first and one_line(first)
    assert verbatim(r.det) == verbatim(offline(ONE))  # the parse is intact
    assert r.record("item_fields").attempts == 0 and r.record("item_fields").retries == 2
    assert r.summary["model_calls"] == 0 and r.summary["retries"] == 2
    assert r.summary["prompt_tokens"] == 0 and r.summary["completion_tokens"] == 0
    assert r.cached() == []


TWO_ITEMS = LETTERS / "002_e066e2eff228d9d9.txt"  # a seed letter with two items: they share one call


def test_a_shared_call_that_times_out_is_asked_item_by_item(fake_openai, tmp_path, http):
    """A slow server times out on the longest answer (a letter's items in one call); it is up, so
    each item is asked alone, and every item gets its fields."""
    fake_openai.responder = lambda body: HANG if "Request 2: " in asked_text(body) else ("ok",)
    r = run(fake_openai, tmp_path, http, letter=TWO_ITEMS, timeout_s=HANG_TIMEOUT, max_transport_retries=0)
    assert fake_openai.count("item_fields") == 1 + 2
    assert r.det.model_step.status == "complete" and all(item.service for item in r.det.items)
    shared, again = r.det.warnings
    assert shared.startswith("items[0], items[1]: model step failed (item_fields: the model endpoint timed out")
    assert again == "items[0], items[1]: asked again one item at a time"


def test_a_shared_call_to_a_failing_server_is_not_asked_again_per_item(fake_openai, tmp_path, http):
    fake_openai.responder = lambda body: ("status", 500, {})
    r = run(fake_openai, tmp_path, http, letter=TWO_ITEMS)
    assert fake_openai.count("item_fields") == 3  # the shared call and its 2 retries; the server is down
    assert r.det.model_step.status == "failed" and len(r.det.warnings) == 1
    assert verbatim(r.det) == verbatim(offline(TWO_ITEMS))


def test_tokens_an_error_response_reports_are_counted(fake_openai, tmp_path, http):
    billed = {"error": {"message": "overloaded", "type": "server_error"},
              "usage": {"prompt_tokens": 30, "completion_tokens": 0, "total_tokens": 30}}
    fake_openai.queue(("status", 500, {}, billed))
    r = run(fake_openai, tmp_path, http)
    assert r.det.model_step.status == "complete"
    assert r.summary["prompt_tokens"] == fake_openai.prompt_tokens_served == 30 + PROMPT_TOKENS


def test_an_unauthorised_key_is_not_retried(fake_openai, tmp_path, http):
    fake_openai.responder = lambda body: ("status", 401, {}, {"error": {"message": f"bad key {SECRET}"}})
    r = run(fake_openai, tmp_path, http)
    assert fake_openai.count() == 1 and r.waits == []
    assert r.det.model_step.status == "failed" and SECRET not in json.dumps(r.det.warnings)
    assert f"item_fields: the endpoint rejected the API key (127.0.0.1:{fake_openai.port})" in r.det.warnings[0]


# -- bad output: re-asked, salvaged, or one clean ModelError ------------------------------------------

# script, item_fields requests, status, warning (None: no warning), responses whose tokens are
# counted, cache entries (salvaged ones). A one-item letter: one call, re-asked once on bad output.
OUTPUT = {
    "cut JSON, then good": ([("truncated_json",)], 2, "complete", None, 2, (1, 0)),
    "off-schema, then good": ([("invalid_schema",)], 2, "complete", None, 2, (1, 0)),
    "ungrounded, then good": ([("ungrounded",)], 2, "complete", None, 2, (1, 0)),
    "cut JSON twice": ([("truncated_json",)] * 2, 2, "failed",
                       "item_fields: the model's output failed validation (not JSON) after 2 tries (", 2, (0, 0)),
    "off-schema twice": ([("invalid_schema",)] * 2, 2, "failed",
                         "item_fields: the model's output failed validation (items.0.service: string_type) after 2 tries (",
                         2, (0, 0)),
    "ungrounded twice": ([("ungrounded",)] * 2, 2, "partial", None, 2, (1, 1)),
    "no choices": ([("empty_choices",)], 1, "failed", "item_fields: the model returned no choices (", 1, (0, 0)),
    "refusal": ([("refusal",)], 1, "failed", "item_fields: the model refused to answer (", 1, (0, 0)),
}


@pytest.mark.parametrize("script, requests, status, warning, responses, cached", OUTPUT.values(), ids=OUTPUT.keys())
def test_bad_output(fake_openai, tmp_path, http, script, requests, status, warning, responses, cached):
    fake_openai.queue(*script)
    r = run(fake_openai, tmp_path, http)
    assert fake_openai.count("item_fields") == requests == fake_openai.count()
    assert r.waits == []  # bad output is re-asked at once, never waited for
    assert r.det.model_step.status == status
    if warning is None:
        assert r.det.warnings == []
    else:
        assert len(r.det.warnings) == 1 and warning in r.det.warnings[0]
        assert r.det.warnings[0].endswith(f"127.0.0.1:{fake_openai.port}))") and one_line(r.det.warnings[0])
    # every response's tokens are counted, the failed ones included
    assert r.summary["model_calls"] == responses == fake_openai.count()
    assert r.summary["prompt_tokens"] == fake_openai.prompt_tokens_served == responses * PROMPT_TOKENS
    assert r.summary["completion_tokens"] == responses * COMPLETION_TOKENS
    values = r.cached()
    assert (len(values), sum(v["salvaged"] for v in values)) == cached
    assert verbatim(r.det) == verbatim(offline(ONE))


def test_a_reask_carries_the_reason_and_an_answer_that_stays_ungrounded_is_dropped(fake_openai, tmp_path, http):
    fake_openai.queue(("ungrounded",), ("ungrounded",), ("ungrounded",), ("ungrounded",))
    r = run(fake_openai, tmp_path, http)
    reask = fake_openai.requests[1].body["messages"][-1]["content"]
    assert reask.startswith("Correct your JSON") and "is not in the request" in reask
    assert r.det.model_step.status == "partial" and r.det.warnings == []
    assert "items[0].service" in r.det.model_step.dropped
    assert "items[0].reasons: ungrounded quote" in r.det.model_step.dropped
    assert r.det.items[0].reasons == []
    # the model's service is dropped; the vocabulary's word for the treatment, the heading's own, stands
    assert r.det.items[0].service == "physical therapy" and r.det.items[0].evidence["service"].origin == "rules"
    assert r.det.items[0].evidence["service"].quote.lower() == "physical therapy"
    assert all(v["salvaged"] for v in r.cached()) and len(r.cached()) == 1  # stored with the flag, by design


# -- the cache: only answers are stored, so a rerun asks again exactly what failed -------------------

@pytest.mark.parametrize("first_run", [[("status", 500, {})] * 3, [("invalid_schema",)] * 2, [("refusal",)]],
                         ids=["endpoint down", "failed validation", "refusal"])
def test_a_failed_call_is_never_cached(fake_openai, tmp_path, http, first_run):
    fake_openai.queue(*first_run)
    first = run(fake_openai, tmp_path, http)
    assert first.det.model_step.status == "failed" and first.cached() == []
    before = fake_openai.count()
    second = run(fake_openai, tmp_path, http)  # same cache, a healthy server: the call is asked again
    assert fake_openai.count() - before == 1
    assert second.det.model_step.status == "complete" and second.det.warnings == []
    assert second.summary["cache_hits"] == 0 and len(second.cached()) == 1
    third = run(fake_openai, tmp_path, http)  # and now answered from the cache
    assert fake_openai.count() - before == 1 and third.summary["cache_hits"] == 1


# -- errors: one line, task and host, never the letter or the key --------------------------------------

def _flat(text: str) -> str:
    return " ".join(text.split())


def _rationale_phrase() -> str:
    words = offline(ONE).items[0].evidence["rationale"].quote.split()
    return " ".join(words[10:17])


@pytest.mark.parametrize("fault", [("status", 500, {}), ("invalid_schema",), ("refusal",), ("reset_mid_body",)],
                         ids=["500", "off-schema", "refusal", "reset"])
def test_errors_never_carry_letter_text_or_the_key(fake_openai, tmp_path, http, logs, capsys, fault):
    phrase = _rationale_phrase()
    fake_openai.responder = lambda body: fault
    model = ModelConfig(model="fake", endpoint_kind="llamacpp", base_url=fake_openai.url, max_transport_retries=1,
                        max_validation_retries=1, timeout_s=5.0)
    with Pipeline(model, cache_dir=tmp_path / "cache", http_client=http) as pipeline, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = pipeline.enricher.client
        client.sleep = lambda seconds: None
        source_text = offline(ONE).items[0].evidence["rationale"].quote
        with pytest.raises(ModelError) as info:  # the client's own error, as a library user gets it
            client.run("item_fields", pipeline.enricher.prompt,
                       {"items": [{"request": "the request", "rationale": source_text}], "taxonomy": {}}, ItemsAnswer)
        det = pipeline.extract(ONE)
    error = str(info.value)
    assert isinstance(info.value, EndpointError) == (fault[0] in ("status", "reset_mid_body"))
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained traceback with bodies
    assert error.startswith("item_fields: ") and f"(127.0.0.1:{fake_openai.port})" in error and one_line(error)
    # what the server got: the key and the letter's words (so their absence below means something)
    assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in fake_openai.requests)
    assert any(phrase in _flat(r.text) for r in fake_openai.requests)
    out, err = capsys.readouterr()
    said = [error, *det.warnings, out, err, *(r.getMessage() for r in logs),
            *(str(r.exc_info) for r in logs if r.exc_info), *(str(w.message) for w in caught)]
    for text in said:
        assert phrase not in _flat(text) and SECRET not in text and "Bearer" not in text
    assert all(one_line(w) for w in det.warnings)
    assert SECRET not in det.model_dump_json()


# -- a batch through the CLI: one letter's endpoint fails, the other's answers -------------------------

def _cli_env(monkeypatch):
    # the CLI builds its ModelConfig from the environment: few, short retries
    monkeypatch.setenv("IMR_LLM_MAX_TRANSPORT_RETRIES", "1")
    monkeypatch.setenv("IMR_LLM_RETRY_WAIT_MIN_S", "0.01")
    monkeypatch.setenv("IMR_LLM_RETRY_WAIT_MAX_S", "0.01")


def _cli_batch(fake_openai, tmp_path, monkeypatch, capsys):
    from imr_llm.cli import main

    _cli_env(monkeypatch)
    marker = offline(ONE).items[0].request  # letter 1's heading: its requests fail hard
    fake_openai.responder = lambda body: ("status", 500, {}) if marker in asked_text(body) else ("ok",)
    code = main(["extract", "--json", "--model", "fake", "--endpoint-kind", "llamacpp", "--base-url", fake_openai.url,
                 "--cache-dir", str(tmp_path / "cache"), str(ONE), str(OTHER)])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return code, lines, err


def test_a_batch_goes_on_when_one_letters_model_step_fails(fake_openai, tmp_path, monkeypatch, capsys):
    code, lines, err = _cli_batch(fake_openai, tmp_path, monkeypatch, capsys)
    assert [Path(line["source"]).name for line in lines] == [ONE.name, OTHER.name]
    first, second = lines
    # letter 1: the model step failed, its verbatim parse is intact, the reason is in its warnings
    assert first["model_step"]["status"] == "failed"
    parsed = [(i.request, i.decision) for i in offline(ONE).items]
    assert [(i["request"], i["decision"]) for i in first["items"]] == parsed
    assert any("item_fields: the model endpoint failed (HTTP 500) after 2 tries" in w for w in first["warnings"])
    # letter 2: answered
    assert second["model_step"]["status"] == "complete" and second["warnings"] == []
    assert second["items"][0]["reasons"] == ["A reason."]
    assert fake_openai.count("item_fields") == 2 + 1 == fake_openai.count()
    # a failed model step is not a failed letter (README: the parse still comes out): exit 0
    assert code == 0
    assert SECRET not in err and SECRET not in json.dumps(lines)
    with diskcache.Cache(str(tmp_path / "cache")) as cache:
        assert len(cache) == 1  # letter 2's answer only


def test_stderr_names_the_letter_whose_model_step_failed(fake_openai, tmp_path, monkeypatch, capsys):
    code, lines, err = _cli_batch(fake_openai, tmp_path, monkeypatch, capsys)
    assert ONE.name in err and OTHER.name not in err
    assert f"{ONE}: model step failed" in err


# -- configuration ------------------------------------------------------------------------------------------

def test_retry_settings_come_from_the_environment_too(monkeypatch):
    _cli_env(monkeypatch)
    monkeypatch.setenv("IMR_LLM_TIMEOUT_S", "2.5")
    monkeypatch.setenv("IMR_LLM_MAX_RETRY_AFTER_S", "10")
    config = ModelConfig.from_env(model="m", endpoint_kind="llamacpp")
    assert (config.timeout_s, config.max_transport_retries, config.retry_wait_min_s, config.retry_wait_max_s,
            config.max_retry_after_s) == (2.5, 1, 0.01, 0.01, 10.0)
    defaults = ModelConfig(model="m")
    assert (defaults.max_transport_retries, defaults.retry_wait_min_s, defaults.retry_wait_max_s,
            defaults.max_retry_after_s) == (4, 1.0, 30.0, 60.0)
    monkeypatch.setenv("IMR_LLM_MAX_TRANSPORT_RETRIES", "lots")
    with pytest.raises(ConfigError, match="IMR_LLM_MAX_TRANSPORT_RETRIES"):
        ModelConfig.from_env(model="m")
    monkeypatch.setenv("IMR_LLM_MAX_TRANSPORT_RETRIES", "-1")
    with pytest.raises(ConfigError, match="IMR_LLM_MAX_TRANSPORT_RETRIES"):
        ModelConfig.from_env(model="m")
