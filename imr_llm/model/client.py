"""StructuredClient: prompt file + variables → a validated pydantic object, through instructor
over the openai client, with a cache in front and two separate retry layers:

* transport errors (429, 5xx, timeouts, dropped or reset connections, bodies cut short) — retried
  by tenacity, `max_transport_retries` times, with exponential backoff (`retry_wait_min_s` doubling
  up to `retry_wait_max_s`). On 429 and 503 a `Retry-After` header (seconds or an HTTP-date;
  OpenAI's `retry-after-ms` too) is honoured: the wait is max(backoff, Retry-After), Retry-After
  capped at `max_retry_after_s`. Other 4xx are not retried. The sleep is injectable
  (`StructuredClient(..., sleep=f)` or the `sleep` attribute) so tests record waits instead of waiting.
* outputs that fail validation (not JSON, JSON cut short, the wrong schema, or a grounding
  validator given `context`) — re-asked by instructor with the validation error,
  `max_validation_retries` times.

Two answers are never re-asked, because asking again does not change them and costs a full prompt:
a response with no `choices`, and a refusal (`message.refusal` set, content null). Each is one
`ModelError` at once ("returned no choices" / "refused to answer"), never an IndexError or
AttributeError from inside instructor.

Failures are one line that names the task and the endpoint's host (never letter text, the model's
output, or the key): `EndpointError` when the transport retries are used up or the key is
rejected, `ModelError` for unusable output. A failed call writes nothing to the cache.

Usage is counted per call: each call passes its own instructor hooks (the instructor client over
the loop's openai client is shared, structured.py) and returns its `UsageRecord`, so concurrent
calls never mix their counts. The record is made for failed calls too. `attempts` counts the
chat completions received (failed validations included, each with its tokens); `retries` counts
every request after the first (re-asks and transport retries — a timeout or reset that returned
nothing shows up here, with no tokens); tokens an error response reports in a `usage` field are
counted too. The run's `UsageLog` gets every record. Messages are never logged.

`deferred` (the OpenAI Batch API passes, imr_llm/openai_batch.py): on a cache miss the call is
handed to it with the cache key and a way to run this same call against an in-process httpx
transport (no network, no retries, no re-ask). Its prepare pass records the request instructor
builds; its collect pass answers with the batch's completion, which is then validated, salvaged,
counted and cached exactly as an endpoint's answer would be.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Callable, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from ..cache import CacheBackend, cache_key, schema_fingerprint
from ..errors import EndpointError, EndpointTimeout, ModelError
from ..prompts import Prompt
from .config import ModelConfig
from .structured import instructor_client, prepared
from .usage import UsageLog, UsageRecord
from .validation import current as current_context

T = TypeVar("T", bound=BaseModel)

# instructor logs failed attempts with the model's output (which quotes the letter) at ERROR level;
# that text must not reach a user's terminal or log files by default. Our own errors say enough.
logging.getLogger("instructor").addHandler(logging.NullHandler())
logging.getLogger("instructor").propagate = False


@dataclass
class Completion(Generic[T]):
    """A call's answer and what it cost. `salvaged`: the answer still failed a validator after the
    last re-ask and was parsed without the validation context; the caller drops what fails."""

    value: T
    record: UsageRecord
    salvaged: bool = False
    problem: str | None = None  # the last validation error, for a salvaged answer


class StructuredClient:
    def __init__(self, config: ModelConfig, cache: CacheBackend | None = None, usage: UsageLog | None = None,
                 http_client=None, sleep: Callable[[float], None] | None = None, deferred=None) -> None:
        self.config = config
        self.deferred = deferred  # an OpenAI Batch API pass (imr_llm/openai_batch.py); None: call the endpoint
        self.cache = cache
        self.usage = usage if usage is not None else UsageLog()
        self.sleep = sleep  # how transport-retry waits are slept (None: asyncio.sleep); tests record them
        self._http_client = http_client  # an httpx client whose transport to use (tests: a mock one)
        self._openai: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # -- public ---------------------------------------------------------------------------

    def complete(self, task: str, prompt: Prompt, variables: dict, response_model: type[T]) -> T:
        """The validated answer (raises ModelError when there is none)."""
        return self.run(task, prompt, variables, response_model).value

    def run(self, task: str, prompt: Prompt, variables: dict, response_model: type[T], *,
            context: dict | None = None, salvage: bool = False) -> Completion[T]:
        """Ask once (cache first). With `context`, validators can ground values in it; with
        `salvage`, an answer that still fails validation after the re-asks is returned parsed
        without the context (flagged) instead of raising — only when it parses at all.
        The sync face of `arun` (same code, run on imr-llm's background loop)."""
        from ..runtime import run_sync

        return run_sync(self.arun(task, prompt, variables, response_model, context=context, salvage=salvage))

    async def acomplete(self, task: str, prompt: Prompt, variables: dict, response_model: type[T]) -> T:
        return (await self.arun(task, prompt, variables, response_model)).value

    async def arun(self, task: str, prompt: Prompt, variables: dict, response_model: type[T], *,
                   context: dict | None = None, salvage: bool = False, max_tokens: int | None = None) -> Completion[T]:
        """`max_tokens`: this call's answer bound when it is not the configured one (an answer for
        several items of a letter)."""
        messages = prompt.render(**variables)
        schema_json, schema_hash = _grammar(response_model)
        params = {"temperature": self.config.temperature, "max_tokens": max_tokens or self.config.max_tokens}
        key = cache_key(model=self.config.model, endpoint_kind=self.config.endpoint_kind,
                        prompt_hash=prompt.sha256, schema_hash=schema_hash, messages=messages, params=params)
        cached = self._cached(task, key, response_model)
        if cached is not None:
            return cached
        schema = json.loads(schema_json)  # a call's own copy: the request may be changed on its way
        if self.config.profile.mode == "TOOLS":
            response_model = _with_full_schema(response_model)  # tool calling needs the schema's title
        if self.deferred is not None:  # a Batch API pass: it records the request, or answers from the results
            completion = await self.deferred.acall(task, key, lambda transport: self._acall_through(
                transport, task, messages, schema, params, response_model, context, salvage))
        else:
            completion = await self._acall(task, messages, schema, params, response_model, context, salvage)
        if self.cache is not None:
            # Only answers that parse into the response model are stored; errors never are. A
            # salvaged answer is stored with its flag so a rerun drops exactly the same values.
            self.cache.set(key, {"value": completion.value.model_dump(mode="json"),
                                 "salvaged": completion.salvaged, "problem": completion.problem})
        return completion

    def _cached(self, task: str, key: str, response_model: type[T]) -> Completion[T] | None:
        if self.cache is None:
            return None
        cached = self.cache.get(key)
        if not (isinstance(cached, dict) and "value" in cached):
            return None
        try:
            value = response_model.model_validate(cached["value"])
        except ValidationError:
            return None  # written by an older schema: ask again
        record = UsageRecord(task=task, model=self.config.model, cached=True, attempts=0)
        self.usage.add(record)
        return Completion(value, record, bool(cached.get("salvaged")), cached.get("problem"))

    async def aclose(self) -> None:
        """Close the running loop's HTTP client (a batch's own loop ends with it)."""
        import asyncio

        clients = self._openai.pop(asyncio.get_running_loop(), None)
        if clients is not None:
            await clients[0].close()

    # -- internals ------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        import asyncio
        import inspect

        if self.sleep is None:
            await asyncio.sleep(seconds)
            return
        result = self.sleep(seconds)  # a test's recorder, sync or async
        if inspect.isawaitable(result):
            await result

    def _loop_clients(self):
        """The AsyncOpenAI client of the running loop (HTTP connection pools belong to a loop), with
        the instructor client over it (structured.py)."""
        import asyncio

        import openai

        loop = asyncio.get_running_loop()
        clients = self._openai.get(loop)
        if clients is None:
            from .limits import LimitedTransport

            client = openai.AsyncOpenAI(
                base_url=self.config.resolved_base_url,
                api_key=self.config.api_key(),
                timeout=self.config.timeout_s,
                max_retries=0,  # tenacity owns transport retries
                http_client=LimitedTransport.client(self._http_client, self.config),
            )
            clients = self._openai[loop] = (client, instructor_client(client, self.config.profile.mode))
        return clients

    async def _acall_through(self, transport, *args) -> Completion:
        """`_acall` with one request to `transport` (an in-process httpx transport: a Batch API
        pass), never retried or re-asked, no key read or sent, no endpoint limits."""
        import openai

        from .limits import _httpx

        config = self.config.model_copy(update={"max_transport_retries": 0, "max_validation_retries": 0})
        client = openai.AsyncOpenAI(base_url=config.resolved_base_url, api_key="not-sent", max_retries=0,
                                    timeout=config.timeout_s, http_client=_httpx().AsyncClient(transport=transport))
        try:
            return await self._acall(*args, clients=(client, instructor_client(client, config.profile.mode)),
                                     config=config)
        finally:
            await client.close()

    async def _acall(self, task, messages, schema, params, response_model, context, salvage, *,
                     clients=None, config: ModelConfig | None = None) -> Completion:
        import openai
        from instructor.core.exceptions import (IncompleteOutputException, InstructorRetryException,
                                                ResponseParsingError)
        from instructor.v2.core.hooks import Hooks
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

        config = config or self.config
        host = config.endpoint_host
        client = (clients or self._loop_clients())[1]
        hooks = Hooks()  # this call's own: they count this call's requests and responses only
        counts = {"prompt": 0, "completion": 0, "responses": 0, "requests": 0, "transport_attempts": 0}
        state: dict = {"unanswerable": None}  # why the last response cannot be answered by re-asking

        def on_request(*args, **kwargs) -> None:
            counts["requests"] += 1
            for message in (kwargs.get("messages") or []) if context is not None else []:
                # Requests stay byte-identical to those made while instructor rendered messages as
                # Jinja templates whenever a context was given (which drops one trailing newline),
                # so recorded cassettes and cache keys hold; the letter's text is no longer
                # evaluated (validation.py).
                content = message.get("content") if isinstance(message, dict) else None
                if isinstance(content, str) and content.endswith("\n"):
                    message["content"] = content[:-1]

        def on_response(response) -> None:
            counts["responses"] += 1
            _add_usage(counts, getattr(response, "usage", None))
            state["unanswerable"] = _unanswerable(response)

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError)):
                return True
            return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500

        def reask(exc: BaseException) -> bool:
            # output that failed parsing or validation is re-asked, unless the response was one
            # that asking again cannot fix (no choices, a refusal)
            parse_error = isinstance(exc, (ValidationError, json.JSONDecodeError, ResponseParsingError))
            return parse_error and state["unanswerable"] is None

        backoff = wait_exponential(multiplier=config.retry_wait_min_s, min=config.retry_wait_min_s,
                                   max=config.retry_wait_max_s)

        def wait(retry_state) -> float:
            delay = backoff(retry_state)
            exc = retry_state.outcome.exception() if retry_state.outcome is not None else None
            after = _retry_after(exc)
            if after is not None:
                delay = max(delay, min(after, config.max_retry_after_s))
            return delay

        hooks.on("completion:kwargs", on_request)
        hooks.on("completion:response", on_response)
        response_model = prepared(response_model)
        started = time.perf_counter()
        salvaged, problem = False, None
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(transient),
                stop=stop_after_attempt(config.max_transport_retries + 1),
                wait=wait,
                sleep=self._sleep,
                reraise=True,
            ):
                with attempt:
                    counts["transport_attempts"] += 1
                    state["unanswerable"] = None
                    grounding = current_context.set(context)  # never instructor's context= (see validation.py)
                    try:
                        value = await client.chat.completions.create(
                            model=config.model,
                            messages=messages,
                            response_model=response_model,
                            max_retries=AsyncRetrying(stop=stop_after_attempt(config.max_validation_retries + 1),
                                                      retry=retry_if_exception(reask), reraise=True),
                            extra_body=config.profile.structured(schema) or None,
                            hooks=hooks,
                            **params,
                        )
                    except InstructorRetryException as exc:
                        # instructor wraps HTTP failures too; hand those to the transport layer
                        cause = exc.__cause__
                        if isinstance(cause, openai.APIError):
                            if isinstance(cause, openai.APIStatusError):
                                _add_usage(counts, _error_usage(cause))
                            raise cause from cause.__cause__  # keep what broke the connection
                        raise
                    except openai.APIStatusError as exc:
                        _add_usage(counts, _error_usage(exc))
                        raise
                    finally:
                        current_context.reset(grounding)  # a salvage below parses without it
        except InstructorRetryException as exc:
            if state["unanswerable"] is not None:
                raise ModelError(f"{task}: the model {state['unanswerable']} ({host})") from None
            value = _salvage(exc, response_model) if salvage else None
            if value is None:
                tries = max(1, len(getattr(exc, "failed_attempts", None) or []))
                raise ModelError(f"{task}: the model's output failed validation ({_problem_kind(exc)}) after {tries} "
                                 f"{'try' if tries == 1 else 'tries'} ({host})") from None
            salvaged, problem = True, _last_problem(exc)
        except IncompleteOutputException:
            raise ModelError(f"{task}: the model's answer was cut off at max_tokens={params['max_tokens']} "
                             f"({host})") from None
        except openai.AuthenticationError:
            raise EndpointError(f"{task}: the endpoint rejected the API key ({host})") from None
        except (openai.APIError, OSError) as exc:
            kind = EndpointTimeout if isinstance(exc, openai.APITimeoutError) else EndpointError
            raise kind(_endpoint_failure(task, exc, counts["transport_attempts"], config)) from None
        finally:
            record = UsageRecord(task=task, model=config.model, prompt_tokens=counts["prompt"],
                                 completion_tokens=counts["completion"], attempts=counts["responses"],
                                 retries=max(0, max(counts["requests"], counts["transport_attempts"]) - 1),
                                 seconds=round(time.perf_counter() - started, 3))
            self.usage.add(record)
        return Completion(value, record, salvaged, problem)


