"""The `imr-llm` command: argument parsing and printing over the public API, nothing more.

Exit status: 0 all inputs succeeded, 1 some input failed (each failure is one line on stderr —
and, in JSON output, a record with its "error" — and the run goes on), 2 usage error. A run of
several letters ends with a summary line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import __version__
from .errors import ImrError
from .output import stream_is_utf8

STDIN = "-"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def parse_known_args(self, args=None, namespace=None):
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # usage errors exit 2 without a traceback
        unknown = self._unknown_options()
        if unknown:  # the cause, rather than what argparse noticed first ("required: PATH")
            message = f"unrecognized arguments: {' '.join(unknown)}"
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def _unknown_options(self) -> list[str]:
        """The options given to this (sub)command that it does not have (abbreviations count)."""
        commands = {name for action in self._actions if isinstance(action, argparse._SubParsersAction)
                    for name in action.choices}
        known = list(self._option_string_actions)
        unknown = []
        for token in getattr(self, "_given", []):
            if token == "--" or token in commands:  # what follows is positional, or another parser's
                break
            if token.startswith("-") and token != "-" and not _NUMBER.fullmatch(token):
                name = token.split("=", 1)[0]
                if name not in known and not (name.startswith("--") and any(o.startswith(name) for o in known)):
                    unknown.append(token)
        return unknown


_NUMBER = re.compile(r"-\d+(\.\d*)?")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="imr-llm", description="Turn IMR final determination letters into verified data.")
    parser.add_argument("--version", action="version", version=f"imr-llm {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    ex = sub.add_parser("extract", help="parse letters (PDF or text) and print what they state")
    ex.add_argument("paths", nargs="+", metavar="PATH", help="letter files, folders of .pdf/.txt letters, or - for stdin")
    ex.add_argument("--json", action="store_true",
                    help="print JSON Lines, one object per letter (a letter that fails is a line with its \"error\")")
    ex.add_argument("--out", type=Path, metavar="FILE",
                    help="append the JSON Lines to FILE (created user-only; safe to share between runs)")
    ex.add_argument("--no-evidence", action="store_true", help="leave evidence spans out of the JSON")
    ex.add_argument("--redact", action="store_true",
                    help="drop free text (headings, quotes, reasons), the case number, dates, ages and the letter's path "
                         "(output.REDACTED_FIELDS); keep decisions and categories")
    ex.add_argument("--one-letter", action="store_true",
                    help="the PATHs are pictures of one letter's pages, in order (.png/.jpg/.tif files, or a folder of "
                         "them in name order): read them by OCR as one letter")
    ex.add_argument("-j", "--jobs", type=int, default=0,
                    help="worker processes; 0 (default) = one per CPU core for 32+ letters, else 1 (always 1 with --model)")
    add_model_arguments(ex, "fill the model fields (category, service, quantity, reasons) with this model")
    ex.set_defaults(func=_extract_command)

    exp = sub.add_parser("explain", help="explain letters to the injured worker in plain words (offline by default)")
    exp.add_argument("paths", nargs="+", metavar="LETTER", help="letter files, folders of .pdf/.txt letters, or - for stdin")
    exp.add_argument("--language", choices=["en", "es"], default="en", help="English (default) or Spanish")
    exp.add_argument("--format", choices=["text", "markdown", "json", "html"], default="text",
                     help="text (default), markdown, json (one object per letter, plus \"source\") or html (one page)")
    exp.add_argument("--out", type=Path, metavar="DIR",
                     help="write one file per letter into DIR (created user-only) instead of stdout")
    exp.add_argument("--redact", action="store_true",
                     help="leave out the letter's text and every detail taken from it; keep decisions and next steps")
    exp.add_argument("--verbose", action="store_true", help="print who wrote each explanation and its checks to stderr")
    add_model_arguments(exp, "fill the model fields the explanation uses (service, reasons, missing documentation)")
    exp.set_defaults(func=_explain_command)

    bt = sub.add_parser("batch", help="process many letters: resumable JSONL output, CSV, progress, summary")
    bt.add_argument("paths", nargs="+", metavar="PATH", help="letter files or folders (searched recursively)")
    bt.add_argument("--out", type=Path, required=True, metavar="FILE",
                    help="JSON Lines output; a re-run skips letters already in it (by the file's sha256)")
    bt.add_argument("--csv", type=Path, metavar="FILE", help="also write one row per item (rebuilt from --out)")
    bt.add_argument("--explain", type=Path, metavar="DIR", help="also write a patient explanation per letter into DIR")
    bt.add_argument("--language", choices=["en", "es"], default="en", help="language of --explain (default en)")
    bt.add_argument("--explain-format", choices=["html", "json", "markdown", "text"], default="html",
                    help="format of --explain pages (default html)")
    bt.add_argument("--concurrency", type=int, default=4, metavar="N", help="letters in progress at once (default 4)")
    bt.add_argument("--parse-workers", type=int, metavar="N",
                    help="processes that read and parse, so the model calls have this one to themselves "
                         "(default: one per core but one, at most 4; 0: parse here)")
    bt.add_argument("--redact", action="store_true", help="as for extract: no free text, case number, dates, ages or paths")
    bt.add_argument("--price-in", type=float, metavar="USD", help="price per million prompt tokens, for the cost estimate")
    bt.add_argument("--price-out", type=float, metavar="USD", help="price per million completion tokens")
    bt.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="local (default): this process; ray: Ray Data workers, --concurrency letters each "
                         "(needs imr-llm[ray]; RAY_ADDRESS names a cluster, else a local one is started)")
    bt.add_argument("--workers", type=int, metavar="N", help="with --engine ray: worker processes (default: one per CPU)")
    add_model_arguments(bt, "fill the model fields with this model")
    bt.set_defaults(func=_batch_command)

    cache = sub.add_parser("cache", help="inspect or clear the model response cache")
    cache.add_argument("action", choices=["stats", "clear"])
    cache.add_argument("--cache-dir", type=Path, help="cache folder (else IMR_LLM_CACHE_DIR or ~/.cache/imr-llm)")
    cache.set_defaults(func=_cache_command)

    from .evaluation.cli import add_eval_parser  # the eval command lives with the harness

    add_eval_parser(sub)
    from .openai_batch import add_openai_batch_parser  # the OpenAI Batch API path (prepare / collect)

    add_openai_batch_parser(sub)
    return parser


def add_model_arguments(parser: argparse.ArgumentParser, model_help: str) -> None:
    """The model options, the same for every command that can call a model."""
    parser.add_argument("--model", help=f"{model_help} (else IMR_LLM_MODEL; none = offline, no model)")
    parser.add_argument("--endpoint-kind", help="openai | vllm | ollama | llamacpp (else IMR_LLM_ENDPOINT_KIND)")
    parser.add_argument("--base-url", help="OpenAI-compatible base URL (else IMR_LLM_BASE_URL or the kind's default)")
    parser.add_argument("--cache-dir", type=Path, help="response cache folder (else IMR_LLM_CACHE_DIR or ~/.cache/imr-llm)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")


def model_config_from_args(args: argparse.Namespace):
    """A ModelConfig when --model or IMR_LLM_MODEL is given, else None (offline)."""
    from .model import ModelConfig

    if not (getattr(args, "model", None) or os.environ.get("IMR_LLM_MODEL")):
        return None
    return ModelConfig.from_env(model=args.model, endpoint_kind=args.endpoint_kind, base_url=args.base_url)


def main(argv: Sequence[str] | None = None) -> int:
    _safe_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    problem = _flag_problem(args) or _output_problem(args)
    if problem:
        parser.print_usage(sys.stderr)
        print(f"imr-llm {args.command}: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("imr-llm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `imr-llm extract --json dir | head`
        sys.stderr.close()
        return EXIT_OK
    except OSError as exc:  # an output that became unwritable during the run (disk full, removed)
        from .output import display_path

        where = display_path(exc.filename) + ": " if exc.filename else ""
        print(f"imr-llm {args.command}: error: {where}{exc.strerror or type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILED


#: every path a command writes, and whether it is a file or a folder (checked by `_output_problem`)
OUTPUTS = {
    "extract": {"out": "file"},
    "explain": {"out": "folder"},
    "batch": {"out": "file", "csv": "file", "explain": "folder"},
    "openai-batch": {"requests": "file", "out": "file", "csv": "file"},
    "eval": {"report": "file", "html": "file", "baseline": "file"},
}


def _output_problem(args: argparse.Namespace) -> str | None:
    """One rule for every output of every command, checked before any work (output.output_problem)."""
    from .output import display_path, output_problem

    for name, kind in OUTPUTS.get(args.command, {}).items():
        path = getattr(args, name, None)
        if isinstance(path, Path):
            problem = output_problem(path, kind)
            if problem:
                return f"--{name} {display_path(path)}: {problem}"
    return None


def _safe_streams() -> None:
    """Never crash on a console that cannot show a character (cp1252, LANG=C): text output
    replaces it; JSON output escapes it instead (see `output.json_line`), so JSON stays exact."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and not stream_is_utf8(stream):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):
                pass


