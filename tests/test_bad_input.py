"""Bad input gets one clear error of the package's own hierarchy, never a traceback, and the
message names the file without quoting any letter text."""

from __future__ import annotations

from pathlib import Path

import pytest

import imr_llm
from imr_llm import errors
from conftest import ROOT
from pdfwriter import text_pdf

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
