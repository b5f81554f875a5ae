"""The `imr-llm` command: argument parsing and printing over the public API, nothing more.

Exit status: 0 all inputs succeeded, 1 some input failed (each failure is one line on stderr
and the run goes on), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import __version__
from .errors import ImrError
from .reading import SUPPORTED_SUFFIXES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 without a traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="imr-llm", description="Turn IMR final determination letters into verified data.")
    parser.add_argument("--version", action="version", version=f"imr-llm {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    ex = sub.add_parser("extract", help="parse letters (PDF or text) and print what they state")
    ex.add_argument("paths", nargs="+", metavar="PATH", help="letter files, or folders of .pdf/.txt letters")
    ex.add_argument("--json", action="store_true", help="print JSON Lines, one object per letter")
    ex.add_argument("--no-evidence", action="store_true", help="leave evidence spans out of the JSON")
    ex.add_argument("-j", "--jobs", type=int, default=0,
                    help="worker processes; 0 (default) = one per CPU core for 32+ letters, else 1 (always 1 with --model)")
    add_model_arguments(ex, "fill the model fields (category, service, quantity, reasons) with this model")
    ex.set_defaults(func=_extract_command)

    exp = sub.add_parser("explain", help="explain letters to the injured worker in plain words (offline by default)")
    exp.add_argument("paths", nargs="+", metavar="LETTER", help="letter files, or folders of .pdf/.txt letters")
    exp.add_argument("--language", choices=["en", "es"], default="en", help="English (default) or Spanish")
    exp.add_argument("--format", choices=["text", "markdown", "json", "html"], default="text",
                     help="text (default), markdown, json (one object per letter, plus \"source\") or html (one page)")
    exp.add_argument("--out", type=Path, metavar="DIR", help="write one file per letter into DIR instead of stdout")
    add_model_arguments(exp, "fill the model fields the explanation uses (service, reasons, missing documentation)")
    exp.set_defaults(func=_explain_command)

    cache = sub.add_parser("cache", help="inspect or clear the model response cache")
    cache.add_argument("action", choices=["stats", "clear"])
    cache.add_argument("--cache-dir", type=Path, help="cache folder (else IMR_LLM_CACHE_DIR or ~/.cache/imr-llm)")
    cache.set_defaults(func=_cache_command)

    from .evaluation.cli import add_eval_parser  # the eval command lives with the harness

    add_eval_parser(sub)
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("imr-llm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `imr-llm extract --json dir | head`
        sys.stderr.close()
        return EXIT_OK


def expand_paths(paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files to process, and usage problems (missing paths, empty folders)."""
    files: list[Path] = []
    problems: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES)
            if not found:
                problems.append(f"{p}: folder has no .pdf or .txt letters")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            problems.append(f"{p}: no such file or folder")
    return files, problems


