"""Every offline output of the CLI on the dev letters and the committed fixtures, written to one
folder so two trees can be diffed byte for byte (issue 18: the redesign keeps behaviour).

    cd <tree> && .venv/bin/python benchmarks/golden_outputs.py /tmp/golden-before
    cd <other tree> && <venv>/bin/python benchmarks/golden_outputs.py /tmp/golden-after
    diff -r /tmp/golden-before /tmp/golden-after

Runs the `imr-llm` entry point of the tree it is started from (`python -m imr_llm` with the tree
first on sys.path). The output holds letter text: keep it in /tmp, never commit it. Paths inside
outputs are the same in both trees (the letters are read from the same places); run-dependent
lines (seconds, dates of the run) are masked.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

TREE = Path(__file__).resolve().parent.parent
DEV = Path("/work/shared/data/dwc-imr/dev") if Path("/work/shared/data/dwc-imr/dev").is_dir() else TREE.parent / "shared/data/dwc-imr/dev"
FIXTURES = TREE / "tests/fixtures/letters"
MASKS = [(re.compile(r"\d+(\.\d+)? ?s\b"), "<secs>"), (re.compile(r"\d{4}-\d\d-\d\dT[\d:.+Z-]+"), "<time>"),
         (re.compile(r"\d+(\.\d+)? letters/s"), "<rate>")]


def run(out: Path, name: str, *args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(TREE), IMR_LLM_MODEL="", NO_COLOR="1", COLUMNS="100")
    proc = subprocess.run([sys.executable, "-m", "imr_llm", *args], capture_output=True, text=True, env=env, cwd=out)
    for stream, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        for rx, repl in MASKS:
            text = rx.sub(repl, text)
        (out / f"{name}.{stream}").write_text(text)
    (out / f"{name}.rc").write_text(str(proc.returncode))


def main(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    letters = sorted(str(p) for p in DEV.glob("*.pdf")) + sorted(str(p) for p in FIXTURES.glob("*.txt"))
    run(out, "extract-json", "extract", "--json", "-j", "1", *letters)
    run(out, "extract-redact", "extract", "--json", "--redact", "-j", "1", *letters)
    run(out, "extract-table", "extract", "-j", "1", *letters[:12], *letters[-5:])
    for lang in ("en", "es"):
        for fmt in ("text", "markdown", "html", "json"):
            extra = ("--out", f"pages-{lang}") if fmt == "html" else ()
            run(out, f"explain-{lang}-{fmt}", "explain", "--language", lang, "--format", fmt, *extra, *letters)
    run(out, "explain-redact", "explain", "--redact", *letters[:10])
    run(out, "batch", "batch", "--out", "batch.jsonl", "--csv", "batch.csv", "--explain", "pages", "--parse-workers", "0", *letters)
    run(out, "batch-redact", "batch", "--out", "batch-r.jsonl", "--csv", "batch-r.csv", "--redact", "--parse-workers", "0", *letters)
    run(out, "batch-again", "batch", "--out", "batch.jsonl", "--parse-workers", "0", *letters)
    for name in ("batch.jsonl", "batch.csv", "batch-r.jsonl", "batch-r.csv"):  # letters finish in any order
        lines = (out / name).read_text().splitlines(keepends=True)
        (out / name).write_text("".join(lines[:1] + sorted(lines[1:]) if name.endswith(".csv") else sorted(lines)))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
