"""The OCR damage the parser reads through (imr_llm/parsing/ocr_damage.py), each rule pinned on
letters we write ourselves (tests/letter_factory.py) with the damage put in by hand, and each
with its control: the same letter undamaged reads the same, and a shape a rule must leave alone
is left alone. (Where the damage was found: BENCHMARKS.md, "Scanned and photographed letters".)"""

from __future__ import annotations

import pytest

from imr_llm.parsing import parse
from imr_llm.parsing.ocr_damage import near_label, past_leading_specks, without_trailing_specks
from imr_llm.reading import read_text
from letter_factory import ItemSpec, LetterSpec, render

SPEC = LetterSpec(items=[ItemSpec("MRI of the lumbar spine", "upheld", 1, 1),
                         ItemSpec("Physical therapy", "overturned", 1, 1),
                         ItemSpec("Norco 10/325mg #90", "upheld", 2, 2)])
EXPECTED = [("MRI of the lumbar spine", "upheld"), ("Physical therapy", "overturned"), ("Norco 10/325mg #90", "upheld")]


def _items(text: str) -> list[tuple[str, str]]:
    det = parse(read_text(text))
    assert not [c for c in det.conflicts if c.field.startswith("items")], det.conflicts
    return [(i.request, i.decision) for i in det.items]


def _damaged(old: str, new: str) -> str:
    text = render(SPEC)
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_the_undamaged_letter_reads_its_three_items():
    assert _items(render(SPEC)) == EXPECTED


@pytest.mark.parametrize("mark", [".", ";", ",", "'", "‘", "~", ". "])
def test_a_speck_between_a_heading_and_its_decision_word_is_read_through(mark):
    assert _items(_damaged("Physical therapy: Overturned", f"Physical therapy:{mark} Overturned")) == EXPECTED


@pytest.mark.parametrize("marks", [" ~", " :", " -", ". ;", " _", "'"])
def test_marks_after_a_decision_word_at_the_line_end_are_read_through(marks):
    assert _items(_damaged("Physical therapy: Overturned", f"Physical therapy: Overturned{marks}")) == EXPECTED


def test_a_word_after_the_decision_word_is_not_a_mark():
    det = parse(read_text(_damaged("Physical therapy: Overturned", "Physical therapy: Overturned in part")))
    assert [i.request for i in det.items] == ["MRI of the lumbar spine", "Norco 10/325mg #90"]


def test_two_words_between_the_colon_and_the_decision_are_not_a_speck():
    """Only marks are passed over: a word there keeps the line from being a decision line."""
    det = parse(read_text(_damaged("Physical therapy: Overturned", "Physical therapy: see Overturned")))
    assert [i.request for i in det.items] == ["MRI of the lumbar spine", "Norco 10/325mg #90"]


def _with_last_sentence(marks: str) -> str:
    """Item 1's rationale ends in a sentence that is not a verdict, then stray marks."""
    text = render(SPEC)
    first = text.index("necessary.") + len("necessary.")  # item 1's closing verdict
    return text[:first] + "\nThe records were reviewed in full." + marks + text[first:]


@pytest.mark.parametrize("marks", [" ;", " .", " , '", " ~", " -", "  ’ ."])
def test_marks_after_a_rationale_last_sentence_do_not_pull_it_into_the_next_heading(marks):
    assert _items(_with_last_sentence(marks)) == EXPECTED


def test_a_sentence_without_marks_still_ends_the_rationale():
    assert _items(_with_last_sentence("")) == EXPECTED


def test_a_word_after_the_last_sentence_is_not_a_mark():
    """A line ending in a word is not a finished sentence, marks or not: the heading walks back."""
    det = parse(read_text(_with_last_sentence(" See")))
    assert det.items[1].request == "The records were reviewed in full. See Physical therapy"


@pytest.mark.parametrize("marks", ["~ ", "- ", "• ", "~\n", "‘", ". ' "])
def test_marks_before_a_heading_are_not_part_of_it(marks):
    assert _items(_damaged("\nPhysical therapy:", f"\n{marks}Physical therapy:")) == EXPECTED


@pytest.mark.parametrize("lead", ["set forth bilo: ;", "set forth belov:", "set forth be1ow:"])
def test_the_line_leading_into_the_items_with_its_last_word_misread_still_ends_before_the_first_heading(lead):
    assert _items(_damaged("set forth below:", lead)) == EXPECTED


def test_a_lead_word_too_far_from_below_is_not_the_lead():
    det = parse(read_text(_damaged("set forth below:", "set forth herein:")))
    assert det.items[0].request.endswith("set forth herein: MRI of the lumbar spine")


def test_a_quote_the_heading_closes_is_kept():
    text = _damaged("\nPhysical therapy:", "\n“Work hardening” program:")
    assert _items(text)[1] == ("“Work hardening” program", "overturned")


