"""StructuredClient: prompt file + variables -> a validated pydantic object. It renders the prompt,
computes the cache key (cache.py's recipe) and asks its stack of models (wrappers.py) over one
endpoint call (endpoint.py): cached(endpoint), or within `batch_api()` cached(batch_api(endpoint)) —
for that context and the tasks it starts only, never for other callers of a shared client."""

from __future__ import annotations

import functools
import json
from contextlib import contextmanager
from contextvars import ContextVar

from ..cache import CacheBackend, cache_key
from ..prompts import Prompt
from ..runtime import run_sync
from ..schema import fingerprint
from .config import ModelConfig
from .endpoint import Completion, Endpoint, Request
from .usage import UsageLog
from .wrappers import BatchAPI, Cached

_stack: ContextVar[tuple | None] = ContextVar("imr_llm_model_stack", default=None)  # (client, its stack here)


class StructuredClient:
    def __init__(self, config: ModelConfig, cache: CacheBackend | None = None, usage: UsageLog | None = None,
                 http_client=None) -> None:
        self.config, self.cache, self.usage = config, cache, usage if usage is not None else UsageLog()
        self.endpoint = Endpoint(config, self.usage, http_client)
        self.model = self._cached(self.endpoint)

    def _cached(self, model):
        return Cached(model, self.cache, self.usage, self.config.model) if self.cache is not None else model

    # how transport-retry waits are slept (None: asyncio.sleep); tests record them instead
    sleep = property(lambda self: self.endpoint.sleep, lambda self, sleep: setattr(self.endpoint, "sleep", sleep))

    @contextmanager
    def batch_api(self, batch_pass):
        """Within this block, calls go to a Batch API pass (runs/openai_batch.py) through the cache."""
        token = _stack.set((self, self._cached(BatchAPI(self.endpoint, batch_pass))))
        try:
            yield batch_pass
        finally:
            _stack.reset(token)

    def complete(self, task: str, prompt: Prompt, variables: dict, response_model: type):
        """The validated answer (raises ModelError when there is none)."""
        return self.run(task, prompt, variables, response_model).value

    def run(self, task: str, prompt: Prompt, variables: dict, response_model: type, **options) -> Completion:
        """`arun` run on imr-llm's background loop."""
        return run_sync(self.arun(task, prompt, variables, response_model, **options))

    async def acomplete(self, task: str, prompt: Prompt, variables: dict, response_model: type):
        return (await self.arun(task, prompt, variables, response_model)).value

    async def arun(self, task: str, prompt: Prompt, variables: dict, response_model: type, *,
                   context: dict | None = None, salvage: bool = False, max_tokens: int | None = None,
                   reask: bool = True) -> Completion:
        """Ask once (cache first). With `context`, validators can ground values in it; with `salvage`,
        an answer that still fails validation after the re-asks is returned parsed without the context
        (flagged) instead of raising, when it parses at all. `max_tokens`: this call's bound when it
        is not the configured one (an answer for several items of a letter). `reask=False`: no re-ask
        with the whole conversation (the caller asks again only what failed, more cheaply)."""
        messages = prompt.render(**variables)
        schema_json, schema_hash = _grammar(response_model)
        params = {"temperature": self.config.temperature, "max_tokens": max_tokens or self.config.max_tokens}
        key = cache_key(model=self.config.model, endpoint_kind=self.config.endpoint_kind, prompt_hash=prompt.sha256,
                        schema_hash=schema_hash, messages=messages, params=params if reask else {**params, "reask": False})
        stack = _stack.get()
        model = stack[1] if stack is not None and stack[0] is self else self.model
        return await model.request(Request(task, messages, schema_json, params, response_model, key, context, salvage, reask))

    async def aclose(self) -> None:
        await self.endpoint.aclose()


@functools.lru_cache(maxsize=256)
def _grammar(response_model) -> tuple[str, str]:
    """(the schema the server's grammar enforces, as JSON; its fingerprint), once per response
    model: a response model may print a shorter schema into the prompt (enrich/answers.py)."""
    schema = getattr(response_model, "grammar_schema", response_model.model_json_schema)()
    return json.dumps(schema), fingerprint(schema)