@functools.lru_cache(maxsize=256)
def _grammar(response_model) -> tuple[str, str]:
    """(the schema the server's grammar enforces, as JSON; its fingerprint), once per response
    model: a response model may print a shorter schema into the prompt (enrich/answers.py)."""
    schema = getattr(response_model, "grammar_schema", response_model.model_json_schema)()
    return json.dumps(schema), schema_fingerprint(schema)


@functools.lru_cache(maxsize=256)
def _with_full_schema(response_model):
    """The response model as tool calling needs it: its full schema (title included), while the
    JSON modes print the compact one. Validators are inherited; values dump the same."""
    if not hasattr(response_model, "grammar_schema"):
        return response_model
    full = response_model.grammar_schema()

    def model_json_schema(cls, *args, **kwargs):
        return full

    return type(response_model.__name__, (response_model,), {"model_json_schema": classmethod(model_json_schema),
                                                             "__module__": response_model.__module__})


def _add_usage(counts: dict, usage) -> None:
    if usage is None:
        return
    get = usage.get if isinstance(usage, dict) else (lambda name: getattr(usage, name, None))
    for key, name in (("prompt", "prompt_tokens"), ("completion", "completion_tokens")):
        value = get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            counts[key] += value


def _error_usage(exc) -> dict | None:
    """Token counts an error response reports (rare, but when a server bills a failed request)."""
    try:
        body = exc.response.json()
    except Exception:
        return None
    usage = body.get("usage") if isinstance(body, dict) else None
    return usage if isinstance(usage, dict) else None


