"""Concurrency scaling of a batch run with the model step, against a loopback OpenAI-compatible
server with a fixed latency per answer (benchmarks/latency_server.py: the tests' fake server, in
its own process). Target: speedup over concurrency 1 of at least 0.8 x N for N up to 16.

    python benchmarks/batch_scaling.py [--latency 0.25] [--letters 320] [--seq-letters 40]
                                       [--concurrency 1 4 16 64] [--parse-workers K] [--profile 64] [--json OUT]

Each run is the path `imr-llm batch` runs (`run_batch`: read, hash, parse, model step, JSONL line,
CSV rebuilt at the end) with a fresh response cache and a fresh output, so every model call goes
to the server. The endpoint's `max_in_flight` is set to the run's concurrency (never below it),
so the endpoint limit is not what caps a run. Letters are distinct files made from the 5 seed
letters (1-2 items each, one request and one rationale call per item, calls of one letter in
sequence). Concurrency 1 runs `--seq-letters` letters (a multiple of 5: the same seed mix), the
others `--letters`; the speedup compares throughput (letters/s) measured in this same run.

Printed per run: wall time, letters/s, speedup over concurrency 1, efficiency (speedup / N), the
client process's CPU time per model call and as a share of one core, the peak number of requests
the server saw in flight, and the schedule bound: the wall time with zero client overhead (each
letter costs its calls x latency, letters started in order as slots free up), so the gap between
the bound and the measured time is the client's own overhead. Every run uses the same number of
parse worker processes (`--parse-workers`, default as `imr-llm batch`); the CPU figures are this
process's, the event loop's. `--profile N` adds a cProfile of one untimed run at concurrency N
(top functions by own time). No letter text is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_server import LatencyServer, code_under_test, loopback_env, make_letters, warm_up  # noqa: E402


def schedule_bound(durations: list[float], concurrency: int) -> float:
    """Makespan of the letters in order on `concurrency` slots, each letter taking its duration."""
    slots = [0.0] * min(concurrency, max(1, len(durations)))
    heapq.heapify(slots)
    end = 0.0
    for d in durations:
        start = heapq.heappop(slots)
        end = max(end, start + d)
        heapq.heappush(slots, start + d)
    return end


def run_once(url: str | None, letters: list[Path], concurrency: int, work: Path, max_in_flight: int,
             cache: bool = False, parse_workers: int = 0) -> dict:
    """One batch run (url None: offline, parse only)."""
    from imr_llm.api import Pipeline
    from imr_llm.runs.batch import BatchOptions, run_batch
    from imr_llm.model import ModelConfig

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    config = None if url is None else ModelConfig(model="fake", endpoint_kind="llamacpp", base_url=url,
                                                  max_in_flight=max_in_flight)
    options = BatchOptions(out=work / "out.jsonl", csv=work / "items.csv", concurrency=concurrency,
                           parse_workers=parse_workers)
    with Pipeline(config, cache_dir=work / "cache", use_cache=cache) as pipeline:
        cpu0, t0 = time.process_time(), time.perf_counter()
        summary = asyncio.run(run_batch([str(p) for p in letters], pipeline, options))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rows = [json.loads(line) for line in options.out.read_text(encoding="utf-8").splitlines()]
    attempts = [(r.get("model_step") or {}).get("usage", {}).get("http_attempts", 0) for r in rows]
    return {"wall_s": wall, "cpu_s": cpu, "letters": len(rows), "done": summary.done,
            "failed": sum(summary.failed.values()), "calls": summary.calls, "cache_hits": summary.cache_hits,
            "complete": sum(1 for r in rows if r["model_step"]["status"] == "complete"), "per_letter_attempts": attempts}


def profile_once(url: str, letters: list[Path], concurrency: int, work: Path, top: int = 25,
                 parse_workers: int = 0) -> str:
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    run_once(url, letters, concurrency, work, max(concurrency, 1), parse_workers=parse_workers)
    prof.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(prof, stream=buffer)
    stats.sort_stats("tottime").print_stats(top)
    return buffer.getvalue()


def cache_write_ms(work: Path, n: int = 300) -> float:
    """Mean time of one response-cache write (what each model call adds when the cache is on)."""
    from imr_llm.cache import ResponseCache

    cache = ResponseCache(work)
    value = {"value": {"conclusion": "medically necessary", "reasons": [{"point": "A reason.", "quote": "w " * 8}],
                       "missing_documentation": []}, "salvaged": False, "problem": None}
    try:
        started = time.perf_counter()
        for k in range(n):
            cache.set(f"{k:064x}", value)
        return 1000 * (time.perf_counter() - started) / n
    finally:
        cache.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.25, help="seconds the server waits before each answer")
    ap.add_argument("--letters", type=int, default=320, help="letters per run at concurrency > 1")
    ap.add_argument("--seq-letters", type=int, default=40, help="letters at concurrency 1 (a multiple of 5)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--cache", action="store_true",
                    help="a fresh response cache per run (the seed copies then share their model calls: "
                         "after the first 5 letters most calls are cache hits); default: no cache, every call is sent")
    ap.add_argument("--backlog", type=int, help="the server's listen backlog (socketserver default: 5)")
    ap.add_argument("--parse-workers", type=int, metavar="K",
                    help="processes that read and parse (default: as `imr-llm batch`, one per core but one, at most 4)")
    ap.add_argument("--profile", type=int, metavar="N", help="also cProfile one untimed run at concurrency N")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    if 1 not in args.concurrency:
        args.concurrency = [1, *args.concurrency]

    loopback_env()
    from imr_llm.runs.workers import default_parse_workers

    workers = default_parse_workers() if args.parse_workers is None else args.parse_workers
    tmp = Path(tempfile.mkdtemp(prefix="imr-bench-scaling-"))
    try:
        letters = make_letters(tmp / "letters", max(args.letters, args.seq_letters))
        with LatencyServer(args.latency, args.backlog) as server:
            t0 = time.perf_counter()
            warm_up(server.url, tmp / "warm")
            warm_s = time.perf_counter() - t0
            # the parse alone (offline batch, same path) on the same letters: the loop's share per letter
            offline = run_once(None, letters[: args.letters], 4, tmp / "offline", 1)  # in this process: its CPU
            results = []
            for c in args.concurrency:
                batch = letters[: args.seq_letters] if c == 1 else letters[: args.letters]
                server.reset()
                r = run_once(server.url, batch, c, tmp / f"run-c{c}", max_in_flight=c, cache=args.cache,
                             parse_workers=workers)
                r.update(server.stats())
                r["concurrency"], r["max_in_flight"] = c, c
                r["bound_s"] = schedule_bound([n * args.latency for n in r.pop("per_letter_attempts")], c)
                r["rate"] = r["letters"] / r["wall_s"]
                results.append(r)
                print(f"  concurrency {c}: {r['letters']} letters, {r['wall_s']:.2f} s", file=sys.stderr, flush=True)
            write_ms = cache_write_ms(tmp / "cache-write")
            profile = profile_once(server.url, letters[: args.letters], args.profile, tmp / "profile",
                                   parse_workers=workers) \
                if args.profile else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base = next(r for r in results if r["concurrency"] == 1)
    parse_ms = 1000 * offline["cpu_s"] / offline["letters"]
    print(code_under_test())
    print(f"latency server: {args.latency:g} s per answer, own process; response cache: "
          f"{'fresh per run' if args.cache else 'off (every call sent)'}; parse workers: {workers}; "
          f"warm-up (imports + 5 letters, untimed) "
          f"{warm_s:.1f} s; cores: {os.cpu_count()}; load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    head = (f"{'N':>3} {'max_in_flight':>13} {'letters':>7} {'requests':>8} {'wall s':>8} {'letters/s':>9} "
            f"{'speedup':>7} {'eff.':>5} {'bound s':>8} {'wall/bound':>10} {'CPU ms/letter':>13} "
            f"{'CPU ms/request':>14} {'CPU/wall':>8} {'peak in flight':>14} {'failed':>6}")
    print(head)
    print("-" * len(head))
    for r in results:
        r["speedup"] = r["rate"] / base["rate"]
        r["efficiency"] = r["speedup"] / r["concurrency"]
        r["cpu_ms_per_letter"] = 1000 * r["cpu_s"] / r["letters"]
        # the client's CPU per request beyond the parse (instructor, openai, httpx, prompts, validation)
        # (with parse workers only the first N letters, before the workers start, parse in this process)
        inline = r["letters"] if not workers else min(r["letters"], r["concurrency"])
        r["cpu_ms_per_request"] = (1000 * r["cpu_s"] - parse_ms * inline) / max(1, r["requests"])
        print(f"{r['concurrency']:>3} {r['max_in_flight']:>13} {r['letters']:>7} {r['requests']:>8} {r['wall_s']:>8.2f} "
              f"{r['rate']:>9.2f} {r['speedup']:>7.2f} {r['efficiency']:>5.2f} {r['bound_s']:>8.2f} "
              f"{r['wall_s'] / r['bound_s']:>10.3f} {r['cpu_ms_per_letter']:>13.1f} {r['cpu_ms_per_request']:>14.1f} "
              f"{r['cpu_s'] / r['wall_s']:>8.2f} {r['peak_in_flight']:>14} {r['failed']:>6}")
    target = [r for r in results if 1 < r["concurrency"] <= 16]
    met = all(r["efficiency"] >= 0.8 for r in target)
    print(f"target (speedup >= 0.8 x N for N <= 16): {'met' if met else 'MISSED'}")
    # everything a letter costs the client runs on one event loop (one core at most)
    cpu_letter = sum(r["cpu_s"] for r in results if r["concurrency"] > 1) / sum(
        r["letters"] for r in results if r["concurrency"] > 1)
    ceiling = 1 / cpu_letter
    print(f"client CPU per letter (model runs): {1000 * cpu_letter:.1f} ms, of which the parse {parse_ms:.1f} ms "
          f"(offline run, same letters); requests per letter {base['requests'] / base['letters']:.2f}; "
          f"a response-cache write adds {write_ms:.2f} ms per request when the cache is on")
    print(f"one event loop on a whole core: at most {ceiling:.1f} letters/s = speedup {ceiling / base['rate']:.1f} "
          f"over concurrency 1 ({base['rate']:.2f} letters/s)")
    if profile:
        print(f"\ncProfile, one run at concurrency {args.profile} ({args.letters} letters), top by own time:")
        print(profile)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"latency_s": args.latency, "warm_up_s": warm_s, "cache": args.cache,
                                         "parse_cpu_ms_per_letter": parse_ms, "cache_write_ms": write_ms,
                                         "loop_ceiling_letters_per_s": ceiling, "runs": results,
                                         "target_met": met, "parse_workers": workers}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
