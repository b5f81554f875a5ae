"""Per-endpoint limits: requests in flight, requests and tokens per minute. Every HTTP attempt
(first tries, re-asks and transport retries alike) takes a slot before it is sent, so a batch at
concurrency 64 never sends more than the endpoint allows. One `Limiter` per (endpoint, event loop):
asyncio primitives belong to their loop. Tokens are charged with an estimate (prompt characters / 4
plus `max_tokens`) and corrected with the usage the endpoint reports."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import weakref
from collections import deque
from dataclasses import dataclass, field

from . import adapters
from .adapters import httpx


@dataclass
class _Window:
    """What was spent in the last 60 seconds."""

    per_minute: float | None
    spent: deque = field(default_factory=deque)  # (time, amount)
    total: float = 0.0

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until `amount` fits (0 if it fits now). A single request larger than the
        whole budget waits for an empty window and then goes (it could never fit otherwise)."""
        if self.per_minute is None:
            return 0.0
        while self.spent and now - self.spent[0][0] >= 60.0:
            self.total -= self.spent.popleft()[1]
        if self.total + amount <= self.per_minute or not self.spent:
            return 0.0
        excess, freed = self.total + amount - self.per_minute, 0.0
        for t, spent in self.spent:  # no break: more than the budget, it waits for the last to leave
            freed += spent
            if freed >= excess:
                break
        return max(0.0, t + 60.0 - now)

    def charge(self, amount: float, now: float) -> None:
        if self.per_minute is not None:
            self.spent.append((now, amount))
            self.total += amount


class Limiter:
    def __init__(self, max_in_flight: int | None = None, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None, clock=time.monotonic, sleep=asyncio.sleep) -> None:
        self._slots = asyncio.Semaphore(max_in_flight or sys.maxsize)  # None: no bound
        self._requests, self._tokens = _Window(requests_per_minute), _Window(tokens_per_minute)
        self._lock, self._clock, self._sleep = asyncio.Lock(), clock, sleep

    async def acquire(self, tokens: float) -> None:
        await self._slots.acquire()
        try:
            async with self._lock:  # one waiter at a time: first come, first served
                while True:
                    now = self._clock()
                    delay = max(self._requests.wait_for(1, now), self._tokens.wait_for(tokens, now))
                    if delay <= 0:
                        break
                    await self._sleep(delay)
                now = self._clock()
                self._requests.charge(1, now)
                self._tokens.charge(tokens, now)
        except BaseException:
            self._slots.release()
            raise

    def release(self, estimated: float = 0.0, actual: float | None = None) -> None:
        if actual is not None and self._tokens.per_minute is not None and actual != estimated:
            self._tokens.charge(actual - estimated, self._clock())  # correct the estimate
        self._slots.release()


# the limiter shared by every client of one endpoint in a loop: loop -> {(host, *limits): Limiter}
_limiters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, Limiter]]" = weakref.WeakKeyDictionary()


class LimitedTransport(httpx.AsyncBaseTransport):
    """An async httpx transport that takes a limiter slot for every request it sends — first
    tries, re-asks and retries alike — and corrects the token budget with the reported usage."""

    def __init__(self, inner, config) -> None:
        self.inner, self.config = inner, config

    @classmethod
    def client(cls, given, config):
        """An AsyncClient over this transport, around `given`'s transport when it has an async one."""
        return httpx.AsyncClient(transport=cls(adapters.transport_of(given), config), timeout=config.timeout_s)

    async def handle_async_request(self, request):
        config, actual = self.config, None
        key = (config.endpoint_host, config.max_in_flight, config.requests_per_minute, config.tokens_per_minute)
        per_loop = _limiters.setdefault(asyncio.get_running_loop(), {})
        limiter = per_loop.get(key) or per_loop.setdefault(key, Limiter(*key[1:]))
        estimate = len(request.content or b"") / 4 + config.max_tokens
        await limiter.acquire(estimate)
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()  # small JSON bodies: read here, so the slot covers the whole answer
            try:
                usage = json.loads(response.content).get("usage") or {}
                actual = float((usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)) or None
            except (ValueError, AttributeError, TypeError):
                pass
            return response
        finally:
            limiter.release(estimate, actual)

    async def aclose(self) -> None:
        await self.inner.aclose()
