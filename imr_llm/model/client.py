"""StructuredClient: prompt file + variables → a validated pydantic object, through instructor
over the openai client, with a cache in front and two separate retry layers:

* transport errors (429, 5xx, timeouts, dropped connections) — retried by tenacity with backoff;
* outputs that fail the schema — re-asked by instructor with the validation error.

Every response (each attempt) is counted in the UsageLog with its tokens; cache hits are
logged as cached, zero-cost records. Messages are never logged.
"""

from __future__ import annotations

import time
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ..cache import ResponseCache, cache_key, schema_fingerprint
from ..errors import ModelError
from ..prompts import Prompt
from .config import ModelConfig
from .usage import UsageLog, UsageRecord

T = TypeVar("T", bound=BaseModel)


class StructuredClient:
    def __init__(self, config: ModelConfig, cache: ResponseCache | None = None, usage: UsageLog | None = None,
                 http_client=None) -> None:
        self.config = config
        self.cache = cache
        self.usage = usage if usage is not None else UsageLog()
        self._http_client = http_client
        self._instructor = None

    # -- public ---------------------------------------------------------------------------

    def complete(self, task: str, prompt: Prompt, variables: dict, response_model: type[T]) -> T:
        messages = prompt.render(**variables)
        schema = response_model.model_json_schema()
        params = {"temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        key = cache_key(model=self.config.model, endpoint_kind=self.config.endpoint_kind,
                        prompt_hash=prompt.sha256, schema_hash=schema_fingerprint(schema),
                        messages=messages, params=params)
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                try:
                    result = response_model.model_validate(cached)
                except ValidationError:
                    result = None  # written by an older schema: ask again
                if result is not None:
                    self.usage.add(UsageRecord(task=task, model=self.config.model, cached=True, attempts=0))
                    return result
        result = self._call(task, messages, schema, params, response_model)
        if self.cache is not None:
            self.cache.set(key, result.model_dump(mode="json"))
        return result

    # -- internals ------------------------------------------------------------------------

    def _client(self):
        if self._instructor is None:
            import instructor
            import openai

            raw = openai.OpenAI(
                base_url=self.config.resolved_base_url,
                api_key=self.config.api_key(),
                timeout=self.config.timeout_s,
                max_retries=0,  # tenacity owns transport retries
                http_client=self._http_client,
            )
            self._instructor = instructor.from_openai(raw, mode=getattr(instructor.Mode, self.config.profile.mode))
        return self._instructor

    def _call(self, task, messages, schema, params, response_model):
        import openai
        from instructor.core.exceptions import InstructorRetryException
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        client = self._client()
        tokens = {"prompt": 0, "completion": 0, "attempts": 0}

        def on_response(response) -> None:
            tokens["attempts"] += 1
            usage = getattr(response, "usage", None)
            if usage is not None:
                tokens["prompt"] += usage.prompt_tokens or 0
                tokens["completion"] += usage.completion_tokens or 0

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError)):
                return True
            return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500

        client.on("completion:response", on_response)
        started = time.perf_counter()
        try:
            for attempt in Retrying(
                retry=retry_if_exception(transient),
                stop=stop_after_attempt(self.config.max_transport_retries + 1),
                wait=wait_exponential(multiplier=1, min=1, max=30),
                reraise=True,
            ):
                with attempt:
                    try:
                        return_value = client.chat.completions.create(
                            model=self.config.model,
                            messages=messages,
                            response_model=response_model,
                            max_retries=self.config.max_validation_retries,
                            extra_body=self.config.profile.structured(schema) or None,
                            **params,
                        )
                    except InstructorRetryException as exc:
                        # instructor wraps HTTP failures too; hand those to the transport layer
                        if isinstance(exc.__cause__, openai.APIError):
                            raise exc.__cause__ from None
                        raise
        except InstructorRetryException as exc:
            raise ModelError(
                f"{task}: the model's output failed validation after {self.config.max_validation_retries + 1} tries"
            ) from exc
        except openai.AuthenticationError:
            raise ModelError(f"{task}: the endpoint rejected the API key ({self.config.endpoint_host})") from None
        except (openai.APIError, OSError) as exc:
            raise ModelError(f"{task}: the model endpoint failed ({type(exc).__name__}, {self.config.endpoint_host})") from None
        finally:
            client.clear("completion:response")
            self.usage.add(UsageRecord(task=task, model=self.config.model, prompt_tokens=tokens["prompt"],
                                       completion_tokens=tokens["completion"], attempts=tokens["attempts"],
                                       seconds=round(time.perf_counter() - started, 3)))
        return return_value
