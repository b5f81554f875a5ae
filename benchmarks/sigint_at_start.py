"""Ctrl-C in the first tenths of a second of `python -m imr_llm extract` on a seed letter: where a
SIGINT lands while the command is still loading. Counts, per exit, runs that printed a traceback.

    python benchmarks/sigint_at_start.py [--moments 60] [--step 0.005] [--code DIR]

`--code DIR`: measure the imr_llm package in DIR (an older checkout). No letter text is printed.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--moments", type=int, default=60)
    parser.add_argument("--step", type=float, default=0.005, help="seconds between moments (first at 0.01 s)")
    parser.add_argument("--code", type=Path, help="the folder holding the imr_llm package to measure")
    args = parser.parse_args()
    code = (args.code or ROOT).resolve()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("IMR_LLM_")}, "PYTHONPATH": str(code)}
    letter = ROOT / "tests/fixtures/letters/000_e4938e93dd873a45.txt"
    seen: collections.Counter = collections.Counter()
    for k in range(args.moments):
        proc = subprocess.Popen([sys.executable, "-m", "imr_llm", "extract", str(letter)], cwd=code, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        time.sleep(0.01 + args.step * k)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        seen[(proc.returncode, "traceback" if "Traceback" in err else "no traceback")] += 1
    print(f"code: {code}; {args.moments} moments, 0.01 s to {0.01 + args.step * (args.moments - 1):.2f} s")
    for (status, kind), n in sorted(seen.items(), key=str):
        print(f"exit {status}, {kind}: {n}")
    print(f"tracebacks: {sum(n for (_, kind), n in seen.items() if kind == 'traceback')} of {args.moments}")


if __name__ == "__main__":
    main()
