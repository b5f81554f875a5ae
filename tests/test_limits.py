"""Per-endpoint limits: requests in flight, requests and tokens per minute — every HTTP attempt
takes a slot, with a fake clock so nothing really waits; and the sync face of the async client."""

from __future__ import annotations

import asyncio
import json

import httpx2 as httpx
import pytest

from imr_llm.model import ModelConfig
from imr_llm.model.limits import Limiter, LimitedTransport


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_requests_per_minute_spaces_requests_into_windows():
    async def go():
        clock = Clock()
        limiter = Limiter(None, requests_per_minute=3, clock=clock, sleep=clock.sleep)
        starts = []
        for _ in range(7):
            await limiter.acquire(1)
            starts.append(clock.now)
            limiter.release()
        return starts

    assert asyncio.run(go()) == [0, 0, 0, 60, 60, 60, 120]


def test_tokens_per_minute_uses_the_estimate_then_the_reported_usage():
    async def go():
        clock = Clock()
        limiter = Limiter(None, tokens_per_minute=1000, clock=clock, sleep=clock.sleep)
        await limiter.acquire(600)
        limiter.release(estimated=600, actual=100)  # the endpoint said 100: 900 left this minute
        await limiter.acquire(800)
        first = clock.now
        limiter.release()
        await limiter.acquire(800)  # 900 spent: waits for the window to free
        return first, clock.now

    assert asyncio.run(go()) == (0, 60)


def test_a_request_larger_than_the_budget_still_goes_once_the_window_is_empty():
    async def go():
        clock = Clock()
        limiter = Limiter(None, tokens_per_minute=100, clock=clock, sleep=clock.sleep)
        await limiter.acquire(500)
        limiter.release()
        await limiter.acquire(500)
        return clock.now

    assert asyncio.run(go()) == 60


def test_the_transport_bounds_requests_in_flight():
    state = {"now": 0, "peak": 0}

    async def handler(request):
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return httpx.Response(200, json={"usage": {"prompt_tokens": 5, "completion_tokens": 1}})

    async def go():
        config = ModelConfig(model="m", endpoint_kind="llamacpp", base_url="http://127.0.0.1:9/v1", max_in_flight=3)
        client = LimitedTransport.client(httpx.Client(transport=httpx.MockTransport(handler)), config)
        responses = await asyncio.gather(*(client.post("http://127.0.0.1:9/v1/x", content=b"{}") for _ in range(12)))
        await client.aclose()
        return responses

    responses = asyncio.run(go())
    assert [r.status_code for r in responses] == [200] * 12 and json.loads(responses[0].content)["usage"]
    assert state["peak"] == 3


def test_a_sync_call_from_inside_the_loop_is_refused_not_deadlocked():
    from imr_llm.runtime import background_loop, run_sync

    async def inner():
        async def nothing():
            return 1

        return run_sync(nothing())

    future = asyncio.run_coroutine_threadsafe(inner(), background_loop())
    with pytest.raises(RuntimeError, match="await the a\\* API"):
        future.result(timeout=10)
    assert run_sync(asyncio.sleep(0, result=5)) == 5
