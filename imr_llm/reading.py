"""Reading: a PDF, text file or pictures of pages → `SourceText`, the letter as read (`raw`) and normalized
for parsing (lines trimmed, the seeds' blank line after every line removed, line-end hyphens joined, page
breaks made line breaks, whitespace runs cut to MAX_SPACE_RUN so the parser's patterns stay linear on hostile
input), with a map between the two. Size limits are checked before the parse; the dev letters are at most 49 KB,
6 pages and 17,000 characters, so each leaves a margin of 15x or more: 20 MB for a file or bytes, 100 pages,
2,000,000 characters of letter text."""

from __future__ import annotations

import bisect
import os
import re
import stat
import time
import unicodedata
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple

from . import ocr
from .errors import (
    EmptyInput,
    InputError,
    InputTooLarge,
    LetterNotFound,
    NoTextLayer,
    NotAnImrLetter,
    PasswordProtectedPdf,
    UnreadablePdf,
    UnsupportedFileType,
)
from .output import display_path

TEXT_SUFFIXES = {".txt", ".text"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | PDF_SUFFIXES
# Pictures of a letter's pages, read by OCR (imr_llm/ocr.py). Not picked from folders as letters of
# their own (a folder of page photos is one letter: `--one-letter`); a path given is read by content.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}

MAX_BYTES = 20_000_000
MAX_PAGES = 100
MAX_TEXT_CHARS = 2_000_000
MAX_SPACE_RUN = 40  # whitespace characters kept in a row inside a line (the dev letters: at most 2)

# Line separators as the readers produce them; "\f" is a page break in PDF text.
_LINE_SEP = re.compile(r"\r\n|\r|\n|\f")
# "left.The" → "left. The": a sentence end glued to the next sentence by text extraction.
_GLUED_SENTENCE = re.compile(r"(?<=[a-z]{2}\.)(?=[A-Z][a-z])")
# pdfium writes U+FFFE where a word was hyphenated at a line end.
_SOFT_HYPHEN = "\ufffe"
# A whitespace run inside a line longer than MAX_SPACE_RUN: the part past the bound is dropped.
_LONG_SPACE = re.compile(r"\s{%d,}" % (MAX_SPACE_RUN + 1))


class _Piece(NamedTuple):
    norm_start: int
    raw_start: int
    length: int  # 0-length raw for inserted characters


@dataclass
class SourceText:
    """A letter's text as read (`raw`) and normalized for parsing (`text`)."""

    raw: str
    text: str
    kind: str  # "pdf" | "text" | "image"
    path: str | None = None
    pages: int = 1
    _norm_starts: list[int] = field(default_factory=list, repr=False)
    _pieces: list[_Piece] = field(default_factory=list, repr=False)
    _raw_starts: list[int] = field(default_factory=list, repr=False)  # built on first use
    ocr: object | None = field(default=None, repr=False)  # an `ocr.OcrReading` when any page was read by OCR

    def raw_offset(self, norm_pos: int) -> int:
        """The raw offset of the character at normalized position `norm_pos`."""
        if not self._pieces:  # the text is empty (a letter of only format characters): nothing to point at
            return 0
        norm_pos = max(0, min(norm_pos, len(self.text) - 1))
        i = bisect.bisect_right(self._norm_starts, norm_pos) - 1
        piece = self._pieces[max(i, 0)]
        if piece.length == 0:  # inserted character: point at what follows it
            return piece.raw_start
        return piece.raw_start + min(norm_pos - piece.norm_start, piece.length - 1)

    def norm_offset(self, raw_pos: int) -> int:
        """The normalized position of the raw character at `raw_pos` (the next kept one if it was dropped)."""
        if len(self._raw_starts) != len(self._pieces):
            self._raw_starts = [p.raw_start for p in self._pieces]
        # pieces are in raw order and copied ones do not overlap: bisect for the last copied one
        after = bisect.bisect_right(self._raw_starts, raw_pos)
        i = after - 1
        while i >= 0 and self._pieces[i].length == 0:
            i -= 1
        if i >= 0:
            piece = self._pieces[i]
            if raw_pos < piece.raw_start + piece.length:
                return piece.norm_start + raw_pos - piece.raw_start
        if after < len(self._pieces):
            return self._pieces[after].norm_start
        return len(self.text)

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalized span [start, end) to the raw span covering the same characters."""
        if end <= start:
            pos = self.raw_offset(start)
            return pos, pos
        return self.raw_offset(start), self.raw_offset(end - 1) + 1


@dataclass
class _Builder:
    """Accumulates normalized text while recording where each piece came from."""

    parts: list[str] = field(default_factory=list)
    pieces: list[_Piece] = field(default_factory=list)
    pos: int = 0

    def add(self, chunk: str, raw_start: int, copied: bool = True) -> None:
        """`chunk` in place of raw[raw_start:] (as long), or inserted before it (`copied` False)."""
        if not chunk:
            return
        length = len(chunk) if copied else 0
        last = self.pieces[-1] if self.pieces else None
        if (length and last is not None and last.length and last.raw_start + last.length == raw_start
                and last.norm_start + last.length == self.pos):
            self.pieces[-1] = _Piece(last.norm_start, last.raw_start, last.length + length)
        else:
            self.pieces.append(_Piece(self.pos, raw_start, length))
        self.parts.append(chunk)
        self.pos += len(chunk)


def trim_span(text: str, start: int, end: int, chars: str = " \t\n") -> tuple[int, int]:
    """[start, end) without the `chars` at either end."""
    while start < end and text[start] in chars:
        start += 1
    while end > start and text[end - 1] in chars:
        end -= 1
    return start, end


def _lines(raw: str) -> list[tuple[int, int, int]]:
    """(content_start, content_end, separator_pos) per line; separator_pos -1 for the last."""
    out, start = [], 0
    for m in [*_LINE_SEP.finditer(raw), None]:
        end = sep = m.start() if m else len(raw)
        next_start = m.end() if m else 0
        while start < end and _is_blank(raw[start]):
            start += 1
        while end > start and _is_blank(raw[end - 1]):
            end -= 1
        out.append((start, end, sep if m else -1))
        start = next_start
    return out


def _is_blank(ch: str) -> bool:
    """Whitespace as the parser's `\\s` sees it (any Unicode space, "\\v", "\\x1c"...), and U+200B."""
    return ch.isspace() or ch == "\u200b"


def _is_double_spaced(lines: list[tuple[int, int, int]]) -> bool:
    """True for the seed layout where every text line is followed by one blank line."""
    nonblank = [i for i, (s, e, _) in enumerate(lines) if e > s]
    if len(nonblank) < 6:
        return False
    followed = sum(1 for i in nonblank if i + 1 < len(lines) and lines[i + 1][1] == lines[i + 1][0])
    return followed >= 0.8 * len(nonblank)


def _joins_without_space(raw: str, line: tuple[int, int, int], nxt: tuple[int, int, int]) -> bool:
    """A word or number broken at the line end: "L4-" + "5", "Electro\ufffe" + "diagnostic"."""
    s, e, _ = line
    ns, ne, _ = nxt
    if e - s < 2 or ne <= ns:
        return False
    last, before, first = raw[e - 1], raw[e - 2], raw[ns]
    if last in (_SOFT_HYPHEN, "\u00ad"):
        return True
    if last == "-" and before.isalnum() and (first.islower() or first.isdigit()):
        return True
    return last == "/" and before.isdigit() and first.isdigit()


def normalize(raw: str, kind: str = "text", path: str | None = None, pages: int = 1) -> SourceText:
    """Build the normalized text and its offset map from `raw`."""
    lines = _lines(raw)
    double = _is_double_spaced(lines)
    b = _Builder()
    # Blank runs separate paragraphs; in the double-spaced layout a single blank line is
    # only layout, two or more are a real break.
    blanks = 0
    prev_line: tuple[int, int, int] | None = None
    for line in lines:
        start, end, _ = line
        if end == start:
            blanks += 1
            continue
        paragraph_break = blanks >= 2 or (blanks == 1 and not double)
        if prev_line is not None and (paragraph_break or not _joins_without_space(raw, prev_line, line)):
            at = prev_line[2]  # the raw separator after the previous line
            b.add("\n", at)
            if paragraph_break:
                b.add("\n", at + 1, copied=False)
        blanks = 0
        _emit_line(b, raw, start, end)
        prev_line = line
    return SourceText(raw=raw, text="".join(b.parts), kind=kind, path=path, pages=pages,
                      _norm_starts=[p.norm_start for p in b.pieces], _pieces=b.pieces)


def _emit_line(b: _Builder, raw: str, start: int, end: int) -> None:
    """Copy one line's content: whitespace runs cut to MAX_SPACE_RUN characters, glued sentences parted."""
    cursor = start
    for run in [*_LONG_SPACE.finditer(raw, start, end), None]:
        stop = run.start() + MAX_SPACE_RUN if run else end
        for glued in _GLUED_SENTENCE.finditer(raw, cursor, stop):
            _copy_folded(b, raw, cursor, glued.start())
            b.add(" ", glued.start(), copied=False)
            cursor = glued.start()
        _copy_folded(b, raw, cursor, stop)
        cursor = run.end() if run else end  # the rest of a long run stays in `raw` only


def _copy_folded(b: _Builder, raw: str, start: int, end: int) -> None:
    """Copy raw[start:end] with each non-ASCII character folded, the dropped ones left out."""
    chunk = raw[start:end]
    if chunk.isascii():  # the common case, and the parse's hot path: nothing to fold or drop
        b.add(chunk, start)
        return
    table = {ord(ch): fold(ch) for ch in set(chunk) if not ch.isascii() and not _DROPPED.fullmatch(ch)}
    for m in [*_DROPPED.finditer(raw, start, end), None]:
        stop = m.start() if m else end
        b.add(raw[start:stop].translate(table), start)
        start = m.end() if m else end


# Unicode folding, so that a decision word or label reads the same however it was typed or
# planted: NFKC where it maps one character to one (a no-break space, a full-width colon),
# Cyrillic and Greek letters that look like Latin ones, and format characters (zero-width
# spaces, soft hyphens, direction marks) removed. pdfium's line-end hyphen marker becomes "-".
_DROPPED = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]+")
_LOOKALIKES = dict(zip(
    "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0405\u0406\u0408\u0455\u0456\u0458\u04bb"
    "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7\u03bf\u03bd",
    "ABEKMHOPCTXaeopcyxSIJsijhABEZHIKMNOPTYXov",
))
_FOLD: dict[str, str] = {_SOFT_HYPHEN: "-"}


