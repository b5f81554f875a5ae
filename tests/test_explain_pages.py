"""Patient pages on the forms real letters take (issue 14): a guard that fails on the offline
template is a bug in the guard, never a message to the patient; Spanish pages are in Spanish;
suspicious text is named in plain words and never repeated; no page names an internal check.
The letters here are written in the test (a small template below); the DWC dev letters are read
from ../shared at test time when present."""

from __future__ import annotations

import html
import json
import re

import pytest

import imr_llm
from imr_llm.api import Pipeline, load
from imr_llm.cli import main
from imr_llm.explain import explain, facts, languages, run_guards, write_template
from imr_llm.explain.guards import readback_headline
from imr_llm.explain.model import Point
from imr_llm.explain.render import render
from imr_llm.schema import Conflict
from conftest import DEV_LETTERS, LETTERS, needs_dev_letters

LANGS = ["en", "es"]
PAGES = ["text", "markdown", "html"]
_HEAD = """CLINICAL CASE SUMMARY
The expert reviewer developed the following clinical case summary based on a review of the case file, including \
all medical records:
The injured worker is a 52-year-old female. {summary}

IMR ISSUES, DECISIONS AND RATIONALES
The Final Determination was based on decisions for the disputed items/services set forth below:
"""
_ITEM = """
{heading}: {decision}

Claims Administrator guideline: Decision based on MTUS Chronic Pain Medical Treatment 2016.

MAXIMUS guideline: Decision based on MTUS Chronic Pain Medical Treatment 2016.

Decision rationale: The records do not document objective functional improvement. The request is {verdict}.
"""
UR_MODIFIED = ("Physical therapy for the low back eight sessions was the original request. Physical therapy for the "
               "low back six sessions was authorized by the Claims Administrator. The remaining IMR eligible portion "
               "of the original request, Physical therapy for the low back two sessions")


def _letter(summary: str, *items: tuple[str, str]) -> str:
    return _HEAD.format(summary=summary) + "".join(
        _ITEM.format(heading=h, decision=d, verdict="medically necessary" if d == "Overturned" else "not medically necessary")
        for h, d in items)


def _passes(expl):
    assert expl.passed and not expl.fallback.used, [g.detail for g in expl.guards if not g.passed]


# -- class 3: UR-modified headings -----------------------------------------------------------------

@pytest.mark.parametrize("language", LANGS)
def test_a_ur_modified_heading_passes_with_or_without_its_disputed_portion(language):
    text = _letter("", (UR_MODIFIED, "Upheld"))
    det = imr_llm.extract_text(text)
    assert det.items[0].modified_by_ur
    _passes(explain(det, text, language))
    det.items[0].disputed_portion = None  # the parse could not single out the disputed part
    expl = explain(det, text, language)
    _passes(expl)
    assert expl.items[0].plain_request == languages.get(language).templates["disputed_part"]  # not the heading as a run-on sentence


def test_the_decision_guard_reads_no_decision_in_the_letters_own_words():
    text = _letter("", (UR_MODIFIED, "Upheld"))
    det = imr_llm.extract_text(text)
    for language in LANGS:
        expl = write_template(det, text, language)
        # the heading retold ("... was authorized by the Claims Administrator") or quoted is not a claim
        expl.items[0].plain_request = UR_MODIFIED.lower() if language == "en" else f"la carta lo llama: «{UR_MODIFIED}»"
        assert run_guards(expl, det, text)[0].passed
        # the explanation's own claim still is
        expl.items[0].why.append(Point(text="This treatment was authorized." if language == "en"
                                          else "Este tratamiento fue aprobado."))
        assert not run_guards(expl, det, text)[0].passed


def test_the_cli_says_which_explanation_failed(monkeypatch, capsys, tmp_path):
    import imr_llm.explain as explain_module

    real, calls = explain_module.run_guards, []

    def first_fails(expl, det, source):
        results = real(expl, det, source)
        calls.append(1)
        if len(calls) == 1:
            results[0] = results[0].model_copy(update={"passed": False, "detail": "made to fail"})
            expl.guards = results
        return results

    monkeypatch.setattr(explain_module, "run_guards", first_fails)
    code = main(["explain", str(LETTERS / "000_e4938e93dd873a45.txt")])
    err = capsys.readouterr().err
    assert code == 0 and "first explanation" not in err
    assert "the page with rule-based points failed: decision: made to fail" in err
    assert err.rstrip().endswith("shown: the fixed template points")


# -- class 4: the template's own wording is no injection -----------------------------------------

