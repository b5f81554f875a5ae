"""Languages are modules: a toy language declared here is registered and writes an explanation in its
own strings; a toy language missing one string fails at load, naming it."""

from __future__ import annotations

from types import ModuleType

import pytest

from imr_llm.api import Pipeline, load
from imr_llm.explain import languages, write_template
from imr_llm.explain.languages import en
from conftest import LETTERS

MARK = "⟦xx⟧ "


def _marked(value):
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    return MARK + value


def _toy(drop: str | None = None) -> ModuleType:
    """English with every template sentence marked; its vetted facts declared to be English's."""
    toy = ModuleType("toy_xx")
    for name in (*languages.DATA, *languages.FUNCTIONS):
        setattr(toy, name, getattr(en, name))
    toy.TEMPLATES = {k: _marked(v) for k, v in en.TEMPLATES.items() if k != drop}
    toy.WORDS = dict(en.WORDS)
    toy.FACTS = "en"
    return toy


@pytest.fixture
def toy():
    yield languages.register("xx", _toy())
    languages.unregister("xx")


def _parse(name: str):
    source = load(LETTERS / name)
    with Pipeline() as pipeline:
        return pipeline.extract_source(source), source


def test_a_registered_language_writes_in_its_own_strings(toy):
    det, source = _parse("synthetic_2016_multi.txt")
    # the fixed template points: the rules' points (points.py) and the guards are still keyed by code
    expl = write_template(det, source, "xx", specific=False)
    english = write_template(det, source, "en", specific=False)
    assert expl.language == "xx" and any(i.what_could_help for i in expl.items)
    assert expl.headline == MARK + english.headline
    for mine, theirs in zip(expl.items, english.items, strict=True):
        for part in ("why", "what_could_help"):
            texts = [p.text for p in getattr(mine, part)]
            assert all(t.startswith(MARK) for t in texts)  # every template sentence is the toy's
            assert [t.replace(MARK, "") for t in texts] == [p.text for p in getattr(theirs, part)]
        assert mine.status == theirs.status  # vetted facts: the ones the language declared (English)
    assert expl.disclaimer == english.disclaimer


def test_a_language_missing_a_string_fails_at_load_naming_it():
    with pytest.raises(KeyError, match=r"language 'yy' lacks the string TEMPLATES\['help_generic'\]"):
        languages.register("yy", _toy(drop="help_generic"))
    with pytest.raises(ValueError, match="unsupported language 'yy'"):
        languages.get("yy")


def test_every_built_in_language_loads_complete():
    assert set(languages.BUILT_IN) == {"en", "es"}
    for code in languages.BUILT_IN:
        assert languages.get(code).code == code
