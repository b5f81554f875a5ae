"""Side by side: the product pipeline (parser + per-item model step) against the naive peer
(one whole-letter instructor call, benchmarks/naive_peer.py) on the same model and the same
dev letters, scored by the eval's own `score_letter` + `aggregate`.

    python benchmarks/compare_with_peer.py --letters 2 --only peer
    python benchmarks/compare_with_peer.py --letters 10 --json reports/peer.json

Picks the first N letters (sorted by name) of the DWC dev set that have gold labels in
evals/gold/dev. Prints, per approach: letters, failures, seconds per letter (wall, measured
around the calls) and cache hits, prompt/completion tokens per letter, and per-field
accuracy. Responses are cached (default ~/.cache/imr-llm-bench), so a rerun is free; the
cost of the run that filled the cache is recorded next to it and reported on reruns as
"recorded". Output (stdout and --json) holds scores and counts only, never letter text.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from naive_peer import DEFAULT_BASE_URL, DEFAULT_MODEL, NaivePeer, peer_config  # noqa: E402

from imr_llm.errors import ImrError  # noqa: E402
from imr_llm.evaluation.gold import load_gold_file  # noqa: E402
from imr_llm.evaluation.scoring import aggregate, score_letter  # noqa: E402
from imr_llm.model import ModelConfig  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEV_LETTERS = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"
DEV_GOLD = ROOT / "evals" / "gold" / "dev"
DEFAULT_CACHE = Path.home() / ".cache" / "imr-llm-bench"

ITEM_METRICS = [
    "items.alignment", "items.decision", "items.category", "items.subcategory", "items.service",
    "items.body_regions", "items.laterality",
    "items.quantity.raw", "items.quantity.count", "items.quantity.frequency_per_week",
    "items.quantity.duration_weeks", "items.quantity.total_sessions", "items.quantity.strength",
    "items.quantity.dispense_qty", "items.reasons", "items.missing_documentation", "outcome",
]


@dataclass
class LetterRun:
    stem: str
    seconds: float  # wall, around the extraction call(s)
    cached: bool  # every model request of this letter was answered from the cache
    prompt_tokens: int
    completion_tokens: int
    model_calls: int
    error: str | None = None
    recorded_seconds: float | None = None  # cost of the run that filled the cache (reruns)
    recorded_prompt_tokens: int | None = None
    recorded_completion_tokens: int | None = None


# -- running ------------------------------------------------------------------------------------


def pick_letters(n: int, letters_dir: Path = DEV_LETTERS, gold_dir: Path = DEV_GOLD, every: int = 1) -> list[tuple[str, Path, dict]]:
    golds = {p.stem: p for p in gold_dir.glob("*.json")}
    letters = sorted(p for p in letters_dir.iterdir() if p.suffix.lower() in (".pdf", ".txt") and p.stem in golds)
    letters = letters[::every]  # --every 5: every 5th letter by name, the subset benchmarks/model_eval.py scores
    return [(p.stem, p, load_gold_file(golds[p.stem])) for p in letters[:n]]


def _fingerprint(approach: str, path: Path, config: ModelConfig, extra: str = "") -> str:
    blob = json.dumps({"approach": approach, "letter": hashlib.sha256(path.read_bytes()).hexdigest(),
                       "config": config.model_dump(mode="json"), "extra": extra}, sort_keys=True)
    return "bench-cost:" + hashlib.sha256(blob.encode()).hexdigest()


def _run_one(stem: str, path: Path, extract, usage, cache, fingerprint: str) -> tuple[LetterRun, dict | None]:
    before = usage.summary()["requests"]  # the log keeps only its latest records: count, do not index
    started = time.perf_counter()
    pred, error = None, None
    try:
        pred = extract(path)
    except Exception as exc:  # one letter's failure is a scored error, not a crash
        error = _describe(exc)
    seconds = time.perf_counter() - started
    new = usage.summary()["requests"] - before
    records = list(usage.records)[-new:] if new else []
    live = [r for r in records if not r.cached]
    run = LetterRun(stem=stem, seconds=round(seconds, 3), cached=bool(records) and not live,
                    prompt_tokens=sum(r.prompt_tokens for r in live),
                    completion_tokens=sum(r.completion_tokens for r in live),
                    model_calls=sum(r.attempts for r in live), error=error)
    if cache is not None:
        if live and error is None:
            cache.set(fingerprint, {"seconds": run.seconds, "prompt_tokens": run.prompt_tokens,
                                    "completion_tokens": run.completion_tokens})
        elif run.cached:
            recorded = cache.get(fingerprint)
            if recorded:
                run.recorded_seconds = recorded["seconds"]
                run.recorded_prompt_tokens = recorded["prompt_tokens"]
                run.recorded_completion_tokens = recorded["completion_tokens"]
    return run, pred


def _describe(exc: Exception) -> str:
    """The error's type, plus its message only for the project's own errors (which never quote
    the letter); other messages (a pydantic error, say) may hold model output."""
    if isinstance(exc, ImrError) and str(exc):
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return type(exc).__name__


def run_peer(letters, config: ModelConfig, cache_dir: Path | None):
    runs, preds = [], []
    with NaivePeer(config, cache_dir=cache_dir, use_cache=cache_dir is not None) as peer:
        for stem, path, _ in letters:
            run, pred = _run_one(stem, path, peer.extract, peer.usage, peer.cache,
                                 _fingerprint("peer", path, config, peer.prompt.sha256))
            runs.append(run)
            preds.append(pred)
            _progress("peer", run)
        summary = peer.usage.summary()
    return runs, preds, summary


def run_ours(letters, config: ModelConfig, cache_dir: Path | None):
    from imr_llm.api import Pipeline

    runs, preds = [], []
    with Pipeline(model=config, cache_dir=cache_dir, use_cache=cache_dir is not None) as pipeline:
        try:
            extra = json.dumps(pipeline.enricher.prompt_hashes(), sort_keys=True)
        except Exception:
            extra = ""

        def extract(path):
            return pipeline.extract(path).model_dump(mode="json")

        for stem, path, _ in letters:
            run, pred = _run_one(stem, path, extract, pipeline.usage, pipeline.cache,
                                 _fingerprint("ours", path, config, extra))
            runs.append(run)
            preds.append(pred)
            _progress("ours", run)
        summary = pipeline.usage.summary()
    return runs, preds, summary


def _progress(approach: str, run: LetterRun) -> None:
    status = "error: " + run.error if run.error else ("cache hit" if run.cached else f"{run.model_calls} model calls")
    print(f"  [{approach}] {run.stem}: {run.seconds:.1f} s, {status}", file=sys.stderr, flush=True)


# -- figures ------------------------------------------------------------------------------------


def figures(runs: list[LetterRun], preds: list[dict | None], letters, usage_summary: dict) -> dict:
    results = [score_letter(stem, pred, gold, error=run.error)
               for (stem, _, gold), pred, run in zip(letters, preds, runs)]
    n = len(runs)
    steps = [((p or {}).get("model_step") or {}).get("status") for p in preds if p is not None]
    steps = [s for s in steps if s is not None]
    live = [r for r in runs if not r.cached and r.error is None]
    # per-letter cost of computing the answer: measured now, or recorded when this run was served from the cache
    costs = [(r.seconds, r.prompt_tokens, r.completion_tokens) for r in live]
    costs += [(r.recorded_seconds, r.recorded_prompt_tokens, r.recorded_completion_tokens)
              for r in runs if r.cached and r.recorded_seconds is not None]
    mean = (lambda xs: round(sum(xs) / len(xs), 2) if xs else None)
    return {
        "letters": n,
        "failures": sum(1 for r in runs if r.error),
        # ours only: letters whose model step dropped values or failed without raising
        "model_step_incomplete": (sum(1 for p in steps if p not in ("complete", "not_requested")) if steps else None),
        "cache_hits": sum(1 for r in runs if r.cached),
        "seconds_per_letter": mean([r.seconds for r in runs]),
        "seconds_per_uncached_letter": mean([r.seconds for r in runs if not r.cached]),  # failed letters too
        "prompt_tokens_per_letter": round(usage_summary["prompt_tokens"] / n, 1) if n else None,
        "completion_tokens_per_letter": round(usage_summary["completion_tokens"] / n, 1) if n else None,
        "cost_per_computed_letter": {
            "letters": len(costs),
            "seconds": mean([c[0] for c in costs]),
            "prompt_tokens": mean([c[1] for c in costs]),
            "completion_tokens": mean([c[2] for c in costs]),
        },
        "usage": usage_summary,
        "metrics": aggregate(results),
        "per_letter": [asdict(r) for r in runs],
    }


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if digits else f"{value:.0f}"
    return str(value)


def table(report: dict[str, dict]) -> str:
    names = list(report)
    rows: list[tuple[str, list[str]]] = []
    rows.append(("letters", [_fmt(report[a]["letters"]) for a in names]))
    rows.append(("failures", [_fmt(report[a]["failures"]) for a in names]))
    rows.append(("model step partial/failed (letters)", [_fmt(report[a]["model_step_incomplete"]) for a in names]))
    rows.append(("cache hits (letters)", [_fmt(report[a]["cache_hits"]) for a in names]))
    rows.append(("s / letter (wall, this run)", [_fmt(report[a]["seconds_per_letter"], 1) for a in names]))
    rows.append(("s / uncached letter", [_fmt(report[a]["seconds_per_uncached_letter"], 1) for a in names]))
    rows.append(("prompt tok / letter (this run)", [_fmt(report[a]["prompt_tokens_per_letter"], 0) for a in names]))
    rows.append(("completion tok / letter (this run)", [_fmt(report[a]["completion_tokens_per_letter"], 0) for a in names]))
    for key, label, digits in (("seconds", "s / letter (computed, incl. recorded)", 1),
                               ("prompt_tokens", "prompt tok / letter (computed)", 0),
                               ("completion_tokens", "completion tok / letter (computed)", 0)):
        rows.append((label, [_fmt(report[a]["cost_per_computed_letter"][key], digits) for a in names]))
    rows.append(("letters with a computed cost", [_fmt(report[a]["cost_per_computed_letter"]["letters"]) for a in names]))
    rows.append(("", ["" for _ in names]))
    for metric in ITEM_METRICS:
        cells = []
        for a in names:
            m = report[a]["metrics"].get(metric)
            if m is None:
                cells.append("-")
            elif metric == "items.alignment":
                cells.append(f"acc {m['accuracy']:.3f} P {m['precision']:.3f} R {m['recall']:.3f}")
            elif m["kind"] == "set":
                cells.append(f"acc {m['accuracy']:.3f} F1 {m['f1']:.3f}")
            elif m["kind"] == "free":
                cells.append(f"tokF1 {m['mean_score']:.3f}")
            else:
                cells.append(f"acc {m['accuracy']:.3f}")
            if m is not None:
                cells[-1] += f" (n={m['n']})"
        rows.append((metric, cells))
    width0 = max(len(r[0]) for r in rows)
    widths = [max(len(a), *(len(r[1][i]) for r in rows)) for i, a in enumerate(names)]
    lines = [" " * width0 + "  " + "  ".join(a.ljust(w) for a, w in zip(names, widths))]
    lines.append("-" * len(lines[0]))
    for label, cells in rows:
        lines.append(label.ljust(width0) + "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--letters", type=int, default=2, help="first N dev letters with gold labels (sorted by name)")
    ap.add_argument("--every", type=int, default=1, help="take every K-th letter by name (then the first N of those)")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--endpoint-kind", default="llamacpp")
    ap.add_argument("--base-url", default=DEFAULT_BASE_URL)
    ap.add_argument("--peer-max-tokens", type=int, default=1500, help="the peer answers for every item at once")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--only", choices=["peer", "ours"])
    ap.add_argument("--json", type=Path, help="write the figures (scores and counts only) here")
    ap.add_argument("--letters-dir", type=Path, default=DEV_LETTERS)
    ap.add_argument("--gold-dir", type=Path, default=DEV_GOLD)
    args = ap.parse_args(argv)

    letters = pick_letters(args.letters, args.letters_dir, args.gold_dir, args.every)
    if not letters:
        print(f"compare_with_peer: no letters with gold labels in {args.letters_dir}", file=sys.stderr)
        return 2
    cache_dir = None if args.no_cache else args.cache_dir
    report: dict[str, dict] = {}
    configs: dict[str, dict] = {}
    if args.only != "peer":
        config = ModelConfig(model=args.model, endpoint_kind=args.endpoint_kind, base_url=args.base_url)
        configs["ours"] = config.model_dump(mode="json")
        runs, preds, summary = run_ours(letters, config, cache_dir)
        report["ours"] = figures(runs, preds, letters, summary)
    if args.only != "ours":
        config = peer_config(args.model, args.endpoint_kind, args.base_url, args.peer_max_tokens)
        configs["peer"] = config.model_dump(mode="json")
        runs, preds, summary = run_peer(letters, config, cache_dir)
        report["peer"] = figures(runs, preds, letters, summary)

    print(f"{len(letters)} dev letters ({letters[0][0]} .. {letters[-1][0]}), model {args.model} "
          f"({args.endpoint_kind}), cache {cache_dir or 'off'}")
    print(table(report))
    for approach, fig in report.items():
        errors = sorted({r["error"] for r in fig["per_letter"] if r["error"]})
        for e in errors:
            print(f"{approach} error: {e}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = {"letters": [s for s, _, _ in letters], "model": args.model, "endpoint_kind": args.endpoint_kind,
               "configs": configs, "approaches": report}
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
