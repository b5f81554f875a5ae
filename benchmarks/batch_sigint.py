"""Ctrl-C at many moments of a real `imr-llm batch` (issue 15's check): letters made from the seeds
with duplicates (every fourth file a copy of the one before, under another name), the batch in a
process group of its own as a terminal runs it, SIGINT sent to that group at moments spread
evenly over the first seconds (worker start included: the first letter is a PDF, so a parse
worker starts at once, and more start after 32 letters).

    python benchmarks/batch_sigint.py [--letters 320] [--moments 25] [--until 2.5] [--code DIR]

For each moment: a fresh output, SIGINT, then measured: the seconds from SIGINT to the process's
exit (a hang is reported after 60 s, and the process group killed), its exit status, whether any
parse worker outlived it, the JSONL's lines (whole, each letter at most once) and the CSV's rows
against the JSONL's items. After the moments, the last output is run to the end: each distinct
letter exactly once. `--code DIR`: measure the imr_llm package in DIR (an older checkout) instead.
Counts only; no letter text is printed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_batch_safety import PDF, _alive as alive, _children as children, letters_with_duplicates  # noqa: E402


def make_folder(folder: Path, n: int) -> int:
    """n files: a PDF first, then seed letters made distinct, every fourth a copy of the one before
    (tests/test_batch_safety.py's helper); returns the number of distinct letters."""
    distinct = letters_with_duplicates(folder, n - 1)
    shutil.copy(PDF, folder / "0000-first.pdf")
    return distinct + 1


def check(out: Path, table: Path) -> dict:
    raw = out.read_bytes() if out.exists() else b""
    rows = [json.loads(line) for line in raw.splitlines()]
    items = sum(len(r["items"]) if r["status"] == "ok" else 1 for r in rows)
    csv_rows = None
    if table.exists():
        with table.open(encoding="utf-8", newline="") as handle:
            csv_rows = len(list(csv.DictReader(handle)))
    return {"lines": len(rows), "distinct": len({r["letter_sha256"] for r in rows}),
            "whole": raw.endswith(b"\n") or not raw, "items": items, "csv_rows": csv_rows}


def one(args, env, folder: Path, work: Path, at: float) -> dict:
    out, table = work / "o.jsonl", work / "o.csv"
    for path in (out, table):
        path.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "imr_llm", "batch", str(folder), "--out", str(out), "--csv", str(table)]
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    workers: set[int] = set()
    while time.monotonic() - started < at and proc.poll() is None:
        workers |= children(proc.pid)
        time.sleep(0.005)
    workers |= children(proc.pid)
    sent = time.monotonic()
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
        hung = False
    except subprocess.TimeoutExpired:
        hung = True
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    ended = time.monotonic() - sent
    left = [pid for pid in workers if alive(pid)]
    for pid in left:  # what the batch left behind (it should not)
        os.kill(pid, signal.SIGKILL)
    result = {"at_s": round(at, 2), "ended_after_s": round(ended, 2), "hung": hung, "status": proc.returncode,
              "workers_seen": len(workers), "workers_left": len(left), "traceback": "Traceback" in err,
              "temporaries": len(list(work.rglob("*.tmp"))), **check(out, table)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--letters", type=int, default=320)
    parser.add_argument("--moments", type=int, default=25)
    parser.add_argument("--until", type=float, default=2.5, help="the last moment, in seconds after the start")
    parser.add_argument("--code", type=Path, help="the folder holding the imr_llm package to measure")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMR_LLM_")}
    env["IMR_LLM_NO_PROGRESS"] = "1"
    env["PYTHONPATH"] = str((args.code or ROOT).resolve())
    work = Path(tempfile.mkdtemp(prefix="imr-sigint-"))
    try:
        distinct = make_folder(work / "in", args.letters)
        print(f"{args.letters} files, {distinct} distinct letters; code: {env['PYTHONPATH']}")
        moments = [args.until * (k + 1) / args.moments for k in range(args.moments)]
        results = [one(args, env, work / "in", work, at) for at in moments]
        for r in results:
            print(json.dumps(r))
        # a SIGINT while the command is still loading: before Python's own handler, status -2; after it,
        # the entry's guard (imr_llm.__main__), status 130; a traceback is a failure wherever it comes
        early = [r for r in results if r["status"] in (-signal.SIGINT, 130) and not r["lines"] and r["csv_rows"] is None]
        bad = [r for r in results if r["hung"] or r["ended_after_s"] > 5 or r["workers_left"]
               or r["traceback"] or not r["whole"] or r["lines"] != r["distinct"]
               or r["temporaries"] or (r["csv_rows"] is not None and r["csv_rows"] != r["items"])]
        print(f"moments: {len(results)} ({len(early)} while the command loaded); hung: "
              f"{sum(r['hung'] for r in results)}; longest SIGINT-to-exit: "
              f"{max(r['ended_after_s'] for r in results):.2f} s; exit statuses: "
              f"{sorted({r['status'] for r in results}, key=str)}; workers left behind: "
              f"{sum(r['workers_left'] for r in results)}; runs failing a check: {len(bad)}")
        done = subprocess.run([sys.executable, "-m", "imr_llm", "batch", str(work / "in"), "--out",
                               str(work / "o.jsonl"), "--csv", str(work / "o.csv")], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        final = check(work / "o.jsonl", work / "o.csv")
        print(f"re-run to the end: exit {done.returncode}; {final['lines']} lines, {final['distinct']} distinct "
              f"(of {distinct}); CSV rows {final['csv_rows']} = JSONL items {final['items']}: "
              f"{final['csv_rows'] == final['items']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
