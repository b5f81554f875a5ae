"""The instructor client the model client calls, built so that work which does not depend on the
call is done once, not per request.

Measured per request with a profiler (a batch against a loopback server, `benchmarks/batch_scaling.py`),
three pieces of per-call work had nothing to do with the call:

* openai's `chat.completions.create` walks every request's params against its TypedDicts (each
  message against six message types) to transform them — about 5 ms a request, and the identity
  for what instructor sends us (JSON-ready dicts of strings and numbers). `chat_completion` sends
  such a body as it is through the same openai client (`client.post`, the SDK's documented way
  to send a raw request: the same auth, headers, timeout and transport); anything else goes
  through `create`.
* instructor wraps a plain pydantic response model in a fresh subclass on every call
  (`response_schema`: a new class, its schema built again) — about 2.5 ms, and a class leaked
  to any cache keyed by class. `prepared` wraps each response model once.
* instructor walks a response model's type tree three times per call to refuse models with async
  validators — about 3 ms with our enum-heavy answers. The walk depends on the class only, so
  `_reject_async_validators_once` remembers the classes that passed (a failing class still raises,
  every time); it is installed in place of instructor's function at import.

Requests stay byte-identical to what `create` sends (`tests/test_model.py` compares them), so
recorded cassettes and the cache hold.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

_FIRST = ("messages", "model")  # openai's body order: these two, then the rest by name
_REQUEST_OPTIONS = {"extra_headers", "extra_query", "timeout"}  # `create` arguments that are not body fields


def instructor_client(openai_client, mode_name: str):
    """An AsyncInstructor over `openai_client` whose requests go through `chat_completion`."""
    import instructor

    install()

    async def create(**kwargs: Any):
        return await chat_completion(openai_client, **kwargs)

    mode = getattr(instructor.Mode, mode_name)
    return instructor.AsyncInstructor(client=openai_client, create=instructor.patch(create=create, mode=mode),
                                      mode=mode, provider=instructor.Provider.OPENAI)


async def chat_completion(openai_client, **kwargs: Any):
    """POST /chat/completions with the params as they are when they are plain JSON (what openai's
    transform would return unchanged); otherwise openai's own `create`."""
    from openai.types.chat import ChatCompletion

    extra_body = kwargs.pop("extra_body", None)
    if (kwargs.get("stream") or _REQUEST_OPTIONS.intersection(kwargs) or not all(_plain(v) for v in kwargs.values())
            or not _plain(extra_body)):
        return await openai_client.chat.completions.create(**kwargs, extra_body=extra_body)
    body = {name: kwargs[name] for name in _FIRST if name in kwargs}
    body.update((name, kwargs[name]) for name in sorted(kwargs) if name not in _FIRST)
    options: dict[str, Any] = {"security": {"bearer_auth": True}}  # what `create` asks for
    if extra_body is not None:
        options["extra_json"] = extra_body
    return await openai_client.post("/chat/completions", body=body, cast_to=ChatCompletion, options=options)


def _plain(value: Any) -> bool:
    """JSON as the json module writes it: str, int, float, bool, None, and lists and str-keyed
    dicts of them."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if type(value) is list:
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


@functools.lru_cache(maxsize=256)
def prepared(response_model):
    """The response model as instructor runs it (wrapped once; instructor leaves a wrapped model as it is)."""
    import instructor
    from instructor.v2.core.function_calls import ResponseSchema

    if isinstance(response_model, type) and issubclass(response_model, ResponseSchema):
        return response_model
    return instructor.response_schema(response_model)


_PASSED: "weakref.WeakSet[type]" = weakref.WeakSet()


def _reject_async_validators_once(original):
    @functools.wraps(original)
    def reject(response_model: Any) -> None:
        if isinstance(response_model, type) and response_model in _PASSED:
            return
        original(response_model)  # raises for a model with async validators
        if isinstance(response_model, type):  # (None, list[X] and such: checked every time)
            _PASSED.add(response_model)

    reject.__wrapped_by_imr_llm__ = True  # type: ignore[attr-defined]
    return reject


def install() -> None:
    """Put the remembering check in place of instructor's, once: in its own module (which most
    callers import it from at each call) and in `patch`, which bound the name at import."""
    from instructor.v2.core import patch
    from instructor.v2.validation import async_validators

    current = async_validators.reject_async_validators
    if not getattr(current, "__wrapped_by_imr_llm__", False):
        async_validators.reject_async_validators = _reject_async_validators_once(current)
    if getattr(patch, "reject_async_validators", None) is current:
        patch.reject_async_validators = async_validators.reject_async_validators
