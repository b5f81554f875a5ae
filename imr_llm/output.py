"""The files imr-llm writes. Outputs hold medical information, so every file is created user-only
(0600, folders 0700) and is never seen half-written: a whole file is written beside its target and
renamed over it (`write_private`, `private_file`); JSON Lines are appended one locked write per line
(`JsonlAppender`). `output_problem` is the one rule for every path a command writes, checked first."""

from __future__ import annotations

import errno
import fcntl
import glob
import json
import os
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

from .errors import OutputInUse

FILE_MODE = 0o600
DIR_MODE = 0o700


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as text any output can hold: bytes of a file name that are not UTF-8 (made on another
    system) are shown as \\xNN escapes instead of failing every write they reach."""
    text = os.fsdecode(path)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # lone surrogates that are not escaped bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


#: how the files imr-llm appends to or rebuilds begin (JSON Lines of extract or batch, the items CSV):
#: an existing file that begins otherwise is the user's own, and is never touched
OWN_STARTS = {"jsonl": (b'{"source": ', b'{"letter_sha256": '), "csv": (b"letter_sha256,",)}


def output_problem(path: str | Path, kind: str) -> str | None:
    """Why `path` cannot be written as a `kind` ("file", "folder", or a file of ours: "jsonl", "csv"),
    or None. Missing folders on the way are fine (they are created user-only)."""
    p = Path(path)
    if p.exists():
        if kind != "folder" and p.is_dir():
            return "is a folder; give a file"
        if kind == "folder" and not p.is_dir():
            return "is a file; give a folder"
        if not os.access(p, os.W_OK):
            return "cannot be written (permission denied)"
        return _foreign_file(p, OWN_STARTS[kind]) if kind in OWN_STARTS else None
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


def _foreign_file(path: Path, starts: tuple[bytes, ...]) -> str | None:
    """Why an existing file is not one imr-llm wrote (so appending to or rebuilding it would change a
    file of the user's), or None."""
    try:
        with path.open("rb") as handle:
            head = handle.read(max(map(len, starts)))
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not head or any(head.startswith(start) for start in starts):
        return None
    return "is a file imr-llm did not write; give a new file (or one of its earlier outputs)"


def private_dir(path: str | Path) -> Path:
    """Create a folder and any missing parents user-only; an existing folder's mode is never changed."""
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


#: temporary files being written now: a process told to stop at once removes them first
TEMPORARIES: set[str] = set()


@contextmanager
def private_file(path: str | Path, *, replace_stale: bool = False) -> Iterator[TextIO]:
    """A UTF-8 handle on a private temporary file beside `path`, renamed over it when the block ends.
    `replace_stale`: first remove the temporaries a killed run left (for a writer that owns `path`)."""
    target = Path(path)
    private_dir(target.parent)
    if replace_stale:
        for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
            stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    TEMPORARIES.add(tmp)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        TEMPORARIES.discard(tmp)


def write_private(path: str | Path, text: str, *, replace_stale: bool = False) -> None:
    """Write `text` (UTF-8) to `path` atomically, user-only (missing folders made user-only)."""
    with private_file(path, replace_stale=replace_stale) as handle:
        handle.write(text)


# a run holds its output with a write lock on this byte, far past any data (see JsonlAppender)
_RUN_LOCK_AT = 1 << 62


class JsonlAppender:
    """Append JSON lines safely across processes: each line one `write` on an `O_APPEND` descriptor under
    an exclusive `flock`; a line cut short by a kill is cut off on opening. `own=True` (a batch): held
    until `close`, a second owner refused (`OutputInUse`); on Linux by an open-file-description lock past
    any data, which the per-line flock does not meet (an `extract --out` may still append), elsewhere by
    the flock itself."""

    def __init__(self, path: str | Path, *, own: bool = False) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
        self._holds_flock = False
        try:
            if own:
                self._hold()
            with self._locked():
                _cut_torn_tail(self._fd)
        except BaseException:
            self.close()
            raise

    def _hold(self) -> None:
        try:
            if hasattr(fcntl, "F_OFD_SETLK"):
                lock = struct.pack("hh4xqqi4x", fcntl.F_WRLCK, os.SEEK_SET, _RUN_LOCK_AT, 1, 0)  # struct flock
                fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, lock)
            else:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._holds_flock = True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise OutputInUse(f"{display_path(self.path)}: another imr-llm batch is writing to it; "
                              "let it finish (or stop it), or give another --out") from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._holds_flock:
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def write(self, record: dict[str, Any]) -> None:
        self.write_line(json.dumps(record, ensure_ascii=False) + "\n")

    def write_line(self, line: str) -> None:
        view = memoryview(line.encode("utf-8"))
        with self._locked():
            while view:  # a regular file takes the whole write at once; loop for safety
                view = view[os.write(self._fd, view):]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cut_torn_tail(fd: int) -> None:
    """Cut a last line that has no newline (a writer killed in the middle of it)."""
    end = os.fstat(fd).st_size
    if end == 0 or os.pread(fd, 1, end - 1) == b"\n":
        return
    pos = end
    while pos > 0:
        start = max(0, pos - 65536)
        cut = os.pread(fd, pos - start, start).rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, start + cut + 1)
            return
        pos = start
    os.ftruncate(fd, 0)


def stream_is_utf8(stream: TextIO) -> bool:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    return encoding in ("utf8", "utf8sig")