def fold(ch: str) -> str:
    """What one character of the letter becomes in the normalized text ("" where it is dropped)."""
    if _DROPPED.fullmatch(ch):
        return ""
    folded = _FOLD.get(ch)
    if folded is None:
        folded = _LOOKALIKES.get(ch) or unicodedata.normalize("NFKC", ch)
        _FOLD[ch] = folded = folded if len(folded) == 1 else ch
    return folded


def read_text(text: str, path: str | None = None) -> SourceText:
    """Normalize letter text given as a string."""
    _check_text_size(len(text), path or "<text>")
    source = normalize(text, kind="text", path=path)
    if not source.text.strip():  # nothing but white space and invisible characters (normalize drops them)
        invisible = " (only invisible characters)" if text.strip() else ""
        raise EmptyInput(f"{path or '<text>'}: the text is empty{invisible}")
    return source


def read_path(path: str | Path) -> SourceText:
    """Read a PDF or text letter from disk, choosing the reader by content, not just name."""
    return read_bytes(read_file(path), name=display_path(path))


def read_file(path: str | Path) -> bytes:
    """A letter file's bytes: it exists, is a regular file and is within MAX_BYTES by its size on disk;
    never more than MAX_BYTES + 1 bytes are read (a file that grew since is refused by `read_bytes`)."""
    name = display_path(path)
    irregular = UnsupportedFileType(f"{name}: not a regular file; give a PDF or a .txt file")
    try:  # one handler: a file removed between the stat and the open is "no such file" too
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise UnsupportedFileType(f"{name}: is a directory, not a letter file")
        if not stat.S_ISREG(info.st_mode):
            raise irregular
        _check_file_size(info.st_size, name)
        # non-blocking: if a FIFO took the file's place since the stat, opening it cannot hang
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise irregular
            return handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise LetterNotFound(f"{name}: no such file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror or type(exc).__name__})") from None


