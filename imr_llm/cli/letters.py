"""`imr-llm extract` and `imr-llm explain`: the one letter loop in input order, printed (a table,
JSON Lines, or explanation pages); a run of several letters ends with a summary line on stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import closing, nullcontext
from pathlib import Path

from rich.console import Console

from ..enrich.enricher import partial_note
from ..errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ..explain import languages
from ..explain.render import EXTENSIONS, check_report, render
from ..output import JsonlAppender, display_path, private_dir, stream_is_utf8, write_private
from ..redaction import redact_explanation, redacted
from ..render import print_determination
from ..runs.inputs import STDIN, each_file, expand_paths, one_letter_pages
from ..runs.loop import iterate_results
from ..runs.summary import Progress, Summary
from .common import add_model_arguments, open_pipeline, outputs_of


def add_letter_parsers(sub) -> None:
    ex = sub.add_parser("extract", help="parse letters (PDF or text) and print what they state")
    ex.add_argument("paths", nargs="+", metavar="PATH", help="letter files, folders of .pdf/.txt letters, or - for stdin")
    ex.add_argument("--json", action="store_true",
                    help="print JSON Lines, one object per letter (a letter that fails is a line with its \"error\")")
    ex.add_argument("--out", type=Path, metavar="FILE",
                    help="append the JSON Lines to FILE (created user-only; safe to share between runs)")
    ex.add_argument("--no-evidence", action="store_true", help="leave evidence spans out of the JSON")
    ex.add_argument("--redact", action="store_true",
                    help="drop free text (headings, quotes, reasons), the case number, dates, ages and the letter's path "
                         "(redaction.REDACTED_FIELDS); keep decisions and categories")
    ex.add_argument("--one-letter", action="store_true",
                    help="the PATHs are pictures of one letter's pages, in order (.png/.jpg/.tif files, or a folder of "
                         "them in name order): read them by OCR as one letter")
    ex.add_argument("-j", "--jobs", type=int, default=0,
                    help="worker processes; 0 (default) = one per CPU core for 32+ letters, else 1 (always 1 with --model)")
    add_model_arguments(ex, "fill the model fields (category, service, quantity, reasons) with this model")
    ex.set_defaults(func=extract_command)

    exp = sub.add_parser("explain", help="explain letters to the injured worker in plain words (offline by default)")
    exp.add_argument("paths", nargs="+", metavar="LETTER", help="letter files, folders of .pdf/.txt letters, or - for stdin")
    exp.add_argument("--language", choices=languages.BUILT_IN, default="en", help="English (default) or Spanish")
    exp.add_argument("--format", choices=["text", "markdown", "json", "html"], default="text",
                     help="text (default), markdown, json (one object per letter, plus \"source\") or html (one page)")
    exp.add_argument("--out", type=Path, metavar="DIR",
                     help="write one file per letter into DIR (created user-only) instead of stdout")
    exp.add_argument("--redact", action="store_true",
                     help="leave out the letter's text and every detail taken from it; keep decisions and next steps")
    exp.add_argument("--verbose", action="store_true", help="print who wrote each explanation and its checks to stderr")
    add_model_arguments(exp, "fill the model fields the explanation uses (service, reasons, missing documentation)")
    exp.set_defaults(func=explain_command)


def extract_command(args: argparse.Namespace) -> int:
    files, problems = one_letter_pages(args.paths) if args.one_letter else expand_paths(args.paths, outputs_of(args))
    for problem in problems:
        print(f"imr-llm: error: {problem}", file=sys.stderr)
    if problems and not files:
        return EXIT_USAGE
    pipeline = open_pipeline(args)
    if pipeline is None:
        return EXIT_USAGE
    jobs = 1 if pipeline.model is not None else args.jobs or ((os.cpu_count() or 1) if len(files) >= 32 else 1)
    summary = Summary()
    for _ in problems:
        summary.fail("no_such_input")
    with JsonlAppender(args.out) if args.out is not None else nullcontext() as out:
        letters = each_file(files, args.one_letter)
        with pipeline, Progress(len(files), quiet=len(files) < 20) as progress, closing(iterate_results(
                None, pipeline, concurrency=jobs, parse_workers=jobs if jobs > 1 else 0, letters=letters,
                ordered=True)) as results:  # the bar is on stderr, cleared at the end
            for result in results:
                record = _extract_record(result, args)
                summary.add(record)
                _print_extracted(result, record, args, out, progress)
        sys.stdout.flush()
    if pipeline.model is not None:
        totals = pipeline.usage.summary()
        print(f"imr-llm: model {pipeline.model.model}: {totals['model_calls']} calls ({totals['retries']} retries), "
              f"{totals['prompt_tokens']} prompt + {totals['completion_tokens']} completion tokens, "
              f"{totals['cache_hits']} cache hits, {totals['model_seconds']} s waiting for the model", file=sys.stderr)
    if summary.letters > 1 or summary.failed or out is not None:
        print(summary.final_line(args.out), file=sys.stderr)
    return EXIT_FAILED if summary.failed else EXIT_OK


def _extract_record(result, args: argparse.Namespace) -> dict:
    """What `extract` prints of a letter: its source and determination (or error), as asked."""
    body = ({"error": result.error.to_json()} if result.error is not None
            else result.determination.model_dump(mode="json"))
    record = {"source": result.source, **body}
    if getattr(args, "no_evidence", False):  # explain has no such flag; an error record has no evidence to drop
        _drop_evidence(record)
    return redacted(record) if args.redact else record


def _print_extracted(result, record: dict, args: argparse.Namespace, out, progress: Progress) -> None:
    if result.error is None and result.determination.model_step.status in ("failed", "partial"):
        # the letter is done (its parse is whole), but say so where a person watching will see it
        progress.say(f"imr-llm: {result.source}: {partial_note(result.determination)}")
    progress.letter_done(result)
    if args.json or out is not None:
        line = json.dumps(record, ensure_ascii=out is None and not stream_is_utf8(sys.stdout)) + "\n"
        out.write_line(line) if out is not None else sys.stdout.write(line)
    elif result.error is None:
        console = Console()
        # rendered first, then written through sys.stdout: while the bar shows, that is rich's
        # proxy, which prints above the bar instead of across it
        with console.capture() as captured:
            print_determination(console, record.pop("source") or "[redacted]", record)
        sys.stdout.write(captured.get())


def _drop_evidence(obj: object) -> None:
    if isinstance(obj, dict):
        obj.pop("evidence", None)
        for value in obj.values():
            _drop_evidence(value)
    elif isinstance(obj, list):
        for value in obj:
            _drop_evidence(value)


def explain_command(args: argparse.Namespace) -> int:
    """`imr-llm explain`: read, parse (with the model fields when --model), explain, render."""
    files, problems = expand_paths(args.paths, outputs_of(args))
    for problem in problems:
        print(f"imr-llm: error: {problem}", file=sys.stderr)
    if problems and not files:
        return EXIT_USAGE
    if args.format == "html" and len(files) > 1 and args.out is None:
        print("imr-llm: error: --format html writes one page per letter: give --out DIR for several letters",
              file=sys.stderr)
        return EXIT_USAGE
    pipeline = open_pipeline(args)
    if pipeline is None:
        return EXIT_USAGE
    if args.out is not None:
        private_dir(args.out)
    summary = Summary()
    for _ in problems:
        summary.fail("no_such_input")
    used_names: set[str] = set()
    with pipeline, closing(iterate_results(None, pipeline, concurrency=1, explain_language=args.language,
                                           letters=each_file(files), ordered=True)) as results:
        for n, (path, result) in enumerate(zip(files, results)):
            if result.error is not None:
                summary.fail(result.error.code)
                _explain_failed(result, args)
            else:
                summary.add({})
                _print_explained(n, path, result, args, len(files), used_names)
        sys.stdout.flush()
    if summary.letters > 1 or summary.failed:
        print(summary.final_line(args.out), file=sys.stderr)
    return EXIT_FAILED if summary.failed else EXIT_OK


def _explain_failed(result, args: argparse.Namespace) -> None:
    print(f"imr-llm: [{result.error.code}] {result.error}", file=sys.stderr)
    if args.format == "json" and args.out is None:  # the record `extract` prints
        sys.stdout.write(json.dumps(_extract_record(result, args), ensure_ascii=not stream_is_utf8(sys.stdout)) + "\n")


def _print_explained(n: int, path: Path, result, args: argparse.Namespace, letters: int, used_names: set[str]) -> None:
    """One letter's explanation, rendered: into its own file in --out, or on stdout."""
    expl, source, name = result.explanation, result.source_text, result.source
    if args.redact:  # no letter text and no path, not even in a file's name
        expl, source, name, stem = redact_explanation(expl), None, f"letter {n + 1}", f"letter-{n + 1}"
    else:
        stem = "stdin" if str(path) == STDIN else path.stem
    page = render(expl, args.format, source=source, source_name=None if args.redact else name)
    if args.format == "json":
        record = json.loads(page)
        if args.redact:
            record["redacted"] = True
        page = json.dumps(record, ensure_ascii=args.out is None and not stream_is_utf8(sys.stdout))
    if args.out is not None:
        file_name, k = f"{stem}.{args.language}.{EXTENSIONS[args.format]}", 2
        while file_name in used_names:
            file_name, k = f"{stem}-{k}.{args.language}.{EXTENSIONS[args.format]}", k + 1
        used_names.add(file_name)
        write_private(args.out / file_name, page + ("\n" if args.format == "json" else ""))
        print(f"{name} -> {display_path(args.out / file_name)}", file=sys.stderr)
    elif args.format == "json":
        sys.stdout.write(page + "\n")
    else:
        if letters > 1 and args.format == "text":
            sys.stdout.write(f"{'=' * 8} {name} {'=' * 8}\n")
        elif n > 0 and args.format == "markdown":
            sys.stdout.write("\n---\n\n")
        sys.stdout.write(page)
    if expl.fallback.used:
        print(f"imr-llm: {name}: {expl.fallback.reason}", file=sys.stderr)
    if args.verbose:
        print("\n".join(f"imr-llm: {name}: {line}" for line in check_report(expl)), file=sys.stderr)
