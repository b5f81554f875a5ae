"""The batch benchmarks' endpoint: the tests' `FakeOpenAIServer` (a loopback OpenAI-compatible
server that answers every task validly) with a fixed latency per answer, run in a process of its
own, so its handler threads do not share the measured client's GIL and the request bodies it
records do not count in the client's memory.

    with LatencyServer(latency_s=0.25) as server:
        config = ModelConfig(model="fake", endpoint_kind="llamacpp", base_url=server.url, ...)
        ...
        server.stats()  # {"requests": n, "peak_in_flight": k, "tasks": {...}}

Also the helpers the three batch benchmarks share: distinct letter files made from the seed
letters (the tests' `make_letters`) and a warm-up (importing openai + instructor takes seconds;
it must not be timed).

    python benchmarks/latency_server.py --latency 0.25   # serve: prints {"url": ...}, then answers
                                                         # "stats" / "reset" lines on stdin; EOF stops
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def _tests_on_path() -> None:
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))


def make_letters(folder: Path, n: int) -> list[Path]:
    """n distinct letter files (by hash) from the 5 seed letters (tests/test_batch.py's helper)."""
    _tests_on_path()
    from test_batch import make_letters as make

    return make(folder, n)


def loopback_env() -> None:
    """Connections to 127.0.0.1 never go through a proxy."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(name, None)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def code_under_test() -> str:
    """Which imr_llm is measured: its folder, and the commit when it is this repository's."""
    import imr_llm

    where = Path(imr_llm.__file__).resolve().parent
    line = f"imr_llm {getattr(imr_llm, '__version__', '?')} from {where}"
    if where.parent == ROOT:
        try:
            head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--", "imr_llm", "prompts"], cwd=ROOT,
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            line += f" (commit {head}{', with uncommitted changes' if dirty else ''})"
        except (OSError, subprocess.SubprocessError):
            pass
    return line


class LatencyServer:
    def __init__(self, latency_s: float = 0.25, backlog: int | None = None) -> None:
        self.latency_s = latency_s
        self.backlog = backlog
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> "LatencyServer":
        argv = [sys.executable, str(Path(__file__).resolve()), "--latency", str(self.latency_s)]
        if self.backlog:
            argv += ["--backlog", str(self.backlog)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.url = json.loads(self.proc.stdout.readline())["url"]
        return self

    def _ask(self, command: str) -> dict:
        assert self.proc is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stats(self) -> dict:
        return self._ask("stats")

    def reset(self) -> None:
        self._ask("reset")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self) -> "LatencyServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def peak_in_flight(requests) -> int:
    events = sorted([(r.started, 1) for r in requests] + [(r.finished, -1) for r in requests if r.finished])
    peak = now = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def warm_up(url: str, folder: Path) -> None:
    """Import the model stack and run a 5-letter batch once, untimed (first-use imports inside
    openai/instructor/pydantic happen here, not in the measured runs)."""
    import asyncio

    from imr_llm.api import Pipeline
    from imr_llm.runs.batch import BatchOptions, run_batch
    from imr_llm.model import ModelConfig

    letters = make_letters(folder / "in", 5)
    config = ModelConfig(model="fake", endpoint_kind="llamacpp", base_url=url, max_in_flight=8)
    with Pipeline(config, cache_dir=folder / "cache") as pipeline:
        asyncio.run(run_batch([str(p) for p in letters], pipeline,
                              BatchOptions(out=folder / "out.jsonl", csv=folder / "out.csv", concurrency=4)))


def _serve(latency_s: float, backlog: int | None) -> None:
    _tests_on_path()
    import fake_openai_server as fake

    if backlog:
        fake._Server.request_queue_size = backlog
    server = fake.FakeOpenAIServer()
    server.latency_s = latency_s
    server.start()
    print(json.dumps({"url": server.url, "backlog": fake._Server.request_queue_size}), flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                with server._lock:
                    requests = list(server.requests)
                tasks: dict[str, int] = {}
                for r in requests:
                    tasks[r.task] = tasks.get(r.task, 0) + 1
                print(json.dumps({"requests": len(requests), "peak_in_flight": peak_in_flight(requests),
                                  "tasks": tasks}), flush=True)
            elif command == "reset":
                with server._lock:
                    server.requests.clear()
                print("{}", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="serve the fake OpenAI endpoint with a fixed latency")
    ap.add_argument("--latency", type=float, default=0.25)
    ap.add_argument("--backlog", type=int, help="listen backlog (socketserver's default is 5)")
    args = ap.parse_args()
    _serve(args.latency, args.backlog)