def read_bytes(data: bytes, name: str = "<bytes>") -> SourceText:
    _check_file_size(len(data), name)
    suffix = Path(name).suffix.lower()
    if not data or not data.strip():
        raise EmptyInput(f"{name}: the file is empty")
    if is_pdf(data):
        return _read_pdf(data, name)
    if ocr.image_kind(data) is not None:
        return read_images([(data, name)], name=name)
    if suffix in PDF_SUFFIXES:
        raise UnreadablePdf(f"{name}: not a valid PDF (no PDF header); the file may be corrupt")
    if suffix and suffix not in TEXT_SUFFIXES:
        raise UnsupportedFileType(f"{name}: unsupported file type '{suffix}'; give a PDF or a plain-text (.txt) letter")
    return read_text(_decode(data, name), path=name)


def is_pdf(data: bytes) -> bool:
    """The bytes are read as a PDF (a header in the first KB), whatever the file's name."""
    return b"%PDF-" in data[:1024]


def _check_file_size(size: int, name: str) -> None:
    if size > MAX_BYTES:
        raise InputTooLarge(f"{name}: the file is {size:,} bytes, over the limit of {MAX_BYTES:,} bytes "
                            f"({MAX_BYTES // 1_000_000} MB); an IMR letter is far smaller, so check that this is the right file")


