"""The one letter loop under every command that reads letters: at most `concurrency` letters in
progress on one event loop, each read, parsed (`workers.Parsers`), finished by the pipeline and,
when asked, explained; a failed letter is a result with its error, never an exception."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from ..api import Pipeline
from ..errors import ImrError, InputError
from ..parsing import parse_source
from ..reading import read_images
from ..redaction import redacted
from .inputs import Letter, letter_hash, path_key, plan_letters
from .workers import STOP_GRACE_S, Parsers, Stop

# A worker takes about half a second to start: a batch this small parses its text letters faster
# without one.
PARSE_WORKERS_AFTER = 32


@dataclass
class LetterOutcome:
    """One letter's outcome: a determination (and explanation), or an error; or skipped."""

    source: str
    letter_sha256: str | None
    determination: Any = None
    explanation: Any = None
    error: ImrError | None = None
    skipped: bool = False
    seconds: float = 0.0
    paths: list[str] = field(default_factory=list)  # every path the letter was found under (source first)
    source_text: Any = None  # the letter as read (what an explanation page may quote)

    @property
    def key(self) -> str:
        """The letter's identity in an output file (what a resume skips)."""
        return self.letter_sha256 or path_key(self.source)

    def line(self, redact: bool = False) -> str:
        """The output line, exactly as every engine writes it (local, Ray, OpenAI Batch)."""
        return json.dumps(self.record(redact), ensure_ascii=False) + "\n"

    def record(self, redact: bool = False) -> dict[str, Any]:
        """The output line: hash and status first (what a resume reads), then the source."""
        head = {"letter_sha256": self.letter_sha256 or "", "status": "error" if self.error else "ok",
                "source": self.source, "source_paths": self.paths or [self.source]}
        if not self.letter_sha256:  # never read: identified by its path
            head["path_sha256"] = self.key.removeprefix("path:")
        body = {"error": self.error.to_json()} if self.error is not None else self.determination.model_dump(mode="json")
        record = {**head, **body}
        return redacted(record) if redact else record


async def _one(letter: Letter, result: LetterOutcome, pipeline, language: str | None, parsers: Parsers
               ) -> LetterOutcome:
    """Read, parse, finish (and explain) one letter; any failure is the result's error."""
    started = time.perf_counter()
    try:
        if letter.pages:  # pictures of one letter's pages: read by OCR here
            source = read_images(letter.pages)
            result.source = source.path or result.source
            det = parse_source(source)
        else:
            data = letter.read()
            if letter.key is not None and letter_hash(data) != letter.key:
                raise InputError(f"{result.source}: the file changed while the batch ran; run the batch again for it")
            source, det = await parsers.parse(data, result.source)
        result.determination = await pipeline.afinish(source, det)
        if language:
            result.explanation = await pipeline.aexplain(result.determination, source, language)
            result.source_text = source
    except ImrError as exc:
        result.error = exc
    except Exception as exc:  # a bug must not end the run: the letter is a failed one
        result.error = ImrError(f"{result.source}: {type(exc).__name__} while processing; please report it")
        result.error.code = "internal_error"
    result.seconds = time.perf_counter() - started
    return result


