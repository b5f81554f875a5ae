"""The model stack (imr_llm/model/wrappers.py, client.py): cached(endpoint) by default; inside
`client.batch_api(pass)` cached(batch_api(endpoint)) for that client in that context only — the
endpoint is not asked, the pass's answer is cached, and the cache answers the same call afterwards."""

from __future__ import annotations

import asyncio
import json

import httpx2 as httpx

from imr_llm.cache import MemoryCache
from imr_llm.enrich.answers import ItemsAnswer
from imr_llm.model import ModelConfig, StructuredClient
from imr_llm.model.wrappers import Cached
from imr_llm.prompts import load_prompt
from imr_llm.taxonomy import SUBCATEGORIES
from fake_openai_server import chat_completion

ANSWER = {"items": [{"service": "physical therapy", "category": "Rehabilitation", "subcategory": None,
                     "body_regions": [], "laterality": None, "quantity": None, "conclusion": "medically necessary",
                     "reasons": [{"point": "A reason.", "quote": "it helps"}], "missing_documentation": []}]}
CONFIG = ModelConfig(model="fake", endpoint_kind="vllm", base_url="http://127.0.0.1:9/v1")


class AnsweringPass:
    """A Batch API pass that answers every call through the in-process transport it is handed."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    async def acall(self, task, key, call):
        self.keys.append(key)
        return await call(httpx.MockTransport(lambda request: httpx.Response(
            200, json=chat_completion(json.dumps(ANSWER)))))


def _client(sent: list, cache=None) -> StructuredClient:
    def handler(request):
        sent.append(request)
        return httpx.Response(200, json=chat_completion(json.dumps(ANSWER)))

    return StructuredClient(CONFIG, cache=cache, http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def _ask(client: StructuredClient, request: str):
    return client.arun("item_fields", load_prompt("item_fields"),
                       {"items": [{"request": request, "rationale": "it helps"}], "taxonomy": SUBCATEGORIES}, ItemsAnswer)


def test_batch_api_routes_only_this_client_in_this_context_and_the_cache_keeps_its_answers():
    sent, other_sent = [], []
    client, other = _client(sent, MemoryCache()), _client(other_sent)
    assert isinstance(client.model, Cached) and client.model.inner is client.endpoint
    assert other.model is other.endpoint  # no store: no cache layer
    batch_pass = AnsweringPass()

    async def go():
        with client.batch_api(batch_pass):
            inside = await _ask(client, "Physical therapy x 6")
            await _ask(other, "Physical therapy x 6")  # another client: its own endpoint
        again = await _ask(client, "Physical therapy x 6")  # the cache answers
        fresh = await _ask(client, "Physical therapy x 8")  # the endpoint answers
        await client.aclose()
        await other.aclose()
        return inside, again, fresh

    inside, again, fresh = asyncio.run(go())
    assert len(batch_pass.keys) == 1 and inside.value.items[0].service == "physical therapy"
    assert inside.record.attempts == 1 and not inside.record.cached
    assert again.record.cached and again.value.model_dump() == inside.value.model_dump()
    assert not fresh.record.cached and len(sent) == 1 and len(other_sent) == 1
    assert client.usage.summary()["cache_hits"] == 1
