"""A batch over real letters with two hostile PDFs among them, under a 2 GB memory limit (issue 15):
a PDF whose text extraction is quadratic in pdfium (80,000 overprinted text objects, about 200
KB) and a Flate bomb (4 MB that inflates to 4 GiB), among the 65 DWC dev letters (PDFs, from
../shared, when present) and seed letters made distinct, 200 real letters in all.

    python benchmarks/batch_hostile.py [--letters 200] [--limit-gb 2] [--code DIR]

`imr-llm batch --csv` runs in a subprocess whose address space is capped (RLIMIT_AS, inherited by
its parse workers, each of which also caps itself at IMR_LLM_READ_MEMORY_MB); the default
per-letter limits apply (IMR_LLM_READ_SECONDS 20 s). Reported: exit status, wall time, the largest
address space and resident size of any one process of the run and the largest resident total of
the run's processes together (sampled every 20 ms from /proc), letters done and failed (by code,
and which file failed), CSV rows against JSONL items. `--code DIR`: another checkout's imr_llm.
Counts and file names of the hostile files only; no letter text is printed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from pdfwriter import flate_bomb_pdf, overprinted_text_pdf  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"
SEEDS = sorted((ROOT / "tests" / "fixtures" / "letters").glob("0*.txt"))


def make_folder(folder: Path, n: int) -> tuple[int, int]:
    folder.mkdir(parents=True)
    dev = sorted(DEV.glob("*.pdf"))[:n] if DEV.is_dir() else []
    for k, pdf in enumerate(dev):
        shutil.copy(pdf, folder / f"dev-{k:03d}.pdf")
    for k in range(n - len(dev)):
        seed = SEEDS[k % len(SEEDS)]
        (folder / f"seed-{k:03d}.txt").write_text(seed.read_text(encoding="utf-8") + "\n" * (k // len(SEEDS) + 1),
                                                  encoding="utf-8")
    (folder / "hostile-quadratic.pdf").write_bytes(overprinted_text_pdf(80_000))
    (folder / "hostile-flate-bomb.pdf").write_bytes(flate_bomb_pdf(4 << 30))
    return len(dev), n - len(dev)


def tree(pid: int) -> list[int]:
    """pid and its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--letters", type=int, default=200)
    parser.add_argument("--limit-gb", type=float, default=2.0)
    parser.add_argument("--code", type=Path)
    args = parser.parse_args()
    limit = int(args.limit_gb * 2**30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMR_LLM_")}
    env.update(IMR_LLM_NO_PROGRESS="1", PYTHONPATH=str((args.code or ROOT).resolve()))
    work = Path(tempfile.mkdtemp(prefix="imr-hostile-"))
    try:
        dev, seeds = make_folder(work / "in", args.letters)
        print(f"{dev} DWC dev letters + {seeds} seed letters + 2 hostile PDFs; RLIMIT_AS {args.limit_gb:g} GB; "
              f"code: {env['PYTHONPATH']}")
        out, table = work / "o.jsonl", work / "o.csv"
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "imr_llm", "batch", str(work / "in"), "--out", str(out),
                                 "--csv", str(table)], cwd=work, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
        peak_total = peak_rss = peak_vm = 0
        while proc.poll() is None:
            pids = tree(proc.pid)
            rss = [status_kb(p, "VmRSS") for p in pids]
            peak_total = max(peak_total, sum(rss))
            peak_rss = max([peak_rss, *rss])
            peak_vm = max([peak_vm, *(status_kb(p, "VmPeak") for p in pids)])
            time.sleep(0.02)
        err = proc.stderr.read()
        wall = time.monotonic() - started
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
        failed = {Path(r["source"]).name: r["error"]["code"] for r in rows if r["status"] == "error"}
        csv_rows = None
        if table.exists():
            with table.open(encoding="utf-8", newline="") as handle:
                csv_rows = len(list(csv.DictReader(handle)))
        items = sum(len(r["items"]) if r["status"] == "ok" else 1 for r in rows)
        print(f"exit {proc.returncode}; wall {wall:.1f} s; traceback: {'Traceback' in err}"
              + (f" ({err.strip().splitlines()[-1][:120]})" if "Traceback" in err else ""))
        print(f"largest process: {peak_vm / 2**20:.2f} GB address space, {peak_rss / 2**10:.0f} MB resident; "
              f"all processes together: {peak_total / 2**10:.0f} MB resident at most")
        print(f"lines {len(rows)}: {sum(r['status'] == 'ok' for r in rows)} done, failed {failed}")
        print(f"CSV rows {csv_rows} = JSONL items {items}: {csv_rows == items}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
