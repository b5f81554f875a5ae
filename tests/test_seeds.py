"""The five seed letters and the letter we wrote (synthetic_2016_multi): every contract field
equals the hand labels in evals/gold/seeds."""

from __future__ import annotations

import pytest

import imr_llm
from conftest import GOLD_SEEDS, LETTERS, load_gold

SEED_STEMS = sorted(p.stem for p in GOLD_SEEDS.glob("*.json"))
HEADER = ["case_number", "date_assigned", "decision_date", "date_of_injury", "ur_denial_date",
          "application_received", "priority", "outcome"]
ITEM_FIELDS = ["request", "decision", "modified_by_ur", "original_request", "ur_authorized", "disputed_portion"]


def test_all_five_seeds_and_the_written_letter_have_labels():
    assert [s[:3] for s in SEED_STEMS if s[:3].isdigit()] == ["000", "001", "002", "003", "004"]
    assert len(SEED_STEMS) == 6 and "synthetic_2016_multi" in SEED_STEMS


@pytest.fixture(scope="module", params=SEED_STEMS)
def seed(request):
    stem = request.param
    det = imr_llm.extract(LETTERS / f"{stem}.txt").model_dump(mode="json")
    return det, load_gold(GOLD_SEEDS / f"{stem}.json")


def test_header_and_outcome(seed):
    det, gold = seed
    assert {k: det[k] for k in HEADER} == {k: gold[k] for k in HEADER}


def test_reviewer_and_patient(seed):
    det, gold = seed
    for key in ("licensure_states", "specialties", "subspecialties"):
        assert det["reviewer"][key] == gold["reviewer"][key], key
    assert {k: det["patient"][k] for k in ("age", "sex")} == gold["patient"]


def test_items(seed):
    det, gold = seed
    assert len(det["items"]) == len(gold["items"])
    for got, want in zip(det["items"], gold["items"]):
        assert {k: got[k] for k in ITEM_FIELDS} == {k: want[k] for k in ITEM_FIELDS}
        assert got["claims_administrator_basis"]["sources"] == want["claims_administrator_basis"]["sources"]
        assert got["reviewer_basis"]["sources"] == want["reviewer_basis"]["sources"]
        assert got["category"] is None  # no model ran


def test_diagnoses_as_listed(seed):
    det, gold = seed
    assert det["diagnoses"] == gold["diagnoses"]


def test_seed_specifics():
    s0 = imr_llm.extract(LETTERS / "000_e4938e93dd873a45.txt")
    # "Recommendation is for denial." is the only verdict sentence in S0
    assert s0.items[0].rationale_verdict == "not_medically_necessary"
    assert s0.items[0].verdict_phrase == "Recommendation is for denial"
    s1 = imr_llm.extract(LETTERS / "001_c2ed943a33e6df3f.txt")
    cites = s1.items[0].reviewer_basis.citations
    assert [c.family for c in cites] == ["MTUS", "ACOEM"]
    assert cites[0].pages == ["98-99"] and cites[1].pages == ["114"] and cites[1].edition_year == 2004
    s4 = imr_llm.extract(LETTERS / "004_435950e687b08266.txt")
    assert s4.patient.age is None and s4.patient.sex is None
    assert s4.items[1].reviewer_basis.based_on_mtus is False
    assert s4.items[0].reviewer_basis.citations[0].pages == ["98-99"]
    s3 = imr_llm.extract(LETTERS / "003_bd44697b6f0a7cef.txt")
    assert s3.items[0].decision == "overturned" and s3.outcome == "all_overturned"
    assert s3.items[0].rationale_verdict == "medically_necessary" and not s3.conflicts


def test_every_evidence_span_is_the_quote():
    for path in sorted(LETTERS.glob("*.txt")):
        source = imr_llm.api.load(path)
        det = imr_llm.api.parse(source)
        spans = list(_all_evidence(det.model_dump()))
        assert len(spans) > 10, path
        for ev in spans:
            assert source.raw[ev["start"]:ev["end"]] == ev["quote"]
            assert ev["quote"] == ev["quote"].strip()


def _all_evidence(obj):
    if isinstance(obj, dict):
        if set(obj) >= {"start", "end", "quote"}:
            yield obj
            return
        for value in obj.values():
            yield from _all_evidence(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _all_evidence(value)
