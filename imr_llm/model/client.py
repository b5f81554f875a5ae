"""StructuredClient: prompt file + variables → a validated pydantic object, through instructor
over the openai client, with a cache in front and two separate retry layers:

* transport errors (429, 5xx, timeouts, dropped connections) — retried by tenacity with backoff;
* outputs that fail validation (schema, or a grounding validator given `context`) — re-asked by
  instructor with the validation error.

Usage is counted per call: each call wraps the shared openai client in its own instructor
instance with its own hooks, and returns its `UsageRecord`, so concurrent calls never mix their
counts. The run's `UsageLog` gets every record too. Messages are never logged.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from ..cache import ResponseCache, cache_key, schema_fingerprint
from ..errors import EndpointError, ModelError
from ..prompts import Prompt
from .config import ModelConfig
from .usage import UsageLog, UsageRecord

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
    def __init__(self, config: ModelConfig, cache: ResponseCache | None = None, usage: UsageLog | None = None,
                 http_client=None) -> None:
        self.config = config
        self.cache = cache
        self.usage = usage if usage is not None else UsageLog()
        self._http_client = http_client
        self._openai = None

    # -- public ---------------------------------------------------------------------------

    def complete(self, task: str, prompt: Prompt, variables: dict, response_model: type[T]) -> T:
        """The validated answer (raises ModelError when there is none)."""
        return self.run(task, prompt, variables, response_model).value

    def run(self, task: str, prompt: Prompt, variables: dict, response_model: type[T], *,
            context: dict | None = None, salvage: bool = False) -> Completion[T]:
        """Ask once (cache first). With `context`, validators can ground values in it; with
        `salvage`, an answer that still fails validation after the re-asks is returned parsed
        without the context (flagged) instead of raising — only when it parses at all."""
        messages = prompt.render(**variables)
        # the schema the server's grammar enforces (a response model may print a shorter one)
        schema = getattr(response_model, "grammar_schema", response_model.model_json_schema)()
        params = {"temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        key = cache_key(model=self.config.model, endpoint_kind=self.config.endpoint_kind,
                        prompt_hash=prompt.sha256, schema_hash=schema_fingerprint(schema),
                        messages=messages, params=params)
        if self.cache is not None:
            cached = self.cache.get(key)
            if isinstance(cached, dict) and "value" in cached:
                try:
                    value = response_model.model_validate(cached["value"])
                except ValidationError:
                    value = None  # written by an older schema: ask again
                if value is not None:
                    record = UsageRecord(task=task, model=self.config.model, cached=True, attempts=0)
                    self.usage.add(record)
                    return Completion(value, record, bool(cached.get("salvaged")), cached.get("problem"))
        completion = self._call(task, messages, schema, params, response_model, context, salvage)
        if self.cache is not None:
            # Only answers that parse into the response model are stored; errors never are. A
            # salvaged answer is stored with its flag so a rerun drops exactly the same values.
            self.cache.set(key, {"value": completion.value.model_dump(mode="json"),
                                 "salvaged": completion.salvaged, "problem": completion.problem})
        return completion

    # -- internals ------------------------------------------------------------------------

    def _openai_client(self):
        if self._openai is None:
            import openai

            self._openai = openai.OpenAI(
                base_url=self.config.resolved_base_url,
                api_key=self.config.api_key(),
                timeout=self.config.timeout_s,
                max_retries=0,  # tenacity owns transport retries
                http_client=self._http_client,
            )
        return self._openai

    def _call(self, task, messages, schema, params, response_model, context, salvage) -> Completion:
        import instructor
        import openai
        from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        # A fresh instructor wrapper per call: its hooks count this call's responses only.
        client = instructor.from_openai(self._openai_client(), mode=getattr(instructor.Mode, self.config.profile.mode))
        counts = {"prompt": 0, "completion": 0, "responses": 0, "transport_attempts": 0}

        def on_response(response) -> None:
            counts["responses"] += 1
            usage = getattr(response, "usage", None)
            if usage is not None:
                counts["prompt"] += usage.prompt_tokens or 0
                counts["completion"] += usage.completion_tokens or 0

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError)):
                return True
            return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500

        client.on("completion:response", on_response)
        started = time.perf_counter()
        salvaged, problem = False, None
        try:
            for attempt in Retrying(
                retry=retry_if_exception(transient),
                stop=stop_after_attempt(self.config.max_transport_retries + 1),
                wait=wait_exponential(multiplier=1, min=1, max=30),
                reraise=True,
            ):
                with attempt:
                    counts["transport_attempts"] += 1
                    try:
                        value = client.chat.completions.create(
                            model=self.config.model,
                            messages=messages,
                            response_model=response_model,
                            max_retries=self.config.max_validation_retries,
                            context=context,
                            extra_body=self.config.profile.structured(schema) or None,
                            **params,
                        )
                    except InstructorRetryException as exc:
                        # instructor wraps HTTP failures too; hand those to the transport layer
                        if isinstance(exc.__cause__, openai.APIError):
                            raise exc.__cause__ from None
                        raise
        except InstructorRetryException as exc:
            value = _salvage(exc, response_model) if salvage else None
            if value is None:
                raise ModelError(
                    f"{task}: the model's output failed validation after {self.config.max_validation_retries + 1} tries"
                ) from None
            salvaged, problem = True, _last_problem(exc)
        except IncompleteOutputException:
            raise ModelError(f"{task}: the model's answer was cut off at max_tokens={self.config.max_tokens}") from None
        except openai.AuthenticationError:
            raise EndpointError(f"{task}: the endpoint rejected the API key ({self.config.endpoint_host})") from None
        except (openai.APIError, OSError) as exc:
            raise EndpointError(f"{task}: the model endpoint failed ({type(exc).__name__}, {self.config.endpoint_host})") from None
        finally:
            record = UsageRecord(task=task, model=self.config.model, prompt_tokens=counts["prompt"],
                                 completion_tokens=counts["completion"], attempts=counts["responses"],
                                 retries=max(0, counts["responses"] - 1) + max(0, counts["transport_attempts"] - 1),
                                 seconds=round(time.perf_counter() - started, 3))
            self.usage.add(record)
        return Completion(value, record, salvaged, problem)


def _salvage(exc, response_model: type[T]) -> T | None:
    """The last answer, parsed without the validation context (grounding skipped), if it parses."""
    completion = getattr(exc, "last_completion", None)
    try:
        content = completion.choices[0].message.content
        return response_model.model_validate(json.loads(content))
    except Exception:
        return None


def _last_problem(exc) -> str:
    attempts = getattr(exc, "failed_attempts", None) or []
    if attempts:
        return str(attempts[-1].exception).splitlines()[0][:300]
    return "validation failed"