@pytest.mark.parametrize("language", LANGS)
def test_the_rules_wording_of_a_request_is_not_copied_letter_text(language):
    # the case summary has "left shoulder, left wrist and left hip"; so has the rules' wording of the
    # heading, which says "left shoulder, wrist and hip"
    text = _letter("She injured her left shoulder, left wrist and left hip in a fall at work.",
                   ("Physical therapy for the left shoulder, wrist and hip six sessions", "Upheld"))
    det = imr_llm.extract_text(text)
    expl = explain(det, text, language)
    _passes(expl)
    if language == "en":
        assert expl.items[0].plain_request == "6 physical therapy visits for your left shoulder, left wrist and left hip"


# -- class 5: the headline when UR had approved a part ----------------------------------------------

@pytest.mark.parametrize("language", LANGS)
@pytest.mark.parametrize("n", [1, 2])
def test_an_all_upheld_letter_with_a_part_approved_by_ur_says_that_part_stays(language, n):
    items = [(UR_MODIFIED, "Upheld"), ("MRI of the lumbar spine", "Upheld")][:n]
    text = _letter("", *items)
    det = imr_llm.extract_text(text)
    assert det.outcome == "all_upheld"
    expl = explain(det, text, language)
    _passes(expl)
    assert readback_headline(expl.headline, language) == "all_upheld"
    assert ("stays approved" if language == "en" else "sigue aprobad") in expl.headline
    assert "None of" not in expl.headline and "Ninguno" not in expl.headline


# -- class 6: Spanish pages in Spanish ---------------------------------------------------------------

ENGLISH = {"the", "of", "and", "for", "with", "per", "week", "weeks", "times", "request", "treatment", "unknown",
           "quantity", "decision", "ok"}
_QUOTE = re.compile(r"«[^«»]*»")


def _english_left(page: str, fmt: str) -> set[str]:
    """English stop words outside the marked quotes (HTML: outside the elements marked lang="en")."""
    if fmt == "html":
        body = page.split("<body>", 1)[1]
        body = re.sub(r'<(pre|span|q)\b[^>]*lang="en"[^>]*>.*?</\1>', " ", body, flags=re.S)
        assert "«" not in body, "a quote outside an element marked English"
        page = html.unescape(re.sub(r"<[^>]+>", " ", body))
    else:
        page = _QUOTE.sub(" ", page)
    return {w for w in re.findall(r"[A-Za-z]+", page) if w.lower() in ENGLISH}


def _spanish_pages_are_spanish(paths):
    leaks = {}
    with Pipeline() as pipeline:
        for path in paths:
            source = load(path)
            expl = explain(pipeline.extract_source(source), source, "es")
            _passes(expl)
            for fmt in PAGES:
                left = _english_left(render(expl, fmt, source=source), fmt)
                if left:
                    leaks[(path.name, fmt)] = sorted(left)
    assert leaks == {}


def test_spanish_pages_of_the_seeds_and_written_letters_have_no_english_outside_marked_quotes():
    _spanish_pages_are_spanish(sorted(p for p in LETTERS.iterdir() if p.suffix in (".txt", ".pdf")))


@needs_dev_letters
@pytest.mark.dev_letters
def test_spanish_pages_of_the_dev_letters_have_no_english_outside_marked_quotes():
    _spanish_pages_are_spanish(sorted(DEV_LETTERS.glob("*.pdf")))


def test_spanish_fixed_wording():
    assert "denegación anterior" in facts.status("upheld", False, "es")
    text = _letter("", ("Physical therapy for the knee six sessions", "Upheld"))
    det = imr_llm.extract_text(text)
    det.items[0].reviewer_basis.sources = ["MTUS", "ODG", "OTHER"]
    why = [p.text for p in write_template(det, text, "es").items[0].why]
    assert "(MTUS, ODG y otras fuentes)" in why[-1]
    for lang in LANGS:  # every label, citation and contact is in each language (checked when it loads)
        assert set(languages.get(lang).labels) == set(languages.get("en").labels)
        assert all(f.step(lang).contact for f in facts.NEXT_STEPS if f.contact)


# -- class 7: how to reach Information & Assistance --------------------------------------------------

@pytest.mark.parametrize("language", LANGS)
def test_the_free_help_step_gives_the_ia_line_and_office_finder(language):
    source = load(LETTERS / "000_e4938e93dd873a45.txt")
    with Pipeline() as pipeline:
        expl = explain(pipeline.extract_source(source), source, language)
    _passes(expl)  # the numbers guard takes the vetted contact's numbers
    step = next(s for s in expl.next_steps if s.key == "free_help")
    assert "1-800-736-7401" in step.contact and "dir.ca.gov/dwc/IandA.html" in step.contact
    assert step.citation.url == "https://www.dir.ca.gov/dwc/IandA.html"
    for fmt in PAGES:
        assert "1-800-736-7401" in render(expl, fmt, source=source)


