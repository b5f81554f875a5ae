"""`imr-llm eval`: run the harness on letter/gold folder pairs (`--letters DIR --gold DIR`) or a
suites file (default `evals/suites.json` here, which also names the default baseline) and gate on
the baseline. What is scored is one `Pipeline`'s extraction; with a model, free text is also judged.
Exit 0 = no regression, 1 = regression or failed extractions, 2 = usage error (no suites or letters)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from ..api import Pipeline
from ..errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ConfigError, ImrError
from ..evaluation.baseline import compare, load_baseline, write_baseline
from ..evaluation.gold import SUITES_FILE, find_suites_file, load_suite, load_suites_file, read_suites_file
from ..evaluation.judge import FreeTextJudge
from ..evaluation.report import print_terminal, write_html, write_json
from ..evaluation.runner import run_eval
from ..explain import languages
from ..runs.summary import Progress
from .common import add_model_arguments, model_config_from_args


def add_eval_parser(sub) -> None:
    ev = sub.add_parser("eval", help="score extraction against gold labels; compare with the baseline")
    ev.add_argument("--letters", type=Path, action="append", help="folder of letters (pair with --gold; repeatable)")
    ev.add_argument("--gold", type=Path, action="append", help="folder of gold JSON files, one per letter stem")
    ev.add_argument("--suites", type=Path, metavar="FILE",
                    help="suites file (default: evals/suites.json in the current directory)")
    add_model_arguments(ev, "model that fills the interpretive fields and judges free text", "the exact parse only")
    ev.add_argument("--no-judge", action="store_true", help="with a model: skip the LLM judge of free-text fields")
    ev.add_argument("--explain", action="append", choices=languages.BUILT_IN, metavar="LANG",
                    help="also explain each letter (en, es; repeatable) and report the explanation checks: decision "
                         "consistency, read-back, reading grade, numbers not in the letter, fallbacks")
    ev.add_argument("--compare", type=Path, nargs="?", const=True, metavar="BASELINE",
                    help="compare with a blessed baseline (default: the suites file's, evals/baseline.json) "
                         "and exit 1 on regression")
    ev.add_argument("--tolerance", type=float, default=0.0,
                    help="a metric may drop this much before it counts as a regression (default 0)")
    ev.add_argument("--bless", action="store_true", help="write this run as the new baseline")
    ev.add_argument("--baseline", type=Path, help="baseline file --bless writes (default: the suites file's)")
    ev.add_argument("--report", type=Path, default=Path("reports/report.json"), help="where report.json goes")
    ev.add_argument("--html", type=Path, metavar="OUT", help="also write a self-contained HTML report")
    ev.add_argument("--html-no-text", action="store_true", help="leave letter text out of the HTML (diffs only)")
    ev.set_defaults(func=eval_command)


def _error(message: str) -> None:
    # plain print, not rich: one line however long, and no markup read into "[code]" prefixes
    print(f"imr-llm eval: error: {message}", file=sys.stderr)


def eval_command(args: argparse.Namespace) -> int:
    console = Console(stderr=False)
    try:
        suites, notes, default_baseline = _load_suites(args)
        compare_path = _baseline_path(args.compare, default_baseline, "--compare") if args.compare else None
        bless_path = _baseline_path(args.baseline, default_baseline, "--bless") if args.bless else None
        baseline = load_baseline(compare_path) if compare_path is not None else None  # before the run
        config = model_config_from_args(args)  # a bad model configuration is a usage error too
        if config is None and (args.endpoint_kind or args.base_url):
            raise ConfigError("--endpoint-kind/--base-url need a model (--model or IMR_LLM_MODEL)")
    except ImrError as exc:  # the command line, the suites or the model configuration
        _error(str(exc))
        return EXIT_USAGE
    for note in notes:
        print(f"imr-llm eval: note: {note}", file=sys.stderr)

    try:
        run = _run(args, suites, config)
    except ImrError as exc:
        _error(str(exc))
        return EXIT_FAILED

    comparison = compare(run.report, baseline, args.tolerance) if baseline is not None else None
    print_terminal(run, console, comparison)
    write_json(run, args.report, comparison)
    console.print(f"report: {args.report}", markup=False)
    if args.html:
        write_html(run, args.html, comparison)
        console.print(f"html: {args.html}" + ("" if args.html_no_text else " (contains letter text: keep it private)"),
                      markup=False)
    if bless_path is not None:
        write_baseline(run.report, bless_path)
        console.print(f"baseline written: {bless_path}", markup=False)
    failed = any(s["errors"] for s in run.report["suites"].values()) and not args.bless
    return EXIT_FAILED if failed or (comparison is not None and comparison.regressed) else EXIT_OK


def _load_suites(args: argparse.Namespace):
    """(suites, notes, default baseline path or None) from --letters/--gold pairs or a suites file."""
    letters, golds = args.letters or [], args.gold or []
    if len(letters) != len(golds):
        raise ConfigError("give --letters and --gold in pairs")
    if letters and args.suites:
        raise ConfigError("give either --letters/--gold or --suites, not both")
    if letters:
        suites = [load_suite(name, l, g) for name, l, g in zip(_suite_names(letters), letters, golds)]
        notes: list[str] = []
        where = "the given folders"
        project = find_suites_file()  # its baseline stays the default for --compare/--bless
        default_baseline = read_suites_file(project)[1] if project else None
    else:
        suites_file = args.suites or find_suites_file()
        if suites_file is None:
            raise ConfigError(f"no suites to run: no {SUITES_FILE} in {Path.cwd()}; "
                             "give --letters DIR --gold DIR, or --suites FILE")
        config = load_suites_file(suites_file)
        suites, notes, default_baseline = config.suites, config.skipped, config.baseline
        where = f"the suites of {suites_file}"
    if sum(len(s.pairs) for s in suites) == 0:
        raise ConfigError(f"no labelled letters to score in {where} (no letter has a gold file of the same stem)")
    return suites, notes, default_baseline


def _baseline_path(given, default: Path | None, option: str) -> Path:
    if isinstance(given, Path):
        return given
    if default is None:
        raise ConfigError(f"{option}: no default baseline without a suites file; give the baseline's path")
    return default


def _suite_names(folders: list[Path]) -> list[str]:
    """Suites are named after their letters folder; repeated names get a number."""
    names: list[str] = []
    for i, folder in enumerate(folders):
        name = folder.resolve().name or f"suite{i + 1}"
        names.append(name if name not in names else f"{name}-{i + 1}")
    return names


def _run(args: argparse.Namespace, suites, config):
    """One Pipeline's extraction, scored, with a progress bar; the model (if any) also judges free text."""
    with Pipeline(config, cache_dir=args.cache_dir, use_cache=not args.no_cache) as pipeline, \
            Progress(sum(len(s.pairs) for s in suites)) as progress:
        judge = FreeTextJudge(pipeline.enricher.client) if pipeline.enricher is not None and not args.no_judge else None
        return run_eval(suites, pipeline.extract, judge=judge, keep_text=bool(args.html) and not args.html_no_text,
                        explain_languages=tuple(args.explain or ()), on_letter=lambda *_: progress.advance())