async def aiter_results(paths: Iterable | None, pipeline, *, concurrency: int = 4, skip: set[str] | None = None,
                        explain_language: str | None = None, parse_workers: int = 0, stop: Stop | None = None,
                        letters: list[Letter] | None = None, ordered: bool = False) -> AsyncIterator[LetterOutcome]:
    """Letters as they finish (`ordered`: in input order), each once however many paths it has
    (`letters`: as planned by the caller, else `plan_letters`). Keys in `skip` come out `skipped`,
    unparsed. After `stop`, no letter is started and those in progress get STOP_GRACE_S; the rest
    are dropped."""
    concurrency = max(1, concurrency)
    stop = stop or Stop()
    letters = letters if letters is not None else await plan_letters(paths, stop)
    parsers = Parsers(parse_workers, start_after=max(concurrency, PARSE_WORKERS_AFTER))
    pending: set[asyncio.Task] = set()
    order = _Order(ordered)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        for n, letter in enumerate(letters):
            while len(pending) >= concurrency and not stop.requested:
                done, pending = await asyncio.wait(pending | {stopping}, return_when=asyncio.FIRST_COMPLETED)
                pending.discard(stopping)
                for result in order.release(done - {stopping}):
                    yield result
            if stop.requested:
                break
            first = LetterOutcome(letter.names[0], None if letter.error else letter.key, paths=letter.names)
            first.skipped = skip is not None and letter.key in skip
            first.error = None if first.skipped else letter.error
            if first.skipped or first.error is not None:
                for result in order.release((), (n, first)):
                    yield result
            else:
                parsers.letters += 1
                pending.add(order.task(n, _one(letter, first, pipeline, explain_language, parsers)))
        async for result in _drain(pending, stop, stopping, order):
            yield result
    finally:
        stopping.cancel()
        for task in pending:
            task.cancel()
        await asyncio.gather(stopping, *pending, return_exceptions=True)
        await parsers.aclose()


async def _drain(pending: set, stop: Stop, stopping, order: "_Order") -> AsyncIterator[LetterOutcome]:
    """The letters still in progress once none is left to start (after a stop: for STOP_GRACE_S)."""
    deadline = None
    while pending:
        if stop.requested and deadline is None:
            deadline = time.monotonic() + STOP_GRACE_S
        waits = pending if deadline is not None else pending | {stopping}
        done, left = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED,
                                        timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
        pending.intersection_update(left)  # the caller's set: what is cancelled if the run ends here
        if not done:  # the grace is over: what is still in progress is dropped
            return
        for result in order.release(done - {stopping}):
            yield result


class _Order:
    """Hands results out as they finish, or (`ordered`) in input order, holding the early ones."""

    def __init__(self, ordered: bool) -> None:
        self.ordered, self.next, self.held = ordered, 0, {}
        self.index: dict[asyncio.Future, int] = {}

    def task(self, n: int, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self.index[task] = n
        return task

    def release(self, done, *ready: tuple[int, LetterOutcome]) -> list[LetterOutcome]:
        """The results now due: those of the `done` tasks and the `ready` (n, result), and any held for them."""
        self.held.update((self.index.pop(task), task.result()) for task in done)
        self.held.update(ready)
        if not self.ordered:
            out, self.held = list(self.held.values()), {}
            return out
        out = []
        while self.next in self.held:
            out.append(self.held.pop(self.next))
            self.next += 1
        return out


def iterate_results(paths, pipeline, *, concurrency: int = 4, **options) -> Iterator[LetterOutcome]:
    """The sync face of `aiter_results`: its own event loop, driven one result at a time."""
    loop = asyncio.new_event_loop()
    agen = aiter_results(paths, pipeline, concurrency=concurrency, **options)
    step = None
    try:
        while True:
            step = asyncio.ensure_future(agen.__anext__(), loop=loop)
            try:
                yield loop.run_until_complete(step)
            except StopAsyncIteration:
                break
    finally:
        if step is not None and not step.done():  # a Ctrl-C inside a step: end it first, so the generator
            step.cancel()                          # cleans up (aclose now would be "already running")
            with suppress(asyncio.CancelledError, StopAsyncIteration):
                loop.run_until_complete(step)
        loop.run_until_complete(agen.aclose())
        loop.run_until_complete(pipeline.aclose())
        loop.close()


def extract_many(paths, model=None, *, concurrency: int = 4, cache_dir=None, use_cache: bool = True):
    """Extract many letters, `concurrency` at a time: a `LetterOutcome` per letter as it finishes
    (memory stays flat); a letter that fails is a result with its `error`, never an exception."""
    with Pipeline(model, cache_dir=cache_dir, use_cache=use_cache) as pipeline:
        yield from iterate_results(paths, pipeline, concurrency=concurrency)
