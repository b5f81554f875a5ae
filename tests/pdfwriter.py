"""A tiny PDF writer for test fixtures: plain text lines on Letter-size pages, Helvetica.

Used to turn letters we wrote ourselves into real PDFs (with a text layer) without any
dependency beyond the standard library, so tests can build PDFs on the fly.
"""

from __future__ import annotations

LINES_PER_PAGE = 56


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_pdf(lines: list[str], lines_per_page: int = LINES_PER_PAGE) -> bytes:
    """A PDF whose pages show `lines` (a "\\f" line forces a page break)."""
    pages: list[list[str]] = [[]]
    for line in lines:
        if line == "\f" or len(pages[-1]) >= lines_per_page:
            pages.append([])
            if line == "\f":
                continue
        pages[-1].append(line)
    streams = []
    for page in pages:
        body = ["BT", "/F1 10 Tf", "12 TL", "54 740 Td"]
        for line in page:
            body.append(f"({_escape(line)}) Tj T*")
        body.append("ET")
        streams.append("\n".join(body).encode("latin-1"))
    return _assemble(streams)


def image_only_pdf() -> bytes:
    """One page showing a 2x2 grey image and no text: what a scanned letter looks like."""
    content = b"q 200 0 0 200 100 500 cm /Im1 Do Q"
    image = b"\x80\x40\x40\x80"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray /BitsPerComponent 8 /Length 4 >>\nstream\n"
        + image
        + b"\nendstream",
    ]
    return _serialize(objects)


def _assemble(streams: list[bytes]) -> bytes:
    n = len(streams)
    page_ids = [4 + 2 * i for i in range(n)]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % p for p in page_ids) + b"] /Count %d >>" % n,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, stream in enumerate(streams):
        page_id = page_ids[i]
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
            % (page_id + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    return _serialize(objects)


def _serialize(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# -- hostile PDFs (the per-letter limits of a batch's parse workers) -----------------------------

def overprinted_text_pdf(operators: int) -> bytes:
    """One page of `operators` one-letter text objects overprinted on 70 places of one line, its
    content stream compressed: pdfium's text extraction is quadratic in them (80,000: about 30 s
    for a 200 KB file)."""
    import zlib

    body = "\n".join(f"BT /F1 8 Tf 1 0 0 1 {50 + (i % 70) * 7} 700 Tm ({chr(97 + (i // 70) % 26)}) Tj ET"
                     for i in range(operators))
    return _one_page_with_flate_content(zlib.compress(body.encode("latin-1"), 9))


def flate_bomb_pdf(inflated: int) -> bytes:
    """One page whose content stream is a few MB of Flate data that inflates to `inflated` bytes
    of spaces (4 GiB: about 4 MB of PDF). Built from one compressed block repeated (each ends in
    a full flush, so copies need no history), not by compressing gigabytes."""
    import zlib

    block = 16 << 20
    packer = zlib.compressobj(9)
    head = packer.compress(b" " * block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(b" " * block) + packer.flush(zlib.Z_FULL_FLUSH)  # no zlib header: repeatable
    tail = packer.flush()
    copies = max(0, inflated // block - 1)
    return _one_page_with_flate_content(head + again * copies + tail)


def _one_page_with_flate_content(compressed: bytes) -> bytes:
    return _serialize([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(compressed) + compressed + b"\nendstream",
    ])


# -- damaged page trees --------------------------------------------------------------------------

def missing_page_pdf() -> bytes:
    """A page tree naming a page object the file does not hold (a damaged or cut file): pdfium
    opens it and counts one page, which does not load."""
    return _serialize([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"])


def no_page_pdf() -> bytes:
    """An empty page tree: pdfium refuses to open a document without a page."""
    return _serialize([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])
