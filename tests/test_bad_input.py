"""Bad input gets one clear error of the package's own hierarchy, never a traceback, and the
message names the file without quoting any letter text."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import imr_llm
from imr_llm import errors, reading
from conftest import ROOT
from pdfwriter import missing_page_pdf, no_page_pdf, text_pdf

BAD = ROOT / "tests" / "fixtures" / "bad"
LETTERS = ROOT / "tests" / "fixtures" / "letters"

CASES = [
    ("empty.txt", errors.EmptyInput, "empty"),
    ("whitespace_only.txt", errors.EmptyInput, "empty"),
    ("not_a_letter.txt", errors.NotAnImrLetter, "not an IMR"),
    ("scanned_no_text.pdf", errors.NoTextLayer, "OCR"),
    ("truncated.pdf", errors.UnreadablePdf, "corrupt or truncated"),
    ("password_protected.pdf", errors.PasswordProtectedPdf, "password"),
    ("image.png", errors.UnsupportedFileType, ".png"),
    ("letter.docx", errors.UnsupportedFileType, ".docx"),
    ("renamed_text.pdf", errors.UnreadablePdf, "not a valid PDF"),
]


@pytest.mark.parametrize("name,error,hint", CASES, ids=[c[0] for c in CASES])
def test_each_bad_input_has_its_own_clear_error(name, error, hint):
    with pytest.raises(error) as info:
        imr_llm.extract(BAD / name)
    message = str(info.value)
    assert name in message and hint in message
    assert isinstance(info.value, imr_llm.ImrError)
    assert "\n" not in message


def test_missing_file_and_directory(tmp_path):
    for missing in (tmp_path / "nope.pdf", str(tmp_path / "nope.pdf"), "/nonexistent.pdf"):
        with pytest.raises(errors.LetterNotFound, match="no such file") as info:
            imr_llm.extract(missing)
        # what `open` would raise, and the package's own input error: either `except` catches it
        assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, imr_llm.InputError)
        assert not isinstance(info.value, errors.UnsupportedFileType) and info.value.code == "no_such_file"
    with pytest.raises(errors.UnsupportedFileType, match="directory"):
        imr_llm.extract_file(tmp_path)


def test_encrypted_pdf_with_empty_user_password_opens():
    # The real DWC PDFs are AES-encrypted with an empty user password.
    assert b"/Encrypt" in (LETTERS / "synthetic_2016_multi.pdf").read_bytes()
    det = imr_llm.extract(LETTERS / "synthetic_2016_multi.pdf")
    assert det.case_number == "CM99-0000101" and len(det.items) == 4


def test_imr_like_text_without_decisions_is_unsupported_layout():
    text = "IMR ISSUES, DECISIONS AND RATIONALES\nMAXIMUS reviewed the Independent Medical Review request.\n"
    with pytest.raises(errors.UnsupportedLayout):
        imr_llm.extract_text(text)


def test_error_message_never_quotes_the_letter(tmp_path):
    secret = "Patient Jane Q. Example, SSN 123-45-6789, reports pain."
    path = tmp_path / "letter.txt"
    path.write_text(secret + "\n" * 3)
    with pytest.raises(imr_llm.ImrError) as info:
        imr_llm.extract(path)
    assert "Jane" not in str(info.value) and "123-45" not in str(info.value)


def test_pdf_made_from_a_text_letter_parses_like_the_text(tmp_path):
    text = (LETTERS / "synthetic_body_only.txt").read_text()
    lines = [line.rstrip() for line in text.splitlines()]
    pdf = tmp_path / "body.pdf"
    pdf.write_bytes(text_pdf([line for line in lines if line]))
    a, b = imr_llm.extract(pdf), imr_llm.extract(LETTERS / "synthetic_body_only.txt")
    assert [(i.request, i.decision) for i in a.items] == [(i.request, i.decision) for i in b.items]
    assert a.provenance.source_kind == "pdf" and b.provenance.source_kind == "text"


def test_bytes_input_is_sniffed_by_content():
    data = (LETTERS / "synthetic_2016_multi.pdf").read_bytes()
    assert imr_llm.extract(data).case_number == "CM99-0000101"
    assert imr_llm.extract(Path(LETTERS / "003_bd44697b6f0a7cef.txt")).items[0].decision == "overturned"


def test_a_path_the_system_cannot_follow_cannot_be_read(tmp_path):
    (tmp_path / "a.pdf").symlink_to(tmp_path / "b.pdf")
    (tmp_path / "b.pdf").symlink_to(tmp_path / "a.pdf")
    (tmp_path / "letter.txt").write_text("x")
    for path, code in ((tmp_path / "a.pdf", errno.ELOOP), (tmp_path / "letter.txt" / "page.pdf", errno.ENOTDIR)):
        with pytest.raises(errors.InputError) as info:
            imr_llm.extract(path)
        assert type(info.value) is errors.InputError
        assert str(info.value) == f"{path}: cannot be read ({os.strerror(code)})"


def _swap_after_stat(monkeypatch, path: Path, swap) -> None:
    """`swap(path)` right after `read_file` stats it: a file replaced or removed between the two steps."""
    real, pending = os.stat, [swap]

    def stat_then_swap(target, *args, **kwargs):
        info = real(target, *args, **kwargs)
        if os.fspath(target) == str(path) and pending:
            pending.pop()(path)
        return info

    monkeypatch.setattr(reading.os, "stat", stat_then_swap)


def test_a_file_replaced_by_a_fifo_after_its_stat_is_refused_without_hanging(tmp_path, monkeypatch):
    path = tmp_path / "letter.pdf"
    path.write_bytes(text_pdf(["x"]))
    _swap_after_stat(monkeypatch, path, lambda p: (p.unlink(), os.mkfifo(p)))
    with pytest.raises(errors.UnsupportedFileType) as info:
        reading.read_path(path)
    assert str(info.value) == f"{path}: not a regular file; give a PDF or a .txt file"


def test_a_pdf_whose_page_is_missing_is_damaged():
    with pytest.raises(errors.UnreadablePdf) as info:
        imr_llm.extract(missing_page_pdf())
    assert str(info.value) == "<bytes>: the PDF is damaged; its pages cannot be read"


def test_a_pdf_of_blank_pages_has_no_text_layer_and_nothing_for_ocr(tmp_path):
    path = tmp_path / "blank.pdf"
    path.write_bytes(text_pdf([]))
    with pytest.raises(errors.NoTextLayer) as info:
        imr_llm.extract(path)
    assert str(info.value) == f"{path}: the PDF has no text layer and no picture of a page to read by OCR"



def test_a_letter_of_only_invisible_characters_is_empty(tmp_path):
    path = tmp_path / "marks.txt"
    path.write_text("\ufeff\u200e\u00ad\u2060\u200f", encoding="utf-8")
    with pytest.raises(errors.EmptyInput, match=r"^.*marks.txt: the text is empty \(only invisible characters\)$"):
        imr_llm.extract(path)
    with pytest.raises(errors.EmptyInput, match=r"^<text>: the text is empty \(only invisible characters\)$"):
        imr_llm.extract_text("\u200b \n\u2060")
    source = reading.normalize("\u200e\u00ad\u2060\u200f", kind="text")  # the offsets of a text that folds to nothing
    assert source.text == "" and source.raw_span(0, 0) == (0, 0)
    assert [source.norm_offset(r) for r in range(len(source.raw) + 1)] == [0] * 5


def test_a_file_removed_after_its_stat_is_no_such_file(tmp_path, monkeypatch):
    path = tmp_path / "letter.pdf"
    path.write_bytes(text_pdf(["x"]))
    _swap_after_stat(monkeypatch, path, Path.unlink)
    with pytest.raises(errors.LetterNotFound) as info:
        reading.read_path(path)
    assert str(info.value) == f"{path}: no such file"


def test_a_pdf_without_pages_does_not_open_even_after_a_password_protected_one():
    # pdfium opens no document without a page (so every PDF read has a page's text), and sets no
    # error for it: its last error is still the password the file before asked for
    with pytest.raises(errors.PasswordProtectedPdf):
        imr_llm.extract(BAD / "password_protected.pdf")
    with pytest.raises(errors.UnreadablePdf) as info:
        imr_llm.extract(no_page_pdf())
    assert str(info.value) == "<bytes>: the PDF is corrupt or truncated and cannot be opened"
