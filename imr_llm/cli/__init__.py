"""The `imr-llm` command: argument parsing and printing over the public API, nothing more.

Exit status: 0 all inputs succeeded, 1 some input failed (each failure one line on stderr, and in
JSON output a record with its "error"; the run goes on), 2 usage error."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from ..errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ..output import display_path, output_problem, stream_is_utf8
from ..runs.inputs import STDIN
from ..version import __version__
from .batch import add_batch_parsers
from .eval import add_eval_parser
from .letters import add_letter_parsers


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
    add_letter_parsers(sub)
    add_batch_parsers(sub)
    add_eval_parser(sub)
    return parser


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
        where = display_path(exc.filename) + ": " if exc.filename else ""
        print(f"imr-llm {args.command}: error: {where}{exc.strerror or type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILED


#: every path a command writes, and whether it is a file or a folder (checked by `_output_problem`)
OUTPUTS = {
    "extract": {"out": "jsonl"},
    "explain": {"out": "folder"},
    "batch": {"out": "jsonl", "csv": "csv", "explain": "folder"},
    "openai-batch": {"requests": "file", "out": "jsonl", "csv": "csv"},
    "eval": {"report": "file", "html": "file", "baseline": "file"},
}


def _output_problem(args: argparse.Namespace) -> str | None:
    """One rule for every output of every command, checked before any work (output.output_problem)."""
    for name, kind in OUTPUTS.get(args.command, {}).items():
        path = getattr(args, name, None)
        if isinstance(path, Path):
            problem = output_problem(path, kind)
            if problem:
                return f"--{name} {display_path(path)}: {problem}"
    return None


def _safe_streams() -> None:
    """Never crash on a console that cannot show a character: text output replaces it (JSON escapes it)."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and not stream_is_utf8(stream):
            with suppress(ValueError, OSError):
                stream.reconfigure(errors="replace")


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
        if args.language is not None and args.explain is None:
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