def _unanswerable(response) -> str | None:
    """Why this response cannot be fixed by re-asking: no choices, or a refusal."""
    choices = getattr(response, "choices", None)
    if not choices:
        return "returned no choices"
    message = getattr(choices[0], "message", None)
    if getattr(message, "refusal", None):
        return "refused to answer"
    return None


def _retry_after(exc) -> float | None:
    """Seconds a 429 or 503 response asks the client to wait (Retry-After: seconds or an
    HTTP-date; retry-after-ms), or None."""
    response = getattr(exc, "response", None)
    if response is None or getattr(exc, "status_code", None) not in (429, 503):
        return None
    headers = response.headers
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _endpoint_failure(task: str, exc: BaseException, tries: int, config: ModelConfig) -> str:
    """One line: what failed, after how many tries, at which host (never a body, a URL's query or a key)."""
    import openai

    after = f"after {tries} {'try' if tries == 1 else 'tries'}"
    if isinstance(exc, openai.APITimeoutError):
        what = f"the model endpoint timed out (no answer within {config.timeout_s:g} s)"
    elif isinstance(exc, openai.RateLimitError):
        what = "the model endpoint kept rate-limiting (HTTP 429)"
    elif isinstance(exc, openai.APIStatusError):
        what = f"the model endpoint failed (HTTP {exc.status_code})"
    elif isinstance(exc, openai.APIConnectionError):
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "no response"
        what = f"the connection to the model endpoint failed ({cause})"
    else:
        what = f"the model endpoint failed ({type(exc).__name__})"
    return f"{task}: {what} {after} ({config.endpoint_host})"


