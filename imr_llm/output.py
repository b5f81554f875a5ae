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
  fields; it drops what REDACTED_FIELDS declares (every piece of free text, the case number, the
  patient's age, every date, the letter's path) and what REDACTED_PATTERNS match in any string
  left, the same for every output format.
"""

from __future__ import annotations

import json
import os
import re
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

_EMPTY = object()  # the field's value becomes "", [] or {} (its type kept), else None

#: What `--redact` removes from every output (JSON Lines, CSV, the terminal table and every
#: explanation format), by field name at any depth of a determination, an explanation or an
#: output line, and what it becomes. No field holds a name: a name can only be in free text,
#: which goes whole.
REDACTED_FIELDS: dict[str, object] = {
    # the letter's words, or a model's
    **dict.fromkeys(["evidence", "quote", "request", "original_request", "ur_authorized", "disputed_portion",
                     "rationale", "verdict_phrase", "raw", "diagnoses", "reasons", "missing_documentation",
                     "plain_request", "why", "what_could_help", "source_text", "already_approved", "dropped",
                     "corrected", "detail"], _EMPTY),
    "decision_evidence": None,
    "kept": None,  # a conflict keeps its field and note, not the two values (one may be a date of injury)
    "other": None,
    # what identifies the patient or the case
    **dict.fromkeys(["case_number", "age", "date_of_injury", "date_assigned", "decision_date", "ur_denial_date",
                     "application_received"], None),
    # where the letter is on this machine (its file name may be a name)
    "source": None,
    "source_paths": None,
}

#: What `--redact` removes from any string left (a warning, a note, a headline), as "[redacted]".
REDACTED_PATTERNS = [
    re.compile(r"\b[A-Z]{2}\d{2}-\d{5,8}\b"),  # an IMR case number: CM16-0219557
    re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b"),  # dates: 2016-03-30, 03/30/2016, March 30, 2016
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),
    re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4}\b"),
]
#: strings of ours that the patterns are not applied to (versions and hashes)
_OURS = {"facts_version", "imr_llm_version", "parser_version", "schema_hash", "source_sha256", "letter_sha256",
         "prompt_hashes"}


def redact(record: Any, key: str | None = None) -> Any:
    """A copy of an output record (a determination's or an explanation's JSON, an output line)
    with REDACTED_FIELDS replaced and REDACTED_PATTERNS removed from every other string.
    Decisions, outcome, categories, services, regions and quantity numbers stay."""
    if isinstance(record, dict):
        out: dict[str, Any] = {}
        for name, value in record.items():
            if name in REDACTED_FIELDS:
                how = REDACTED_FIELDS[name]
                out[name] = how if how is not _EMPTY else type(value)() if isinstance(value, (str, list, dict)) else None
            else:
                out[name] = redact(value, name)
        return out
    if isinstance(record, list):
        return [redact(v, key) for v in record]
    if isinstance(record, str) and key not in _OURS:
        for pattern in REDACTED_PATTERNS:
            record = pattern.sub("[redacted]", record)
    return record


def redacted(record: dict[str, Any]) -> dict[str, Any]:
    """An output line (one letter's JSON) under `--redact`: `redact(record)`, the letter's paths
    gone from its error message too, and marked `"redacted": true`."""
    out = redact(record)
    error = out.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = error["message"]
        for path in sorted({record.get("source") or "", *(record.get("source_paths") or [])}, key=len, reverse=True):
            message = message.replace(path, "[redacted]") if path else message
        out["error"] = {**error, "message": message}
    return {**out, "redacted": True}


def redact_explanation(expl):
    """An explanation with REDACTED_FIELDS gone: the decisions, the vetted status wording and next
    steps stay; each request is "Treatment 1", "Treatment 2", ... (and the renderers are given no
    letter text)."""
    labels = {"en": "Treatment", "es": "Tratamiento"}
    out = type(expl).model_validate(redact(expl.model_dump(mode="json")))
    for item in out.items:
        item.plain_request = f"{labels.get(out.language, 'Treatment')} {item.index + 1}"
    return out
