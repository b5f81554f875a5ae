"""OCR benchmark: picture copies of dev letters, read by imr-llm's own OCR and by the `ocrmypdf --deskew`
route, scored by the eval harness against the same gold as the text letters, timed side by side.

    .venv/bin/python benchmarks/ocr_benchmark.py --every 5 --styles scanner:300,scanner:200,scanner:150,phone:150 \\
        [--ocrmypdf PATH/TO/ocrmypdf] [--out report.json]

The copies (benchmarks/ocr_images.py: scanner-like noise and skew, phone-like perspective, shading,
blur and JPEG) are made in a temporary folder at run time and removed after: they hold letter text,
so they are never committed. Every `--every`th dev letter (sorted by name) is used, to keep the run
short on a shared 2-core machine. Figures per style and route:

* decisions: items.decision accuracy (the harness's check, items aligned to the gold);
* headings within 5%: items whose heading is within 5% (edit distance / gold length) of the gold heading;
* header: the seven header fields (case number, four dates, date of injury, priority) together;
* invented items: items read beyond the gold's count; letters that failed, by error code;
* seconds per letter: wall time of reading + parsing (ours), or of `ocrmypdf --deskew` + parsing its
  text layer (the ocrmypdf route), one letter at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from imr_llm.api import Pipeline, load  # noqa: E402
from imr_llm.errors import ImrError  # noqa: E402
from imr_llm.evaluation.gold import load_suite  # noqa: E402
from imr_llm.evaluation.runner import run_eval  # noqa: E402
from imr_llm.parsing.ocr_damage import edit_distance  # noqa: E402
from ocr_images import picture_copy  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"
GOLD = ROOT / "evals" / "gold" / "dev"
HEADER = ("case_number", "date_assigned", "decision_date", "date_of_injury", "ur_denial_date",
          "application_received", "priority")


def _norm(text) -> str:
    return " ".join(str(text or "").split()).lower()


def score(letters_dir: Path, task, counts: dict) -> dict:
    suite = load_suite("ocr", letters_dir, GOLD)
    run = run_eval([suite], task)
    rep = run.report["suites"]["ocr"]
    decisions, headings, header = [0, 0], [0, 0], [0, 0]
    invented, errors = 0, {}
    for stem, letter in rep["per_letter"].items():
        if letter.get("error"):
            text = str(letter["error"])
            code = text[1:text.index("]")] if text.startswith("[") and "]" in text else text.split(":")[0]
            errors[code] = errors.get(code, 0) + 1
        for c in letter["checks"]:
            m = c["metric"]
            if m == "items.decision":
                decisions[0] += c["ok"]
                decisions[1] += 1
            elif m == "items.request":
                exp, got = _norm(c["expected"]), _norm(c["got"])
                headings[0] += bool(exp) and edit_distance(exp, got) <= 0.05 * len(exp)
                headings[1] += 1
            elif m in HEADER:
                header[0] += c["ok"]
                header[1] += 1
        gold = json.loads((GOLD / f"{stem}.json").read_text())
        invented += max(0, counts.get(stem, 0) - len(gold.get("items", [])))
    pct = lambda p: round(100 * p[0] / p[1], 1) if p[1] else None  # noqa: E731
    return {"letters": len(rep["per_letter"]), "decisions_pct": pct(decisions), "decisions": decisions,
            "headings_within_5pct": pct(headings), "headings": headings, "header_pct": pct(header),
            "header": header, "invented_items": invented, "errors": errors}


class Readings:
    """Each letter's reading (the SourceText) and its seconds, kept in `folder` when given: a rerun then
    parses the kept readings again (to score a parser change) without reading the pictures again, and
    reports the seconds the reading took then. The folder holds letter text: keep it under /tmp."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        if folder:
            folder.mkdir(parents=True, exist_ok=True)

    def has(self, key: str) -> bool:
        return bool(self.folder) and (self.folder / f"{key}.pickle").exists()

    def get(self, key: str, read):
        kept = self.folder / f"{key}.pickle" if self.folder else None
        if kept and kept.exists():
            return pickle.loads(kept.read_bytes())
        t = time.perf_counter()
        try:
            result = (read(), None)
        except ImrError as exc:
            result = (None, exc)
        result = (*result, time.perf_counter() - t)
        if kept:
            kept.write_bytes(pickle.dumps(result))
        return result


