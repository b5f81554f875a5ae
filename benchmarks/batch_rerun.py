"""What a re-run costs per letter, end to end (target: a cached re-run adds < 5 ms per letter).

    python benchmarks/batch_rerun.py [--letters 1000] [--concurrency 16] [--repeat 3] [--parse-workers K] [--json OUT]

All runs are `run_batch` (the path of `imr-llm batch`: read, hash, parse, model step, JSONL line,
CSV rebuilt from the JSONL at the end), in one process after an untimed warm-up, on the same
letters (distinct files made from the seed letters), timed whole:

  fill   the cold model run against the latency server (benchmarks/latency_server.py), with a
         fresh response cache: fills the cache and the output (reported, not a target);
  (a)    re-run into the same output: every letter is already there (the skip path: read + hash);
  (b)    re-run into a fresh output with the warm cache: every model call is a cache hit (checked:
         the server sees no request), so the letter is parsed and its model step replayed;
  (c)    the offline parse-only run into a fresh output (no model): the floor (b) is measured against.

The overhead of the cached model step is (b) - (c) per letter. All three use the same parse
workers (`--parse-workers`, default as `imr-llm batch`); with workers, the parse of one letter
overlaps the model step of another, so (b) - (c) is what the step adds to a run's wall time, and
`--parse-workers 0` gives its whole cost on one core. CPU figures are this process's. Each of (a), (b), (c) runs
`--repeat` times, interleaved; the median is reported, with CPU time (load-independent) beside
the wall time. No letter text is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_server import LatencyServer, code_under_test, loopback_env, make_letters, warm_up  # noqa: E402


def timed_run(letters: list[Path], out: Path, *, url: str | None, cache_dir: Path, concurrency: int,
              parse_workers: int = 0) -> dict:
    from imr_llm.api import Pipeline
    from imr_llm.runs.batch import BatchOptions, run_batch
    from imr_llm.model import ModelConfig

    config = None if url is None else ModelConfig(model="fake", endpoint_kind="llamacpp", base_url=url,
                                                  max_in_flight=max(8, concurrency))
    options = BatchOptions(out=out, csv=out.with_suffix(".csv"), concurrency=concurrency, parse_workers=parse_workers)
    with Pipeline(config, cache_dir=cache_dir) as pipeline:
        cpu0, t0 = time.process_time(), time.perf_counter()
        summary = asyncio.run(run_batch([str(p) for p in letters], pipeline, options))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"wall_s": wall, "cpu_s": cpu, "letters": summary.letters, "done": summary.done,
            "skipped": summary.skipped, "failed": sum(summary.failed.values()), "calls": summary.calls,
            "cache_hits": summary.cache_hits, "output_letters": summary.output_letters}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--letters", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.05, help="the fill run's server latency (s)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parse-workers", type=int, metavar="K",
                    help="processes that read and parse in (a), (b), (c) (default: as `imr-llm batch`)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    loopback_env()
    from imr_llm.runs.workers import default_parse_workers

    workers = default_parse_workers() if args.parse_workers is None else args.parse_workers
    tmp = Path(tempfile.mkdtemp(prefix="imr-bench-rerun-"))
    runs: dict[str, list[dict]] = {"a": [], "b": [], "c": []}
    try:
        letters = make_letters(tmp / "letters", args.letters)
        cache = tmp / "cache"
        with LatencyServer(args.latency) as server:
            warm_up(server.url, tmp / "warm")
            server.reset()
            fill = timed_run(letters, tmp / "filled.jsonl", url=server.url, cache_dir=cache,
                             concurrency=args.concurrency, parse_workers=workers)
            fill["requests"] = server.stats()["requests"]
            print(f"  fill: {fill['wall_s']:.1f} s, {fill['requests']} requests", file=sys.stderr, flush=True)
            for k in range(args.repeat):
                server.reset()
                runs["a"].append(timed_run(letters, tmp / "filled.jsonl", url=server.url, cache_dir=cache,
                                           concurrency=args.concurrency, parse_workers=workers))
                fresh = tmp / f"cached-{k}.jsonl"
                runs["b"].append(timed_run(letters, fresh, url=server.url, cache_dir=cache,
                                           concurrency=args.concurrency, parse_workers=workers))
                runs["b"][-1]["requests"] = server.stats()["requests"]  # (a) and (b) together: must be 0
                runs["c"].append(timed_run(letters, tmp / f"offline-{k}.jsonl", url=None, cache_dir=cache,
                                           concurrency=args.concurrency, parse_workers=workers))
                for name in "abc":
                    r = runs[name][-1]
                    print(f"  ({name}) #{k + 1}: {r['wall_s']:.2f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n = args.letters
    med = {name: {key: statistics.median(r[key] for r in rs) for key in ("wall_s", "cpu_s")} for name, rs in runs.items()}
    checks = {
        "(a) every letter skipped": all(r["skipped"] == n and r["done"] == 0 for r in runs["a"]),
        "(b) every letter done, every model call a cache hit, 0 server requests":
            all(r["done"] == n and r["calls"] == 0 and r["cache_hits"] > 0 and r["requests"] == 0 for r in runs["b"]),
        "(c) every letter done offline": all(r["done"] == n for r in runs["c"]),
    }
    labels = {"a": "(a) re-run, all letters already in the output (skip)",
              "b": "(b) re-run, fresh output, warm cache (all cache hits)",
              "c": "(c) offline parse only, fresh output"}
    print(code_under_test())
    print(f"{n} letters, concurrency {args.concurrency}, parse workers {workers}, median of {args.repeat}; "
          f"cores: {os.cpu_count()}; "
          f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"fill (cold model run, {args.latency:g} s server latency): {fill['wall_s']:.1f} s, {fill['requests']} requests, "
          f"{fill['cache_hits']} cache hits (the seed copies share their model calls)")
    print(f"{'run':56} {'wall ms/letter':>14} {'CPU ms/letter':>13}")
    for name in "abc":
        print(f"{labels[name]:56} {1000 * med[name]['wall_s'] / n:>14.2f} {1000 * med[name]['cpu_s'] / n:>13.2f}")
    over_wall = 1000 * (med["b"]["wall_s"] - med["c"]["wall_s"]) / n
    over_cpu = 1000 * (med["b"]["cpu_s"] - med["c"]["cpu_s"]) / n
    print(f"{'cached model step overhead (b) - (c)':56} {over_wall:>14.2f} {over_cpu:>13.2f}")
    hits = runs["b"][0]["cache_hits"]
    print(f"cache hits per letter in (b): {hits / n:.2f}")
    for what, ok in checks.items():
        print(f"check: {what}: {'yes' if ok else 'NO'}")
    met = over_wall < 5.0
    print(f"target (cached re-run overhead < 5 ms per letter): {'met' if met else 'MISSED'} "
          f"({over_wall:.2f} ms wall; skip path {1000 * med['a']['wall_s'] / n:.2f} ms)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"letters": n, "concurrency": args.concurrency, "parse_workers": workers,
                                         "fill": fill, "runs": runs,
                                         "median": med, "overhead_ms_per_letter": {"wall": over_wall, "cpu": over_cpu},
                                         "checks": checks, "target_met": met}, indent=2) + "\n", encoding="utf-8")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
