"""Every model call is a coroutine; the sync API runs it on one private event loop in a background
thread. One long-lived loop rather than `asyncio.run` per call, because the HTTP client's
connection pool (and the rate limiter's state) is bound to the loop that opened it. The loop is
re-created after a fork; a sync call from inside the loop itself is refused instead of deadlocking."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_state: dict[str, Any] = {"loop": None, "pid": None}


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's loop for sync calls (started on first use, a daemon thread)."""
    with _lock:
        loop = _state["loop"]
        if loop is None or loop.is_closed() or _state["pid"] != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="imr-llm-loop", daemon=True)
            thread.start()
            _state.update(loop=loop, pid=os.getpid())
        return loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code and return its result (or raise its error)."""
    loop = background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("a sync imr-llm call was made from inside imr-llm's own event loop; await the a* API")
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. Ctrl-C in the caller: stop the work, do not leave it running
        raise
