"""Scale-out with Ray Data: `imr-llm batch --engine ray` (the optional extra `imr-llm[ray]`). Only
paths go into the dataset; each Ray worker (an actor) runs the one letter loop on a `Pipeline` of its
own, so files must be readable at the same path on every node and the IMR_LLM_MAX_IN_FLIGHT /
_PER_MINUTE limits are per worker. The driver resumes, writes every line and rebuilds the CSV."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..api import Pipeline
from ..cache import default_cache_dir
from ..errors import ConfigError
from ..output import JsonlAppender
from .batch import BatchOptions, finish
from .inputs import iter_inputs
from .loop import aiter_results
from .sinks import PREFIX, done_keys
from .summary import Summary

RAY_MISSING = "the Ray engine needs Ray: install imr-llm[ray] (pip install 'imr-llm[ray]')"


def require_ray():
    """`ray` (with Ray Data), or a ConfigError saying how to install it."""
    try:
        import ray  # deferred: the optional extra imr-llm[ray]
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


class LetterWorker:
    """One per Ray worker process: a Pipeline and an event loop that live as long as the worker."""

    def __init__(self, model=None, cache_dir: str | None = None, use_cache: bool = True, per_worker: int = 4,
                 skip: frozenset[str] = frozenset(), redact: bool = False) -> None:
        self.pipeline = Pipeline(model, cache_dir=cache_dir, use_cache=use_cache)
        self.loop = asyncio.new_event_loop()
        self.per_worker, self.skip, self.redact = per_worker, set(skip), redact

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        results = self.loop.run_until_complete(self._run([str(p) for p in batch["path"]]))
        # the line exactly as `run_batch` writes it; a skipped letter is an empty line
        return {"line": ["" if r.skipped else r.line(self.redact) for r in results]}

    async def _run(self, paths: list[str]) -> list:
        return [r async for r in aiter_results(paths, self.pipeline, concurrency=self.per_worker, skip=self.skip)]

    def __del__(self) -> None:  # best effort: Ray may end the process without it
        try:
            if not self.loop.is_closed():
                self.loop.run_until_complete(self.pipeline.aclose())
            self.loop.close()
            self.pipeline.close()
        except Exception:
            pass


def run_ray(paths: Iterable[str | os.PathLike[str]], options: BatchOptions, *, model=None,
            cache_dir: str | os.PathLike[str] | None = None, use_cache: bool = True, workers: int | None = None,
            progress: Callable[[dict | None], None] | None = None) -> Summary:
    """`run_batch` on Ray Data: `workers` actors of one CPU (default: one per cluster CPU), on the running
    Ray instance, else `ray.init()` (RAY_ADDRESS, or a local one shut down afterwards)."""
    ray = require_ray()
    summary, started = Summary(), time.perf_counter()
    with JsonlAppender(options.out, own=True) as appender:  # held for the run: a second run on it is refused
        skip = done_keys(options.out)
        files = [str(p) for p in iter_inputs(paths)]
        own_instance = not ray.is_initialized()
        if own_instance:
            ray.init(logging_level=logging.WARNING, **({} if os.environ.get("RAY_ADDRESS") else {"include_dashboard": False}))
        try:
            per_worker = max(1, options.concurrency)
            workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            # workers need the cache folder the driver means (not their own default or environment)
            cache = str(Path(cache_dir) if cache_dir else default_cache_dir()) if model is not None else None
            setup = {"model": model, "cache_dir": cache, "use_cache": use_cache, "per_worker": per_worker,
                     "skip": frozenset(skip), "redact": options.redact}
            if files:
                ray.data.DataContext.get_current().enable_progress_bars = False  # the CLI shows its own
                dataset = ray.data.from_items([{"path": f} for f in files]).map_batches(
                    LetterWorker, batch_size=per_worker, batch_format="numpy",
                    compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1, fn_constructor_kwargs=setup)
                _write(dataset.iter_rows(), appender, summary, progress)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            if own_instance:
                ray.shutdown()
    finish(summary, started, options, model)
    return summary


def _write(rows, appender: JsonlAppender, summary: Summary, progress) -> None:
    """The workers' lines, appended as they come (a letter done before, or twice in this run: once)."""
    written: set[str] = set()
    for row in rows:
        line = str(row["line"])
        key = PREFIX.match(line)
        record = None
        if line and not (key and key.group(1) in written):
            appender.write_line(line)
            if key and key.group(1):
                written.add(key.group(1))
            record = json.loads(line)
        summary.add(record)
        if progress is not None:
            progress(record)