def _extract_command(args: argparse.Namespace) -> int:
    files, problems = expand_paths(args.paths)
    if problems and not files:
        for problem in problems:
            print(f"imr-llm: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    for problem in problems:
        print(f"imr-llm: error: {problem}", file=sys.stderr)
    failed = len(problems)

    try:
        config = model_config_from_args(args)
    except ImrError as exc:
        print(f"imr-llm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    jobs = args.jobs if args.jobs > 0 else ((os.cpu_count() or 1) if len(files) >= 32 else 1)
    mode = ("json-no-evidence" if args.no_evidence else "json") if args.json else "dict"
    pipeline = None
    if config is not None:
        from .api import Pipeline

        try:
            pipeline = Pipeline(config, cache_dir=args.cache_dir, use_cache=not args.no_cache)
        except ImrError as exc:
            print(f"imr-llm: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        results = (_extract_one(f, mode, pipeline) for f in files)
    else:
        results = _run(files, jobs=jobs, mode=mode)
    console = None
    if not args.json:
        from rich.console import Console

        console = Console()
    for path, payload, error in _with_progress(results, len(files), quiet=len(files) < 20):  # bar on stderr
        if error is not None:
            failed += 1
            print(f"imr-llm: {error}", file=sys.stderr)
            continue
        if args.json:
            sys.stdout.write(payload)
        else:
            from .render import print_determination

            print_determination(console, str(path), payload)
    sys.stdout.flush()
    if pipeline is not None:
        pipeline.close()
        totals = pipeline.usage.summary()
        print(f"imr-llm: model {config.model}: {totals['model_calls']} calls ({totals['retries']} retries), "
              f"{totals['prompt_tokens']} prompt + {totals['completion_tokens']} completion tokens, "
              f"{totals['cache_hits']} cache hits, {totals['model_seconds']} s waiting for the model", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _extract_one(path: Path, mode: str = "dict", pipeline=None) -> tuple[Path, dict | str | None, str | None]:
    """Parse one file; never raises for bad input (the batch must go on). In the JSON modes the
    worker returns the finished JSON line, which is far cheaper to send back than the object."""
    from .api import extract_file

    try:
        det = pipeline.extract(path) if pipeline is not None else extract_file(path)
    except ImrError as exc:
        return path, None, f"[{exc.code}] {exc}"
    except Exception as exc:  # a parser bug must not lose the rest of the batch
        return path, None, f"[internal_error] {path}: {type(exc).__name__} while parsing; please report it"
    payload = det.model_dump(mode="json")
    if mode == "dict":
        return path, payload, None
    if mode == "json-no-evidence":
        _drop_evidence(payload)
    return path, json.dumps({"source": str(path), **payload}, ensure_ascii=False) + "\n", None


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
    from .api import Pipeline, load
    from .explain import explain
    from .explain.render import EXTENSIONS, render

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
        args.out.mkdir(parents=True, exist_ok=True)
    failed = len(problems)
    used_names: set[str] = set()
    try:
        for n, path in enumerate(files):
            try:
                source = load(path)
                det = pipeline.extract_source(source)
                expl = explain(det, source, args.language, writer)
            except ImrError as exc:
                failed += 1
                print(f"imr-llm: [{exc.code}] {exc}", file=sys.stderr)
                continue
            except Exception as exc:  # a bug must not lose the rest of the batch
                failed += 1
                print(f"imr-llm: [internal_error] {path}: {type(exc).__name__} while explaining; please report it",
                      file=sys.stderr)
                continue
            page = render(expl, args.format, source=source, source_name=str(path))
            if args.out is not None:
                name = f"{path.stem}.{args.language}.{EXTENSIONS[args.format]}"
                k = 2
                while name in used_names:
                    name = f"{path.stem}-{k}.{args.language}.{EXTENSIONS[args.format]}"
                    k += 1
                used_names.add(name)
                (args.out / name).write_text(page, encoding="utf-8")
                print(f"{path} -> {args.out / name}", file=sys.stderr)
            elif args.format == "json":
                sys.stdout.write(page + "\n")
            else:
                if len(files) > 1 and args.format == "text":
                    sys.stdout.write(f"{'=' * 8} {path} {'=' * 8}\n")
                elif n > 0 and args.format == "markdown":
                    sys.stdout.write("\n---\n\n")
                sys.stdout.write(page)
            if expl.fallback.used:
                print(f"imr-llm: {path}: the first explanation failed the checks; the template one is shown",
                      file=sys.stderr)
        sys.stdout.flush()
    finally:
        pipeline.close()
    return EXIT_FAILED if failed else EXIT_OK


def _cache_command(args: argparse.Namespace) -> int:
    from .cache import ResponseCache

    cache = ResponseCache(args.cache_dir)
    try:
        if args.action == "clear":
            removed = cache.clear()
            print(f"cleared {removed} cached responses from {cache.directory}")
        else:
            stats = cache.stats()
            print(f"{cache.directory}: {stats['entries']} cached responses, {stats['bytes'] / 1e6:.1f} MB "
                  "(model outputs about medical letters: keep this folder private)")
    finally:
        cache.close()
    return EXIT_OK


def _run(files: list[Path], jobs: int, mode: str = "dict") -> Iterator[tuple[Path, dict | str | None, str | None]]:
    if jobs <= 1 or len(files) < 2 * jobs:
        for f in files:
            yield _extract_one(f, mode)
        return
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(partial(_extract_one, mode=mode), files,
                            chunksize=max(1, min(64, len(files) // (jobs * 4))))


def _with_progress(results, total: int, quiet: bool):
    if quiet or not sys.stderr.isatty() or os.environ.get("IMR_LLM_NO_PROGRESS"):
        yield from results
        return
    from rich.progress import Progress

    with Progress(transient=True, console=_stderr_console(), redirect_stdout=False, redirect_stderr=False) as progress:
        task = progress.add_task("letters", total=total)
        for result in results:
            yield result
            progress.advance(task)


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