def _flag_problem(args: argparse.Namespace) -> str | None:
    """Flags that make no sense together, said once instead of silently ignored."""
    paths = getattr(args, "paths", None) or []
    if STDIN in paths and len(paths) > 1:
        return "'-' (read the letter from stdin) cannot be combined with other paths"
    if STDIN in paths and args.command in ("batch", "openai-batch"):
        return "'-' (stdin) is for extract and explain: give letter files or folders"
    if args.command == "batch":
        if args.concurrency < 1:
            return "--concurrency must be 1 or more"
        if args.csv is not None and args.csv.resolve() == args.out.resolve():
            return "--csv and --out must be different files"
        if args.language != "en" and args.explain is None:
            return "--language applies to --explain: add --explain DIR"
        if args.parse_workers is not None and (args.parse_workers < 0 or args.engine == "ray"):
            return "--parse-workers must be 0 or more, and applies to --engine local"
        if args.workers is not None and (args.engine != "ray" or args.workers < 1):
            return "--workers applies to --engine ray and must be 1 or more"
        if args.engine == "ray" and args.explain is not None:
            return "--explain is not available with --engine ray: run the explanations with --engine local"
    if args.command in ("extract", "explain", "batch"):
        has_model = bool(args.model or os.environ.get("IMR_LLM_MODEL"))
        model_only = [flag for flag, given in (("--endpoint-kind", args.endpoint_kind), ("--base-url", args.base_url),
                                               ("--cache-dir", args.cache_dir), ("--no-cache", args.no_cache)) if given]
        if model_only and not has_model:
            return f"{', '.join(model_only)} only apply with a model: add --model (or set IMR_LLM_MODEL)"
        if args.no_cache and args.cache_dir:
            return "--no-cache and --cache-dir contradict each other: give one"
    if args.command == "extract":
        if args.no_evidence and not (args.json or args.out):
            return "--no-evidence applies to JSON output: add --json or --out FILE"
        if args.jobs > 1 and (args.model or os.environ.get("IMR_LLM_MODEL")):
            return "--jobs runs the offline parser in parallel; with --model, letters are sent one at a time"
        if args.jobs < 0:
            return "--jobs must be 0 (automatic) or more"
    return None


