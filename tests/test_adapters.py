"""The library workarounds (imr_llm/model/adapters.py): each still finds what it works around in the
installed instructor, openai and httpx (these fail when a library changes under one); the fast path's
requests are byte-identical to what openai's `create` sends, anything unusual still goes through
`create`, response models are wrapped once, and a model with async validators is still refused."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from importlib.metadata import version

import httpx2 as httpx
import openai
import pytest
from pydantic import BaseModel

from imr_llm.enrich.answers import ItemsAnswer, RequestAnswer
from imr_llm.model import adapters as structured
from imr_llm.model.adapters import CHECKED_AGAINST
from imr_llm.model.config import PROFILES
from conftest import ROOT
from fake_openai_server import fake_openai  # noqa: F401  (fixture)

COMPLETION = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": "{\"a\": 1}"}}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}

MESSAGES = [{"role": "system", "content": "Read the request.\n"},
            {"role": "user", "content": "Ibuprofen 800 mg #60 — \"quoted\" ünïcode\n"}]
REASK = MESSAGES + [
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "RequestAnswer", "arguments": "{\"x\": 1}"}}]},
    {"role": "tool", "tool_call_id": "t1", "content": "Validation Error found: service not in the request"},
]
PAYLOADS = {
    "json mode": dict(model="m", messages=MESSAGES, max_tokens=300, temperature=0.0,
                      response_format={"type": "json_object"}),
    "grammar in extra_body": dict(model="m", messages=MESSAGES, max_tokens=300, temperature=0.0,
                                  extra_body={"json_schema": RequestAnswer.grammar_schema()}),
    "tools and a re-ask": dict(model="m", messages=REASK, temperature=0.0, max_tokens=10, tool_choice={
        "type": "function", "function": {"name": "RequestAnswer"}}, tools=[{"type": "function", "function": {
            "name": "RequestAnswer", "parameters": RequestAnswer.grammar_schema()}}]),
    "openai json_schema": dict(model="m", messages=MESSAGES, response_format={"type": "json_schema", "json_schema": {
        "name": "ItemsAnswer", "schema": ItemsAnswer.grammar_schema(), "strict": True}}, seed=7, top_p=1),
}


def _client(seen: list) -> openai.AsyncOpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=COMPLETION)

    return openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk-test", max_retries=0,
                              http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def _send(kwargs: dict, lean: bool) -> httpx.Request:
    seen: list = []

    async def go():
        client = _client(seen)
        try:
            if lean:
                return await structured.chat_completion(client, **json.loads(json.dumps(kwargs)))
            return await client.chat.completions.create(**json.loads(json.dumps(kwargs)))
        finally:
            await client.close()

    completion = asyncio.run(go())
    assert completion.choices[0].message.content == "{\"a\": 1}"
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_the_fast_path_sends_the_same_bytes_as_create(name):
    lean, create = _send(PAYLOADS[name], True), _send(PAYLOADS[name], False)
    assert lean.method == create.method == "POST"
    assert str(lean.url) == str(create.url)
    skip = {"x-stainless-retry-count", "x-stainless-read-timeout"}  # same values, asserted below when present
    assert {k: v for k, v in lean.headers.items() if k not in skip} == \
        {k: v for k, v in create.headers.items() if k not in skip}
    assert lean.headers["authorization"] == "Bearer sk-test"
    assert lean.content == create.content  # byte for byte: cassettes match on the body


def test_params_that_are_not_plain_json_go_through_create(monkeypatch):
    class Content(BaseModel):  # openai's transform turns a model into a dict; the fast path does not try
        role: str = "user"
        content: str = "hello"

    calls = []
    real = openai.resources.chat.completions.AsyncCompletions.create

    async def spy(self, **kwargs):
        calls.append(kwargs)
        return await real(self, **kwargs)

    monkeypatch.setattr(openai.resources.chat.completions.AsyncCompletions, "create", spy)
    seen: list = []

    async def go(messages):
        client = _client(seen)
        try:
            await structured.chat_completion(client, model="m", messages=messages)
        finally:
            await client.close()

    asyncio.run(go([{"role": "user", "content": "hello"}]))
    assert calls == []  # plain: the fast path
    asyncio.run(go([{"role": "user", "content": ("a", "tuple")}]))
    assert len(calls) == 1  # a tuple is not what json writes as it is: openai's create

    async def with_timeout():
        client = _client(seen)
        try:
            await structured.chat_completion(client, model="m", messages=[{"role": "user", "content": "x"}], timeout=5.0)
        finally:
            await client.close()

    asyncio.run(with_timeout())
    assert len(calls) == 2 and b"timeout" not in seen[-1].content  # a request option, not a body field
    assert not structured.plain({1: "int key"}) and not structured.plain(Content())
    assert structured.plain({"a": [1, 2.5, True, None, {"b": "c"}]})


def test_a_response_model_is_wrapped_once_and_answers_are_still_ours():
    import instructor

    wrapped = structured.prepared(RequestAnswer)
    assert structured.prepared(RequestAnswer) is wrapped
    assert structured.prepared(wrapped) is wrapped
    assert issubclass(wrapped, RequestAnswer)
    assert wrapped.model_json_schema() == RequestAnswer.model_json_schema()  # the compact schema it prints
    assert instructor.response_schema(RequestAnswer) is not wrapped  # what instructor does per call otherwise


def test_the_printed_schema_stays_compact_when_asked_with_pydantics_options():
    schema = RequestAnswer.model_json_schema(mode="validation")
    assert schema == RequestAnswer.model_json_schema()
    assert '"title"' not in json.dumps(schema) and '"enum"' not in json.dumps(schema)  # the grammar keeps both
    assert '"enum"' in json.dumps(RequestAnswer.grammar_schema())


def test_a_model_with_async_validators_is_refused_every_time():
    from instructor.v2.core import patch
    from instructor.v2.validation import async_validators
    from instructor.v2.validation.async_validators import async_field_validator

    structured.install()
    structured.install()  # idempotent: one wrapper
    check = async_validators.reject_async_validators
    assert check.__wrapped_by_imr_llm__ and patch.reject_async_validators is check
    assert not getattr(check.__wrapped__, "__wrapped_by_imr_llm__", False)

    class Checked(BaseModel):
        name: str

        @async_field_validator("name")
        async def _name(self, value):  # pragma: no cover - never run
            return value

    for _ in range(2):
        with pytest.raises(ValueError, match="async validators are not supported"):
            check(Checked)
    assert Checked not in structured.PASSED
    check(RequestAnswer)
    assert RequestAnswer in structured.PASSED
    check(None)  # neither weak-referenceable nor a model: checked by instructor's own function
    check(list[RequestAnswer])


def test_every_profile_builds_an_instructor_client():
    seen: list = []
    for profile in PROFILES.values():
        client = structured.instructor_client(_client(seen), profile.mode)
        assert client.mode.name == profile.mode


def test_many_calls_leave_no_class_or_schema_behind(fake_openai, tmp_path):  # noqa: F811
    """instructor made a response-model subclass per call, and the compact-schema cache (keyed by
    class) kept every one: a leak of a class and two schemas per model call."""
    from imr_llm.api import Pipeline
    from imr_llm.enrich import answers
    from imr_llm.model import ModelConfig

    letters = sorted((ROOT / "tests" / "fixtures" / "letters").glob("0*.txt"))
    model = ModelConfig(model="fake", endpoint_kind="llamacpp", base_url=fake_openai.url)
    sizes = []
    with Pipeline(model, use_cache=False) as pipeline:
        for letter in letters * 2:
            pipeline.extract(letter)
            sizes.append((answers._schemas.cache_info().currsize, structured.prepared.cache_info().currsize))
    assert len(fake_openai.requests) >= 2 * len(letters)  # one call a letter, twice
    assert sizes[-1] == sizes[len(letters) - 1]  # the second pass over the letters added nothing


@pytest.mark.parametrize("library", sorted(CHECKED_AGAINST))
def test_the_libraries_are_the_versions_the_workarounds_were_checked_against(library):
    """A new version: recheck each workaround below against it, then update CHECKED_AGAINST."""
    assert version(library) == CHECKED_AGAINST[library]


def test_what_the_workarounds_touch_is_still_there():
    from instructor.v2.core import patch
    from instructor.v2.core.errors import InstructorRetryException
    from instructor.v2.core.function_calls import ResponseSchema
    from instructor.v2.core.hooks import HookName
    from instructor.v2.validation import async_validators
    from openai._models import SecurityOptions
    from openai.resources.chat.completions import AsyncCompletions

    # install(): instructor's check, bound by name in `patch` too, takes the response model only
    for module in (async_validators, patch):
        assert list(inspect.signature(module.reject_async_validators).parameters) == ["response_model"]
    # chat_completion(): `post` takes body, cast_to and options; `security` is an option create sets
    post = inspect.signature(openai.AsyncOpenAI.post).parameters
    assert {"body", "cast_to", "options"} <= set(post)
    assert "bearer_auth" in SecurityOptions.__annotations__
    assert 'security={"bearer_auth": True}' in inspect.getsource(AsyncCompletions.create)
    # Tally's hooks, the retry exception's fields salvage reads, the wrapped response model
    assert {HookName.COMPLETION_KWARGS.value, HookName.COMPLETION_RESPONSE.value} == {"completion:kwargs",
                                                                                      "completion:response"}
    assert {"last_completion", "failed_attempts"} <= set(inspect.signature(InstructorRetryException).parameters)
    assert issubclass(structured.prepared(RequestAnswer), ResponseSchema)
    # transport_of(): httpx keeps a client's transport in `_transport`
    mock = httpx.MockTransport(lambda request: httpx.Response(200))
    assert structured.transport_of(httpx.AsyncClient(transport=mock)) is mock
    # install() silences the logger instructor writes the model's output to
    structured.install()
    assert logging.getLogger("instructor").propagate is False
    assert "getLogger(\"instructor\")" in inspect.getsource(__import__("instructor.v2.core.usage").v2.core.usage)


def test_a_context_drops_one_trailing_newline_as_instructor_s_templates_did():
    messages = [{"role": "user", "content": "a\n\n"}, {"role": "user", "content": "b"}, "not a dict"]
    structured.drop_trailing_newlines(messages)
    assert messages[:2] == [{"role": "user", "content": "a\n"}, {"role": "user", "content": "b"}]
