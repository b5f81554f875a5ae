"""Scale-out with Ray Data: `imr-llm batch --engine ray` (the optional extra `imr-llm[ray]`).

The same per-letter code as `imr-llm batch` (`batch.aiter_results`, hence `batch._one`), mapped
over a Ray dataset of file paths; the lines come back to the driver, which appends them with the
same writer (`output.JsonlAppender`) and the same line format (`LetterResult.record`), so the
output is the batch CLI's JSONL, in finishing order.

* **What runs where.** The driver lists the files and reads the output's letter hashes (resume);
  only paths go into the dataset. Each Ray worker (an actor) opens one `Pipeline` — its own HTTP
  client, cache handle, endpoint limits and event loop — and runs `per_worker` letters at once
  on it, reading and hashing each file itself (so files must be readable at the same path on
  every node). The driver writes every line and rebuilds the CSV.
* **Resume.** A letter whose hash is already in `out` is skipped by the worker, before parsing;
  a letter that comes back twice in one run (the same file under two names) is written once.
* **Limits.** `IMR_LLM_MAX_IN_FLIGHT` / `_REQUESTS_PER_MINUTE` / `_TOKENS_PER_MINUTE` apply per
  worker process: for a total budget, divide it by the number of workers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .batch import BatchOptions, BatchSummary, aiter_results, count_letters, done_keys, iter_inputs, rebuild_csv
from .errors import ConfigError

RAY_MISSING = "the Ray engine needs Ray: install imr-llm[ray] (pip install 'imr-llm[ray]')"
_KEY = re.compile(r'^\{"letter_sha256": "([0-9a-f]{64})"')


def require_ray():
    """`ray` (with Ray Data), or a ConfigError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


class LetterWorker:
    """One per Ray worker process: a Pipeline and an event loop that live as long as the worker
    (the HTTP client and the endpoint limits belong to the loop), fed batches of paths."""

    def __init__(self, model=None, cache_dir: str | None = None, use_cache: bool = True, per_worker: int = 4,
                 skip: frozenset[str] = frozenset(), redact: bool = False) -> None:
        from .api import Pipeline

        self.pipeline = Pipeline(model, cache_dir=cache_dir, use_cache=use_cache)
        self.loop = asyncio.new_event_loop()
        self.per_worker, self.skip, self.redact = per_worker, set(skip), redact

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        results = self.loop.run_until_complete(self._run([str(p) for p in batch["path"]]))
        # the line exactly as `batch.run_batch` writes it; a skipped letter is an empty line
        return {"line": ["" if r.skipped else r.line(self.redact)
                         for r in results]}

    async def _run(self, paths: list[str]) -> list:
        return [r async for r in aiter_results(paths, self.pipeline, concurrency=self.per_worker, skip=self.skip)]

    def __del__(self) -> None:  # best effort: Ray may end the process without it
        try:
            if self.pipeline.enricher is not None and not self.loop.is_closed():
                self.loop.run_until_complete(self.pipeline.enricher.client.aclose())
            self.loop.close()
            self.pipeline.close()
        except Exception:
            pass


def run_ray(paths: Iterable[str | os.PathLike[str]], out: str | os.PathLike[str], *, model=None,
            cache_dir: str | os.PathLike[str] | None = None, use_cache: bool = True, concurrency: int | None = None,
            per_worker: int = 4, num_cpus: float | None = None, batch_size: int | None = None, redact: bool = False,
            csv: str | os.PathLike[str] | None = None, price_in: float | None = None, price_out: float | None = None,
            progress: Callable[[dict | None], None] | None = None) -> BatchSummary:
    """`run_batch` on Ray Data: every letter under `paths` not already in `out` is processed by
    one of `concurrency` workers (default: one per CPU of the cluster), each with `per_worker`
    letters in progress and `num_cpus` CPUs reserved (default 1); one line per letter is appended
    to `out` by this process. Uses the running Ray instance, else `ray.init()` (RAY_ADDRESS
    names a cluster; without it a local instance is started and shut down afterwards).
    `progress(record)` is called after each letter (None for one skipped as already done)."""
    ray = require_ray()
    from .batch import _cost
    from .cache import default_cache_dir
    from .output import JsonlAppender

    out = Path(out)
    csv_path = Path(csv) if csv is not None else None
    summary = BatchSummary()
    started = time.perf_counter()
    appender = JsonlAppender(out, own=True)  # held for the run: a second run on it is refused
    try:
        skip = done_keys(out)
    except BaseException:
        appender.close()
        raise
    files = [str(p) for p in iter_inputs(paths)]
    own_instance = not ray.is_initialized()
    if own_instance:
        local = {} if os.environ.get("RAY_ADDRESS") else {"include_dashboard": False}
        ray.init(logging_level=logging.WARNING, **local)
    try:
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = False  # the CLI shows its own
        workers = concurrency or max(1, int(ray.cluster_resources().get("CPU", 1) // (num_cpus or 1)))
        per_worker = max(1, per_worker)
        # workers need the cache folder the driver means (not their own default or environment)
        resolved_cache = str(Path(cache_dir) if cache_dir else default_cache_dir()) if model is not None else None
        written: set[str] = set()
        try:
            if files:
                dataset = ray.data.from_items([{"path": f} for f in files]).map_batches(
                    LetterWorker, batch_size=batch_size or per_worker, batch_format="numpy",
                    compute=ray.data.ActorPoolStrategy(size=workers),
                    num_cpus=1 if num_cpus is None else num_cpus,
                    fn_constructor_kwargs={"model": model, "cache_dir": resolved_cache, "use_cache": use_cache,
                                           "per_worker": per_worker, "skip": frozenset(skip), "redact": redact})
                for row in dataset.iter_rows():
                    line = str(row["line"])
                    key = _KEY.match(line)
                    if not line or (key and key.group(1) in written):  # done before, or a duplicate file
                        summary.letters += 1
                        summary.skipped += 1
                        record = None
                    else:
                        appender.write_line(line)
                        if key:
                            written.add(key.group(1))
                        record = json.loads(line)
                        _tally(summary, record)
                    if progress is not None:
                        progress(record)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            appender.close()
    finally:
        if own_instance:
            ray.shutdown()
    summary.wall_s = time.perf_counter() - started
    summary.output_letters = rebuild_csv(out, csv_path, redact) if csv_path is not None else count_letters(out)
    pipeline = SimpleNamespace(enricher=SimpleNamespace(config=model) if model is not None else None)
    summary.cost = _cost(pipeline, summary, BatchOptions(out=out, price_in=price_in, price_out=price_out))
    return summary


def _tally(summary: BatchSummary, record: dict[str, Any]) -> None:
    """`BatchSummary.add` for a written line (what the driver has of a letter)."""
    summary.letters += 1
    if record.get("status") == "error":
        summary.failed[record["error"]["code"]] += 1
        return
    items = record.get("items") or []
    summary.done += 1
    summary.items += len(items)
    summary.decisions.update(i.get("decision") for i in items)
    if record.get("outcome"):
        summary.outcomes[record["outcome"]] += 1
    usage = (record.get("model_step") or {}).get("usage") or {}
    summary.calls += usage.get("calls", 0)
    summary.cache_hits += usage.get("cache_hits", 0)
    summary.prompt_tokens += usage.get("prompt_tokens", 0)
    summary.completion_tokens += usage.get("completion_tokens", 0)
