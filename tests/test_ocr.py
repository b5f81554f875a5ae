"""Scanned and photographed letters (imr_llm/ocr.py): read by OCR, and the record says so.

The pictures are made here from tests/fixtures/letters/synthetic_2016_multi.pdf (a synthetic letter,
two pages), rendered with pypdfium2 at 150 dpi and degraded a little; each OCR'd page costs about
1.5 s, so the tests that need Tesseract read five pages in all. They are skipped, saying why, where
Tesseract's English data is not installed (.ci/run installs it)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

import imr_llm
from imr_llm import errors, ocr
from imr_llm.reading import normalize, read_images
from imr_llm.schema import OcrReading as OcrReadingRecord
from conftest import LETTERS, ROOT

PDF = LETTERS / "synthetic_2016_multi.pdf"

needs_tesseract = pytest.mark.skipif(
    not ocr.available(), reason=f"Tesseract's English data is not installed (system packages {ocr.PACKAGES})")


def _pages(dpi: int = 150):
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(PDF))
    try:
        return [doc[i].render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for i in range(len(doc))]
    finally:
        doc.close()


def _scanned(page, angle: float):
    """A page as a scanner gives it: turned a little, grey paper, a little noise."""
    import numpy as np
    from PIL import Image

    turned = page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    a = np.asarray(turned, dtype=np.float32) * 0.92 + 12
    a += np.random.default_rng(1).normal(0, 6, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _bytes(image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


@pytest.fixture(scope="module")
def text_letter():
    return imr_llm.extract(PDF)


@needs_tesseract
def test_an_image_only_pdf_reads_like_its_text_and_the_record_says_ocr(tmp_path, text_letter):
    pages = [_scanned(p, a) for p, a in zip(_pages(), (1.2, -0.8))]
    pdf = tmp_path / "scanned.pdf"
    pages[0].save(pdf, "PDF", save_all=True, append_images=pages[1:], resolution=150.0)
    det = imr_llm.extract(pdf)
    assert det.case_number == text_letter.case_number
    assert [(i.request, i.decision) for i in det.items] == [(i.request, i.decision) for i in text_letter.items]
    for name in ("date_assigned", "decision_date", "date_of_injury", "ur_denial_date", "priority"):
        assert getattr(det, name) == getattr(text_letter, name), name
    record = det.model_dump(mode="json")["provenance"]
    assert record["source_kind"] == "pdf"
    reading = record["ocr"]
    assert reading["engine"] == "tesseract" and reading["engine_version"][0].isdigit()
    assert [p["page"] for p in reading["pages"]] == [1, 2] and reading["pages_total"] == 2
    assert all(p["mean_confidence"] > 80 and p["words"] > 50 for p in reading["pages"])
    assert any(step.startswith("deskew") for p in reading["pages"] for step in p["steps"])
    assert reading["complete"] is True
    # evidence points into the OCR text, the letter as read
    source = imr_llm.api.load(pdf)
    for item in det.items:
        for ev in item.evidence.values():
            assert source.raw[ev.start:ev.end] == ev.quote


@needs_tesseract
def test_pictures_of_the_pages_are_one_letter_on_the_command_line(tmp_path, text_letter):
    """`imr-llm extract p1.jpg p2.png --one-letter`: a phone-like photo (on a table, in perspective,
    shaded, JPEG) and a PNG, read in the order given as one letter."""
    import numpy as np
    from PIL import Image

    first, second = _pages()
    w, h = first.size
    m = 80
    table = np.full((h + 2 * m, w + 2 * m), 90, dtype=np.float32)
    shade = np.linspace(1.0, 0.7, w, dtype=np.float32)[None, :]
    table[m:m + h, m:m + w] = np.asarray(first, dtype=np.float32) * shade
    photo = Image.fromarray(table.astype(np.uint8))
    corners = [(m + 40, m + 20), (m + w - 10, m - 10), (m + w + 30, m + h + 20), (m - 20, m + h - 30)]
    target = [(m, m), (m + w, m), (m + w, m + h), (m, m + h)]
    photo = photo.transform(photo.size, Image.Transform.PERSPECTIVE, ocr._perspective_coeffs(corners, target),
                            Image.Resampling.BICUBIC, fillcolor=90)
    (tmp_path / "p1.jpg").write_bytes(_bytes(photo, "JPEG", quality=80))
    (tmp_path / "p2.png").write_bytes(_bytes(second, "PNG"))
    run = subprocess.run([sys.executable, "-m", "imr_llm", "extract", "--json", "--one-letter",
                          str(tmp_path / "p1.jpg"), str(tmp_path / "p2.png")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["case_number"] == text_letter.case_number
    assert [(i["request"], i["decision"]) for i in record["items"]] == \
        [(i.request, i.decision) for i in text_letter.items]
    reading = record["provenance"]["ocr"]
    assert record["provenance"]["source_kind"] == "image" and [p["page"] for p in reading["pages"]] == [1, 2]
    assert "perspective" in reading["pages"][0]["steps"]


@needs_tesseract
def test_one_photographed_page_gives_what_it_holds_marked_incomplete(tmp_path):
    first = _pages()[0]
    cut = first.crop((0, 0, first.width, first.height * 2 // 5))  # the header and credentials only
    det = imr_llm.api.extract_images([(_bytes(cut, "PNG"), "page1.png")])
    assert det.case_number == "CM99-0000101" and det.items == []
    assert det.provenance.ocr.complete is False
    assert any(w.startswith("incomplete letter") for w in det.warnings)


@needs_tesseract
def test_one_photographed_page_in_a_batch_is_marked_incomplete_too():
    """The batch's parse worker reads it the same way (it once failed as unsupported_layout)."""
    import asyncio

    from imr_llm.api import Pipeline
    from imr_llm.runs.workers import read_and_parse

    first = _pages()[0]
    cut = first.crop((0, 0, first.width, first.height * 2 // 5))
    source, det = read_and_parse(_bytes(cut, "PNG"), "page1.png")
    det = asyncio.run(Pipeline().afinish(source, det))  # what the batch does next
    assert det.case_number == "CM99-0000101" and det.items == [] and det.provenance.ocr.complete is False


def test_a_text_layer_letter_has_no_ocr_record_and_no_new_keys(text_letter):
    record = text_letter.model_dump(mode="json")
    assert "ocr" not in record["provenance"] and text_letter.provenance.source_kind == "pdf"


def test_tesseract_missing_is_one_line_naming_the_system_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(ocr, "_ENGINE", None)
    monkeypatch.setattr(ocr, "tessdata_dir", lambda: None)
    from PIL import Image

    image = tmp_path / "page.png"
    image.write_bytes(_bytes(Image.new("L", (200, 200), 255), "PNG"))
    with pytest.raises(errors.OcrUnavailable) as info:
        imr_llm.extract(image)
    message = str(info.value)
    assert "\n" not in message and "tesseract-ocr tesseract-ocr-eng" in message and "page.png" in message
    assert isinstance(info.value, errors.NoTextLayer) and info.value.code == "ocr_unavailable"


@needs_tesseract
def test_a_picture_that_is_not_a_letter_and_a_blurred_one_have_their_own_errors():
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    notes = Image.new("L", (1275, 500), 255)
    draw = ImageDraw.Draw(notes)
    for i, line in enumerate(["Grocery list for the week", "Milk, eggs, bread and butter"]):
        draw.text((100, 100 + 60 * i), line, fill=0, font=ImageFont.load_default(size=32))
    with pytest.raises(errors.NotAnImrLetter, match="notes.png"):
        imr_llm.api.extract_images([(_bytes(notes, "PNG"), "notes.png")])
    blurred = notes.filter(ImageFilter.GaussianBlur(6))
    with pytest.raises(errors.PageTooBlurry, match=r"photo.png: page 1 is too blurry"):
        read_images([(_bytes(blurred, "PNG"), "photo.png")])


def test_a_corrupt_picture_and_a_non_picture_page_are_refused(tmp_path):
    with pytest.raises(errors.UnreadableImage, match="cannot be opened"):
        read_images([(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "broken.png")])
    with pytest.raises(errors.UnsupportedFileType, match="not a picture"):
        read_images([(b"Case Number: CM16-0000001\n", "page.txt")])


def test_a_decision_word_or_case_number_read_with_low_confidence_is_a_warning():
    text = (LETTERS / "synthetic_2016_multi.txt").read_text()
    source = normalize(text, kind="image", path="photo.jpg")
    det = imr_llm.api.parse_source(source)
    decision = det.items[0].evidence["decision"]
    case = det.evidence["case_number"]
    words = [(case.start, case.end, 95.0), (decision.start, decision.end, 41.0)]
    source.ocr = ocr.OcrReading(engine_version="5", wrapper="test", pages_total=1, page_starts={1: 0},
                                pages=[ocr.OcrPage(page=1, text=source.raw, confidence=90.0, words=words)])
    det.provenance = imr_llm.api.provenance(source)
    ocr.annotate(source, det)
    assert det.provenance.ocr.low_confidence == ["items[0].decision"]
    assert any(w.startswith("items[0].decision: read from a picture with low confidence (41%)") for w in det.warnings)


def test_the_patient_page_of_a_letter_read_from_a_picture_says_so_first():
    from imr_llm.explain import explain
    from imr_llm.explain.languages import get
    from imr_llm.explain.render import render

    text = (LETTERS / "synthetic_2016_multi.txt").read_text()
    source = normalize(text, kind="image", path="photo.jpg")
    det = imr_llm.api.parse_source(source)
    det.provenance = imr_llm.api.provenance(source)
    det.provenance.ocr = OcrReadingRecord(engine_version="5", wrapper="test", pages=[], pages_total=1)
    plain = imr_llm.extract_text(text)
    FROM_PICTURE = {code: get(code).facts["from_picture"] for code in ("en", "es")}  # noqa: N806
    for language in ("en", "es"):
        for fmt in ("text", "markdown", "html"):
            page = render(explain(det, source, language), fmt, source=source)
            assert FROM_PICTURE[language] in page.replace("&#x27;", "'")
            assert FROM_PICTURE[language] not in render(explain(plain, text, language), fmt, source=text)
    assert FROM_PICTURE["en"] == "This letter was read from a picture. Check each decision against your paper copy."


def test_an_empty_page_file_and_no_pages_at_all_are_empty_input(tmp_path):
    from PIL import Image

    page, empty = tmp_path / "page1.png", tmp_path / "page2.png"
    Image.new("L", (40, 40), 255).save(page)
    empty.write_bytes(b"")
    with pytest.raises(errors.EmptyInput) as info:
        imr_llm.extract_images([page, empty])
    assert str(info.value) == f"{empty}: the file is empty"
    with pytest.raises(errors.EmptyInput, match=r"^<images>: no pictures given$"):
        imr_llm.extract_images([])
    with pytest.raises(errors.EmptyInput, match=r"^scan: no pictures given$"):
        read_images([], name="scan")


@needs_tesseract
def test_a_blank_picture_is_not_a_letter():
    from PIL import Image

    with pytest.raises(errors.NotAnImrLetter) as info:
        read_images([(_bytes(Image.new("L", (200, 200), 255), "PNG"), "white.png")])
    assert str(info.value) == "white.png: not an IMR final determination letter (no text could be read from the picture)"


def test_pages_over_the_limit_are_refused_before_any_page_is_read(monkeypatch):
    """Counted from the files' headers before OCR starts (not one page at a time, up to the 100th)."""
    from PIL import Image

    def no_ocr(*args):
        raise AssertionError("a page was read")
    monkeypatch.setattr(ocr, "engine", no_ocr)
    monkeypatch.setattr(ocr, "read_page", no_ocr)
    blank = Image.new("L", (20, 20), 255)
    tiff = _bytes(blank, "TIFF", save_all=True, append_images=[blank] * 59)  # 60 pages: within the limit alone
    for files, said in (([(tiff, "a.tif"), (tiff, "b.tif")], "a.tif (+1 more): 120 pages"),
                        ([(_bytes(blank, "PNG"), f"p{k}.png") for k in range(101)], "p0.png (+100 more): 101 pages"),
                        ([(_bytes(blank, "TIFF", save_all=True, append_images=[blank] * 150), "big.tif")],
                         "big.tif: 151 pages")):
        with pytest.raises(errors.InputTooLarge) as info:
            read_images(files)
        assert str(info.value) == (f"{said}, over the limit of 100 pages; an IMR letter has 2-12, so check that this "
                                   "is the right file")
