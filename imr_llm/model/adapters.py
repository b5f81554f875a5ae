"""Every place the model side works around instructor, openai or httpx, and nowhere else; each
was checked against the versions in CHECKED_AGAINST, and tests/test_adapters.py fails when a library
changes under one. Three skip per-call work that does not depend on the call (measured per request,
`benchmarks/batch_scaling.py`): openai's `create` walks each request against its TypedDicts (~5 ms)
to send the JSON-ready dicts instructor gives it unchanged — `chat_completion` posts them as they are
(byte-identical, so cassettes and the cache hold); instructor wraps a response model in a new class
per call (~2.5 ms, and a leak) — `prepared` wraps it once; instructor walks a model's types three
times a call to refuse async validators (~3 ms) — `install` remembers the classes that passed."""

from __future__ import annotations

import functools
import logging
import weakref
from typing import Any

import httpx2 as httpx  # openai 3.x runs on httpx2
import instructor
import openai
from instructor.core.exceptions import InstructorRetryException
from instructor.v2.core import patch as instructor_patch
from instructor.v2.core.function_calls import ResponseSchema
from instructor.v2.validation import async_validators
from openai.types.chat import ChatCompletion

CHECKED_AGAINST = {"instructor": "1.17.0", "openai": "3.3.0", "httpx2": "2.17.0"}

_FIRST = ("messages", "model")  # openai's body order: these two, then the rest by name
_REQUEST_OPTIONS = {"extra_headers", "extra_query", "timeout"}  # `create` arguments that are not body fields


def install() -> None:
    """Once per process (idempotent): the remembering async-validator check, in instructor's module
    and in `patch`, which bound the name at import; and instructor's logger silenced — it logs
    failed attempts with the model's output (which quotes the letter) at ERROR level."""
    current = async_validators.reject_async_validators
    if not getattr(current, "__wrapped_by_imr_llm__", False):
        async_validators.reject_async_validators = _reject_async_validators_once(current)
    if getattr(instructor_patch, "reject_async_validators", None) is current:
        instructor_patch.reject_async_validators = async_validators.reject_async_validators
    logger = logging.getLogger("instructor")
    if logger.propagate:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def instructor_client(openai_client, mode_name: str):
    """An AsyncInstructor over `openai_client` whose requests go through `chat_completion`."""
    install()

    async def create(**kwargs: Any):
        return await chat_completion(openai_client, **kwargs)

    mode = getattr(instructor.Mode, mode_name)
    return instructor.AsyncInstructor(client=openai_client, create=instructor.patch(create=create, mode=mode),
                                      mode=mode, provider=instructor.Provider.OPENAI)


async def chat_completion(openai_client, **kwargs: Any):
    """POST /chat/completions with the params as they are when they are plain JSON (what openai's
    transform would return unchanged); otherwise openai's own `create`."""
    extra_body = kwargs.pop("extra_body", None)
    if (kwargs.get("stream") or _REQUEST_OPTIONS.intersection(kwargs) or not all(plain(v) for v in kwargs.values())
            or not plain(extra_body)):
        return await openai_client.chat.completions.create(**kwargs, extra_body=extra_body)
    body = {name: kwargs[name] for name in _FIRST if name in kwargs}
    body.update((name, kwargs[name]) for name in sorted(kwargs) if name not in _FIRST)
    options: dict[str, Any] = {"security": {"bearer_auth": True}}  # what `create` asks for
    if extra_body is not None:
        options["extra_json"] = extra_body
    return await openai_client.post("/chat/completions", body=body, cast_to=ChatCompletion, options=options)


def plain(value: Any) -> bool:
    """JSON as the json module writes it: str, int, float, bool, None, lists and str-keyed dicts of them."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if type(value) is list:
        return all(plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and plain(v) for k, v in value.items())
    return False


@functools.lru_cache(maxsize=256)
def prepared(response_model):
    """The response model as instructor runs it (wrapped once; instructor leaves a wrapped model as it is)."""
    if isinstance(response_model, type) and issubclass(response_model, ResponseSchema):
        return response_model
    return instructor.response_schema(response_model)


PASSED: "weakref.WeakSet[type]" = weakref.WeakSet()


def _reject_async_validators_once(original):
    @functools.wraps(original)
    def reject(response_model: Any) -> None:
        if isinstance(response_model, type) and response_model in PASSED:
            return
        original(response_model)  # raises for a model with async validators
        if isinstance(response_model, type):  # (None, list[X] and such: checked every time)
            PASSED.add(response_model)

    reject.__wrapped_by_imr_llm__ = True  # type: ignore[attr-defined]
    return reject


def drop_trailing_newlines(messages) -> None:
    """Requests with a context as they were when instructor rendered them as Jinja templates (which
    drops one trailing newline), so cassettes and cache keys hold; the text is not evaluated."""
    for message in messages or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and content.endswith("\n"):
            message["content"] = content[:-1]


def http_error_inside(exc: InstructorRetryException) -> openai.APIError | None:
    """The HTTP failure instructor wrapped in its retry exception (it wraps transport errors too)."""
    return exc.__cause__ if isinstance(exc.__cause__, openai.APIError) else None


def transport_of(http_client) -> httpx.AsyncBaseTransport:
    """The async transport of a given httpx client (a MockTransport in tests), else a fresh one."""
    inner = getattr(http_client, "_transport", None)  # httpx has no public accessor for it
    return inner if isinstance(inner, httpx.AsyncBaseTransport) else httpx.AsyncHTTPTransport()