@pytest.mark.parametrize("line, kept", [
    ("is not medically necessary. ;", "is not medically necessary."),
    ("the guideline, ACOEM 2004 ; ~", "the guideline, ACOEM 2004"),
    ("dosage of 5-10 mg", "dosage of 5-10 mg"),  # a hyphen inside a word run is the text's own
    ("as follows: -", "as follows:"),
    ("Norco 10/325mg #90", "Norco 10/325mg #90"),
])
def test_without_trailing_specks(line, kept):
    assert without_trailing_specks(line) == kept


@pytest.mark.parametrize("heading, words", [
    ("~ MRI", "MRI"), ("- - Norco", "Norco"), ("_PA assist", "PA assist"), ("-20 mg", "-20 mg"), ("‘Associated surgical service", "Associated surgical service"),
    ("'Norco' 10mg", "'Norco' 10mg"), ("-20 degrees", "-20 degrees"), ("MRI", "MRI"), ("~", "~"),
])
def test_past_leading_specks(heading, words):
    assert heading[past_leading_specks(heading, 0, len(heading)):] == words


# -- field labels with one word misread -------------------------------------------------------------

def _fields(text: str) -> list[tuple[bool, bool, bool]]:
    det = parse(read_text(text))
    return [(i.claims_administrator_basis is not None, i.reviewer_basis is not None, i.rationale is not None)
            for i in det.items]


def _label_damaged(label: str, damaged: str, item: int = 1) -> str:
    """`label` misread as `damaged` at item `item`'s field (0-based)."""
    text = render(SPEC)
    at = -1
    for _ in range(item + 1):
        at = text.index("\n" + label, at + 1)
    return text[:at + 1] + damaged + text[at + 1 + len(label):]


@pytest.mark.parametrize("label, damaged", [
    ("Claims Administrator guideline:", "ims Administrator guideline:"),  # the page edge cut the line's start
    ("Claims Administrator guideline:", "(iain Administrator guideline:"),
    ("MAXIMUS guideline:", "IAXIMUS guideline:"),
    ("MAXIMUS guideline:", "MAXIMUS guidcline:"),
    ("Decision rationale:", "Jecision rationale:"),
    ("Decision rationale:", "Decision rationa1e:"),
])
def test_a_field_label_with_one_word_misread_is_read(label, damaged):
    text = _label_damaged(label, damaged)
    assert _items(text) == EXPECTED
    assert _fields(text) == [(True, True, True)] * 3


def test_a_misread_label_keeps_the_field_apart_from_the_one_before():
    det = parse(read_text(_label_damaged("Decision rationale:", "Jecision rationale:")))
    assert "Jecision" not in det.items[1].reviewer_basis.evidence.quote
    assert det.items[1].rationale.startswith("Guidelines recommend a short course")


@pytest.mark.parametrize("damaged", ["MTUS guideline:", "ODG guideline:", "MAXIMUS sableline:", "Decision notes:"])
def test_a_word_too_far_from_the_label_is_not_a_label(damaged):
    """Bounded: a label-like line too far from every label is text (the first item's reviewer field
    is then missing: it has no reviewer basis)."""
    assert _fields(_label_damaged("MAXIMUS guideline:", damaged, item=0)) == [(True, False, True)] + [(True, True, True)] * 2


def test_a_near_label_inside_a_rationale_stays_rationale_text_and_flags_the_item():
    """Fail safe: "Jecision rationale:" or "IAXIMUS guideline:" opening a line of a rationale never
    splits it; the item is kept, whole, with a conflict to check it."""
    text = render(SPEC)
    at = text.index("necessary.") + len("necessary.")  # the end of item 1's rationale
    for line in ("\nIAXIMUS guideline: the reviewer restated it.", "\nClaims Administrator guidelines: as above."):
        damaged = text[:at] + line + text[at:]
        det = parse(read_text(damaged))
        assert [(i.request, i.decision) for i in det.items] == EXPECTED
        assert line.strip() in " ".join(det.items[0].rationale.split())
        flagged = [c for c in det.conflicts if c.field == "items[0]"]
        assert len(flagged) == 1 and "damaged field label" in flagged[0].note


def test_a_printed_label_inside_a_rationale_reads_as_before():
    """Only near-labels are held to the fields' order: a label as printed is read wherever it is."""
    text = render(SPEC)
    at = text.index("necessary.") + len("necessary.")
    det = parse(read_text(text[:at] + "\nMAXIMUS guideline: restated." + text[at:]))
    assert not [c for c in det.conflicts if "damaged field label" in c.note]


@pytest.mark.parametrize("words, kind", [
    ("ims Administrator guideline", "ca"), ("IAXIMUS guideline", "rv"), ("Jecision rationale", "rat"),
    ("Claims Administrator guideline", None),  # exact: not a near-label
    ("MAXIMUS sableline", None), ("MTUS guideline", None), ("The Claims Administrator guideline", None),
    ("e rationale", None), ("Section(s)", None),
])
def test_near_label(words, kind):
    assert near_label(words) == kind
