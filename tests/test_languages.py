"""Languages are modules: a toy language declared here (one module object, registered the way a real
one is loaded) flows to a patient page in text, Markdown and HTML, a redacted page and through the
page guards, in its own strings only (its names for services and body parts too); a toy language
missing one string fails at load, naming it; no code outside explain/languages/ compares a language
code or keys a table by one."""

from __future__ import annotations

import subprocess
import typing
from html import unescape
from pathlib import Path
from types import ModuleType

import pytest

from imr_llm.api import Pipeline, load
from imr_llm.cli import build_parser
from imr_llm.errors import ConfigError
from imr_llm.explain import explain, languages, wording
from imr_llm.explain.languages import en
from imr_llm.explain.render import render
from imr_llm.redaction import redact_explanation
from conftest import LETTERS

MARK = "⁂ "  # no word character: the guards read a marked sentence as they read English
SKIP = {"quote", "quote_words", "quoted_letter", "range", "quals", "units"}  # formats and number words, not sentences


def _marked(value, key=None):
    if key in SKIP:
        return value
    if isinstance(value, dict):
        return {k: _marked(v, k) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_marked(v) for v in value)
    return MARK + value if isinstance(value, str) else value


def _toy(drop: tuple[str, ...] = ()) -> ModuleType:
    """English with every sentence marked, its own name and reading limits; `drop`: a table, or a key path in one."""
    toy = ModuleType("toy_xx")
    for name in (*languages.DATA, *languages.FUNCTIONS):
        setattr(toy, name, getattr(en, name))
    toy.NAME, toy.WORDS, toy.GUARDS = "Toy", dict(en.WORDS), dict(en.GUARDS)
    toy.READING = dict(en.READING, name="toy grade", target=7.0, limit=12.0)
    for table in ("TEMPLATES", "FACTS", "LABELS", "POINTS", "SERVICES", "BODY_PARTS"):
        setattr(toy, table, _marked(getattr(en, table)))
    toy.GLOSSARY = {k: (MARK + term, cues, MARK + definition) for k, (term, cues, definition) in en.GLOSSARY.items()}
    if len(drop) == 1:
        delattr(toy, drop[0])
    elif drop:
        *path, last = drop
        table = getattr(toy, path[0])
        for key in path[1:]:
            table = table[key]
        del table[last]
    return toy


@pytest.fixture
def toy():
    yield languages.register("xx", _toy())
    languages.unregister("xx")


def _parse(name: str):
    source = load(LETTERS / name)
    with Pipeline() as pipeline:
        return pipeline.extract_source(source), source


def test_a_registered_language_writes_a_whole_page_in_its_own_strings_and_passes_the_guards(toy):
    det, source = _parse("synthetic_2016_multi.txt")
    expl, english = explain(det, source, "xx"), explain(det, source, "en")
    assert expl.language == "xx" and expl.passed and not expl.fallback.used  # every page guard, in the toy's rules
    assert [g.name for g in expl.guards] == [g.name for g in english.guards]
    assert "toy grade" in expl.guards[2].detail and (expl.readability.target, expl.readability.limit) == (7.0, 12.0)
    shown = [expl.headline, expl.disclaimer, *(s.text for s in expl.next_steps), *(g.definition for g in expl.glossary),
             *(s.citation.label for s in expl.next_steps)]
    for item in expl.items:
        shown += [item.status, *(p.text for p in (*item.why, *item.what_could_help))]
    assert all(t.startswith(MARK) for t in shown)  # fixed wording, vetted facts and the rules' points: the toy's
    therapy = next(i for i in expl.items if i.request.startswith("Physical therapy"))  # a service, a paired body part
    assert therapy.plain_request == f"6 {MARK}physical therapy visits {MARK}for your right {MARK}knee"  # English grammar
    assert [i.plain_request for i in redact_explanation(expl).items] == [f"{MARK}Treatment {n}" for n in (1, 2, 3, 4)]
    assert {p.written_by for i in expl.items for p in i.why} == {p.written_by for i in english.items for p in i.why}
    for fmt in ("text", "markdown", "html"):
        page, theirs = render(expl, fmt, source=source), render(english, fmt, source=source)
        assert MARK + en.LABELS["title"] in page and MARK + en.FACTS["disclaimer"] in unescape(page)
        # every string on the page is the toy's: without its marks, the page is the English one
        assert "toy grade" in page  # its own reading formula's name, not English's
        assert page.replace(MARK, "").replace('lang="xx"', 'lang="en"').replace("toy grade", en.READING["name"]) == theirs, fmt


