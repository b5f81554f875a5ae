"""`imr-llm batch` (and the Batch API's collect): every letter not already in the output, through
the one loop; each letter's explanation page first, then its line (the letter's commit point), then
the CSV rebuilt from the JSONL. The output file is held for the run: a second batch on it is refused."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

from ..output import JsonlAppender, private_dir
from .loop import aiter_results
from .sinks import done_keys, page_path, rebuild_csv, write_page
from .summary import Summary
from .workers import Stop


@dataclass
class BatchOptions:
    out: Path
    csv: Path | None = None
    explain_dir: Path | None = None
    language: str = "en"
    explain_format: str = "html"
    concurrency: int = 4
    parse_workers: int = 0  # processes that read and parse (the CLI's default: workers.default_parse_workers())
    redact: bool = False
    price_in: float | None = None  # per million tokens
    price_out: float | None = None
    discount: float = 1.0  # on the known live price (the Batch API's: half)


async def run_batch(paths: list, pipeline, options: BatchOptions, *, progress=None, stop: Stop | None = None) -> Summary:
    """Every letter under `paths` not already in `options.out`, then the CSV. `progress(result)` is
    called after each letter; in the main thread SIGINT is `stop`'s for the run."""
    summary = Summary()
    started = time.perf_counter()
    stop = stop or Stop()
    out = JsonlAppender(options.out, own=True)
    give_back = _take_sigint(stop)
    try:
        skip = done_keys(options.out)
        if options.explain_dir is not None:
            private_dir(options.explain_dir)
        results = aiter_results(paths, pipeline, concurrency=options.concurrency, skip=skip,
                                explain_language=options.language if options.explain_dir else None,
                                parse_workers=options.parse_workers, stop=stop)
        async with aclosing(results):
            async for result in results:
                record = None
                if not result.skipped:
                    if result.explanation is not None and options.explain_dir is not None:
                        write_page(result, options.explain_dir, options.language, options.explain_format,
                                   options.redact)  # first: the line is the letter's commit point
                    record = result.record(options.redact)
                    out.write(record)
                elif options.explain_dir is not None and result.letter_sha256 and not page_path(
                        result, options.explain_dir, options.language, options.explain_format, options.redact).exists():
                    summary.pages_missing += 1  # done by an earlier run without this --explain: said at the end
                summary.add(record, len(result.paths) or 1)
                if progress is not None:
                    progress(result)
    except (asyncio.CancelledError, KeyboardInterrupt):
        summary.interrupted = True
    finally:
        give_back()
        out.close()
        await pipeline.aclose()
    summary.interrupted = summary.interrupted or stop.requested
    finish(summary, started, options, pipeline.model)
    return summary


def finish(summary: Summary, started: float, options: BatchOptions, model) -> None:
    """The wall time, the letters the output holds (the CSV rebuilt from it on the way), the cost."""
    summary.wall_s = time.perf_counter() - started
    summary.output_letters = (rebuild_csv(options.out, options.csv, options.redact) if options.csv is not None
                              else len(done_keys(options.out)))
    summary.estimate_cost(model, options.price_in, options.price_out, options.discount)


def _take_sigint(stop: Stop):
    """SIGINT as `stop`'s request through the running loop (main thread only); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, stop.request)
    except (NotImplementedError, RuntimeError, ValueError):
        return lambda: None

    def give_back() -> None:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)

    return give_back