def _check_text_size(chars: int, name: str) -> None:
    if chars > MAX_TEXT_CHARS:
        raise InputTooLarge(f"{name}: the letter text is over the limit of {MAX_TEXT_CHARS:,} characters; "
                            "an IMR letter is far shorter, so check that this is the right file")


def _decode(data: bytes, name: str) -> str:
    binary = UnsupportedFileType(f"{name}: binary data, not a text letter; give a PDF or a .txt file")
    encoding = _unicode_encoding(data)
    if encoding is None:
        if b"\x00" in data[:4096]:
            raise binary
        for encoding in ("utf-8-sig", "cp1252"):
            with suppress(UnicodeDecodeError):
                return data.decode(encoding)
        return data.decode("latin-1")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise binary from None
    if "\x00" in text[:4096]:
        raise binary
    return text


def _unicode_encoding(data: bytes) -> str | None:
    """UTF-32/16 by their byte-order mark, or UTF-16 without one when every other byte is zero."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):  # first: UTF-32-LE's mark starts with UTF-16-LE's
        return "utf-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = data[:4096]
    if len(sample) < 16 or len(data) % 2:
        return None
    even, odd = sample[0::2], sample[1::2]
    zeros_even, zeros_odd = even.count(0), odd.count(0)
    if zeros_odd >= 0.9 * len(odd) and zeros_even == 0:
        return "utf-16-le"
    if zeros_even >= 0.9 * len(even) and zeros_odd == 0:
        return "utf-16-be"
    return None


def _read_pdf(data: bytes, name: str) -> SourceText:
    import pypdfium2 as pdfium  # deferred: text-only users never pay for it

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        # pdfium's last error outlives a failed load that sets none: a password asked for by an
        # earlier file must not make an unencrypted one "password-protected"
        if "password" in str(exc).lower() and b"/Encrypt" in data:
            raise PasswordProtectedPdf(f"{name}: the PDF needs a password to open; remove the password and retry") from None
        raise UnreadablePdf(f"{name}: the PDF is corrupt or truncated and cannot be opened") from None
    started = time.perf_counter()
    try:
        texts, ocr_pages = _pdf_pages(doc, name)
    except pdfium.PdfiumError:
        raise UnreadablePdf(f"{name}: the PDF is damaged; its pages cannot be read") from None
    finally:
        doc.close()
    raw = "\f".join(t.replace("\r\n", "\n") for t in texts)
    if not raw.strip():
        if ocr_pages:
            raise NoTextLayer(f"{name}: the PDF has no text layer, and OCR found no text on its pages (scanned images)")
        raise NoTextLayer(f"{name}: the PDF has no text layer and no picture of a page to read by OCR")
    source = normalize(raw, kind="pdf", path=name, pages=len(texts))
    if ocr_pages:
        source.ocr = _ocr_reading(ocr_pages, texts, started)
    return source


def _pdf_pages(doc, name: str) -> tuple[list[str], list]:
    """Each page's text, and the pages read by OCR: a page with no text that shows a picture."""
    import pypdfium2.raw as pdfium_c  # deferred, with pypdfium2 above

    texts: list[str] = []
    ocr_pages: list = []
    chars = 0
    page_count = len(doc)  # from the page tree: no page is loaded yet
    if page_count > MAX_PAGES:
        raise InputTooLarge(f"{name}: the PDF has {page_count:,} pages, over the limit of {MAX_PAGES} pages; "
                            "an IMR letter has 2-12, so check that this is the right file")
    for index in range(page_count):
        page = doc[index]
        try:
            rotation = page.get_rotation()
            if rotation:
                # /Rotate only turns the page for display; pdfium orders the text of a turned
                # page in display space and scrambles its lines, so read it unturned (in memory)
                page.set_rotation(0)
            textpage = page.get_textpage()
            try:
                texts.append(textpage.get_text_range())
            finally:
                textpage.close()
            chars += len(texts[-1]) + 1
            _check_text_size(chars - 1, name)
            if not texts[-1].strip() and any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE],
                                                                             max_depth=1)):
                ocr_pages.append(_ocr_pdf_page(page, rotation, index + 1, name))
                texts[-1] = ocr_pages[-1].text
                chars += len(texts[-1])
                _check_text_size(chars - 1, name)
        finally:
            page.close()
    return texts, ocr_pages


