"""Many letters at once: the streaming core of `extract_many` and `imr-llm batch`.

* **One identity per letter.** Before any letter is parsed, every file is hashed (sha256 of its
  bytes, its size checked before any is read): a letter found under two names is one letter,
  processed once, its line listing every path (`source_paths`). A file that cannot be read is
  identified by its path (`path_sha256`).
* **Bounded concurrency.** At most `concurrency` letters are in progress; each is parsed and
  (with a model) enriched on one event loop, so letters wait on the endpoint together while the
  endpoint's own limits (`model/limits.py`) cap what is sent.
* **Limits where the work runs.** A PDF is always read in a parse worker, a separate process
  with at most READ_MEMORY of address space and READ_SECONDS per letter (a hostile PDF: a Flate
  bomb, text extraction that is quadratic); a worker that runs out is ended and its letter is a
  failed-letter line (`reading_limit_exceeded`), the batch goes on. With `parse_workers`, text
  letters are parsed in the workers too once a batch has more letters than run at once (and
  than PARSE_WORKERS_AFTER), leaving the loop's one core to the model calls (BENCHMARKS.md).
  Workers run in a process group of their own (a terminal's Ctrl-C never reaches them) and are
  ended by this process; one that outlives it reads end-of-file and leaves.
* **Streaming.** Results are handed out as they finish and written at once.
* **Resumable.** Every output line starts with the letter's hash and its status; a re-run reads
  only those prefixes and skips letters already in the output. The line is the letter's commit
  point: it is written after the letter's explanation page, so a kill between them leaves the
  letter to the re-run. A line cut short by a kill is removed before appending; a run holds its
  output file (`output.JsonlAppender(own=True)`): a second batch on it is refused.
* **Stopping.** `Stop`: the first Ctrl-C stops taking letters, gives those in progress
  STOP_GRACE_S to finish (their lines are written), then the summary says how to go on (exit
  130); a second Ctrl-C ends the process at once (workers killed, temporaries removed).
* **Nothing lost.** A letter that fails is a line with its error; the run goes on.
* **The CSV is derived** from the JSONL at the end of every run (one row per item), so it always
  matches the JSONL exactly, however often the run was interrupted.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import pickle
import re
import signal
import struct
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ImrError, InputError, ReadingLimitExceeded
from .reading import SUPPORTED_SUFFIXES, is_pdf, read_bytes, read_file

# prices per million tokens (input, output), for the estimate in the summary; others: --price-*
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}
_PREFIX = re.compile(r'^\{"letter_sha256": "([0-9a-f]{64})?", "status": "(ok|error)"')

# Per-letter limits of a parse worker. The dev letters read and parse in under 0.1 s and 60 MB;
# a hostile PDF can take minutes (pdfium's text extraction is quadratic in overprinted text
# objects) or gigabytes (a Flate bomb).
READ_SECONDS = 20  # wall time to read and parse one letter (IMR_LLM_READ_SECONDS)
READ_MEMORY = 1 << 30  # address space of a worker process, bytes (IMR_LLM_READ_MEMORY_MB)
STOP_GRACE_S = 3.0  # after the first Ctrl-C: how long letters in progress may take to finish


@dataclass
class LetterResult:
    """One letter's outcome: a determination (and explanation), or an error; or skipped."""

    source: str
    letter_sha256: str | None
    determination: Any = None
    explanation: Any = None
    error: ImrError | None = None
    skipped: bool = False
    seconds: float = 0.0
    paths: list[str] = field(default_factory=list)  # every path the letter was found under (source first)

    @property
    def key(self) -> str:
        """The letter's identity in an output file (what a resume skips)."""
        return self.letter_sha256 or path_key(self.source)

    def line(self, redact: bool = False) -> str:
        """The output line, exactly as every engine writes it (local, Ray, OpenAI Batch)."""
        return json.dumps(self.record(redact), ensure_ascii=False) + "\n"

    def record(self, redact: bool = False) -> dict[str, Any]:
        """The output line: hash and status first (what a resume reads), then the source."""
        from .output import redacted

        head = {"letter_sha256": self.letter_sha256 or "", "status": "error" if self.error else "ok",
                "source": self.source, "source_paths": self.paths or [self.source]}
        if not self.letter_sha256:  # never read: identified by its path
            head["path_sha256"] = self.key.removeprefix("path:")
        if self.error is not None:
            record = {**head, "error": {"code": self.error.code, "message": str(self.error)}}
        else:
            record = {**head, **self.determination.model_dump(mode="json")}
        return redacted(record) if redact else record


