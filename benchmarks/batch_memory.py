"""Peak memory of a batch with the model step against the latency server, by batch size (target:
flat, no growth with size), and the done-when run of `imr-llm batch` on 1,000 letters: progress
bar, summary, CSV and flat memory; killed halfway (SIGKILL) and re-run, it completes without
redoing finished letters and the output holds each letter exactly once.

    python benchmarks/batch_memory.py [--sizes 100 300 1000] [--concurrency 16] [--latency 0.25]
                                      [--kill-letters 1000] [--json OUT]

Sizes: each size runs in a fresh Python process (`run_batch`, the path of `imr-llm batch`, after an
untimed 5-letter warm-up) and reports its peak RSS (`resource.getrusage(...).ru_maxrss`), the peak
before the batch (after imports and warm-up) and the growth between them, plus what the pipeline
still holds at the end (its usage log keeps one record per model call). The response cache is off
so that every letter sends its model calls (the seed copies would otherwise share them).

The kill run (`--kill-letters 0` skips it): the CLI in a subprocess on a pseudo-terminal (so the
progress bar shows, as for a user), `--csv`, `--no-cache` (so a redone letter would show as server
requests), killed with SIGKILL once half the letters are in the output, then run again to the end.
Checked: every letter exactly once in the JSONL; the CSV rows are exactly the JSONL's items; the
re-run sent exactly the requests of the letters not finished before the kill (read from their
`model_step.usage.http_attempts`), so no finished letter was asked again; the summary says how
many were already in the output. Peak RSS of each CLI process comes from `os.wait4`. No letter
text is printed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pty
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from latency_server import LatencyServer, code_under_test, loopback_env, make_letters  # noqa: E402


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


# -- one size, in a fresh process ---------------------------------------------------------------

def child(args) -> None:
    import asyncio

    from latency_server import warm_up

    from imr_llm.api import Pipeline
    from imr_llm.runs.batch import BatchOptions, run_batch
    from imr_llm.model import ModelConfig

    work = Path(args.work)
    warm_up(args.url, work / "warm")
    # the first n letters as made (k = 0, 1, ...): the same seed mix at every size
    letters = sorted((work.parent / "letters").glob("*.txt"), key=lambda p: p.stem.rsplit("-", 1)[1])[: args.child]
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_before = _rss_kb()
    config = ModelConfig(model="fake", endpoint_kind="llamacpp", base_url=args.url, max_in_flight=args.concurrency)
    options = BatchOptions(out=work / "out.jsonl", csv=work / "items.csv", concurrency=args.concurrency)
    with Pipeline(config, use_cache=False) as pipeline:
        t0 = time.perf_counter()
        summary = asyncio.run(run_batch([str(p) for p in letters], pipeline, options))
        wall = time.perf_counter() - t0
        records = len(pipeline.usage.records)
        rss_after = _rss_kb()
        record_bytes = _bytes_per_usage_record(pipeline.usage.records)
    print(json.dumps({"letters": len(letters), "done": summary.done, "failed": sum(summary.failed.values()),
                      "calls": summary.calls, "wall_s": wall, "peak_before_kb": peak_before,
                      "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "rss_before_kb": rss_before,
                      "rss_after_kb": rss_after, "usage_records": records, "usage_record_bytes": record_bytes,
                      "output_letters": summary.output_letters}))


def _bytes_per_usage_record(records) -> float:
    """Memory one usage-log record holds (measured on 1,000 copies of the run's last record)."""
    import copy
    import tracemalloc

    if not records:
        return 0.0
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    copies = [copy.copy(records[-1]) for _ in range(1000)]
    size = (tracemalloc.get_traced_memory()[0] - before) / len(copies)
    tracemalloc.stop()
    return size


def run_size(n: int, url: str, tmp: Path, concurrency: int) -> dict:
    work = tmp / f"size-{n}"
    work.mkdir()
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", str(n), "--url", url, "--work", str(work),
            "--concurrency", str(concurrency)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"size {n} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the done-when run: the CLI, killed halfway, re-run ------------------------------------------

def cli_run(argv: list[str], env: dict, out: Path, kill_at: int | None) -> dict:
    """Run the CLI on a pty; with `kill_at`, SIGKILL it once the output holds that many lines."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=out.parent, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    chunks: list[bytes] = []
    killed = False
    started = time.perf_counter()
    lines = _LineCounter(out)
    exited = None
    while exited is None:
        if select.select([master], [], [], 0.05)[0]:
            try:
                chunks.append(os.read(master, 65536))
            except OSError:  # EIO: the terminal's other end is closed (the child is gone)
                pass
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # reaps it: the rusage is this child's own
        if pid:
            exited = (status, usage)
        elif kill_at is not None and not killed and lines.count() >= kill_at:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
    while select.select([master], [], [], 0.2)[0]:  # what is left on the terminal
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    status, usage = exited
    proc.returncode = os.waitstatus_to_exitcode(status)
    os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace")
    return {"returncode": proc.returncode, "killed": killed, "wall_s": time.perf_counter() - started,
            "peak_kb": usage.ru_maxrss, "terminal": text}


class _LineCounter:
    """Lines in a growing file, reading only what was added since the last look."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.lines = path, 0, 0
        if path.exists():
            self.offset = path.stat().st_size
            with path.open("rb") as f:
                self.lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))

    def count(self) -> int:
        if self.path.exists():
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
            self.offset += len(data)
            self.lines += data.count(b"\n")
        return self.lines


