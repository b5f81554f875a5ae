"""Where letters are read and parsed, and how a run stops. A PDF is always read in a parse worker (a
process of its own group, which a terminal's Ctrl-C never reaches) under READ_MEMORY and READ_SECONDS,
so a hostile PDF fails its letter (`reading_limit_exceeded`), not the run. `Stop`: the first Ctrl-C
stops taking letters and gives those in progress STOP_GRACE_S; the second ends the process at once."""

from __future__ import annotations

import asyncio
import os
import pickle
import resource
import signal
import struct
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ImrError, ReadingLimitExceeded
from ..output import TEMPORARIES
from ..parsing import parse_source
from ..reading import is_pdf, read_bytes

# Per-letter limits of a parse worker. The dev letters read and parse in under 0.1 s and 60 MB;
# a hostile PDF can take minutes (pdfium's text extraction is quadratic in overprinted text
# objects) or gigabytes (a Flate bomb).
READ_SECONDS = 20  # wall time to read and parse one letter (IMR_LLM_READ_SECONDS)
READ_MEMORY = 1 << 30  # address space of a worker process, bytes (IMR_LLM_READ_MEMORY_MB)
STOP_GRACE_S = 3.0  # after the first Ctrl-C: how long letters in progress may take to finish


class Stop:
    """A request to stop a run (Ctrl-C); the second ends the process (`exit_now`). `run_batch` also takes
    SIGINT through its event loop, whose wake-up is what notices it while the loop waits."""

    def __init__(self) -> None:
        self.requested = False
        self._event: asyncio.Event | None = None
        self._previous = None

    def request(self, *_: Any) -> None:
        if self.requested:
            exit_now()
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


def exit_now() -> None:
    """The second Ctrl-C: nothing half-done stays behind that this process can remove, then exit."""
    for pid in list(_WORKER_PIDS):
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # gone before this process is (unless the loop's child watcher reaped it first)
    for tmp in list(TEMPORARIES):
        with suppress(OSError):
            os.unlink(tmp)
    os.write(2, b"imr-llm: stopped at once; the output holds whole lines only: run the same command to go on\n")
    os._exit(130)


def read_and_parse(data: bytes, name: str):
    """(source, determination) from a letter's bytes: what a parse worker runs."""
    source = read_bytes(data, name=name)
    return source, parse_source(source)


_WORKER_PIDS: set[int] = set()  # live parse workers of this process (a stop at once kills them)
_FRAME = struct.Struct(">Q")


def _framed(obj) -> bytes:
    """One message between a batch and its parse worker: its length, then its pickle."""
    message = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME.pack(len(message)) + message


class _WorkerGone(Exception):
    pass


@dataclass(eq=False)
class _Worker:
    """One parse worker: a child process reading framed pickles (letter bytes, name) on stdin and
    answering framed pickles on its stdout, one letter at a time."""

    process: Any

    @classmethod
    async def start(cls, seconds: float, memory: int) -> "_Worker":
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from imr_llm.runs.workers import parse_worker; parse_worker()", str(seconds), str(memory),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env=env, process_group=0)  # a group of its own: a terminal's Ctrl-C goes to the batch only
        _WORKER_PIDS.add(process.pid)
        return cls(process)

    async def ask(self, data: bytes, name: str, timeout: float):
        try:
            self.process.stdin.write(_framed((data, name)))
            await self.process.stdin.drain()
            size = _FRAME.unpack(await asyncio.wait_for(self.process.stdout.readexactly(_FRAME.size), timeout))[0]
            return pickle.loads(await self.process.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError) as exc:
            raise _WorkerGone() from exc

    async def end(self) -> int | None:
        """Kill the worker (a child of this process) and reap it; its exit status."""
        _WORKER_PIDS.discard(self.process.pid)
        if self.process.returncode is None:
            with suppress(ProcessLookupError):
                self.process.kill()
        return await self.process.wait()


class Parsers:
    """Where letters are read and parsed: a PDF always in a worker process, under the limits; a text
    letter here, or in the workers once more than `start_after` came in. At most max(1, workers)."""

    def __init__(self, workers: int, start_after: int = 0, seconds: float | None = None,
                 memory: int | None = None) -> None:
        self.workers, self.start_after = max(0, workers), start_after
        self.seconds, self.memory = read_limits(seconds, memory)
        self.letters = 0
        self.idle: list[_Worker] = []
        self.busy: set[_Worker] = set()
        self._slots: asyncio.Semaphore | None = None
        self.unavailable = False  # a worker could not be started: everything is read here

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
                began = time.monotonic()
                try:
                    kind, *answer = await worker.ask(data, name, self.seconds + 10)
                except _WorkerGone:
                    status = await worker.end()
                    if reused:  # it may have died before this letter: the letter gets a new one
                        continue
                    raise ReadingLimitExceeded(_why_gone(name, status, self.seconds, self.memory,
                                                         time.monotonic() - began)) from None
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
        workers, self.idle, self.busy = [*self.idle, *self.busy], [], set()
        for worker in workers:
            await worker.end()


def read_limits(seconds: float | None = None, memory: int | None = None) -> tuple[float, int]:
    """A parse worker's limits: as given, else IMR_LLM_READ_SECONDS / IMR_LLM_READ_MEMORY_MB, else the defaults."""
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


_LOST_STATUS = 255  # what asyncio reports for a child another waitpid() reaped first: the real status is lost


def _why_gone(name: str, status: int | None, seconds: float, memory: int, elapsed: float = 0.0) -> str:
    """Why a worker died mid-letter. Its alarm (SIGALRM) is the time limit; a lost exit status
    counts as the time limit only when the letter had run that long (the alarm cannot fire sooner)."""
    timed_out = status == -signal.SIGALRM or status is None or (status == _LOST_STATUS and elapsed >= seconds)
    # otherwise killed by a signal, or exited on a MemoryError or a crash: which one depends on where it ran out
    what = (f"took longer than {seconds:g} s" if timed_out
            else f"needed more than {memory / 2**20:,.0f} MB of memory, or crashed the reader")
    return f"{name}: reading it {what}; the batch went on without it (check the file: a letter is far smaller)"


def parse_worker() -> None:
    """A parse worker's main: letters in on stdin, answers out on the original stdout (stray prints go to
    stderr). SIGINT is ignored (the batch decides); memory is capped with RLIMIT_AS and each letter's
    wall time with a timer whose SIGALRM ends the process however deep in pdfium it is."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    seconds, memory = float(sys.argv[1]), int(sys.argv[2])
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints (a library's, or pdfium's own) never reach the answers
    letters = sys.stdin.buffer
    import pypdfium2  # noqa: F401  (deferred: imported here before the limits, which are the letters')

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))  # at least 64 MB: `read_limits` refuses less
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
        answers.write(_framed(answer))
        answers.flush()


def default_parse_workers() -> int:
    """One per core but the event loop's, at most 4 (one loop keeps about 4 busy: BENCHMARKS.md)."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))

