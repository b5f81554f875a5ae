"""The public functions. The CLI and any future service call these; no logic lives in the CLI."""

from __future__ import annotations

import os
from pathlib import Path

from .parsing import parse  # noqa: F401  (re-exported for callers that read first)
from .reading import SourceText, read_bytes, read_path, read_text
from .schema import Determination


def extract(path_or_text: str | os.PathLike[str] | bytes) -> Determination:
    """Parse one letter given as a path, the letter's text, or a file's bytes."""
    return parse(load(path_or_text))


def extract_file(path: str | os.PathLike[str]) -> Determination:
    return parse(read_path(path))


def extract_text(text: str) -> Determination:
    return parse(read_text(text))


def load(path_or_text: str | os.PathLike[str] | bytes) -> SourceText:
    """Read without parsing (used by the evaluation and the HTML views, which need the text)."""
    if isinstance(path_or_text, bytes):
        return read_bytes(path_or_text)
    if isinstance(path_or_text, os.PathLike):
        return read_path(path_or_text)
    if "\n" in path_or_text or len(path_or_text) > 1024:
        return read_text(path_or_text)
    return read_path(Path(path_or_text))
