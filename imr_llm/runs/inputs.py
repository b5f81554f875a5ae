"""What a run reads: the one input rule of every command (files, folders searched recursively, '-'
for stdin, or the pictures of one letter's pages) and each letter's identity: the sha256 of its
bytes (a letter under two names is processed once), or for a file that cannot be read, its path."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..errors import ImrError
from ..output import display_path
from ..reading import IMAGE_SUFFIXES, MAX_BYTES, SUPPORTED_SUFFIXES, read_file

STDIN = "-"


def iter_inputs(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Letter files under `paths` (folders: recursively, .pdf/.txt, sorted), lazily."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    if Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                        yield Path(root) / name
        else:
            yield p


def expand_paths(paths: Sequence[str], outputs: Sequence[Path] = ()) -> tuple[list[Path], list[str]]:
    """Letter files to process, each once (a file named twice, inside a folder also given, or behind a
    symbolic link is one letter, as in a batch), and problems (missing paths, folders without letters).
    A folder's files that are the run's `outputs` or in an output folder below it (pages) are not letters."""
    files: list[Path] = []
    problems: list[str] = []
    written = [os.path.realpath(o) for o in outputs]
    for raw in paths:
        p = Path(raw)
        if raw != STDIN and p.is_dir():
            below = [w for w in written if w.startswith(os.path.realpath(p) + os.sep)]  # not the folder itself
            found = [f for f in iter_inputs([p]) if not _inside(os.path.realpath(f), below)]
            if not found:
                problems.append(f"{display_path(p)}: folder has no .pdf or .txt letters")
            files.extend(found)
        elif raw == STDIN or p.exists():
            files.append(p)
        else:
            problems.append(f"{display_path(p)}: no such file or folder")
    return _once(files), problems


def _inside(real: str, folders_or_files: list[str]) -> bool:
    return any(real == w or real.startswith(w + os.sep) for w in folders_or_files)


def _once(files: list[Path]) -> list[Path]:
    """`files` without a second mention of the same file (by its real path), in order."""
    seen: set[str] = set()
    kept = []
    for f in files:
        real = STDIN if str(f) == STDIN else os.path.realpath(f)
        if real not in seen:
            seen.add(real)
            kept.append(f)
    return kept


def one_letter_pages(paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    """`--one-letter`: the pictures of one letter's pages in the order given (a folder: in name order),
    and problems; with any problem, no page (a letter with a page missing is not read)."""
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


def letter_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def path_key(name: str) -> str:
    """The identity of a file that could not be read: its path (hashed, so a redacted line keeps it)."""
    return "path:" + hashlib.sha256(name.encode("utf-8")).hexdigest()


@dataclass
class Letter:
    """One letter of a run: its key (None: not hashed), every path it was found under, or why it
    cannot be read; `pages`: the pictures of its pages."""

    key: str | None
    paths: list[Path]
    names: list[str]
    error: ImrError | None = None
    pages: list[Path] | None = None

    def read(self) -> bytes:
        return read_file(self.paths[0]) if str(self.paths[0]) != STDIN else _stdin()


@cache
def _stdin() -> bytes:
    """Standard input, read once (more than MAX_BYTES is refused, so it is never read whole)."""
    return sys.stdin.buffer.read(MAX_BYTES + 1)


def each_file(files: list[Path], pages: bool = False) -> list[Letter]:
    """One letter per file, in order, not hashed (`extract`, `explain`); `pages`: all of them one letter."""
    names = ["<stdin>" if str(f) == STDIN else display_path(f) for f in files]
    if pages:
        return [Letter(None, files[:1], names[:1], pages=files)]
    return [Letter(None, [f], [name]) for f, name in zip(files, names)]


async def plan_letters(paths: Iterable[str | os.PathLike[str]], stop=None) -> list[Letter]:
    """Every letter under `paths` once, grouped by hash in the order first found; the loop gets a turn
    now and then, so a Ctrl-C is seen while a large folder is hashed."""
    letters: dict[str, Letter] = {}
    seen: set[str] = set()
    for n, path in enumerate(iter_inputs(paths)):
        if n % 64 == 63:
            await asyncio.sleep(0)
        if stop is not None and stop.requested:
            break
        real = os.path.realpath(path)
        if real in seen:  # the same file given twice (a folder and a file in it)
            continue
        seen.add(real)
        name = display_path(path)
        try:
            key, error = letter_hash(read_file(path)), None
        except ImrError as exc:
            key, error = path_key(name), exc
        letter = letters.setdefault(key, Letter(key, [], [], error))  # a letter under a second path: that path added
        letter.paths.append(path)
        letter.names.append(name)
    return list(letters.values())