def path_key(name: str) -> str:
    """The identity of a file that could not be read: its path (hashed, so a redacted line keeps it)."""
    return "path:" + hashlib.sha256(name.encode("utf-8")).hexdigest()


def iter_inputs(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Letter files under `paths` (folders: recursively, .pdf/.txt, sorted), lazily."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    if Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                        yield Path(root) / name
        else:
            yield p


def letter_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Letter:
    """One letter of a run: its identity, every path it was found under, or why it cannot be read."""

    key: str
    paths: list[Path]
    names: list[str]
    error: ImrError | None = None


async def plan_letters(paths: Iterable[str | os.PathLike[str]], stop: "Stop | None" = None) -> list[Letter]:
    """Every letter under `paths`, once: files hashed (each file's size checked before it is read,
    and its bytes let go), grouped by hash in the order first found. The loop gets a turn now and
    then, so a Ctrl-C is seen while a large folder is hashed."""
    from .output import display_path

    letters: dict[str, Letter] = {}
    seen: set[str] = set()
    for n, path in enumerate(iter_inputs(paths)):
        if n % 64 == 63:
            await asyncio.sleep(0)
        if stop is not None and stop.requested:
            break
        real = os.path.realpath(path)
        if real in seen:  # the same file given twice (a folder and a file in it)
            continue
        seen.add(real)
        name = display_path(path)
        try:
            key, error = letter_hash(read_file(path)), None
        except ImrError as exc:
            key, error = path_key(name), exc
        letter = letters.get(key)
        if letter is None:
            letters[key] = Letter(key, [path], [name], error)
        else:
            letter.paths.append(path)
            letter.names.append(name)
    return list(letters.values())


class Stop:
    """A request to stop a run (Ctrl-C). The first stops it taking letters and gives the letters
    in progress STOP_GRACE_S to finish; the second ends the process at once: parse workers
    killed, temporary files removed, exit status 130. `install()` makes SIGINT the request, in
    the main thread, until `uninstall()`; a running batch (`run_batch`) also takes it through its
    event loop, whose wake-up is what notices it while the loop waits."""

    def __init__(self) -> None:
        self.requested = False
        self._event: asyncio.Event | None = None
        self._previous = None

    def request(self, *_: Any) -> None:
        if self.requested:
            _exit_now()
        self.requested = True
        os.write(2, f"imr-llm: stopping: letters in progress get up to {STOP_GRACE_S:g} s to finish, no new "
                    "letter is started; Ctrl-C again to stop at once\n".encode())
        if self._event is not None:
            self._event.set()

    async def wait(self) -> None:
        if self._event is None:
            self._event = asyncio.Event()
            if self.requested:
                self._event.set()
        await self._event.wait()

    def install(self) -> "Stop":
        self._previous = signal.signal(signal.SIGINT, self.request)
        return self

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _exit_now() -> None:
    """The second Ctrl-C: nothing half-done stays behind that this process can remove, then exit."""
    from .output import TEMPORARIES

    for pid in list(_WORKER_PIDS):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # gone before this process is (unless the loop's child watcher reaped it first)
        except OSError:
            pass
    for tmp in list(TEMPORARIES):
        try:
            os.unlink(tmp)
        except OSError:
            pass
    os.write(2, b"imr-llm: stopped at once; the output holds whole lines only: run the same command to go on\n")
    os._exit(130)


async def aiter_results(paths: Iterable[str | os.PathLike[str]], pipeline, *, concurrency: int = 4,
                        skip: set[str] | None = None, explain_language: str | None = None,
                        writer=None, parse_workers: int = 0, stop: Stop | None = None) -> AsyncIterator[LetterResult]:
    """Letters as they finish, at most `concurrency` in progress, each once however many paths it
    has. `skip`: letter keys to pass over (a resumed run); they come out as `skipped` results
    without being parsed. `parse_workers`: processes that read and parse text letters too (PDFs
    are always read in one). `stop`: once requested, no letter is started and those in progress
    get STOP_GRACE_S to finish; the rest are dropped (not yielded)."""
    concurrency = max(1, concurrency)
    stop = stop or Stop()
    letters = await plan_letters(paths, stop)
    parsers = Parsers(parse_workers, start_after=max(concurrency, PARSE_WORKERS_AFTER))
    pending: set[asyncio.Task] = set()
    stopping = asyncio.ensure_future(stop.wait())
    try:
        for letter in letters:
            while len(pending) >= concurrency and not stop.requested:
                done, pending = await asyncio.wait(pending | {stopping}, return_when=asyncio.FIRST_COMPLETED)
                pending.discard(stopping)
                for task in done - {stopping}:
                    yield task.result()
            if stop.requested:
                break
            first = LetterResult(letter.names[0], None if letter.error else letter.key, paths=letter.names)
            if skip is not None and letter.key in skip:
                first.skipped = True
                yield first
            elif letter.error is not None:
                first.error = letter.error
                yield first
            else:
                parsers.note_letter()
                pending.add(asyncio.create_task(_one(letter, first, pipeline, explain_language, writer, parsers)))
        deadline = None
        while pending:
            if stop.requested and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_S
            waits = pending if deadline is not None else pending | {stopping}
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED,
                                               timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
            pending.discard(stopping)
            if not done:  # the grace is over: what is still in progress is dropped
                break
            for task in done - {stopping}:
                yield task.result()
    finally:
        stopping.cancel()
        for task in pending:
            task.cancel()
        await asyncio.gather(stopping, *pending, return_exceptions=True)
        await parsers.aclose()


# A worker takes about half a second to start: a batch this small parses its text letters faster
# without one.
PARSE_WORKERS_AFTER = 32


def read_and_parse(data: bytes, name: str):
    """(source, determination): a letter's bytes read and parsed (what a parse worker runs); a
    photographed page with no decided item comes back marked incomplete, as from `extract`."""
    from .parsing import parse_source

    source = read_bytes(data, name=name)
    return source, parse_source(source)


_WORKER_PIDS: set[int] = set()  # live parse workers of this process (a stop at once kills them)
_FRAME = struct.Struct(">Q")


class _WorkerGone(Exception):
    pass


class _Worker:
    """One parse worker: a child process reading framed pickles (letter bytes, name) on stdin and
    answering framed pickles on its stdout, one letter at a time."""

    def __init__(self, process) -> None:
        self.process = process

    @classmethod
    async def start(cls, seconds: float, memory: int) -> "_Worker":
        package_root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from imr_llm.batch import parse_worker; parse_worker()", str(seconds), str(memory),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env=env, process_group=0)  # a group of its own: a terminal's Ctrl-C goes to the batch only
        _WORKER_PIDS.add(process.pid)
        return cls(process)

    async def ask(self, data: bytes, name: str, timeout: float):
        message = pickle.dumps((data, name), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.process.stdin.write(_FRAME.pack(len(message)) + message)
            await self.process.stdin.drain()
            size = _FRAME.unpack(await asyncio.wait_for(self.process.stdout.readexactly(_FRAME.size), timeout))[0]
            return pickle.loads(await self.process.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError) as exc:
            raise _WorkerGone() from exc

    async def end(self) -> int | None:
        """Kill the worker (a child of this process) and reap it; its exit status."""
        _WORKER_PIDS.discard(self.process.pid)
        if self.process.returncode is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass
        return await self.process.wait()


class Parsers:
    """Where letters are read and parsed. A PDF always in a worker process, under the per-letter
    limits; a text letter in this process, or in the workers too once more than `start_after`
    letters came in (when `workers` > 0). At most max(1, workers) workers, started when needed."""

    def __init__(self, workers: int, start_after: int = 0, seconds: float | None = None,
                 memory: int | None = None) -> None:
        self.workers, self.start_after = max(0, workers), start_after
        self.seconds, self.memory = read_limits(seconds, memory)
        self.letters = 0
        self.idle: list[_Worker] = []
        self.busy: set[_Worker] = set()
        self._slots: asyncio.Semaphore | None = None
        self.unavailable = False  # a worker could not be started: everything is read here

    def note_letter(self) -> None:
        self.letters += 1

    async def parse(self, data: bytes, name: str):
        in_worker = is_pdf(data) or (self.workers and self.letters > self.start_after)
        if not in_worker or self.unavailable:
            return read_and_parse(data, name)
        if self._slots is None:
            self._slots = asyncio.Semaphore(max(1, self.workers))
        async with self._slots:
            while True:
                reused = bool(self.idle)
                try:
                    worker = self.idle.pop() if reused else await _Worker.start(self.seconds, self.memory)
                except OSError:  # no process can be started here: read as before workers
                    self.unavailable = True
                    return read_and_parse(data, name)
                self.busy.add(worker)
                try:
                    kind, *answer = await worker.ask(data, name, self.seconds + 10)
                except _WorkerGone:
                    status = await worker.end()
                    if reused:  # it may have died before this letter: the letter gets a new one
                        continue
                    raise ReadingLimitExceeded(_why_gone(name, status, self.seconds, self.memory)) from None
                except BaseException:  # cancelled mid-letter (a stop): the worker cannot be reused
                    await worker.end()
                    raise
                finally:
                    self.busy.discard(worker)
                self.idle.append(worker)
                break
        if kind == "ok":
            return answer[0], answer[1]
        if kind == "error":
            raise answer[0]
        raise RuntimeError(answer[0])  # a bug in the worker: reported as the letter's internal error

    async def aclose(self) -> None:
        workers, self.idle = [*self.idle, *self.busy], []
        self.busy = set()
        for worker in workers:
            await worker.end()


def read_limits(seconds: float | None = None, memory: int | None = None) -> tuple[float, int]:
    """A parse worker's limits: as given, else IMR_LLM_READ_SECONDS / IMR_LLM_READ_MEMORY_MB, else
    READ_SECONDS / READ_MEMORY."""
    from .errors import ConfigError

    try:
        if seconds is None:
            seconds = float(os.environ.get("IMR_LLM_READ_SECONDS") or READ_SECONDS)
        if memory is None:
            memory = int(float(os.environ.get("IMR_LLM_READ_MEMORY_MB") or READ_MEMORY / 2**20) * 2**20)
    except ValueError:
        raise ConfigError("IMR_LLM_READ_SECONDS / IMR_LLM_READ_MEMORY_MB must be numbers") from None
    if seconds <= 0 or memory < 64 * 2**20:
        raise ConfigError("IMR_LLM_READ_SECONDS must be above 0 and IMR_LLM_READ_MEMORY_MB at least 64")
    return seconds, memory


def _why_gone(name: str, status: int | None, seconds: float, memory: int) -> str:
    if status == -signal.SIGALRM or status is None:
        what = f"took longer than {seconds:g} s"
    else:  # killed by a signal, or exited on a MemoryError or a crash: which one depends on where it ran out
        what = f"needed more than {memory / 2**20:,.0f} MB of memory, or crashed the reader"
    return f"{name}: reading it {what}; the batch went on without it (check the file: a letter is far smaller)"


def parse_worker() -> None:
    """A parse worker's main (run by `_Worker.start`): letters in on stdin, answers out on the
    original stdout; anything else printed goes nowhere. SIGINT is ignored (the batch decides),
    memory is capped with RLIMIT_AS and each letter's wall time with alarm(): SIGALRM's default
    action ends the process, however deep in pdfium it is. No core files."""
    import resource

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    seconds, memory = float(sys.argv[1]), int(sys.argv[2])
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints (a library's, or pdfium's own) never reach the answers
    letters = sys.stdin.buffer
    from .parsing import parse  # noqa: F401  (imported before the limits: they are the letters')
    import pypdfium2  # noqa: F401

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    while True:
        head = letters.read(_FRAME.size)
        if len(head) < _FRAME.size:
            return  # end of file: the batch is done, or gone
        data, name = pickle.loads(letters.read(_FRAME.unpack(head)[0]))
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            answer = ("ok", *read_and_parse(data, name))
        except ImrError as exc:
            answer = ("error", exc)
        except MemoryError:
            answer = ("error", ReadingLimitExceeded(_why_gone(name, -signal.SIGKILL, seconds, memory)))
        except Exception as exc:
            answer = ("bug", type(exc).__name__)
        signal.setitimer(signal.ITIMER_REAL, 0)
        del data
        message = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        answers.write(_FRAME.pack(len(message)) + message)
        answers.flush()


async def _one(letter: Letter, result: LetterResult, pipeline, explain_language, writer, parsers: Parsers | None = None
               ) -> LetterResult:
    started = time.perf_counter()
    name = result.source
    try:
        data = read_file(letter.paths[0])
        if letter_hash(data) != letter.key:
            raise InputError(f"{name}: the file changed while the batch ran; run the batch again for it")
        source, det = await (parsers or Parsers(0)).parse(data, name)
        result.determination = await pipeline.afinish(source, det)
        if explain_language:
            from .explain import aexplain

            result.explanation = (await aexplain(result.determination, source, explain_language, writer), source)
    except ImrError as exc:
        result.error = exc
    except Exception as exc:  # a bug must not end the batch: the letter is a failed line
        result.error = ImrError(f"{name}: {type(exc).__name__} while processing; please report it")
        result.error.code = "internal_error"
    result.seconds = time.perf_counter() - started
    return result


def iterate_results(paths, pipeline, *, concurrency: int = 4, skip: set[str] | None = None) -> Iterator[LetterResult]:
    """The sync face of `aiter_results`: its own event loop, driven one result at a time."""
    loop = asyncio.new_event_loop()
    agen = aiter_results(paths, pipeline, concurrency=concurrency, skip=skip)
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                break
    finally:
        loop.run_until_complete(agen.aclose())
        if pipeline.enricher is not None:
            loop.run_until_complete(pipeline.enricher.client.aclose())
        loop.close()


# -- the batch command -------------------------------------------------------------------------

@dataclass
class BatchOptions:
    out: Path
    csv: Path | None = None
    explain_dir: Path | None = None
    language: str = "en"
    explain_format: str = "html"
    concurrency: int = 4
    parse_workers: int = 0  # processes that read and parse (the CLI's default: default_parse_workers())
    redact: bool = False
    price_in: float | None = None  # per million tokens
    price_out: float | None = None


@dataclass
class BatchSummary:
    letters: int = 0  # seen in this run (a letter under several paths: once)
    duplicates: int = 0  # paths of a letter beyond its first
    skipped: int = 0  # already in the output
    done: int = 0
    failed: Counter = field(default_factory=Counter)
    items: int = 0
    decisions: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    output_letters: int = 0  # in the whole output file afterwards
    cost: float | None = None

    def add(self, result: LetterResult) -> None:
        self.letters += 1
        self.duplicates += len(result.paths) - 1 if result.paths else 0
        if result.skipped:
            self.skipped += 1
            return
        if result.error is not None:
            self.failed[result.error.code] += 1
            return
        det = result.determination
        self.done += 1
        self.items += len(det.items)
        self.decisions.update(i.decision for i in det.items)
        if det.outcome:
            self.outcomes[det.outcome] += 1
        usage = det.model_step.usage
        self.calls += usage.calls
        self.cache_hits += usage.cache_hits
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens

    def lines(self) -> list[str]:
        failed = sum(self.failed.values())
        reasons = ", ".join(f"{code} {n}" for code, n in sorted(self.failed.items()))
        rate = self.done / self.wall_s if self.wall_s else 0.0
        out = [
            f"letters: {self.letters} ({self.done} done, {self.skipped} already in the output, {failed} failed"
            + (f": {reasons}" if reasons else "") + ")" + ("; interrupted" if self.interrupted else "")
            + (f"; {self.duplicates} more path(s) held a letter already listed" if self.duplicates else ""),
            f"items: {self.items} ({', '.join(f'{k} {v}' for k, v in sorted(self.decisions.items())) or 'none'}); "
            f"outcomes: {', '.join(f'{k} {v}' for k, v in sorted(self.outcomes.items())) or 'none'}",
            f"model: {self.calls} calls, {self.cache_hits} cache hits, {self.prompt_tokens} prompt + "
            f"{self.completion_tokens} completion tokens; estimated cost: "
            + (f"${self.cost:.4f}" if self.cost is not None else "n/a (no prices for this endpoint: --price-in/--price-out)"),
            f"wall time: {self.wall_s:.1f} s ({rate:.2f} letters/s); output holds {self.output_letters} letter(s)",
        ]
        if self.interrupted:
            out.append("interrupted: the output holds whole lines only; run the same command again to go on "
                       "(letters already in the output are skipped)")
        return out


def done_keys(out: Path) -> set[str]:
    """The keys of the letters already in `out`, from each whole line's prefix (a line without a
    hash: its path_sha256). A last line without its newline (a run killed mid-write) does not
    count; it is cut off when the file is next opened for writing."""
    keys: set[str] = set()
    if not out.exists():
        return keys
    with out.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            match = _PREFIX.match(line[:120].decode("utf-8", "replace"))
            key = (match.group(1) or _record_key(_loads(line))) if match else None
            if key:
                keys.add(key)
    return keys


def _loads(line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _record_key(record: dict[str, Any]) -> str | None:
    """An output line's letter key (`LetterResult.key`)."""
    if record.get("letter_sha256"):
        return record["letter_sha256"]
    return "path:" + record["path_sha256"] if record.get("path_sha256") else None


CSV_COLUMNS = ["letter_sha256", "source", "case_number", "decision_date", "outcome", "item", "request", "decision",
               "modified_by_ur", "category", "subcategory", "service", "body_regions", "laterality", "quantity",
               "claims_administrator_sources", "reviewer_sources", "model_status", "error"]


def csv_rows(record: dict[str, Any]) -> Iterator[list[Any]]:
    """One row per item (a failed letter: one row with its error)."""
    base = [record.get("letter_sha256"), record.get("source")]
    if record.get("status") == "error":
        yield base + [None] * (len(CSV_COLUMNS) - 3) + [f"{record['error']['code']}: {record['error']['message']}"]
        return
    for item in record.get("items", []):
        quantity = item.get("quantity") or {}
        yield base + [
            record.get("case_number"), record.get("decision_date"), record.get("outcome"), item["index"] + 1,
            item.get("request"), item.get("decision"), item.get("modified_by_ur"), item.get("category"),
            item.get("subcategory"), item.get("service"), "; ".join(item.get("body_regions") or []),
            item.get("laterality"), quantity.get("raw"),
            "; ".join((item.get("claims_administrator_basis") or {}).get("sources") or []),
            "; ".join((item.get("reviewer_basis") or {}).get("sources") or []),
            (record.get("model_step") or {}).get("status"), None,
        ]


#: what a spreadsheet reads as the start of a formula (OWASP, "CSV Injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet cannot run: text that starts like a formula gets a leading quote."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def rebuild_csv(out: Path, target: Path, redact: bool = False) -> int:
    """Write `target` (atomically, user-only) from the JSONL at `out`, streaming; returns the
    number of letters in `out` (each counted once, the first line winning). `redact`: every row
    redacted, whatever the line holds (a line written by an earlier run without --redact)."""
    from .output import private_file, redacted

    seen: set[str] = set()
    with private_file(target, replace_stale=True) as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        if out.exists():
            with out.open("rb") as lines:
                for line in lines:
                    record = _loads(line)
                    key = _record_key(record)
                    if key is None or key in seen:
                        continue
                    seen.add(key)
                    record = redacted(record) if redact else record
                    writer.writerows([csv_cell(v) for v in row] for row in csv_rows(record))
    return len(seen)


def count_letters(out: Path) -> int:
    return len(done_keys(out))


async def run_batch(paths: list[str], pipeline, options: BatchOptions, *, progress=None,
                    writer=None, stop: Stop | None = None) -> BatchSummary:
    """Process every letter under `paths` not already in `options.out`: each letter's explanation
    page (with `explain_dir`), then its line; then rebuild the CSV. The output file is held for
    the run (a second run on it is refused: `OutputInUse`). `progress(result)` is called after
    each letter. In the main thread, SIGINT is `stop`'s for the run (see `Stop`)."""
    from .output import JsonlAppender, private_dir

    summary = BatchSummary()
    started = time.perf_counter()
    stop = stop or Stop()
    out = JsonlAppender(options.out, own=True)
    give_back = _take_sigint(stop)
    try:
        skip = done_keys(options.out)
        if options.explain_dir is not None:
            private_dir(options.explain_dir)
        results = aiter_results(paths, pipeline, concurrency=options.concurrency, skip=skip,
                                explain_language=options.language if options.explain_dir else None, writer=writer,
                                parse_workers=options.parse_workers, stop=stop)
        try:
            async for result in results:
                if not result.skipped:
                    if result.explanation is not None and options.explain_dir is not None:
                        _write_explanation(result, options)  # first: the line is the letter's commit point
                    out.write_line(result.line(options.redact))
                summary.add(result)
                if progress is not None:
                    progress(result)
        finally:
            await results.aclose()
    except (asyncio.CancelledError, KeyboardInterrupt):
        summary.interrupted = True
    finally:
        give_back()
        out.close()
        if pipeline.enricher is not None:
            await pipeline.enricher.client.aclose()
    summary.interrupted = summary.interrupted or stop.requested
    summary.wall_s = time.perf_counter() - started
    if options.csv is not None:
        summary.output_letters = rebuild_csv(options.out, options.csv, options.redact)
    else:
        summary.output_letters = count_letters(options.out)
    summary.cost = _cost(pipeline, summary, options)
    return summary


def _take_sigint(stop: Stop):
    """SIGINT as `stop`'s request through the running loop (main thread only); returns what
    gives the previous handler back."""
    import threading

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


def default_parse_workers() -> int:
    """One parse worker per core but the one the event loop runs on, at most 4 (one loop keeps
    about 4 parsers busy: BENCHMARKS.md); none on a single core."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _write_explanation(result: LetterResult, options: BatchOptions) -> None:
    from .explain.render import EXTENSIONS, render
    from .output import write_private

    expl, source = result.explanation
    stem, source_name = f"{Path(result.source).stem}-{result.letter_sha256[:8]}", result.source
    if options.redact:  # no letter text, and no path: not even in the file's name
        from .output import redact_explanation

        expl, source, stem, source_name = redact_explanation(expl), None, f"letter-{result.letter_sha256[:16]}", None
    page = render(expl, options.explain_format, source=source, source_name=source_name)
    name = f"{stem}.{options.language}.{EXTENSIONS[options.explain_format]}"
    # a temporary of this page that a killed run left is removed: this run holds the output
    write_private(options.explain_dir / name, page, replace_stale=True)


def _cost(pipeline, summary: BatchSummary, options: BatchOptions) -> float | None:
    if options.price_in is not None or options.price_out is not None:
        price_in, price_out = options.price_in or 0.0, options.price_out or 0.0
    else:
        config = pipeline.enricher.config if pipeline.enricher is not None else None
        if config is None:
            return 0.0  # offline: no model, no cost
        if config.endpoint_kind != "openai" or config.model not in PRICES_PER_MTOK:
            return None
        price_in, price_out = PRICES_PER_MTOK[config.model]
    return (summary.prompt_tokens * price_in + summary.completion_tokens * price_out) / 1e6


def summary_text(summary: BatchSummary) -> str:
    buffer = io.StringIO()
    for line in summary.lines():
        buffer.write(f"imr-llm batch: {line}\n")
    return buffer.getvalue()
