"""`imr-llm batch` (local or Ray), `imr-llm openai-batch prepare|collect` and `imr-llm cache`: front
ends over `runs/`, with a progress bar and the summary on stderr."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from .. import api
from ..cache import open_cache
from ..errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ImrError
from ..explain import languages
from ..model import ModelConfig
from ..output import private_dir
from ..runs.batch import BatchOptions, run_batch
from ..runs.inputs import expand_paths
from ..runs.ray import require_ray, run_ray
from ..runs.openai_batch import BATCH_DISCOUNT, BatchResults, acollect, aprepare
from ..runs.summary import Progress
from ..runs.workers import Stop, default_parse_workers
from .common import add_model_arguments, model_config_from_args, open_pipeline, outputs_of


def add_batch_parsers(sub) -> None:
    bt = sub.add_parser("batch", help="process many letters: resumable JSONL output, CSV, progress, summary")
    bt.add_argument("paths", nargs="+", metavar="PATH", help="letter files or folders (searched recursively)")
    bt.add_argument("--out", type=Path, required=True, metavar="FILE",
                    help="JSON Lines output; a re-run skips letters already in it (by the file's sha256)")
    bt.add_argument("--csv", type=Path, metavar="FILE", help="also write one row per item (rebuilt from --out)")
    bt.add_argument("--explain", type=Path, metavar="DIR", help="also write a patient explanation per letter into DIR")
    bt.add_argument("--language", choices=languages.BUILT_IN, help="language of --explain (default en)")
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
    bt.set_defaults(func=batch_command)

    cache = sub.add_parser("cache", help="inspect or clear the model response cache")
    cache.add_argument("action", choices=["stats", "clear"])
    cache.add_argument("--cache-dir", type=Path, help="cache folder (else IMR_LLM_CACHE_DIR or ~/.cache/imr-llm)")
    cache.set_defaults(func=cache_command)
    add_openai_batch_parser(sub)


def add_openai_batch_parser(sub) -> None:
    ob = sub.add_parser("openai-batch", help="the model step through the OpenAI Batch API: prepare requests, "
                                             "collect the results")
    actions = ob.add_subparsers(dest="action", required=True, parser_class=type(ob))

    def common(p) -> None:
        p.add_argument("paths", nargs="+", metavar="PATH", help="letter files or folders (searched recursively)")
        p.add_argument("--model", help="the model (else IMR_LLM_MODEL); the same for prepare and collect")
        p.add_argument("--endpoint-kind", default="openai",
                       help="openai (default) | vllm | ollama | llamacpp; the same for prepare and collect")
        p.add_argument("--cache-dir", type=Path,
                       help="response cache folder (else IMR_LLM_CACHE_DIR or ~/.cache/imr-llm)")
        p.add_argument("--concurrency", type=int, default=4, metavar="N", help="letters in progress at once (default 4)")

    pr = actions.add_parser("prepare", help="write the Batch API requests for every model call not in the cache")
    common(pr)
    pr.add_argument("--requests", type=Path, required=True, metavar="FILE",
                    help="the Batch API input JSONL to write (replaced if it exists; user-only)")
    pr.set_defaults(func=openai_batch_command)

    co = actions.add_parser("collect", help="read the Batch API output; write the same JSONL as imr-llm batch")
    common(co)
    co.add_argument("--results", type=Path, action="append", required=True, metavar="FILE",
                    help="a Batch API output (or error) JSONL file; repeatable")
    co.add_argument("--out", type=Path, required=True, metavar="FILE",
                    help="JSON Lines output, as imr-llm batch writes it (letters already in it are skipped)")
    co.add_argument("--csv", type=Path, metavar="FILE", help="also write one row per item (rebuilt from --out)")
    co.add_argument("--redact", action="store_true", help="as for extract: no free text, case number, dates, ages or paths")
    co.add_argument("--price-in", type=float, metavar="USD",
                    help="price per million prompt tokens (default: half the live price, when known)")
    co.add_argument("--price-out", type=float, metavar="USD", help="price per million completion tokens")
    co.set_defaults(func=openai_batch_command)


def _options(args: argparse.Namespace, **more) -> BatchOptions:
    return BatchOptions(out=args.out, csv=args.csv, concurrency=args.concurrency, redact=args.redact,
                        price_in=args.price_in, price_out=args.price_out, **more)


def batch_command(args: argparse.Namespace) -> int:
    """`imr-llm batch`: from here on, Ctrl-C stops taking letters; twice: at once (`runs.workers.Stop`)."""
    stop = Stop().install()
    try:
        paths, missing = expand_paths(args.paths, outputs_of(args))
        for problem in missing:
            print(f"imr-llm: error: {problem}", file=sys.stderr)
        if not paths:
            return EXIT_USAGE
        summary = _batch_ray(args, paths) if args.engine == "ray" else _batch_local(args, paths, stop)
        if isinstance(summary, int):
            return summary
        sys.stderr.write("".join(f"imr-llm batch: {line}\n" for line in summary.lines()))
        if summary.interrupted:
            return 130
        return EXIT_FAILED if missing or summary.failed else EXIT_OK
    finally:
        stop.uninstall()


def _batch_local(args: argparse.Namespace, paths: list[Path], stop: Stop):
    pipeline = open_pipeline(args)
    if pipeline is None:
        return EXIT_USAGE
    options = _options(args, explain_dir=args.explain, language=args.language or "en", explain_format=args.explain_format,
                       parse_workers=default_parse_workers() if args.parse_workers is None else args.parse_workers)
    with pipeline, Progress(len(paths)) as progress:
        try:
            return asyncio.run(run_batch(paths, pipeline, options, progress=progress.letter_done, stop=stop))
        except ImrError as exc:  # the output is another run's
            progress.say(f"imr-llm: error: {exc}")
            return EXIT_USAGE


def _batch_ray(args: argparse.Namespace, paths: list[Path]):
    """`imr-llm batch --engine ray`: the same lines, made by Ray workers, written by this process."""
    try:
        require_ray()
        config = model_config_from_args(args)
    except ImrError as exc:
        print(f"imr-llm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # the progress bar and the summary say it
    with Progress(len(paths)) as progress:
        def advance(record) -> None:
            if record is not None and record["status"] == "error":
                progress.say(f"imr-llm: [{record['error']['code']}] {record['error']['message']}")
            progress.advance()

        try:
            return run_ray(paths, _options(args), model=config, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                           workers=args.workers, progress=advance)
        except KeyboardInterrupt:
            print("imr-llm: interrupted; finished letters are in the output, a re-run goes on from there",
                  file=sys.stderr)
            return 130


def _openai_problem(args: argparse.Namespace, paths: list[Path]) -> str | None:
    if not paths:
        return "no letters to read"
    if args.concurrency < 1:
        return "--concurrency must be 1 or more"
    if args.action == "collect":
        absent = [str(p) for p in args.results if not p.is_file()]
        if absent:
            return f"--results {', '.join(absent)}: no such file"
        if args.csv is not None and args.csv.resolve() == args.out.resolve():
            return "--csv and --out must be different files"
    return None


def openai_batch_command(args: argparse.Namespace) -> int:
    name = f"imr-llm openai-batch {args.action}"
    paths, missing = expand_paths(args.paths, outputs_of(args))
    for p in missing:
        print(f"imr-llm: error: {p}", file=sys.stderr)
    problem = _openai_problem(args, paths)
    if problem is None:
        try:
            pipeline = api.Pipeline(ModelConfig.from_env(model=args.model, endpoint_kind=args.endpoint_kind),
                                    cache_dir=args.cache_dir)
        except ImrError as exc:
            problem = str(exc)
    if problem is not None:
        print(f"{name}: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    with pipeline, Progress(len(paths)) as progress:
        try:
            lines, status = (_prepare if args.action == "prepare" else _collect)(args, pipeline, paths,
                                                                               progress.letter_done)
        except KeyboardInterrupt:
            print(f"{name}: interrupted", file=sys.stderr)
            return 130
        except OSError as exc:  # the requests, results or output file
            print(f"{name}: error: {exc.filename or ''}: {exc.strerror or type(exc).__name__}", file=sys.stderr)
            return EXIT_FAILED
        except ImrError as exc:  # the output is another run's
            print(f"{name}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    for line in lines:
        print(f"{name}: {line}", file=sys.stderr)
    return EXIT_FAILED if missing and status == EXIT_OK else status


def _prepare(args, pipeline, paths, advance) -> tuple[list[str], int]:
    private_dir(args.requests.parent)
    lines, failed = asyncio.run(aprepare(paths, pipeline, args.requests, concurrency=args.concurrency, progress=advance))
    return lines, EXIT_FAILED if failed else EXIT_OK


def _collect(args, pipeline, paths, advance) -> tuple[list[str], int]:
    options = _options(args, discount=BATCH_DISCOUNT)
    summary, collected = asyncio.run(acollect(paths, pipeline, BatchResults(args.results), options, progress=advance))
    lines = summary.lines() + collected.lines()
    if summary.interrupted:
        return lines, 130
    failed = summary.failed or collected.missing or collected.failed or collected.unusable
    return lines, EXIT_FAILED if failed else EXIT_OK


def cache_command(args: argparse.Namespace) -> int:
    try:
        cache = open_cache(args.cache_dir)
    except ImrError as exc:
        print(f"imr-llm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    where = getattr(cache, "directory", type(cache).__name__)
    try:
        if args.action == "clear":
            print(f"cleared {cache.clear()} cached responses from {where}")
        else:
            stats = cache.stats()
            print(f"{where}: {stats['entries']} cached responses, {stats['bytes'] / 1e6:.1f} MB "
                  "(model outputs about medical letters: keep this folder private)")
    finally:
        cache.close()
    return EXIT_OK
