"""The whole variant corpus (tests/variants.py) on the committed letters and every dev letter,
as a markdown confusion table for BENCHMARKS.md (counts only, no letter text). The default test
run takes every 5th dev variant; this takes all of them, and explains every 20th benign one
offline in both languages.

    python benchmarks/variant_corpus.py [--explain-every 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_variants import bases, run  # noqa: E402
from variants import benign, hostile  # noqa: E402

COLUMNS = ["variants", "dropped", "added", "decision_changed", "false_conflicts", "suspicious", "guard_failures",
           "planted_unflagged", "parts_wrong"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--explain-every", type=int, default=20)
    args = ap.parse_args()
    letters = bases(dev=False) + bases(dev=True)
    variants = [v for name, text in letters for v in benign(text, name) + hostile(text, name)]
    start = time.perf_counter()
    table, _ = run(variants, explain_every=args.explain_every)
    took = time.perf_counter() - start
    print(f"{len(letters)} base letters, {len(variants)} variants "
          f"({sum(not v.hostile for v in variants)} benign, {sum(v.hostile for v in variants)} hostile), {took:.0f} s\n")
    print("| kind | family | " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * (len(COLUMNS) + 2))
    for (kind, family), row in sorted(table.items()):
        print(f"| {kind} | {family} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")


if __name__ == "__main__":
    main()
