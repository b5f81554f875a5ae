"""`imr-llm eval`: run the harness on letter/gold folder pairs and gate on the baseline.

With no --letters/--gold it runs the project's suites: the seed letters (always) and the DWC dev
letters (when ../shared is present). Exit 0 = no regression, 1 = regression (or extraction
failures), 2 = usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ImrError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SUITES = [
    ("seeds", REPO / "tests" / "fixtures" / "letters", REPO / "evals" / "gold" / "seeds"),
    ("dev", REPO.parent / "shared" / "data" / "dwc-imr" / "dev", REPO / "evals" / "gold" / "dev"),
]
DEFAULT_BASELINE = REPO / "evals" / "baseline.json"


def add_eval_parser(sub) -> None:
    ev = sub.add_parser("eval", help="score extraction against gold labels; compare with the baseline")
    ev.add_argument("--letters", type=Path, action="append", help="folder of letters (pair with --gold; repeatable)")
    ev.add_argument("--gold", type=Path, action="append", help="folder of gold JSON files, one per letter stem")
    ev.add_argument("--model", help="model for the LLM judge of free-text fields (else IMR_LLM_MODEL; none = no judge)")
    ev.add_argument("--endpoint-kind", help="openai | vllm | ollama | llamacpp (else IMR_LLM_ENDPOINT_KIND)")
    ev.add_argument("--base-url", help="OpenAI-compatible base URL (else IMR_LLM_BASE_URL or the kind's default)")
    ev.add_argument("--cache-dir", type=Path, help="response cache folder (else IMR_LLM_CACHE_DIR or ~/.cache/imr-llm)")
    ev.add_argument("--compare", type=Path, nargs="?", const=DEFAULT_BASELINE, metavar="BASELINE",
                    help=f"compare with a blessed baseline (default {DEFAULT_BASELINE.relative_to(REPO)}) and exit 1 on regression")
    ev.add_argument("--tolerance", type=float, default=0.0,
                    help="a metric may drop this much before it counts as a regression (default 0)")
    ev.add_argument("--bless", action="store_true", help="write this run as the new baseline")
    ev.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, help="baseline file --bless writes")
    ev.add_argument("--report", type=Path, default=Path("reports/report.json"), help="where report.json goes")
    ev.add_argument("--html", type=Path, metavar="OUT", help="also write a self-contained HTML report")
    ev.add_argument("--html-no-text", action="store_true", help="leave letter text out of the HTML (diffs only)")
    ev.set_defaults(func=eval_command)


def eval_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .baseline import compare, load_baseline, write_baseline
    from .gold import GoldFormatError, load_suite
    from .report import print_terminal, write_html, write_json

    console = Console(stderr=False)
    err = Console(stderr=True)
    letters, golds = args.letters or [], args.gold or []
    if len(letters) != len(golds):
        err.print("imr-llm eval: error: give --letters and --gold in pairs")
        return 2
    try:
        if letters:
            names = _suite_names(letters)
            suites = [load_suite(name, l, g) for name, l, g in zip(names, letters, golds)]
        else:
            suites = [load_suite(name, l, g) for name, l, g in DEFAULT_SUITES if l.is_dir() and g.is_dir()]
    except GoldFormatError as exc:
        err.print(f"imr-llm eval: error: {exc}")
        return 2

    judge, usage, model_config, cache = None, None, None, None
    if args.model or _env_model():
        try:
            judge, usage, model_config, cache = _make_judge(args)
        except ImrError as exc:
            err.print(f"imr-llm eval: error: {exc}")
            return 2

    total = sum(len(s.pairs) for s in suites)
    try:
        run = _run_with_progress(suites, total, err, judge=judge, usage=usage, model_config=model_config,
                                 keep_text=bool(args.html) and not args.html_no_text)
    except ImrError as exc:
        err.print(f"imr-llm eval: error: {exc}")
        return 1
    finally:
        if cache is not None:
            cache.close()

    comparison = None
    if args.compare:
        if not args.compare.exists():
            err.print(f"imr-llm eval: error: baseline {args.compare} not found (create it with --bless)")
            return 2
        comparison = compare(run.report, load_baseline(args.compare), args.tolerance)
    print_terminal(run, console, comparison)
    write_json(run, args.report, comparison)
    console.print(f"report: {args.report}")
    if args.html:
        write_html(run, args.html, comparison)
        console.print(f"html: {args.html}" + ("" if args.html_no_text else " (contains letter text: keep it private)"))
    if args.bless:
        write_baseline(run.report, args.baseline)
        console.print(f"baseline written: {args.baseline}")
    failed = any(s["errors"] for s in run.report["suites"].values())
    if comparison is not None and comparison.regressed:
        return 1
    return 1 if failed and not args.bless else 0


def _suite_names(folders: list[Path]) -> list[str]:
    """Suites are named after their letters folder; repeated names get a number."""
    names: list[str] = []
    for i, folder in enumerate(folders):
        name = folder.resolve().name or f"suite{i + 1}"
        names.append(name if name not in names else f"{name}-{i + 1}")
    return names


def _env_model() -> bool:
    import os

    return bool(os.environ.get("IMR_LLM_MODEL"))


def _make_judge(args):
    from ..cache import ResponseCache
    from ..model import ModelConfig, StructuredClient, UsageLog
    from .judge import FreeTextJudge

    config = ModelConfig.from_env(model=args.model, endpoint_kind=args.endpoint_kind, base_url=args.base_url)
    cache = ResponseCache(args.cache_dir)
    usage = UsageLog()
    return FreeTextJudge(StructuredClient(config, cache=cache, usage=usage)), usage, config, cache


def _run_with_progress(suites, total, err, **options):
    """run_eval, with a progress bar on stderr when it is a terminal."""
    from .runner import run_eval

    if not sys.stderr.isatty():
        return run_eval(suites, **options)
    from rich.progress import Progress

    with Progress(console=err, transient=True, redirect_stdout=False, redirect_stderr=False) as progress:
        task = progress.add_task("letters", total=total)
        return run_eval(suites, on_letter=lambda *_: progress.advance(task), **options)
