"""Property tests: letters we generate in every supported layout parse back to the facts they
were built from; arbitrary text never raises anything but imr-llm's own errors; every
evidence span is exactly its quote."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imr_llm
from imr_llm.api import load
from imr_llm.parsing import parse
from letter_factory import LetterSpec, ItemSpec, expected, letter_specs, render

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _norm(text):
    return re.sub(r"\s+", " ", text or "").strip()


def _assert_matches(det, want):
    got = det.model_dump(mode="json")
    for key in ("case_number", "date_assigned", "decision_date", "date_of_injury", "ur_denial_date",
                "application_received", "priority"):
        assert got[key] == want[key], key
    assert got["reviewer"]["licensure_states"] == want["licensure_states"]
    assert (got["patient"]["age"], got["patient"]["sex"]) == (want["age"], want["sex"])
    assert len(got["items"]) == len(want["items"])
    for g, w in zip(got["items"], want["items"]):
        assert _norm(g["request"]) == _norm(w["request"])
        assert g["decision"] == w["decision"]
        assert g["modified_by_ur"] == w["modified_by_ur"]
        assert (g["original_request"], g["ur_authorized"], g["disputed_portion"]) == (
            w["original_request"], w["ur_authorized"], w["disputed_portion"])
        assert g["claims_administrator_basis"]["sources"] == w["ca"]
        assert g["reviewer_basis"]["sources"] == w["rv"]
    # generated verdicts always agree with the decisions; a request printed twice is flagged
    twice = [k for k, w in enumerate(want["items"]) if any(_norm(v["request"]).casefold() == _norm(w["request"]).casefold()
                                                          for v in want["items"][:k])]
    assert [c.field for c in det.conflicts] == [f"items[{k}]" for k in twice]


@FAST
@given(letter_specs)
def test_generated_letters_parse_to_their_facts(spec):
    _assert_matches(imr_llm.extract_text(render(spec)), expected(spec))


@FAST
@given(letter_specs)
def test_evidence_spans_are_exact_quotes(spec):
    source = load(render(spec))
    det = parse(source)
    for item in det.items:
        for name, ev in item.evidence.items():
            assert source.raw[ev.start:ev.end] == ev.quote, name
        assert ev.quote.strip() == ev.quote
    for name, ev in det.evidence.items():
        assert source.raw[ev.start:ev.end] == ev.quote, name
    decisions = [source.raw[i.evidence["decision"].start:i.evidence["decision"].end].lower() for i in det.items]
    assert decisions == [i.decision for i in det.items]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_arbitrary_text_raises_only_imr_errors(text):
    try:
        imr_llm.extract_text(text)
    except imr_llm.ImrError:
        pass


IMR_WORDS = ["Upheld", "Overturned", ":", "\n", " ", "Claims Administrator guideline:", "MAXIMUS guideline:",
             "Decision rationale:", "Case Number:", "Date Assigned:", "12/01/2016", "was the original request.",
             "IMR ISSUES, DECISIONS AND RATIONALES", "\f", "-", "\ufffe", "left.The", "Decision based on MTUS",
             "Non-MTUS Citation", "1.", "Diagnosis:", "42 year old male", "State(s) of Licensure:", "x"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(IMR_WORDS), max_size=80))
def test_letter_like_noise_raises_only_imr_errors_and_spans_hold(words):
    text = "".join(words)
    try:
        source = load(text) if "\n" in text or len(text) > 1024 else imr_llm.reading.read_text(text)
        det = parse(source)
    except imr_llm.ImrError:
        return
    for item in det.items:
        for ev in item.evidence.values():
            assert source.raw[ev.start:ev.end] == ev.quote


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab .-\n\f\r\t\ufffeXY1/"), max_size=300))
def test_normalization_map_is_monotonic_and_in_bounds(raw):
    if not raw.strip():
        return
    source = imr_llm.reading.read_text(raw)
    last = -1
    for i in range(len(source.text)):
        pos = source.raw_offset(i)
        assert 0 <= pos <= len(raw)
        assert pos >= last
        last = pos
        if source.text[i] not in "\n -" and pos < len(raw):
            assert raw[pos] == source.text[i]


def test_known_hard_layouts():
    """One explicit example per hard case from the domain brief."""
    spec = LetterSpec(
        items=[
            ItemSpec("Oxycodone HCL ER 20mg #60 day supply: 30", "overturned", 0, 1, decision_on_next_line=True),
            ItemSpec("Physical therapy for the lumbar spine", "upheld", 1, 3, modified=1),
            ItemSpec("a front wheeled walker", "upheld", 2, 4, modified=2),
            ItemSpec("Associated surgical service: Cold therapy unit", "upheld", 5, 6),
        ],
        header="columns", credentials="sentence", age=None, double_spaced=True, width=45,
    )
    _assert_matches(imr_llm.extract_text(render(spec)), expected(spec))


def test_unfamiliar_ur_wording_is_flagged_not_guessed():
    spec = LetterSpec(items=[ItemSpec("Norco 10/325mg #90", "upheld", 1, 1)])
    text = render(spec).replace(
        "Norco 10/325mg #90:",
        "Norco 10/325mg #90 was the original request. Norco 10/325mg #30 was approved on review. The remainder, "
        "Norco 10/325mg #60 is:")
    det = imr_llm.extract_text(text)
    item = det.items[0]
    assert item.modified_by_ur and item.original_request is None and item.disputed_portion is None
    assert any("UR-modified wording not recognised" in w for w in det.warnings)


def _one_item_letter() -> str:
    text = render(LetterSpec(items=[ItemSpec("Norco 10/325mg #90", "upheld", 0, 1)], header="rows", width=400))
    assert "Therefore, the request is not medically necessary." in text
    return text


@pytest.mark.parametrize("printed", ["13/45/2017", "01/05-2017"])
def test_a_header_date_that_is_no_calendar_date_is_left_out_and_the_next_date_goes_to_its_own_label(printed):
    # no 45th day; two different separators are no date either
    det = imr_llm.extract_text(_one_item_letter().replace("01/05/2017", printed))
    assert det.date_assigned is None
    assert (str(det.date_of_injury), str(det.decision_date)) == ("2016-10-22", "2017-02-02")


def test_a_verdict_quoted_from_a_guideline_is_not_the_reviewers():
    text = _one_item_letter().replace("necessary.", 'necessary. The guideline reads, "opioids are medically necessary" '
                                                   "after surgery.")
    item = imr_llm.extract_text(text).items[0]
    assert (item.decision, item.verdict_phrase) == ("upheld", "is not medically necessary")


def test_a_closing_verdict_with_no_verb_before_it_but_being_is_not_read():
    text = _one_item_letter().replace("Therefore, the request is not medically necessary.",
                                      "Therefore, the request being approved.")
    item = imr_llm.extract_text(text).items[0]
    assert (item.decision, item.verdict_phrase) == ("upheld", None)


def test_non_mtus_words_before_the_first_named_guideline_are_a_citation_of_their_own():
    text = _one_item_letter().replace(
        "MAXIMUS guideline: Decision based on MTUS Chronic Pain Medical Treatment 2016, Section(s): Physical medicine "
        "treatment.", "MAXIMUS guideline: Decision based on Non-MTUS Citation: see the Pain journal, ODG Knee")
    basis = imr_llm.extract_text(text).items[0].reviewer_basis
    assert [(c.family, c.raw) for c in basis.citations] == [("OTHER", "see the Pain journal"), ("ODG", "ODG Knee")]