def test_a_registered_language_is_checked_by_its_own_guards(toy):
    det, source = _parse("synthetic_2016_multi.txt")
    expl = explain(det, source, "xx")
    expl.items[0].status = en.FACTS["status_overturned"]  # English, not the toy's vetted wording
    expl.disclaimer = en.FACTS["disclaimer"]
    from imr_llm.explain import run_guards

    failed = {g.name for g in run_guards(expl, det, source) if not g.passed}
    assert failed == {"decision", "vetted_text"}


@pytest.mark.parametrize("drop,named", [
    (("TEMPLATES", "help_generic"), r"TEMPLATES\['help_generic'\]"),
    (("TEMPLATES", "headlines", ("mixed", False)), r"TEMPLATES\['headlines'\]\[\('mixed', False\)\]"),
    (("FACTS", "disclaimer"), r"FACTS\['disclaimer'\]"),
    (("LABELS", "title"), r"LABELS\['title'\]"),
    (("POINTS", "findings", "goals"), r"POINTS\['findings'\]\['goals'\]"),
    (("GUARDS", "status"), r"GUARDS\['status'\]"),
    (("READING", "metric"), r"READING\['metric'\]"),
    (("GLOSSARY",), "GLOSSARY"),
    (("SERVICES", "physical_therapy"), r"SERVICES\['physical_therapy'\]"),
    (("BODY_PARTS",), "BODY_PARTS"),
    (("body_part",), "body_part"),
])
def test_a_language_missing_a_string_fails_at_load_naming_it(drop, named):
    with pytest.raises(ConfigError, match=rf"language 'yy' lacks (the string )?{named}"):
        languages.register("yy", _toy(drop))
    with pytest.raises(ConfigError, match="unsupported language 'yy'"):  # and it is not there: no fallback
        languages.get("yy")
    with pytest.raises(ValueError, match="unsupported language 'yy'"):
        explain(*_parse("synthetic_2016_multi.txt"), "yy")


def test_every_built_in_language_loads_complete_and_is_a_cli_choice():
    assert set(languages.BUILT_IN) == {"en", "es"}
    for code in languages.BUILT_IN:
        lang = languages.get(code)
        assert lang.code == code
        assert all(getattr(lang, t.lower()) is getattr(lang.module, t) for t in languages.TABLES)
    # each table's lower-case attribute is declared on Lang, so a type checker sees it
    assert set(typing.get_type_hints(languages.Lang)) == {t.lower() for t in languages.TABLES}
    parser = build_parser()
    commands = next(a for a in parser._actions if a.choices and "explain" in a.choices).choices
    for command in ("explain", "batch"):
        option = next(a for a in commands[command]._actions if "--language" in a.option_strings)
        assert tuple(option.choices) == languages.BUILT_IN


def test_no_code_outside_the_language_modules_compares_a_language_code():
    root = Path(__file__).resolve().parent.parent / "imr_llm"
    found = subprocess.run(["grep", "-rnE", r"""(==|!=) *["'](en|es)["']|["'](en|es)["'] *(==|!=)|"en", "es"|"es", "en"|"""
                            r"""\{ *["'](en|es)["'] *:""", str(root)], capture_output=True, text=True).stdout
    assert [line for line in found.splitlines() if "explain/languages/" not in line] == []  # nor keys a dict by one


def test_english_names_every_service_and_body_part_the_rules_can_find():
    """Each language is checked against English at load; English against the rules' keys (wording.py),
    so no rule can find a service or a body part that a language has no words for."""
    assert {s.key for s in wording._SERVICES} == set(en.SERVICES)
    parts = set(wording._PAIRED.values()) | set(wording._ABBREVIATED_LIMB.values())
    assert parts == set(en.BODY_PARTS) and set(wording._REGION_PART.values()) <= parts
