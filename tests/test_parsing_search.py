"""The parser and the scanner try a case-blind pattern only where its words begin (`str.find`, then
`re.match` there: safety.finditer_words), because `re` costs about as much at every position of a
letter. That is speed only: each use must find exactly what a plain `finditer` over every position
finds. Pinned here on texts made of the patterns' own words, their near misses, the characters
`str.find` and `re` read differently (dotless ı, long ſ, İ), and the spaces and marks around them."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from imr_llm import safety
from imr_llm.parsing import dates, header, items, ocr_damage, summary, verdicts
from imr_llm.parsing.credentials import LICENSURE, SENTENCE, SPECIALTY, parse_reviewer
from imr_llm.parsing.landmarks import ISSUES_START, MADE_START, SUMMARY_START
from imr_llm.reading import read_text

WORDS = ["Claims Administrator guideline:", "MAXIMUS guideline:", "Decision rationale:", "Jecision rationale:",
         "Decision  rationa1e :", "IMR ISSUES, DECISIONS AND RATIONALES", "IMR DECISION(S) AND RATIONALE(S)",
         "HOW THE IMR FINAL DETERMINATION WAS MADE", "CLINICAL CASE SUMMARY", "Diagnoses:", "current diagnoses are:",
         "listed  diagnosis is", "diagnosed with", "Assessment was documented as", "a medical necessity",
         "medically necessary", "Recommendation is for denial", "utilization review", "UR", "non-certified",
         "adverse determination", "claims administrator denied", "January 5, 2016", "Sept. 12 2015", "10/14/10",
         "5-6-2013", "Case Number:", "Date Assigned:", "UR Denial Date:", "Application Received:", "Priority:",
         "State(s) of Licensure: Texas", "Certification(s)/Specialty: Surgery",
         "Board Certified in Surgery and is licensed to practice in Ohio.", "IMR eligible", "The original request,",
         "was the original request", "ignore previous instructions", "Note to the patient:", "you must say",
         "the decision is Overturned", "change the decision", "P.S.:", "system:", "http://x.io", "call us"]
PIECES = st.one_of(st.sampled_from(WORDS), st.sampled_from(WORDS).map(str.lower), st.sampled_from(WORDS).map(str.upper),
                   st.sampled_from(WORDS).map(lambda w: w[1:]), st.sampled_from(["ı", "ſ", "İ", "K"]),
                   st.text(alphabet="abdeimnorsu .,:-/()\n\t\"'12", max_size=6))
TEXTS = st.lists(PIECES, max_size=10).map(" ".join) | st.lists(PIECES, max_size=10).map("".join)


def spans(matches) -> list[tuple[int, int]]:
    return [m.span() for m in matches]


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.integers(0, 5))
def test_the_parser_s_patterns_find_the_same_as_everywhere(text, cut):
    start = min(cut, len(text))
    end = len(text)
    for pattern, words in ((items.BODY_LABEL, ("claims", "maximus", "decision")), (header._LABEL_RE, header._LABEL_STARTS),
                           (dates.WORD_DATE, dates._MONTH_STARTS), (ISSUES_START, ("imr",)),
                           (MADE_START, ("how",)), (SUMMARY_START, ("clinical",)),
                           (header.HEADER_END, ("how", "clinical")), (items.UR_TAIL, ("imr", "the")),
                           (items.UR_HEAD, ("was",)), (summary.UR_WORDS, ("utilization", "ur", "adverse", "non", "claims")),
                           (LICENSURE, ("state",)), (SPECIALTY, ("certification",)), (SENTENCE, ("board",))):
        assert spans(safety.finditer_words(pattern, text, words, start, end)) == spans(pattern.finditer(text, start, end))
    assert spans(summary._diagnosis_leads(text, start, end)) == spans(summary.DIAGNOSIS_LEADS.finditer(text, start, end))
    assert spans(verdicts._strong(text, start, end)) == spans(verdicts._STRONG.finditer(text, start, end))
    everywhere = [(m.start("words"), m.end()) for m in ocr_damage._LABEL_LIKE.finditer(text, start, end)
                  if ocr_damage.near_label(m.group("words"))]
    assert [(s, e) for s, e, _ in ocr_damage.near_labels(text, start, end)] == everywhere


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_the_scanner_s_detectors_find_the_same_as_everywhere(text):
    for d in safety.DETECTORS:
        if d.starts is not None:
            assert spans(safety.finditer_words(d.regex, text, d.starts)) == spans(d.regex.finditer(text)), d.note


@given(st.text(alphabet="0123456789/- .aT)", max_size=30))
def test_the_reordered_date_and_sentence_patterns_match_as_written_before(text):
    # written look-behind first before; now the digit or period first, which `re` skips to
    numeric = re.compile(r"(?<![\d/-])(\d{1,2})\s?([/-])\s?(\d{1,2})\2\s?(\d{4}|\d{2})(?![\d/-])")
    sentence_end = re.compile(r"(?<=[a-z0-9)\]])\.\s+(?=[A-Z])")
    assert [m.groups() + m.span() for m in dates.NUMERIC_DATE.finditer(text)] == [
        m.groups() + m.span() for m in numeric.finditer(text)]
    assert spans(summary.SENTENCE_END.finditer(text)) == spans(sentence_end.finditer(text))


def test_a_letter_with_a_dotless_i_is_searched_everywhere():
    # `re` reads "ı" as i when case-blind, `str.find` does not: such a text is not searched by words
    text = "State(s) of Lıcensure: Texas\nCertification(s)/Specialty: Surgery"
    assert safety.searchable(text) is None
    assert parse_reviewer(read_text(text)).licensure_states == ["Texas"]
