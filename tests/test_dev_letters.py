"""The 65 real DWC letters in ../shared (never committed): every one parses, and the parser
matches the hand labels in evals/gold/dev on every contract field. Skipped only where the
letters are absent (a user's machine); CI has them."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import imr_llm
from conftest import DEV_LETTERS, GOLD_DEV, load_gold, needs_dev_letters

pytestmark = [needs_dev_letters, pytest.mark.dev_letters]

HEADER = ["case_number", "date_assigned", "decision_date", "date_of_injury", "ur_denial_date",
          "application_received", "priority", "outcome"]


def _norm(text):
    return re.sub(r"\s+", " ", text or "").strip()


def _check(det: dict, gold: dict, where: str) -> list[str]:
    errors = []
    for key in HEADER:
        if det[key] != gold[key]:
            errors.append(f"{where} {key}: got {det[key]!r}, labelled {gold[key]!r}")
    for key in ("licensure_states", "specialties"):
        if det["reviewer"][key] != gold["reviewer"][key]:
            errors.append(f"{where} reviewer.{key}: got {det['reviewer'][key]!r}, labelled {gold['reviewer'][key]!r}")
    for key in ("age", "sex"):
        if det["patient"][key] != gold["patient"][key]:
            errors.append(f"{where} patient.{key}: got {det['patient'][key]!r}, labelled {gold['patient'][key]!r}")
    if len(det["items"]) != len(gold["items"]):
        errors.append(f"{where}: {len(det['items'])} items, labelled {len(gold['items'])}")
        return errors
    for i, (got, want) in enumerate(zip(det["items"], gold["items"])):
        for key in ("request", "original_request", "ur_authorized", "disputed_portion"):
            if _norm(got[key]) != _norm(want[key]):
                errors.append(f"{where} items[{i}].{key}: got {got[key]!r}, labelled {want[key]!r}")
        for key in ("decision", "modified_by_ur"):
            if got[key] != want[key]:
                errors.append(f"{where} items[{i}].{key}: got {got[key]!r}, labelled {want[key]!r}")
        for basis in ("claims_administrator_basis", "reviewer_basis"):
            if got[basis]["sources"] != want[basis]["sources"]:
                errors.append(f"{where} items[{i}].{basis}: got {got[basis]['sources']}, labelled {want[basis]['sources']}")
    return errors


def test_every_dev_letter_parses_and_is_labelled():
    pdfs = sorted(DEV_LETTERS.glob("*.pdf"))
    assert len(pdfs) >= 65
    labelled = {p.stem for p in GOLD_DEV.glob("*.json")}
    assert {p.stem for p in pdfs} <= labelled
    for pdf in pdfs:
        det = imr_llm.extract(pdf)
        assert det.items and det.case_number == pdf.stem and det.letter_format == "dwc_2016"


def test_parser_matches_hand_labels():
    errors = []
    for gold_path in sorted(GOLD_DEV.glob("*.json")):
        det = imr_llm.extract(DEV_LETTERS / f"{gold_path.stem}.pdf").model_dump(mode="json")
        errors += _check(det, load_gold(gold_path), gold_path.stem)
    assert not errors, "\n".join(errors)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler's pdftotext is not installed")
@pytest.mark.parametrize("mode", [[], ["-layout"]], ids=["pdftotext-column-order", "pdftotext-layout"])
def test_pdftotext_outputs_parse_the_same(tmp_path, mode):
    """Users also feed text from poppler: its header comes labels-first (or laid out)."""
    errors = []
    for gold_path in sorted(GOLD_DEV.glob("*.json")):
        out = tmp_path / f"{gold_path.stem}.txt"
        subprocess.run(["pdftotext", *mode, str(DEV_LETTERS / f"{gold_path.stem}.pdf"), str(out)], check=True)
        det = imr_llm.extract(out).model_dump(mode="json")
        errors += _check(det, load_gold(gold_path), f"{gold_path.stem}({' '.join(mode) or 'raw'})")
    assert not errors, "\n".join(errors)


def test_evidence_points_into_the_pdf_text():
    for pdf in sorted(DEV_LETTERS.glob("*.pdf"))[:20]:
        source = imr_llm.api.load(pdf)
        det = imr_llm.api.parse(source)
        for item in det.items:
            ev = item.evidence["decision"]
            assert source.raw[ev.start:ev.end] == ev.quote
            assert ev.quote.lower() == item.decision
            req = item.evidence["request"]
            assert _norm(source.raw[req.start:req.end].replace("\ufffe", "-")) == item.request


def test_every_section_of_every_dev_letter_maps_each_character_back_to_the_letter():
    """The grounding sections' lazy word map against the per-character map it replaced."""
    from imr_llm.enrich.enricher import _section
    from imr_llm.parsing import parse
    from imr_llm.reading import read_path
    from test_fuzz import _reference_map

    checked = 0
    for pdf in sorted(DEV_LETTERS.glob("*.pdf")):
        source = read_path(pdf)
        det = parse(source)
        for item in det.items:
            heading = item.evidence.get("disputed_portion" if item.modified_by_ur else "request")
            for ev in (heading, item.evidence.get("rationale")):
                section = _section(source, ev, "s")
                if section is None:
                    continue
                want = _reference_map(section)
                assert [section.offset(i) for i in range(len(section.text))] == want, pdf.stem
                checked += 1
    assert checked > 100
