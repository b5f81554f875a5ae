"""CPU time of the offline parse (normalized text → Determination) on the dev letters, this tree
against another commit's, measured side by side in one run: both parse the same texts, read once,
alternating rounds so machine load hits both alike. Prints the median per-letter time of each and
the ratio; figures go to BENCHMARKS.md.

    python benchmarks/parse_side_by_side.py [--base d7e29f7] [--rounds 7]

The other commit's package is exported with `git archive` into a temporary folder and imported
from there as `imr_llm_base`; nothing is written outside that folder.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"


def load(tree: Path, package: str):
    """(read_text, parse, read_path) from the package `package` under `tree` (the package uses
    relative imports only, so a copy under another name is a separate, complete import)."""
    sys.path.insert(0, str(tree))
    try:
        reading = importlib.import_module(f"{package}.reading")
        parsing = importlib.import_module(f"{package}.parsing")
        return reading.read_text, parsing.parse, reading.read_path
    finally:
        sys.path.remove(str(tree))


def timed(read_text, parse, texts: list[str]) -> float:
    start = time.process_time()
    for text in texts:
        parse(read_text(text))
    return (time.process_time() - start) / len(texts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="d7e29f7")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base, "imr_llm"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        (Path(tmp) / "imr_llm").rename(Path(tmp) / "imr_llm_base")
        base = load(Path(tmp), "imr_llm_base")
        ours = load(ROOT, "imr_llm")
        texts = [ours[2](p).raw for p in sorted(DEV.glob("*.pdf"))]
        runs: dict[str, list[float]] = {"base": [], "ours": []}
        for _ in range(args.rounds):
            for name, (read_text, parse, _) in (("base", base), ("ours", ours)):
                runs[name].append(timed(read_text, parse, texts))
    b, o = statistics.median(runs["base"]), statistics.median(runs["ours"])
    print(f"{len(texts)} letters, {args.rounds} rounds: base {args.base} {b * 1000:.2f} ms/letter, "
          f"this tree {o * 1000:.2f} ms/letter, ratio {o / b:.3f}")


if __name__ == "__main__":
    main()
