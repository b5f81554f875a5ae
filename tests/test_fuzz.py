"""Fuzzing and size limits: whatever bytes or text come in, imr-llm raises only its own errors,
every offset it hands out points inside the letter at exactly its quote, hostile input is
processed in bounded time, and input over the documented size limits is refused before any work.

Every input here is generated at test time (nothing big is committed). Hypothesis runs with the
deterministic, database-free profile from conftest.py, and example counts are kept small so the
file runs in well under a minute on two cores.
"""

from __future__ import annotations

import difflib
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imr_llm
from imr_llm import errors, reading
from imr_llm.enrich import grounding, quantity, vocabulary
from imr_llm.enrich.answers import ItemsAnswer
from imr_llm.enrich.grounding import FUZZY_MIN, Section, ground, locate
from imr_llm.explain import guards
from imr_llm.parsing import citations, credentials, header, summary
from imr_llm.reading import MAX_BYTES, MAX_PAGES, MAX_TEXT_CHARS, read_bytes, read_path, read_text
from conftest import LETTERS
from letter_factory import ItemSpec, LetterSpec, render
from pdfwriter import text_pdf

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SEED_TEXTS = [p.read_text(encoding="utf-8") for p in sorted(LETTERS.glob("*.txt"))]
SEED = (LETTERS / "000_e4938e93dd873a45.txt").read_text(encoding="utf-8")
# One small letter of every part the parser reads, to plant hostile text into.
BASE = render(LetterSpec(items=[ItemSpec("Physical therapy", "upheld", 1, 1)]))

# Whitespace and separators the reader treats specially, and characters that break naive code.
SPECIAL = ["\n", "\r\n", "\r", "\f", "\t", " " * 50, "\u00a0", "\u200b", "\u3000", "\u2028", "\x85", "\v",
           "\x1c", "\ufffe", "\ufeff", "-\n", "/\n", "left.The", "\u0130", "\ufb01", "\U0001f600", "\x00"]
words = st.sampled_from(["Upheld", "Overturned", ":", "Decision rationale:", "Claims Administrator guideline:",
                         "MAXIMUS guideline:", "CLINICAL CASE SUMMARY", "IMR ISSUES, DECISIONS AND RATIONALES",
                         "Case Number:", "12/01/2016", "Board Certified in", "diagnosed with", "1.", "is not medically "
                         "necessary.", "Decision based on MTUS", "Non-MTUS Citation", "and", ",", ";"])
noise = st.one_of(st.text(alphabet=st.characters(codec="utf-8"), max_size=12), st.sampled_from(SPECIAL), words)


# -- helpers ---------------------------------------------------------------------------------------

