"""The files imr-llm writes, and what may go in them.

Outputs hold medical information, so every file is created user-only (0600, folders 0700) and
is never seen half-written:

* `write_private(path, text)` — one whole file (an explanation page, a report): written to a
  private temporary file beside it, then renamed over the target, so a crash or a kill leaves
  the old file or the new one, never a torn one.
* `JsonlAppender(path)` — JSON Lines shared by several processes: each record is one `write`
  on an `O_APPEND` descriptor under an exclusive `flock`, so two runs appending to the same
  file never interleave or lose a line.
* `redact(record)` — what `--redact` keeps: decisions, outcome, categories and the structured
  fields; it drops every piece of free text (quotes, headings, reasons, summaries, evidence),
  the patient's age and the date of injury.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

FILE_MODE = 0o600
DIR_MODE = 0o700


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as text any output can hold (JSON, CSV, a page, a console): the bytes of a file
    name that are not UTF-8 (made on another system) are shown as \\xNN escapes instead of
    failing every write they reach."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # lone surrogates that are not escaped bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def output_problem(path: str | Path, kind: str) -> str | None:
    """Why `path` cannot be written as a `kind` ("file" or "folder"), or None: the one rule for
    every output of every command, checked before any work. Missing folders on the way are
    fine (they are created user-only); the other kind at the path, a file where a folder must
    be, or a place that cannot be written is not."""
    p = Path(path)
    if p.exists():
        if kind == "file" and p.is_dir():
            return "is a folder; give a file"
        if kind == "folder" and not p.is_dir():
            return "is a file; give a folder"
        return None if os.access(p, os.W_OK) else "cannot be written (permission denied)"
    if p.is_symlink():
        return "is a broken symbolic link"
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{display_path(parent)} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created in {display_path(parent)} (permission denied)"
    return None


def private_dir(path: str | Path) -> Path:
    """Create a folder and any missing parents user-only; an existing folder is left as the user
    made it (its mode is never changed)."""
    p = Path(path)
    missing = []
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made meanwhile by another run: theirs, left as it is
            continue
        os.chmod(folder, DIR_MODE)  # whatever the umask
    return Path(path)


def write_private(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically, user-only (missing folders made user-only)."""
    target = Path(path)
    private_dir(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class JsonlAppender:
    """Append JSON records to a file, one line per record, safely across processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)

    def write(self, record: dict[str, Any]) -> None:
        self.write_line(json.dumps(record, ensure_ascii=False) + "\n")

    def write_line(self, line: str) -> None:
        import fcntl

        data = line.encode("utf-8")
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            view = memoryview(data)
            while view:  # a regular file takes the whole write at once; loop for safety
                view = view[os.write(self._fd, view):]
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stream_is_utf8(stream: TextIO) -> bool:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    return encoding in ("utf8", "utf8sig")


def json_line(record: dict[str, Any], stream: TextIO | None = None) -> str:
    """One JSON line for `stream`: plain UTF-8 where the stream takes it, else \\u escapes, so the
    JSON stays valid and lossless on a cp1252 console or under LANG=C."""
    stream = stream if stream is not None else sys.stdout
    return json.dumps(record, ensure_ascii=not stream_is_utf8(stream)) + "\n"


# -- redaction ---------------------------------------------------------------------------------

#: free-text fields of a determination (or an explanation), at any depth
_FREE_TEXT = {"evidence", "quote", "request", "original_request", "ur_authorized", "disputed_portion",
              "rationale", "verdict_phrase", "raw", "diagnoses", "reasons", "missing_documentation",
              "text", "plain_request", "why", "what_could_help", "source_text"}
#: identifying facts about the patient
_IDENTIFYING = {"age", "date_of_injury"}


def redact(record: Any) -> Any:
    """A copy of a determination's JSON without free text, ages or dates of injury. Decisions,
    outcome, dates of the review, categories, services, regions and quantity numbers stay; a
    conflict keeps its field and note but not the two values (one may be the date of injury)."""
    if isinstance(record, dict):
        out: dict[str, Any] = {}
        for key, value in record.items():
            if key in _IDENTIFYING:
                out[key] = None
            elif key in _FREE_TEXT:
                out[key] = _empty_like(value)
            elif key == "conflicts" and isinstance(value, list):
                out[key] = [{**redact(c), "kept": None, "other": None} if isinstance(c, dict) else c for c in value]
            else:
                out[key] = redact(value)
        return out
    if isinstance(record, list):
        return [redact(v) for v in record]
    return record


def _empty_like(value: Any) -> Any:
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return None


def redact_explanation(expl):
    """`explain --redact`: the decisions, the vetted status wording and next steps stay; the
    request's words, the reasons, what could help and every evidence span go (and the renderers
    are given no letter text)."""
    labels = {"en": "Treatment", "es": "Tratamiento"}
    out = expl.model_copy(deep=True)
    for item in out.items:
        item.request = ""
        item.plain_request = f"{labels.get(out.language, 'Treatment')} {item.index + 1}"
        item.decision_evidence = None
        item.already_approved = None
        item.why = []
        item.what_could_help = []
    return out
