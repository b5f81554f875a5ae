"""Models that wrap a model (as pydantic-ai's wrapper models do): each has the stack's one method,
`request(Request) -> Completion`, and adds one concern around its inner model. The endpoint's limits
wrap its HTTP transport instead (limits.py): every attempt takes a slot, re-asks and retries too."""

from __future__ import annotations

import functools

from pydantic import ValidationError

from ..cache import CacheBackend
from .endpoint import Completion, Endpoint, Request
from .usage import UsageLog, UsageRecord


class Cached:
    """Answers from the store first; an answer that parses into the response model is stored after
    the inner call (errors never are; a salvaged one with its flag, so a rerun drops the same values)."""

    def __init__(self, inner, store: CacheBackend, usage: UsageLog, model_name: str) -> None:
        self.inner, self.store, self.usage, self.model_name = inner, store, usage, model_name

    async def request(self, request: Request) -> Completion:
        cached = self.store.get(request.key)
        found = isinstance(cached, dict) and "value" in cached
        try:
            value = request.response_model.model_validate(cached["value"]) if found else None
        except ValidationError:
            value = None  # written by an older schema: ask again
        if value is not None:
            self.usage.add(record := UsageRecord(task=request.task, model=self.model_name, cached=True, attempts=0))
            return Completion(value, record, bool(cached.get("salvaged")), cached.get("problem"))
        completion = await self.inner.request(request)
        self.store.set(request.key, {"value": completion.value.model_dump(mode="json"),
                                     "salvaged": completion.salvaged, "problem": completion.problem})
        return completion


class BatchAPI:
    """Hands each call to a Batch API pass (runs/openai_batch.py) with its key and a way to run it on an
    in-process transport: prepare records the request, collect answers it from the batch's results."""

    def __init__(self, endpoint: Endpoint, batch_pass) -> None:
        self.endpoint, self.batch_pass = endpoint, batch_pass

    async def request(self, request: Request) -> Completion:
        return await self.batch_pass.acall(request.task, request.key, functools.partial(self.endpoint.request, request))
