"""Throughput of `imr-llm extract --json` on a folder of letters, against a baseline measured
in the same run: pypdfium2 alone pulling the text out of the same PDFs (the floor no parser
can beat). Prints letters/second and the ratio; figures go to BENCHMARKS.md.

    python benchmarks/extract_throughput.py [--copies 10] [--letters DIR]

Uses the DWC dev letters in ../shared when present (copies of them, by symlink), else the
synthetic PDF fixture. Nothing is written outside a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"

BASELINE = """
import sys, pypdfium2 as pdfium
from pathlib import Path
for p in sorted(Path(sys.argv[1]).iterdir()):
    doc = pdfium.PdfDocument(str(p))
    for i in range(len(doc)):
        page = doc[i]; tp = page.get_textpage(); tp.get_text_range(); tp.close(); page.close()
    doc.close()
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--letters", type=Path, default=DEV if DEV.is_dir() else ROOT / "tests" / "fixtures" / "letters")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    pdfs = sorted(args.letters.glob("*.pdf"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for c in range(args.copies):
            for p in pdfs:
                (folder / f"{c:03d}-{p.name}").symlink_to(p.resolve())
        n = len(list(folder.iterdir()))
        cli = [sys.executable, "-m", "imr_llm.cli", "extract", "--json", str(folder)]
        base = [sys.executable, "-c", BASELINE, str(folder)]
        t_cli = min(_time(cli) for _ in range(args.repeat))
        t_base = min(_time(base) for _ in range(args.repeat))
        t_cli1 = min(_time(cli + ["--jobs", "1"]) for _ in range(args.repeat))
    print(f"letters: {n} ({len(pdfs)} distinct PDFs x {args.copies}), cores: {os.cpu_count()}")
    print(f"imr-llm extract --json (default jobs): {t_cli:.2f} s  = {n / t_cli:.0f} letters/s")
    print(f"imr-llm extract --json --jobs 1:       {t_cli1:.2f} s  = {n / t_cli1:.0f} letters/s")
    print(f"baseline, pypdfium2 text only, 1 proc: {t_base:.2f} s  = {n / t_base:.0f} letters/s")
    print(f"ratio extract(default)/baseline time:  {t_cli / t_base:.2f}")
    print(f"ratio extract(jobs 1)/baseline time:   {t_cli1 / t_base:.2f}")


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