def _ocr_pdf_page(page, rotation: int, number: int, name: str):
    """Render a PDF page that is a picture, as shown (its /Rotate applied), and read it by OCR."""
    ocr.engine(name)  # a missing engine is one clear line before any rendering
    bitmap = page.render(scale=ocr.RENDER_DPI / 72, rotation=rotation, grayscale=True)
    try:
        image = bitmap.to_pil().convert("L")
    finally:
        bitmap.close()
    return ocr.read_page(image, number, name, dpi=ocr.RENDER_DPI)


def _ocr_reading(ocr_pages: list, texts: list[str], started: float):
    eng = ocr.engine()
    starts = dict(enumerate(accumulate([len(text) + 1 for text in texts[:-1]], initial=0), 1))  # page → raw offset
    return ocr.OcrReading(engine_version=eng.version, wrapper=eng.wrapper, pages=ocr_pages, page_starts=starts,
                          pages_total=len(texts), seconds=round(time.perf_counter() - started, 3))


def read_images(images: list, name: str | None = None) -> SourceText:
    """One letter from pictures of its pages, in order: each a path or a (bytes, name) pair (a
    multi-page TIFF gives all its pages). The raw text is the pages' OCR text joined by "\f"."""
    started = time.perf_counter()
    files: list[tuple[bytes, str]] = []
    for entry in images:
        data, entry_name = entry if isinstance(entry, tuple) else (read_file(entry), display_path(entry))
        _check_file_size(len(data), entry_name)
        if not data or not data.strip():
            raise EmptyInput(f"{entry_name}: the file is empty")
        if ocr.image_kind(data) is None:
            raise UnsupportedFileType(f"{entry_name}: not a picture of a page (.png, .jpg, .tif); "
                                      "a letter in several files must be pictures")
        files.append((data, entry_name))
    if not files:
        raise EmptyInput(f"{name or '<images>'}: no pictures given")
    name = name or (files[0][1] if len(files) == 1 else f"{files[0][1]} (+{len(files) - 1} more)")
    if (count := sum(ocr.page_count(data) for data, _ in files)) > MAX_PAGES:  # before any page is read
        raise InputTooLarge(f"{name}: {count:,} pages, over the limit of {MAX_PAGES} pages; an IMR letter has 2-12, "
                            "so check that this is the right file")
    ocr.engine(name)
    pages = []
    chars = 0
    for data, entry_name in files:
        for image in ocr.open_images(data, entry_name):
            page = ocr.read_page(image, len(pages) + 1, entry_name if len(files) > 1 else name, image.info["imr_dpi"])
            pages.append(page)
            chars += len(page.text) + 1
            _check_text_size(chars - 1, name)
    texts = [page.text for page in pages]
    raw = "\f".join(texts)
    if not raw.strip():
        unread = ocr.unread_pages(pages)
        if unread:
            raise ocr.too_blurry(name, unread)
        raise NotAnImrLetter(f"{name}: not an IMR final determination letter (no text could be read from the picture)")
    source = normalize(raw, kind="image", path=name, pages=len(texts))
    source.ocr = _ocr_reading(pages, texts, started)
    return source
