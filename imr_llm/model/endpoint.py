"""One call to an OpenAI-compatible endpoint (instructor over openai): a `Request` in, a validated
`Completion` out. Transport errors are retried by tenacity with backoff (longer when a 429/503 says
Retry-After, capped); invalid output is re-asked by instructor, except no `choices` or a refusal,
which asking again does not change. A failure is one line naming the task and the host (never letter
text, output or key). Every call adds its `UsageRecord`, failed ones too."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import time
import weakref
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable

import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException, ResponseParsingError
from instructor.v2.core.hooks import Hooks
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from ..errors import EndpointError, EndpointTimeout, ModelError
from . import adapters
from .config import ModelConfig
from .limits import LimitedTransport
from .usage import UsageLog, UsageRecord
from .validation import current as current_context

@dataclass(frozen=True)
class Request:
    """One model call as every layer sees it; `key` is its cache key (cache.py's recipe)."""
    task: str
    messages: list[dict[str, str]]
    schema_json: str  # the schema the server's grammar enforces
    params: dict[str, Any]
    response_model: type
    key: str
    context: dict | None = None
    salvage: bool = False
    reask: bool = True  # False: an invalid answer is not re-asked (with `salvage`, it is parsed as it is)


@dataclass
class Completion:
    """A call's answer and what it cost. `salvaged`: the answer still failed a validator after the
    last re-ask and was parsed without the validation context; the caller drops what fails."""
    value: BaseModel
    record: UsageRecord
    salvaged: bool = False
    problem: str | None = None  # the last validation error, for a salvaged answer


class Endpoint:
    """The bottom of the model stack: `request()` asks the configured endpoint."""

    def __init__(self, config: ModelConfig, usage: UsageLog, http_client=None) -> None:
        self.config, self.usage = config, usage
        self.sleep: Callable[[float], Any] | None = None  # how retry waits are slept (None: asyncio.sleep)
        self._http_client = http_client  # an httpx client whose transport to use (tests: a mock one)
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> (openai, instructor)

    async def request(self, request: Request, transport=None) -> Completion:
        """Ask the endpoint; or, given an in-process httpx `transport` (a Batch API pass), send one
        request to it: never retried or re-asked, no key read or sent, no endpoint limits."""
        if transport is None:
            return await self._call(request, self._loop_client(), self.config)
        config = self.config.model_copy(update={"max_transport_retries": 0, "max_validation_retries": 0})
        client = openai.AsyncOpenAI(base_url=config.resolved_base_url, api_key="not-sent", max_retries=0,
                                    timeout=config.timeout_s, http_client=adapters.httpx.AsyncClient(transport=transport))
        try:
            return await self._call(request, adapters.instructor_client(client, config.profile.mode), config)
        finally:
            await client.close()

    async def aclose(self) -> None:
        """Close the running loop's HTTP client (a batch's own loop ends with it)."""
        clients = self._clients.pop(asyncio.get_running_loop(), None)
        if clients is not None:
            await clients[0].close()

    def _loop_client(self):
        """The instructor client over the running loop's AsyncOpenAI client (connection pools belong to a loop)."""
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            config = self.config  # max_retries=0: tenacity owns transport retries
            client = openai.AsyncOpenAI(base_url=config.resolved_base_url, api_key=config.api_key(), max_retries=0,
                                        timeout=config.timeout_s, http_client=LimitedTransport.client(self._http_client, config))
            self._clients[loop] = (client, adapters.instructor_client(client, config.profile.mode))
        return self._clients[loop][1]

    async def _sleep(self, seconds: float) -> None:
        result = (self.sleep or asyncio.sleep)(seconds)  # a test's recorder may be sync
        if inspect.isawaitable(result):
            await result

    async def _call(self, request: Request, client, config: ModelConfig) -> Completion:
        tally = Tally(request.context)
        response_model = adapters.prepared(_with_full_schema(request.response_model)
                                           if config.profile.mode == "TOOLS" else request.response_model)
        salvaged, problem = False, None
        try:
            async for attempt in AsyncRetrying(retry=retry_if_exception(transient), reraise=True, sleep=self._sleep,
                                               stop=stop_after_attempt(config.max_transport_retries + 1),
                                               wait=RetryWait(config)):
                with attempt:
                    value = await self._ask(client, config, request, response_model, tally)
        except InstructorRetryException as exc:
            value, problem = _salvaged(exc, request, response_model, tally, config)
            salvaged = True
        except (IncompleteOutputException, openai.APIError, OSError) as exc:
            raise _failure(exc, request, tally.transport_attempts, config) from None
        finally:
            self.usage.add(record := tally.record(request.task, config.model))
        return Completion(value, record, salvaged, problem)

    @staticmethod
    async def _ask(client, config: ModelConfig, request: Request, response_model, tally: "Tally"):
        tally.transport_attempts, tally.unanswerable = tally.transport_attempts + 1, None
        grounding = current_context.set(request.context)  # never instructor's context= (see validation.py)
        try:
            return await client.chat.completions.create(
                model=config.model, messages=request.messages, response_model=response_model,
                max_retries=AsyncRetrying(stop=stop_after_attempt(config.max_validation_retries * request.reask + 1),
                                          retry=retry_if_exception(tally.reask), reraise=True),
                extra_body=config.profile.structured(json.loads(request.schema_json)) or None,
                hooks=tally.hooks, **request.params)
        except InstructorRetryException as exc:
            cause = adapters.http_error_inside(exc)
            if cause is None:
                raise
            tally.add_error_usage(cause)
            raise cause from cause.__cause__  # to the transport layer, keeping what broke the connection
        except openai.APIStatusError as exc:
            tally.add_error_usage(exc)
            raise
        finally:
            current_context.reset(grounding)  # a salvage parses without it


class Tally:
    """One call's counts, kept by its own instructor hooks (concurrent calls never mix them)."""

    def __init__(self, context: dict | None) -> None:
        self.context, self.started, self.hooks = context, time.perf_counter(), Hooks()
        self.prompt = self.completion = self.responses = self.requests = self.transport_attempts = 0
        self.unanswerable: str | None = None  # why the last response cannot be answered by re-asking
        self.hooks.on("completion:kwargs", self.on_request)
        self.hooks.on("completion:response", self.on_response)

    def on_request(self, *args, **kwargs) -> None:
        self.requests += 1
        if self.context is not None:
            adapters.drop_trailing_newlines(kwargs.get("messages"))

    def on_response(self, response) -> None:
        self.responses += 1
        self.add_usage(getattr(response, "usage", None))
        choices = getattr(response, "choices", None)
        refused = choices and getattr(getattr(choices[0], "message", None), "refusal", None)
        self.unanswerable = "returned no choices" if not choices else "refused to answer" if refused else None

    def reask(self, exc: BaseException) -> bool:
        """Output that failed parsing or validation is re-asked, unless asking again cannot fix it."""
        parse_error = isinstance(exc, (ValidationError, json.JSONDecodeError, ResponseParsingError))
        return parse_error and self.unanswerable is None

    def add_usage(self, usage) -> None:
        get = usage.get if isinstance(usage, dict) else (lambda name: getattr(usage, name, None))
        for name in ("prompt", "completion"):  # no usage (None) or no count: nothing added
            value = get(f"{name}_tokens")
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                setattr(self, name, getattr(self, name) + value)

    def add_error_usage(self, exc) -> None:
        """Token counts an error response reports (when a server bills a failed request)."""
        with suppress(Exception):  # not JSON, or not an object
            self.add_usage(exc.response.json().get("usage"))

    def record(self, task: str, model: str) -> UsageRecord:
        return UsageRecord(task=task, model=model, prompt_tokens=self.prompt, completion_tokens=self.completion,
                           attempts=self.responses, retries=max(0, max(self.requests, self.transport_attempts) - 1),
                           seconds=round(time.perf_counter() - self.started, 3))


def transient(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


class RetryWait:
    """Exponential backoff, or longer when a 429/503 says how long (capped)."""

    def __init__(self, config: ModelConfig) -> None:
        self.cap, self.backoff = config.max_retry_after_s, wait_exponential(
            multiplier=config.retry_wait_min_s, min=config.retry_wait_min_s, max=config.retry_wait_max_s)

    def __call__(self, retry_state) -> float:
        delay = self.backoff(retry_state)
        after = retry_after(retry_state.outcome.exception() if retry_state.outcome is not None else None)
        return delay if after is None else max(delay, min(after, self.cap))


def retry_after(exc) -> float | None:
    """Seconds a 429 or 503 response asks the client to wait (Retry-After: seconds or an
    HTTP-date; retry-after-ms), or None."""
    response = getattr(exc, "response", None)
    if response is None or getattr(exc, "status_code", None) not in (429, 503):
        return None
    for name, seconds in (("retry-after-ms", lambda v: float(v) / 1000), ("retry-after", float),
                          ("retry-after", _seconds_until)):
        try:
            return max(0.0, seconds(response.headers[name].strip()))
        except (KeyError, ValueError, TypeError, IndexError):
            continue
    return None


def _seconds_until(http_date: str) -> float:
    when = parsedate_to_datetime(http_date)
    when = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return (when - datetime.now(timezone.utc)).total_seconds()


def _failure(exc: BaseException, request: Request, tries: int, config: ModelConfig) -> Exception:
    """One line: what failed, after how many tries, at which host (never a body, a URL's query or a key)."""
    task, host = request.task, config.endpoint_host
    if isinstance(exc, IncompleteOutputException):
        return ModelError(f"{task}: the model's answer was cut off at max_tokens={request.params['max_tokens']} ({host})")
    if isinstance(exc, openai.AuthenticationError):
        return EndpointError(f"{task}: the endpoint rejected the API key ({host})")
    if isinstance(exc, openai.APITimeoutError):
        what = f"the model endpoint timed out (no answer within {config.timeout_s:g} s)"
    elif isinstance(exc, openai.RateLimitError):
        what = "the model endpoint kept rate-limiting (HTTP 429)"
    elif isinstance(exc, openai.APIStatusError):
        what = f"the model endpoint failed (HTTP {exc.status_code})"
    elif isinstance(exc, openai.APIConnectionError):
        what = f"the connection to the model endpoint failed ({type(exc.__cause__).__name__ if exc.__cause__ else 'no response'})"
    else:
        what = f"the model endpoint failed ({type(exc).__name__})"
    kind = EndpointTimeout if isinstance(exc, openai.APITimeoutError) else EndpointError
    return kind(f"{task}: {what} after {_tries(tries)} ({host})")


def _tries(n: int) -> str:
    return f"{n} {'try' if n == 1 else 'tries'}"


def _salvaged(exc: InstructorRetryException, request: Request, response_model, tally: Tally, config: ModelConfig):
    """(the last answer parsed without the validation context, the last problem) when the call may
    salvage and the answer parses: the content (JSON modes) or its tool call's arguments (TOOLS)."""
    host = config.endpoint_host
    if tally.unanswerable is not None:
        raise ModelError(f"{request.task}: the model {tally.unanswerable} ({host})") from None
    attempts = getattr(exc, "failed_attempts", None) or []
    value = _salvage(exc, response_model) if request.salvage else None
    if value is None:
        raise ModelError(f"{request.task}: the model's output failed validation ({_problem_kind(exc, attempts)}) "
                         f"after {_tries(max(1, len(attempts)))} ({host})") from None
    return value, str(attempts[-1].exception).splitlines()[0][:300] if attempts else "validation failed"


def _salvage(exc, response_model):
    try:
        message = exc.last_completion.choices[0].message  # the content (JSON modes), else the tool call's (TOOLS)
        content = message.content or message.tool_calls[0].function.arguments
        return response_model.model_validate(json.loads(content))
    except Exception:
        return None


def _problem_kind(exc, attempts: list) -> str:
    """The last validation failure, by kind and field only (its message can quote the letter)."""
    last = attempts[-1].exception if attempts else getattr(exc, "__cause__", None)
    if isinstance(last, ValidationError):
        errors = last.errors(include_url=False, include_input=False, include_context=False)
        if errors:
            where = ".".join(str(part) for part in errors[0].get("loc", ()))
            kind = "not JSON" if errors[0].get("type") == "json_invalid" else errors[0].get("type", "invalid")
            return f"{where}: {kind}" if where else kind
    if isinstance(last, json.JSONDecodeError):
        return "not JSON"
    return type(last).__name__ if last is not None else "invalid"


@functools.lru_cache(maxsize=256)
def _with_full_schema(response_model):
    """The response model as tool calling needs it: its full schema (title included), while the
    JSON modes print the compact one. Validators are inherited; values dump the same."""
    if not hasattr(response_model, "grammar_schema"):
        return response_model
    full = response_model.grammar_schema()
    return type(response_model.__name__, (response_model,), {"__module__": response_model.__module__,
                                                             "model_json_schema": classmethod(lambda cls, *a, **k: full)})