def _whole_rows(out: Path) -> list[dict]:
    data = out.read_bytes()
    rows = []
    for line in data.split(b"\n")[:-1]:  # a torn last line (no newline) is not a finished letter
        rows.append(json.loads(line))
    return rows


def kill_scenario(n: int, server: LatencyServer, tmp: Path, concurrency: int) -> dict:
    folder = tmp / "kill" / "in"
    letters = make_letters(folder, n)
    out, items = tmp / "kill" / "results.jsonl", tmp / "kill" / "items.csv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMR_LLM_")}
    env.update(IMR_LLM_MAX_IN_FLIGHT=str(concurrency), NO_PROXY="127.0.0.1,localhost", TERM="xterm",
               COLUMNS="120")
    argv = [sys.executable, "-m", "imr_llm", "batch", str(folder), "--out", str(out), "--csv", str(items),
            "--concurrency", str(concurrency), "--model", "fake", "--endpoint-kind", "llamacpp",
            "--base-url", server.url, "--no-cache"]
    server.reset()
    first = cli_run(argv, env, out, kill_at=n // 2)
    finished = _whole_rows(out)
    finished_keys = {r["letter_sha256"] for r in finished}
    torn = out.read_bytes()[-1:] not in (b"\n", b"")
    asked_before = server.stats()["requests"]
    server.reset()
    second = cli_run(argv, env, out, kill_at=None)
    asked_again = server.stats()["requests"]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    keys = [r["letter_sha256"] for r in rows]
    unfinished_attempts = sum(r["model_step"]["usage"]["http_attempts"] for r in rows
                              if r["letter_sha256"] not in finished_keys)
    with items.open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    item_count = sum(len(r.get("items", [])) for r in rows if r["status"] == "ok")
    screen = second["terminal"]
    summary = [re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", line).strip() for line in screen.splitlines()
               if "imr-llm batch:" in line]
    bar = bool(re.search(rf"letters.*\b\d+/{n}\b", re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen)))
    checks = {
        "first run killed by SIGKILL about halfway": first["killed"] and first["returncode"] == -signal.SIGKILL
        and 0 < len(finished) < n,
        "re-run exit 0": second["returncode"] == 0,
        "each letter exactly once in the JSONL": len(rows) == n and len(set(keys)) == n
        and set(keys) == {_sha(p) for p in letters},
        "no finished letter asked again (re-run requests == requests of the unfinished letters)":
            asked_again == unfinished_attempts,
        "summary: letters already in the output == finished before the kill":
            any(f"{len(finished)} already in the output" in line for line in summary),
        "CSV rows == items in the JSONL (one row per item)": len(table) == item_count
        and {t["letter_sha256"] for t in table} == set(keys),
        "progress bar shown (N/total on the terminal)": bar,
    }
    return {"letters": n, "concurrency": concurrency, "finished_at_kill": len(finished), "torn_tail_at_kill": torn,
            "requests_before_kill": asked_before, "requests_rerun": asked_again,
            "requests_of_unfinished_letters": unfinished_attempts, "first_wall_s": first["wall_s"],
            "rerun_wall_s": second["wall_s"], "first_peak_kb": first["peak_kb"], "rerun_peak_kb": second["peak_kb"],
            "csv_rows": len(table), "items": item_count, "summary": summary, "checks": checks}


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100, 300, 1000])
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.25)
    ap.add_argument("--kill-letters", type=int, default=1000, help="letters in the kill run (0: skip it)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    loopback_env()
    if args.child:
        child(args)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="imr-bench-memory-"))
    sizes: list[dict] = []
    scenario = None
    try:
        if args.sizes:
            make_letters(tmp / "letters", max(args.sizes))
        with LatencyServer(args.latency) as server:
            for n in args.sizes:
                server.reset()
                r = run_size(n, server.url, tmp, args.concurrency)
                sizes.append(r)
                print(f"  {n} letters: peak RSS {r['peak_kb'] / 1024:.1f} MB, {r['wall_s']:.1f} s",
                      file=sys.stderr, flush=True)
            if args.kill_letters:
                scenario = kill_scenario(args.kill_letters, server, tmp, args.concurrency)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(code_under_test())
    print(f"latency server {args.latency:g} s, concurrency {args.concurrency} (max_in_flight {args.concurrency}), "
          f"response cache off; cores: {os.cpu_count()}; load average: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if sizes:
        print(f"{'letters':>7} {'calls':>6} {'wall s':>7} {'peak RSS MB':>11} {'peak before batch MB':>20} "
              f"{'growth MB':>9} {'RSS after MB':>12} {'usage records held':>18} {'usage log MB':>12} {'failed':>6}")
        for r in sizes:
            r["growth_kb"] = r["peak_kb"] - r["peak_before_kb"]
            print(f"{r['letters']:>7} {r['calls']:>6} {r['wall_s']:>7.1f} {r['peak_kb'] / 1024:>11.1f} "
                  f"{r['peak_before_kb'] / 1024:>20.1f} {r['growth_kb'] / 1024:>9.1f} {r['rss_after_kb'] / 1024:>12.1f} "
                  f"{r['usage_records']:>18} {r['usage_records'] * r['usage_record_bytes'] / 2**20:>12.2f} {r['failed']:>6}")
        spread = (max(r["peak_kb"] for r in sizes) - min(r["peak_kb"] for r in sizes)) / 1024
        print(f"peak RSS spread across sizes: {spread:.1f} MB")
    if scenario:
        s = scenario
        print(f"\nkill run: `imr-llm batch` on {s['letters']} letters, --csv, --no-cache, concurrency {s['concurrency']}: "
              f"SIGKILL after {s['finished_at_kill']} letters were in the output "
              f"({'a torn last line' if s['torn_tail_at_kill'] else 'no torn line'}), "
              f"{s['requests_before_kill']} requests before the kill; re-run {s['rerun_wall_s']:.1f} s, "
              f"{s['requests_rerun']} requests (the unfinished letters' own: {s['requests_of_unfinished_letters']}); "
              f"peak RSS {s['first_peak_kb'] / 1024:.1f} MB (killed run), {s['rerun_peak_kb'] / 1024:.1f} MB (re-run); "
              f"CSV {s['csv_rows']} rows for {s['items']} items")
        for line in s["summary"]:
            print(f"  {line}")
        for what, ok in s["checks"].items():
            print(f"check: {what}: {'yes' if ok else 'NO'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"sizes": sizes, "kill_run": scenario}, indent=2) + "\n", encoding="utf-8")
    return 0 if scenario is None or all(scenario["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