def expand_paths(paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Letter files to process, and problems (missing paths, folders without letters): the one
    input rule of every command. Folders are searched recursively for .pdf/.txt; '-' is stdin."""
    from .batch import iter_inputs
    from .output import display_path

    files: list[Path] = []
    problems: list[str] = []
    for raw in paths:
        if raw == STDIN:
            files.append(Path(STDIN))
            continue
        p = Path(raw)
        if p.is_dir():
            found = list(iter_inputs([p]))
            if not found:
                problems.append(f"{display_path(p)}: folder has no .pdf or .txt letters")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            problems.append(f"{display_path(p)}: no such file or folder")
    return files, problems


def one_letter_pages(paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    """`--one-letter`: the pictures of one letter's pages, in the order given (a folder: its pictures
    in name order, not searched below), and problems. A letter with a page missing is not read at all."""
    from .output import display_path
    from .reading import IMAGE_SUFFIXES

    if STDIN in paths:
        return [], ["'-' (stdin) cannot be a page of --one-letter; give the picture files"]
    files, problems = [], []
    for raw in paths:
        p = Path(raw)
        found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES) \
            if p.is_dir() else [p] if p.exists() else []
        if not found:
            problems.append(f"{display_path(p)}: " + ("folder has no .png, .jpg or .tif pictures" if p.is_dir()
                                                       else "no such file or folder"))
        files.extend(found)
    return ([], problems) if problems else (files, problems)


def load_input(path: Path):
    """The letter at `path`, or on stdin for '-' (read once, as bytes: PDF or text)."""
    from .api import load
    from .reading import read_bytes

    if str(path) == STDIN:
        if _STDIN_DATA.get("data") is None:
            from .reading import MAX_BYTES

            _STDIN_DATA["data"] = sys.stdin.buffer.read(MAX_BYTES + 1)  # more is refused: never read it all
        return read_bytes(_STDIN_DATA["data"], name="<stdin>")
    return load(path)


_STDIN_DATA: dict[str, bytes | None] = {}


def _display_name(path: Path) -> str:
    from .output import display_path

    return "<stdin>" if str(path) == STDIN else display_path(path)


def _extract_command(args: argparse.Namespace) -> int:
    files, problems = one_letter_pages(args.paths) if args.one_letter else expand_paths(args.paths)
    if problems and not files:
        for problem in problems:
            print(f"imr-llm: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = model_config_from_args(args)
    except ImrError as exc:
        print(f"imr-llm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    jobs = args.jobs if args.jobs > 0 else ((os.cpu_count() or 1) if len(files) >= 32 else 1)
    as_json = bool(args.json or args.out)
    notes: list[str] = []  # filled by _extract_one in this process (model runs are never in workers)
    options = {"json": as_json, "evidence": not args.no_evidence, "redact": args.redact,
               "ascii": False if args.out else not stream_is_utf8(sys.stdout)}
    if config is not None:
        options["notes"] = notes
    pipeline = None
    if config is not None:
        from .api import Pipeline

        try:
            pipeline = Pipeline(config, cache_dir=args.cache_dir, use_cache=not args.no_cache)
        except ImrError as exc:
            print(f"imr-llm: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        results = iter([_extract_one(files[0], options, pipeline, pages=files)]) if args.one_letter else \
            (_extract_one(f, options, pipeline) for f in files)
    elif args.one_letter:
        results = iter([_extract_one(files[0], options, pages=files)])
    else:
        results = _run(files, jobs=jobs, options=options)
    out = None
    if args.out is not None:
        from .output import JsonlAppender

        out = JsonlAppender(args.out)
    summary = RunSummary((1 if args.one_letter else len(files)) + len(problems))
    for problem in problems:
        summary.fail("no_such_input", f"imr-llm: error: {problem}")
    console = None
    if not as_json:
        from rich.console import Console

        console = Console()
    try:
        with Progress(len(files), quiet=len(files) < 20) as progress:  # the bar is on stderr, cleared at the end
            for path, payload, error in progress.track(results):
                if error is not None:
                    code, message = error
                    summary.fail(code, f"imr-llm: [{code}] {message}")
                    progress.say(summary.lines[-1])
                    if as_json:
                        record = {"source": _display_name(path), "error": {"code": code, "message": message}}
                        if args.redact:
                            from .output import redacted

                            record = redacted(record)
                        _emit(out, json.dumps(record, ensure_ascii=options["ascii"]) + "\n")
                    continue
                summary.ok(payload if isinstance(payload, dict) else None)
                while notes:
                    progress.say(notes.pop(0))
                if as_json:
                    _emit(out, payload)
                else:
                    from .render import print_determination

                    # rendered first, then written through sys.stdout: while the bar shows, that
                    # is rich's proxy, which prints above the bar instead of across it
                    with console.capture() as captured:
                        print_determination(console, payload.pop("source") or "[redacted]", payload)
                    sys.stdout.write(captured.get())
        sys.stdout.flush()
    finally:
        if out is not None:
            out.close()
    if pipeline is not None:
        pipeline.close()
        totals = pipeline.usage.summary()
        print(f"imr-llm: model {config.model}: {totals['model_calls']} calls ({totals['retries']} retries), "
              f"{totals['prompt_tokens']} prompt + {totals['completion_tokens']} completion tokens, "
              f"{totals['cache_hits']} cache hits, {totals['model_seconds']} s waiting for the model", file=sys.stderr)
    if summary.total > 1 or summary.failed or out is not None:
        print(summary.final_line(args.out), file=sys.stderr)
    return EXIT_FAILED if summary.failed else EXIT_OK


def _emit(out, line: str) -> None:
    if out is not None:
        out.write_line(line)
    else:
        sys.stdout.write(line)


class RunSummary:
    """What a run did, for the last line on stderr: letters, read, failed (by reason)."""

    def __init__(self, total: int) -> None:
        self.total, self.read, self.failed = total, 0, 0
        self.reasons: dict[str, int] = {}
        self.lines: list[str] = []

    def ok(self, payload=None) -> None:
        self.read += 1

    def fail(self, code: str, line: str) -> None:
        self.failed += 1
        self.reasons[code] = self.reasons.get(code, 0) + 1
        self.lines.append(line)

    def final_line(self, out: Path | None = None) -> str:
        reasons = ", ".join(f"{code} {n}" for code, n in sorted(self.reasons.items()))
        line = f"imr-llm: {self.total} letter(s): {self.read} done, {self.failed} failed" + (f" ({reasons})" if reasons else "")
        return line + (f"; written to {out}" if out is not None else "")


def _extract_one(path: Path, options: dict, pipeline=None,
                 pages: list[Path] | None = None) -> tuple[Path, dict | str | None, tuple[str, str] | None]:
    """Parse one file (or, with `pages`, one letter from pictures of its pages); never raises for bad
    input (the batch must go on). In the JSON modes the worker returns the finished JSON line, which
    is far cheaper to send back than the object."""
    from .api import Pipeline

    name = _display_name(path)
    try:
        if pages:
            from .reading import read_images

            source = read_images(pages)
            name = source.path or name
        else:
            source = load_input(path)
        det = (pipeline or Pipeline()).extract_source(source)
    except ImrError as exc:
        return path, None, (exc.code, str(exc))
    except Exception as exc:  # a parser bug must not lose the rest of the batch
        return path, None, ("internal_error", f"{name}: {type(exc).__name__} while parsing; please report it")
    if det.model_step.status in ("failed", "partial"):
        # the letter is done (its parse is whole), but say so where a person watching will see it
        from .enrich.enricher import partial_note

        options.get("notes", []).append(f"imr-llm: {name}: {partial_note(det)}")
    record = {"source": name, **det.model_dump(mode="json")}
    if not options.get("evidence", True):
        _drop_evidence(record)
    if options.get("redact"):
        from .output import redacted

        record = redacted(record)
    if not options.get("json"):
        return path, record, None
    return path, json.dumps(record, ensure_ascii=options.get("ascii", False)) + "\n", None


def _explain_command(args: argparse.Namespace) -> int:
    """`imr-llm explain`: read, parse (with the model fields when --model), explain, render."""
    files, problems = expand_paths(args.paths)
    for problem in problems:
        print(f"imr-llm: error: {problem}", file=sys.stderr)
    if problems and not files:
        return EXIT_USAGE
    if args.format == "html" and len(files) > 1 and args.out is None:
        print("imr-llm: error: --format html writes one page per letter: give --out DIR for several letters",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        config = model_config_from_args(args)
    except ImrError as exc:
        print(f"imr-llm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from .api import Pipeline
    from .explain import explain
    from .explain.render import EXTENSIONS, check_report, render
    from .output import display_path, private_dir, redact_explanation, redacted, write_private

    try:
        pipeline = Pipeline(config, cache_dir=args.cache_dir, use_cache=not args.no_cache)
    except ImrError as exc:
        print(f"imr-llm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    writer = None
    if pipeline.enricher is not None:
        from .explain.writer import ModelWriter

        writer = ModelWriter(pipeline.enricher.client)  # with a model, the model writes; the guards decide
    if args.out is not None:
        private_dir(args.out)
    summary = RunSummary(len(files) + len(problems))
    for problem in problems:
        summary.fail("no_such_input", problem)
    ascii_json = not stream_is_utf8(sys.stdout)
    used_names: set[str] = set()
    try:
        for n, path in enumerate(files):
            name = _display_name(path)
            try:
                source = load_input(path)
                det = pipeline.extract_source(source)
                expl = explain(det, source, args.language, writer)
            except ImrError as exc:
                summary.fail(exc.code, f"imr-llm: [{exc.code}] {exc}")
                print(summary.lines[-1], file=sys.stderr)
                if args.format == "json" and args.out is None:
                    record = {"source": name, "error": {"code": exc.code, "message": str(exc)}}
                    sys.stdout.write(json.dumps(redacted(record) if args.redact else record, ensure_ascii=ascii_json) + "\n")
                continue
            except Exception as exc:  # a bug must not lose the rest of the batch
                summary.fail("internal_error", f"imr-llm: [internal_error] {name}: {type(exc).__name__} while explaining; "
                                               "please report it")
                print(summary.lines[-1], file=sys.stderr)
                continue
            summary.ok()
            if args.redact:  # no letter text and no path, not even in a file's name
                expl, source, name, stem = redact_explanation(expl), None, f"letter {n + 1}", f"letter-{n + 1}"
            else:
                stem = "stdin" if str(path) == STDIN else path.stem
            page = render(expl, args.format, source=source, source_name=None if args.redact else name)
            if args.format == "json":
                record = json.loads(page)
                if args.redact:
                    record["redacted"] = True
                page = json.dumps(record, ensure_ascii=ascii_json and args.out is None)
            if args.out is not None:
                file_name = f"{stem}.{args.language}.{EXTENSIONS[args.format]}"
                k = 2
                while file_name in used_names:
                    file_name = f"{stem}-{k}.{args.language}.{EXTENSIONS[args.format]}"
                    k += 1
                used_names.add(file_name)
                write_private(args.out / file_name, page + ("\n" if args.format == "json" else ""))
                print(f"{name} -> {display_path(args.out / file_name)}", file=sys.stderr)
            elif args.format == "json":
                sys.stdout.write(page + "\n")
            else:
                if len(files) > 1 and args.format == "text":
                    sys.stdout.write(f"{'=' * 8} {name} {'=' * 8}\n")
                elif n > 0 and args.format == "markdown":
                    sys.stdout.write("\n---\n\n")
                sys.stdout.write(page)
            if expl.fallback.used:
                print(f"imr-llm: {name}: {expl.fallback.reason}", file=sys.stderr)
            if args.verbose:
                print("\n".join(f"imr-llm: {name}: {line}" for line in check_report(expl)), file=sys.stderr)
        sys.stdout.flush()
    finally:
        pipeline.close()
    if summary.total > 1 or summary.failed:
        print(summary.final_line(args.out), file=sys.stderr)
    return EXIT_FAILED if summary.failed else EXIT_OK


def _batch_command(args: argparse.Namespace) -> int:
    """`imr-llm batch`: the streaming, resumable run (imr_llm/batch.py) with a progress bar."""
    from .batch import Stop

    stop = Stop().install()  # Ctrl-C from here on: stop taking letters; twice: at once
    try:
        return _batch_run(args, stop)
    finally:
        stop.uninstall()


def _batch_run(args: argparse.Namespace, stop) -> int:
    import asyncio

    from .api import Pipeline
    from .batch import BatchOptions, default_parse_workers, run_batch, summary_text

    paths, missing = expand_paths(args.paths)
    for problem in missing:
        print(f"imr-llm: error: {problem}", file=sys.stderr)
    if not paths:
        return EXIT_USAGE
    if args.engine == "ray":
        return _batch_ray_command(args, paths, missing)
    try:
        config = model_config_from_args(args)
        pipeline = Pipeline(config, cache_dir=args.cache_dir, use_cache=not args.no_cache)
    except ImrError as exc:
        print(f"imr-llm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    writer = None
    if args.explain is not None and pipeline.enricher is not None:
        from .explain.writer import ModelWriter

        writer = ModelWriter(pipeline.enricher.client)
    options = BatchOptions(out=args.out, csv=args.csv, explain_dir=args.explain, language=args.language,
                           explain_format=args.explain_format, concurrency=args.concurrency, redact=args.redact,
                           price_in=args.price_in, price_out=args.price_out,
                           parse_workers=default_parse_workers() if args.parse_workers is None else args.parse_workers)
    with Progress(len(paths), quiet=False, label="letters") as progress:
        try:
            summary = asyncio.run(run_batch(paths, pipeline, options, progress=progress.letter_done, writer=writer,
                                            stop=stop))
        except ImrError as exc:  # the output is another run's
            progress.say(f"imr-llm: error: {exc}")
            return EXIT_USAGE
        finally:
            pipeline.close()
    sys.stderr.write(summary_text(summary))
    return _batch_status(summary, missing)


def _batch_status(summary, missing: list[str]) -> int:
    if summary.interrupted:
        return 130
    return EXIT_FAILED if missing or summary.failed else EXIT_OK


def _batch_ray_command(args: argparse.Namespace, paths: list[Path], missing: list[str]) -> int:
    """`imr-llm batch --engine ray`: the same lines (imr_llm/ray_batch.py), made by Ray workers,
    written by this process."""
    from .batch import summary_text

    try:
        from .ray_batch import require_ray, run_ray

        require_ray()
        config = model_config_from_args(args)
    except ImrError as exc:
        print(f"imr-llm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    import logging

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # the progress bar and the summary say it
    with Progress(len(paths), quiet=False, label="letters") as progress:
        def advance(record) -> None:
            if record is not None and record["status"] == "error":
                progress.say(f"imr-llm: [{record['error']['code']}] {record['error']['message']}")
            progress.advance()

        try:
            summary = run_ray(paths, args.out, model=config, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                              concurrency=args.workers, per_worker=args.concurrency, redact=args.redact,
                              csv=args.csv, price_in=args.price_in, price_out=args.price_out, progress=advance)
        except KeyboardInterrupt:
            print("imr-llm: interrupted; finished letters are in the output, a re-run goes on from there",
                  file=sys.stderr)
            return 130
    sys.stderr.write(summary_text(summary))
    return _batch_status(summary, missing)


def _cache_command(args: argparse.Namespace) -> int:
    from .cache import open_cache

    try:
        cache = open_cache(args.cache_dir)
    except ImrError as exc:
        print(f"imr-llm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.action == "clear":
            removed = cache.clear()
            print(f"cleared {removed} cached responses from {getattr(cache, 'directory', type(cache).__name__)}")
        else:
            stats = cache.stats()
            print(f"{getattr(cache, 'directory', type(cache).__name__)}: {stats['entries']} cached responses, {stats['bytes'] / 1e6:.1f} MB "
                  "(model outputs about medical letters: keep this folder private)")
    finally:
        cache.close()
    return EXIT_OK


def _run(files: list[Path], jobs: int, options: dict) -> Iterator[tuple[Path, dict | str | None, tuple[str, str] | None]]:
    if jobs <= 1 or len(files) < 2 * jobs:
        for f in files:
            yield _extract_one(f, options)
        return
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(partial(_extract_one, options=options), files,
                            chunksize=max(1, min(64, len(files) // (jobs * 4))))


class Progress:
    """A progress bar on stderr when it is a terminal. While it shows, lines for stderr go
    through `say` (and stdout through rich's redirect when stdout is the same terminal), so the
    bar is redrawn below them instead of garbling them; it is cleared before the summary."""

    def __init__(self, total: int, quiet: bool = False, label: str = "letters") -> None:
        self.total, self.label = total, label
        self.enabled = not quiet and sys.stderr.isatty() and not os.environ.get("IMR_LLM_NO_PROGRESS")
        self._progress = None

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._progress = RichProgress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                                          _RateColumn(), TimeRemainingColumn(),
                                          transient=True, console=_stderr_console(),
                                          redirect_stdout=sys.stdout.isatty(), redirect_stderr=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("letters", total=self.total)
        return self

    def track(self, results):
        for result in results:
            yield result
            if self._progress is not None:
                self._progress.advance(self._task)

    def advance(self, files: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, files)

    def letter_done(self, result) -> None:
        """A batch's per-letter callback: a failed letter's line, then a step of the bar for each
        of its files (a letter found under two names is two files of the total)."""
        if result.error is not None:
            self.say(f"imr-llm: [{result.error.code}] {result.error}")
        self.advance(max(1, len(result.paths)))

    def say(self, line: str) -> None:
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=sys.stderr)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
            self._progress = None


def _RateColumn():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Letters per second, as measured so far."""

        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.2f}/s" if speed else "-/s", style="progress.data.speed")

    return RateColumn()


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def _drop_evidence(obj: object) -> None:
    if isinstance(obj, dict):
        obj.pop("evidence", None)
        for value in obj.values():
            _drop_evidence(value)
    elif isinstance(obj, list):
        for value in obj:
            _drop_evidence(value)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