def assert_valid_map(src: reading.SourceText) -> None:
    """Every normalized offset maps into `raw`, in order; characters copied from `raw` map back to
    themselves (or to what `reading.fold` makes of them); a span of non-blank ends maps to a raw span holding the same non-blank characters."""
    raw, text = src.raw, src.text
    last = -1
    every = max(1, len(text) // 200)  # norm_offset walks the pieces: check a sample of positions
    for i, ch in enumerate(text):
        pos = src.raw_offset(i)
        assert 0 <= pos <= len(raw), (i, pos)
        assert pos >= last, f"raw offsets go back at {i}"
        last = pos
        if not ch.isspace():
            assert pos < len(raw)
            assert reading.fold(raw[pos]) == ch, (i, ch, raw[pos])  # copied, or folded (reading.fold)
            if i % every == 0:
                assert src.norm_offset(pos) == i
    prev = -1
    for r in range(0, len(raw) + 1, max(1, len(raw) // 50)):
        n = src.norm_offset(r)
        assert 0 <= n <= len(text) and n >= prev
        prev = n


def assert_valid_span(src: reading.SourceText, start: int, end: int) -> None:
    raw_start, raw_end = src.raw_span(start, end)
    assert 0 <= raw_start <= raw_end <= len(src.raw), (start, end, raw_start, raw_end)
    if end > start and not src.text[start].isspace() and not src.text[end - 1].isspace():
        def solid(s: str) -> str:
            return re.sub(r"\s", "", "".join(map(reading.fold, s)))

        assert solid(src.raw[raw_start:raw_end]) == solid(src.text[start:end])


def evidence_in(node):
    """Every evidence record (start/end/quote) anywhere in a dumped result."""
    if isinstance(node, dict):
        if {"start", "end", "quote"} <= node.keys():
            yield node
        for value in node.values():
            yield from evidence_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from evidence_in(value)


def assert_spans_are_quotes(det, text: str) -> int:
    count = 0
    for ev in evidence_in(det.model_dump(mode="json")):
        assert 0 <= ev["start"] <= ev["end"] <= len(text), ev
        assert text[ev["start"]:ev["end"]] == ev["quote"], ev
        count += 1
    return count


def parse_or_error(text: str):
    """extract_text, allowing only imr-llm's own errors (no letter text in their messages)."""
    started = time.perf_counter()
    try:
        det = imr_llm.extract_text(text)
    except imr_llm.ImrError as exc:
        assert "\n" not in str(exc)
        det = None
    assert time.perf_counter() - started < 5, "a small input took over 5 s"
    return det


# -- the reader --------------------------------------------------------------------------------------

NAMES = st.sampled_from(["<bytes>", "letter.txt", "letter.pdf", "letter.docx", "letter", "LETTER.TXT"])


def read_or_error(data: bytes, name: str):
    try:
        src = read_bytes(data, name=name)
    except imr_llm.ImrError as exc:
        assert "\n" not in str(exc)
        return None
    assert_valid_map(src)
    assert src.kind in ("pdf", "text") and src.pages >= 1
    return src


@FUZZ
@given(st.binary(max_size=3000), NAMES)
def test_arbitrary_bytes_raise_only_imr_errors(data, name):
    read_or_error(data, name)


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from([b"%PDF-1.4\n", b"%PDF-", b"junk\n%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]))
def test_bytes_with_a_pdf_header_raise_only_imr_errors(tail, head):
    read_or_error(head + tail, "letter.pdf")


PDF = text_pdf([line for line in SEED.splitlines() if line.strip()][:80])


@FUZZ
@given(st.integers(0, len(PDF)), st.lists(st.tuples(st.integers(0, len(PDF) - 1), st.integers(0, 255)), max_size=6))
def test_truncated_and_corrupted_pdfs_raise_only_imr_errors(cut, flips):
    data = bytearray(PDF[:cut])
    for at, value in flips:
        if at < len(data):
            data[at] = value
    read_or_error(bytes(data), "letter.pdf")


@FUZZ
@given(st.lists(noise, max_size=40), st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"]),
       st.booleans())
def test_unicode_encodings_with_and_without_bom(parts, encoding, bom):
    text = "".join(parts)
    data = text.encode(encoding)
    if bom and encoding in ("utf-16-le", "utf-16-be"):
        data = ("\ufeff" + text).encode(encoding)
    src = read_or_error(data, "letter.txt")
    if src is not None and "\x00" not in text and (bom or encoding in ("utf-16", "utf-32", "utf-8-sig")):
        assert src.raw == text  # a byte-order mark always decodes to the text it marks


@FUZZ
@given(st.lists(noise, max_size=60), st.integers(0, 4))
def test_text_with_nuls_controls_and_huge_runs(parts, nuls):
    text = "".join(parts) + "\x00" * nuls
    read_or_error(text.encode("utf-8"), "letter.txt")
    if text.strip() and "\x00" not in text:
        assert_valid_map(read_text(text))


@SMALL
@given(st.sampled_from([" ", "\t", "\u3000", "\v", "a", "-", ".", ":", "\ufffe", "\n", "\n \n", "ab-\n", "left.The "]),
       st.integers(1, 5000), st.data())
def test_long_runs_keep_a_valid_map(unit, times, data):
    text = "x" + unit * times + "y"
    src = read_text(text)
    assert_valid_map(src)
    for _ in range(5):
        start = data.draw(st.integers(0, len(src.text)))
        assert_valid_span(src, start, data.draw(st.integers(start, len(src.text))))


@FUZZ
@given(st.lists(noise, min_size=1, max_size=40), st.data())
def test_raw_spans_stay_in_bounds_and_hold_the_same_characters(parts, data):
    text = "".join(parts)
    if not text.strip() or len(text) > reading.MAX_TEXT_CHARS:
        return
    src = read_text(text)
    for _ in range(10):
        start = data.draw(st.integers(0, len(src.text)))
        assert_valid_span(src, start, data.draw(st.integers(start, len(src.text))))


def test_whitespace_runs_are_cut_in_the_text_but_kept_in_raw():
    src = read_text("Case" + " " * 5000 + "Number:\u3000\u3000\n\u3000\n" + "x" + "\t" * 100 + "y")
    assert "Case" + " " * reading.MAX_SPACE_RUN + "Number:" in src.text
    assert max(len(m.group()) for m in re.finditer(r"\s+", src.text)) <= reading.MAX_SPACE_RUN
    assert src.raw.count(" ") == 5000
    start = src.text.index("Case")
    end = src.text.index(":") + 1
    assert src.raw[slice(*src.raw_span(start, end))] == "Case" + " " * 5000 + "Number:"


# -- UTF-16 text files -----------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_letter_with_bom_parses_like_utf8(encoding, tmp_path):
    want = imr_llm.extract(SEED.encode("utf-8")).model_dump()
    data = ("\ufeff" + SEED).encode(encoding)
    assert b"\x00" in data[:100]  # what used to be refused as binary data
    assert imr_llm.extract(data).model_dump() == want
    path = tmp_path / "letter.txt"
    path.write_bytes(data)
    assert imr_llm.extract(path).model_dump() == want


def test_utf16_without_bom_and_utf32_parse_like_utf8():
    want = imr_llm.extract(SEED.encode("utf-8")).model_dump()
    for data in (SEED.encode("utf-16-le"), SEED.encode("utf-16-be"), SEED.encode("utf-32")):
        assert imr_llm.extract(data).model_dump() == want


def test_broken_utf16_is_binary_data():
    data = ("\ufeff" + SEED).encode("utf-16-le")[:-1]  # odd length: cut mid-character
    with pytest.raises(errors.UnsupportedFileType, match="binary data"):
        read_bytes(data, name="letter.txt")
    with pytest.raises(errors.UnsupportedFileType, match="binary data"):
        read_bytes(b"\xff\xfe" + "\x00abc".encode("utf-16-le") * 20, name="letter.txt")  # NULs inside


# -- the parser ------------------------------------------------------------------------------------

@FUZZ
@given(st.lists(noise, max_size=60))
def test_arbitrary_text_raises_only_imr_errors_and_spans_are_quotes(parts):
    text = "".join(parts)
    det = parse_or_error(text)
    if det is not None:
        assert_spans_are_quotes(det, text)


OPS = st.sampled_from(["delete", "duplicate", "swap", "insert", "unicode", "repeat", "shuffle", "join"])


@st.composite
def mutated_letters(draw):
    """A seed letter with lines deleted, duplicated, swapped, shuffled, joined, sections repeated
    and random Unicode inserted."""
    lines = draw(st.sampled_from(SEED_TEXTS)).split("\n")
    for op in draw(st.lists(OPS, max_size=8)):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i:i + draw(st.integers(1, 10))]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            lines.insert(i, draw(noise))
        elif op == "unicode":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(noise) + lines[i][at:]
        elif op == "repeat":  # a section (a run of lines) repeated in place
            k = draw(st.integers(1, 15))
            lines[i:i] = lines[i:i + k] * draw(st.integers(1, 4))
        elif op == "shuffle":
            block = lines[i:i + draw(st.integers(2, 12))]
            lines[i:i + len(block)] = draw(st.permutations(block))
        elif op == "join" and i + 1 < len(lines):
            lines[i:i + 2] = [lines[i] + draw(st.sampled_from(["", " ", ": "])) + lines[i + 1]]
    return "\n".join(lines)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_letters())
def test_mutated_seed_letters_raise_only_imr_errors_and_spans_are_quotes(text):
    det = parse_or_error(text)
    if det is not None:
        assert_spans_are_quotes(det, text)


def test_seed_letters_themselves_have_exact_spans():
    for text in SEED_TEXTS:
        det = parse_or_error(text)
        if det is not None:
            assert assert_spans_are_quotes(det, text) > 0


# -- grounding -------------------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Za-z0-9]+", text)]


def _collapse(text: str) -> str:
    return " ".join(text.split())


def assert_located(section: Section, quote: str) -> None:
    found = locate(section, quote)
    evidence = ground(section, quote)
    if found is None:
        assert evidence is None
        return
    i, j, alignment = found
    assert 0 <= i < j <= len(section.text)
    got = section.text[i:j]
    q = _collapse(quote).strip(" \"'“”.,;:")
    if alignment == "exact":
        assert got == q
    elif alignment == "normalized":
        assert _words(got) == _words(q)
    else:
        assert alignment == "fuzzy"
        ratio = difflib.SequenceMatcher(None, _words(got), _words(q), autojunk=False).ratio()
        assert ratio >= FUZZY_MIN
    # the evidence is the letter as read, inside the section
    raw_lo, raw_hi = section.source.raw_span(section.start, section.end)
    assert raw_lo <= evidence.start < evidence.end <= raw_hi
    assert section.source.raw[evidence.start:evidence.end] == evidence.quote
    assert evidence.alignment == alignment


section_texts = st.lists(st.one_of(noise, st.sampled_from(["the", "records", "do", "not", "show", "improvement"])),
                         min_size=1, max_size=60).map("".join).filter(lambda t: t.strip() != "")


def _draw_section(text: str, data) -> Section:
    """Any stretch of the text, read."""
    src = read_text(text)
    start = data.draw(st.integers(0, len(src.text)))
    return Section(src, start, data.draw(st.integers(start, len(src.text))))


@FUZZ
@given(section_texts, st.data())
def test_locate_and_ground_spans_are_inside_the_section(text, data):
    section = _draw_section(text, data)
    # a quote from anywhere: noise, a piece of the section, a piece with a word changed
    piece = section.text[data.draw(st.integers(0, len(section.text))):]
    piece = piece[:data.draw(st.integers(0, len(piece)))]
    quote = data.draw(st.one_of(st.lists(noise, max_size=10).map("".join), st.just(piece),
                                st.just(piece.upper()), st.just(re.sub(r"[a-z]+", "x", piece, count=1))))
    assert_located(section, quote)


def _reference_map(section: Section) -> list[int]:
    """The section's map as first written: every character of `text` with its normalized offset."""
    positions: list[int] = []
    for match in re.finditer(r"\S+", section.source.text[:section.end]):
        begin, finish = match.span()
        if finish <= section.start:
            continue
        begin = max(begin, section.start)
        if positions:
            positions.append(begin - 1)
        positions.extend(range(begin, finish))
    return positions


@FUZZ
@given(section_texts, st.data())
def test_the_lazy_word_map_gives_every_character_its_offset(text, data):
    section = _draw_section(text, data)
    want = _reference_map(section)
    assert len(want) == len(section.text)
    assert [section.offset(i) for i in range(len(section.text))] == want
    assert all(section.text[i] == " " or section.source.text[want[i]] == section.text[i] for i in range(len(want)))


def _fuzzy_reference(tokens: list[str], q_words: list[str]):
    """The fuzzy search as it was first written: every window compared in full."""
    n = len(q_words)
    best, best_span = 0.0, None
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(q_words)
    for size in {max(1, n - 2), max(1, n - 1), n, n + 1, n + 2}:
        for k in range(0, max(1, len(tokens) - size + 1)):
            matcher.set_seq1(tokens[k:k + size])
            if matcher.real_quick_ratio() < best or matcher.quick_ratio() < best:
                continue
            ratio = matcher.ratio()
            if ratio > best:
                best, best_span = ratio, (k, min(k + size, len(tokens)) - 1)
    return best_span if best_span is not None and best >= FUZZY_MIN else None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abcde"), min_size=1, max_size=40), st.lists(st.sampled_from("abcdef"), min_size=1,
                                                                              max_size=12))
def test_pruned_fuzzy_search_gives_the_same_window_as_comparing_every_window(tokens, q_words):
    assert grounding._fuzzy(tokens, q_words) == _fuzzy_reference(tokens, q_words)


@SMALL
@given(section_texts, st.lists(st.text(max_size=80), min_size=1, max_size=4))
def test_answer_validators_raise_only_validation_errors(text, quotes):
    from pydantic import ValidationError

    src = read_text(text)
    section = Section(src, 0, len(src.text))
    item = {"service": quotes[0], "category": "Injection", "quantity": quotes[-1], "conclusion": "medically necessary",
            "reasons": [{"point": "p", "quote": q} for q in quotes]}
    try:
        ItemsAnswer.model_validate({"items": [item]}, context={"items": [(section, section)]})
    except ValidationError:
        pass


# -- bounded time ------------------------------------------------------------------------------------
# Hostile inputs aimed at each pattern or loop that took quadratic (or exponential) time. Each
# must be processed in under LIMIT seconds; before the fixes they took from 5 s to hours. Sizes:
# N characters for the whole pipeline (BIG for runs of one character), BIG for one step.

LIMIT = 10.0  # about 0.1-1 s each on an idle 2-core machine, 2-4 s on a loaded one; the bug this
# catches is growth (quadratic or worse): the unfixed patterns took 5 s to hours at these sizes
N = 50_000
BIG = 200_000


def _rep(unit: str, n: int = N) -> str:
    return unit * max(1, n // len(unit))


def _plant(where: str, payload: str) -> str:
    """BASE with `payload` put into one of its parts."""
    anchor = {"top": "Case Number", "header": "HOW THE IMR", "credentials": "CLINICAL CASE SUMMARY",
              "summary": "IMR ISSUES", "items": "Physical therapy:", "guideline": "MAXIMUS guideline:"}.get(where)
    if anchor is None:  # the rationale, at the end
        return BASE.rstrip("\n") + " " + payload + "\n"
    i = BASE.index(anchor)
    return BASE[:i] + payload + "\n" + BASE[i:]


PIPELINE = {
    "200k_same_character": lambda: _plant("summary", "a" * BIG),
    "200k_spaces_in_a_line": lambda: _plant("summary", "x" + " " * BIG + "y"),
    "spaces_after_a_colon": lambda: _plant("items", "x:" + " " * BIG + "y"),
    "spaces_in_a_guideline": lambda: _plant("guideline", "Decision based on MTUS Low Back" + " " * BIG + "x"),
    "ideographic_space_lines": lambda: _plant("summary", _rep("\u3000\n")),
    "blank_lines": lambda: _plant("summary", "\n" * N),
    "colons": lambda: _plant("items", _rep(":")),
    "colon_space_runs": lambda: _plant("items", _rep(":" + " " * 60 + "x")),
    "treatment_guideline_lines": lambda: _plant("summary", _rep("Treatment Guideline\n")),
    "guideline_label_lines": lambda: _plant("items", _rep("Claims Administrator guideline: Decision based on MTUS.\n")),
    "maximus_label_lines": lambda: _plant("guideline",
                                          _rep("MAXIMUS guideline: Decision based on Non-MTUS Citation ODG.\n")),
    "rationale_labels": lambda: _plant("rationale", _rep("Decision rationale: ")),
    "repeated_issues_heading": lambda: _plant("summary", _rep("IMR ISSUES, DECISIONS AND RATIONALES\n")),
    "repeated_summary_heading": lambda: _plant("credentials", _rep("CLINICAL CASE SUMMARY\n")),
    "repeated_made_heading": lambda: _plant("header", _rep("HOW THE IMR FINAL DETERMINATION WAS MADE\n")),
    "header_labels_and_values": lambda: _plant("top", _rep("Case Number: 12/12/2016 ")),
    "summary_dates": lambda: _plant("summary", _rep("01/01/2016 ")),
    "diagnosed_with_lists": lambda: _plant("summary", _rep("diagnosed with a, ")),
    "numbered_diagnosis_lists": lambda: _plant("summary", _rep("Diagnosis: 1. a ")),
    "age_then_spaces": lambda: _plant("summary", _rep("1" + " " * 40)),
    "board_certified_without_period": lambda: _plant("credentials", _rep("Board Certified in x ")),
    "licensure_list_with_spaces": lambda: _plant("credentials",
                                                 "State(s) of Licensure: " + _rep("a" + " " * 40 + ",")),
    "acoem_chapter_and_and": lambda: _plant("guideline",
                                            "Decision based on MTUS ACOEM Chapter 1 " + "and " * 40 + "x."),
    "mtus_and_with_spaces": lambda: _plant("guideline", "Decision based on MTUS " + _rep("x" + " " * 40 + "and Knee ")),
    "page_then_spaces": lambda: _plant("guideline", "Decision based on MTUS " + _rep("Page" + " " * 40)),
    "non_mtus_semicolons": lambda: _plant("guideline", "Decision based on Non-MTUS Citation " + _rep("; ")),
    "verdict_phrases": lambda: _plant("rationale", _rep("is not medically necessary ")),
    "many_items": lambda: _plant("rationale", "\n" + _rep("Knee brace: Upheld\nClaims Administrator guideline: x\n"
                                                          "MAXIMUS guideline: y\nDecision rationale: It is not "
                                                          "medically necessary.\n")),
    "soft_hyphen_lines": lambda: _plant("summary", _rep("ab\ufffe\n")),
    "glued_sentences": lambda: _plant("summary", _rep("left.The ")),
    "sentence_end_lines": lambda: _plant("items", _rep("a.\n")),
    "dotted_words": lambda: _plant("summary", _rep("a.")),
    "decision_lines_inside_an_item": lambda: _plant("items", _rep("x: Upheld\n")),
    "heading_of_many_lines": lambda: _plant("items", _rep("x\n")),
    "long_ur_modified_heading": lambda: _plant("items", _rep(
        "x was the original request. y was authorized by the Claims Administrator. ", 24_000)
        + "The remaining IMR eligible portion of the original request, z is: Upheld"),
}


@pytest.fixture(scope="module")
def warm():
    imr_llm.extract_text(BASE)  # compile every pattern once, outside the timings


def _timed(fn) -> float:
    started = time.perf_counter()
    try:
        fn()
    except imr_llm.ImrError:
        pass
    return time.perf_counter() - started


@pytest.mark.parametrize("name", list(PIPELINE))
def test_hostile_letter_is_parsed_in_bounded_time(name, warm):
    text = PIPELINE[name]()
    elapsed = _timed(lambda: imr_llm.extract_text(text))
    assert elapsed < LIMIT, f"{name}: {len(text):,} characters took {elapsed:.2f} s"


def _source(text: str) -> reading.SourceText:
    return read_text(text)


def _whole(step, text: str, *args):
    """A parser step over all of `text` (normalized)."""
    src = read_text(text)
    return step(src, *args, 0, len(src.text)) if args else step(src, 0, len(src.text))


def _scrambled_section() -> tuple[Section, str]:
    import random

    rng = random.Random(7)
    quote = [f"w{rng.randrange(300)}" for _ in range(100)]
    body: list[str] = []
    while len(body) < 1000:
        block = quote[:]
        rng.shuffle(block)
        body += block
    src = _source(" ".join(body))
    return Section(src, 0, len(src.text)), " ".join(quote)


def _norm_offsets(src: reading.SourceText) -> None:
    for raw_pos in range(0, len(src.raw), max(1, len(src.raw) // 2000)):  # the enricher and scanner map spans back
        src.norm_offset(raw_pos)


STEPS = {  # one parser or model-step function each, on BIG characters aimed straight at it
    "normalize_spaces": lambda: read_text("x" + " " * BIG + "y"),
    "normalize_unicode_space_lines": lambda: read_text(_rep("\u3000\n\u2028\x85", BIG)),
    "header_many_labels": lambda: header.parse_header(_source(_rep("Case Number: 12/12/2016 ", BIG)
                                                              + "\nCLINICAL CASE SUMMARY\n")),
    "reviewer_sentence": lambda: credentials.parse_reviewer(_source(_rep("Board Certified in x ", BIG))),
    "reviewer_subspecialty": lambda: credentials.parse_reviewer(
        _source("Board Certified in a" + _rep(" has a subspecialty in b", BIG))),
    "reviewer_list_split": lambda: credentials._LIST_SPLIT.findall("a" + " " * BIG + "b"),
    "reviewer_state_split": lambda: credentials._STATE_SPLIT.findall("a" + " " * BIG + "b"),
    "ur_date_many_dates": lambda: _whole(summary.find_ur_date, _rep("01/01/2016 ", BIG)),
    "diagnoses_prose": lambda: _whole(summary.find_diagnoses, _rep("diagnosed with a, ", BIG)),
    "diagnoses_numbered": lambda: _whole(summary.find_diagnoses, _rep("Diagnosis: 1. a ", BIG)),
    "age_spaces": lambda: summary.AGE_SEX.search("1" + " " * BIG + "x"),
    "basis_acoem_and": lambda: _whole(citations.parse_basis,
                                      "Decision based on MTUS ACOEM Chapter 1 " + "and " * 25 + "x.", "reviewer"),
    "basis_mtus_split": lambda: citations.MTUS_SPLIT.findall(" " * BIG),
    "basis_pages": lambda: citations.PAGES.search("Page" + " " * BIG + "x"),
    "locate_scrambled_quote": lambda: locate(*_scrambled_section()),
    "norm_offset_many_pieces": lambda: _norm_offsets(read_text(_rep("left.The ", BIG))),
    "classify_consult": lambda: vocabulary.classify(_rep("consult ", 16_000)),
    "classify_decompression": lambda: vocabulary.classify(_rep("decompression ", 16_000)),
    "trim_service_trailing_words": lambda: quantity.trim_service("x", "cold therapy" + " visits" * 6000 + " x"),
    "trim_service_parentheses": lambda: quantity.trim_service(_rep("a(", BIG // 4), "x er"),
    "guards_markup_and_addresses": lambda: [rx.search(text) for rx in guards._INSTRUCTION
                                            for text in ("<a" * 20_000, "a." * 20_000)],
    "guards_brackets": lambda: guards._for_scoring(["(" * 40_000, "«" * 40_000], "en", []),
    "trim_service_release_form": lambda: quantity.trim_service(_rep("a er ", 40_000), _rep("a er ", 20_000).strip(),
                                                              drug=True),
}


@pytest.mark.parametrize("name", list(STEPS))
def test_hostile_input_to_one_step_is_bounded(name, warm):
    elapsed = _timed(STEPS[name])
    assert elapsed < LIMIT, f"{name}: took {elapsed:.2f} s"


# -- size limits ---------------------------------------------------------------------------------------

def test_limits_are_documented_with_a_wide_margin():
    assert (MAX_BYTES, MAX_PAGES, MAX_TEXT_CHARS) == (20_000_000, 100, 2_000_000)
    for value in ("20 MB", "100 pages", "2,000,000 characters"):
        assert value in reading.__doc__
    assert issubclass(errors.InputTooLarge, errors.InputError) and errors.InputTooLarge.code == "input_too_large"
    assert imr_llm.InputTooLarge is errors.InputTooLarge


def _assert_too_large(info, name: str, limit: str) -> None:
    message = str(info.value)
    assert name in message and limit in message, message
    assert "\n" not in message and info.value.code == "input_too_large"


def test_file_over_max_bytes_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:  # sparse: no disk space, no time
        f.truncate(MAX_BYTES + 1)

    real_open = Path.open

    def guarded_open(self, *args, **kwargs):
        assert self != path, "the file was opened although it is over the limit"
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", guarded_open)
    with pytest.raises(errors.InputTooLarge) as info:
        imr_llm.extract(path)
    _assert_too_large(info, "huge.txt", "20,000,000 bytes")


def test_file_at_max_bytes_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "MAX_BYTES", 1000)
    path = tmp_path / "letter.txt"
    path.write_bytes(b"a" * 1000)
    assert read_path(path).raw == "a" * 1000
    path.write_bytes(b"a" * 1001)
    with pytest.raises(errors.InputTooLarge):
        read_path(path)


def test_bytes_over_max_bytes_are_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(reading, "_decode", lambda *a: pytest.fail("decoded although over the limit"))
    monkeypatch.setattr(reading, "_read_pdf", lambda *a: pytest.fail("opened although over the limit"))
    with pytest.raises(errors.InputTooLarge) as info:
        read_bytes(b"%PDF-1.4\n" + b" " * MAX_BYTES, name="scan.pdf")
    _assert_too_large(info, "scan.pdf", "20 MB")


def test_text_over_max_text_chars_is_refused_before_normalizing(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "normalize", lambda *a, **k: pytest.fail("normalized although over the limit"))
    with pytest.raises(errors.InputTooLarge) as info:
        imr_llm.extract_text("Upheld " * (MAX_TEXT_CHARS // 7 + 1))
    _assert_too_large(info, "<text>", "2,000,000 characters")
    path = tmp_path / "long.txt"
    path.write_bytes(b"a" * (MAX_TEXT_CHARS + 1))  # under MAX_BYTES, over MAX_TEXT_CHARS
    with pytest.raises(errors.InputTooLarge) as info:
        imr_llm.extract(path)
    _assert_too_large(info, "long.txt", "2,000,000 characters")
    # characters, not bytes: UTF-16 takes two bytes a character
    path.write_bytes(("\ufeff" + "a" * (MAX_TEXT_CHARS // 2)).encode("utf-16-le"))
    monkeypatch.undo()
    assert len(read_path(path).raw) == MAX_TEXT_CHARS // 2


def test_text_at_max_text_chars_is_read(monkeypatch):
    monkeypatch.setattr(reading, "MAX_TEXT_CHARS", 500)
    assert len(read_text("a" * 500).raw) == 500
    with pytest.raises(errors.InputTooLarge):
        read_text("a" * 501)


def test_pdf_over_max_pages_is_refused_before_a_page_is_loaded(monkeypatch):
    import pypdfium2

    data = text_pdf(["page"] + ["\f", "page"] * MAX_PAGES)  # 101 pages
    monkeypatch.setattr(pypdfium2.PdfDocument, "__getitem__",
                        lambda *a: pytest.fail("a page was loaded although the PDF is over the limit"))
    with pytest.raises(errors.InputTooLarge) as info:
        read_bytes(data, name="book.pdf")
    _assert_too_large(info, "book.pdf", "101 pages")
    assert "limit of 100 pages" in str(info.value)


def test_pdf_at_max_pages_is_read():
    data = text_pdf(["page"] + ["\f", "page"] * (MAX_PAGES - 1))
    assert read_bytes(data, name="long.pdf").pages == MAX_PAGES


def test_pdf_text_over_max_text_chars_stops_reading_pages(monkeypatch):
    import pypdfium2

    loaded = []
    real = pypdfium2.PdfDocument.__getitem__

    def counting(doc, index):
        loaded.append(index)
        return real(doc, index)

    monkeypatch.setattr(pypdfium2.PdfDocument, "__getitem__", counting)
    monkeypatch.setattr(reading, "MAX_TEXT_CHARS", 300)
    data = text_pdf(["x" * 80] * 5 + ["\f"] + ["y" * 80] * 5 + ["\f"] + ["z" * 80] * 5)  # 3 pages of 400+ characters
    with pytest.raises(errors.InputTooLarge) as info:
        read_bytes(data, name="dense.pdf")
    _assert_too_large(info, "dense.pdf", "300 characters")
    assert loaded == [0]  # refused after the first page, the others never loaded


def test_non_regular_file_is_refused():
    with pytest.raises(errors.UnsupportedFileType, match="not a regular file"):
        read_path("/dev/zero")