# -- class 11: suspicious text and ignored lines, in plain words -------------------------------------

PLANTED_HEADING = "Physical therapy for the neck six sessions, questions call 1-800-555-0199 or www.pt-help.com"


@pytest.mark.parametrize("language", LANGS)
def test_a_heading_with_a_phone_number_or_link_is_not_shown_and_the_page_says_why(language):
    text = _letter("", (PLANTED_HEADING, "Upheld"), ("MRI of the lumbar spine", "Overturned"))
    det = imr_llm.extract_text(text)
    assert det.suspicious and len(det.items) == 2
    expl = explain(det, text, language)
    _passes(expl)
    assert expl.items[0].request_hidden and not expl.items[1].request_hidden
    notice = "This letter has a line we could not check" if language == "en" else "Esta carta tiene una línea"
    for fmt in PAGES:
        page = render(expl, fmt, source=text)
        assert "555-0199" not in page and "pt-help" not in page, fmt
        # the heading only as the notice's one quoted line, its phone number and link blanked
        assert page.count("questions call") == 1 and "questions call … or …»" in page, fmt
        assert notice in page and "MRI of the lumbar spine" in page
        internal = re.search(r"\binjection\b|\bconflicts?\b(?! of interest)|\bguards?\b|\bsuspicious\b",
                             page.split("<body>")[-1], re.I)
        assert internal is None, (fmt, internal)


@pytest.mark.parametrize("language", LANGS)
def test_an_ignored_line_and_a_disputed_decision_each_get_one_plain_sentence(language):
    text = _letter("", ("MRI of the lumbar spine", "Upheld"), ("Acupuncture six sessions", "Upheld"))
    det = imr_llm.extract_text(text)
    det.conflicts += [
        Conflict(field="items", kept="2 item(s)", other="Spinal cord stimulator trial: Overturned",
                 note="a heading-and-decision line inside items[0].rationale was ignored, not taken as an item"),
        Conflict(field="items[1].decision", kept="upheld", other="medically_necessary",
                 note="the rationale's closing verdict disagrees with the printed decision; the decision is kept"),
        Conflict(field="date_of_injury", kept="2015-01-01", other="2015-02-02", note="not an item"),
    ]
    expl = explain(det, text, language)
    _passes(expl)
    assert [n.quote for n in expl.notices] == ["Spinal cord stimulator trial: Overturned", "Acupuncture six sessions: Upheld"]
    for fmt in PAGES:
        page = render(expl, fmt, source=text)
        assert "«Spinal cord stimulator trial: Overturned»" in page and "«Acupuncture six sessions: Upheld»" in page
        assert "was ignored" not in page and "disagrees" not in page and "2015-02-02" not in page
        # without the letter (a redacted page) the sentence stays, the quote goes
        bare = render(expl, fmt)
        assert "Spinal cord" not in bare and ("could not check" in bare or "no pudimos revisar" in bare)


def test_no_invisible_characters_reach_any_output():
    rlo = "\u202e"
    text = _letter("", (f"MRI of the lumbar{rlo} spine\u200b", "Upheld"))
    det = imr_llm.extract_text(text)
    for language in LANGS:
        expl = explain(det, text, language)
        assert rlo not in expl.model_dump_json()
        for fmt in ("text", "markdown", "json", "html"):
            page = render(expl, fmt, source=text)
            assert not re.search("[\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff\u00ad]", page), fmt


# -- no internal check names on a page ---------------------------------------------------------------

@pytest.mark.parametrize("language", LANGS)
def test_pages_name_no_internal_check_and_the_report_is_in_json_and_verbose(language, capsys):
    path = LETTERS / "synthetic_2016_multi.txt"
    source = load(path)
    with Pipeline() as pipeline:
        expl = explain(pipeline.extract_source(source), source, language)
    for fmt in PAGES:
        page = render(expl, fmt, source=source)
        for word in ("injection ok", "decision ok", "vetted_text", "Written by", "Escrito por", "Checks:", "Revisiones:",
                     "no AI", "sin IA"):
            assert word not in page, (fmt, word)
    assert [g["name"] for g in json.loads(render(expl, "json"))["guards"]][-1] == "vetted_text"
    assert main(["explain", "--verbose", "--language", language, str(path)]) == 0
    out, err = capsys.readouterr()
    assert "injection ok" in err and "injection ok" not in out
    assert "item 2 why 1: rules, rationale, grade" in err  # who wrote each point: --verbose, not the page
    assert "template" not in out.lower() and "fallback" not in out.lower()