def timed(letters_dir: Path, read, readings: Readings, route: str) -> dict:
    """Score the parse of `read(path)` (a SourceText) on the letters of `letters_dir`, timing each
    letter's reading and parse."""
    times, counts = {}, {}
    pipeline = Pipeline()

    def task(path: Path):
        source, error, seconds = readings.get(f"{letters_dir.name}.{route}.{path.stem}", lambda: read(path))
        t = time.perf_counter()
        try:
            if error is not None:
                raise error
            det = pipeline.extract_source(source)
        finally:
            times[path.stem] = seconds + time.perf_counter() - t
        counts[path.stem] = len(det.items)
        return det

    result = score(letters_dir, task, counts)
    result["seconds_per_letter"] = round(sum(times.values()) / max(len(times), 1), 2)
    return result


def ours(letters_dir: Path, readings: Readings) -> dict:
    return timed(letters_dir, load, readings, "ours")


def ocrmypdf_route(letters_dir: Path, exe: str, work: Path, readings: Readings) -> dict:
    out_dir = work / (letters_dir.name + "-ocrmypdf")
    out_dir.mkdir()

    def read(path: Path):
        target = out_dir / path.name
        run = subprocess.run([exe, "--deskew", "-q", "--output-type", "pdf", str(path), str(target)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise ImrError(f"ocrmypdf failed ({run.returncode}): {run.stderr.strip().splitlines()[-1:]}")
        return load(target)

    return timed(letters_dir, read, readings, "ocrmypdf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=5, help="use every Nth dev letter (default 5)")
    ap.add_argument("--offset", type=int, default=0, help="start at this letter (default 0)")
    ap.add_argument("--styles", default="scanner:300,scanner:200,scanner:150,phone:150")
    ap.add_argument("--ocrmypdf", help="the ocrmypdf command, for the side-by-side route (skipped without it)")
    ap.add_argument("--text", action="store_true", help="also score the text-layer letters themselves")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    ap.add_argument("--keep", type=Path, help="keep each letter's reading here (under /tmp: letter text), "
                    "and on a rerun parse the kept readings instead of reading the pictures again")
    args = ap.parse_args()

    letters = sorted(DEV.glob("*.pdf"))[args.offset::args.every]
    report = {"letters": [p.stem for p in letters], "every": args.every, "offset": args.offset, "styles": {}}
    work = Path(tempfile.mkdtemp(prefix="imr-ocr-bench-"))
    readings = Readings(args.keep)
    try:
        if args.text:
            text_dir = work / "text"
            text_dir.mkdir()
            for p in letters:
                shutil.copy(p, text_dir / p.name)
            report["text"] = ours(text_dir, readings)
            print("text", json.dumps(report["text"]), flush=True)
        for spec in args.styles.split(","):
            style, dpi = spec.split(":")
            folder = work / f"{style}-{dpi}"
            folder.mkdir()
            for p in letters:
                seed = zlib.crc32(f"{p.stem}:{style}:{dpi}".encode())
                routes = ["ours"] + (["ocrmypdf"] if args.ocrmypdf else [])
                kept = all(readings.has(f"{folder.name}.{r}.{p.stem}") for r in routes)  # no copy needed
                (folder / p.name).write_bytes(b"" if kept else picture_copy(p, style, int(dpi), seed))
            entry = {"ours": ours(folder, readings)}
            print(spec, "ours", json.dumps(entry["ours"]), flush=True)
            if args.ocrmypdf:
                entry["ocrmypdf"] = ocrmypdf_route(folder, args.ocrmypdf, work, readings)
                print(spec, "ocrmypdf", json.dumps(entry["ocrmypdf"]), flush=True)
            report["styles"][spec] = entry
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("IMR_LLM_NO_PROGRESS", "1")
    main()