def _problem_kind(exc) -> str:
    """The last validation failure, by kind and field only (its message can quote the letter)."""
    attempts = getattr(exc, "failed_attempts", None) or []
    last = attempts[-1].exception if attempts else getattr(exc, "__cause__", None)
    if isinstance(last, ValidationError):
        errors = last.errors(include_url=False, include_input=False, include_context=False)
        if errors:
            first = errors[0]
            where = ".".join(str(part) for part in first.get("loc", ()))
            kind = "not JSON" if first.get("type") == "json_invalid" else first.get("type", "invalid")
            return f"{where}: {kind}" if where else kind
    if isinstance(last, json.JSONDecodeError):
        return "not JSON"
    return type(last).__name__ if last is not None else "invalid"


def _salvage(exc, response_model: type[T]) -> T | None:
    """The last answer, parsed without the validation context (grounding skipped), if it parses:
    the message's content (JSON modes) or, when that is empty, its tool call's arguments (TOOLS)."""
    completion = getattr(exc, "last_completion", None)
    try:
        message = completion.choices[0].message
        content = message.content
        if not content and getattr(message, "tool_calls", None):
            content = message.tool_calls[0].function.arguments
        return response_model.model_validate(json.loads(content))
    except Exception:
        return None


def _last_problem(exc) -> str:
    attempts = getattr(exc, "failed_attempts", None) or []
    if attempts:
        return str(attempts[-1].exception).splitlines()[0][:300]
    return "validation failed"
