"""Explanation languages as modules: one module per language in this folder, found by its code.

A language module holds its fixed template sentences (`TEMPLATES`, vetted: planted text may copy
them), its joining words (`WORDS`), its body-part words (`REGIONS`, `TRUNK`), and the grammar
functions the offline writer calls (`FUNCTIONS`). Code that needs a language-specific string asks
the `Lang` object, never compares codes; a module missing any of them fails at load, naming it,
so a new language can never be silently written in another one. `FACTS` names the code under
which `facts.py` keeps its vetted facts (the language's own code unless the module says otherwise).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

TEMPLATES = ("headlines", "why_verdict", "why_decision", "why_guidelines", "why_other_sources", "why_no_guideline",
             "other_sources", "help_generic", "planted_request", "disputed_part", "unknown_quantity", "purchase")
WORDS = ("and", "for_time", "after_surgery", "for_surgery", "letter_says")
DATA = ("REGIONS", "TRUNK")
FUNCTIONS = ("times", "weeks", "body_part", "request_core", "medicine", "as_printed", "quantity")


class MissingString(KeyError):
    """A language module lacks something every language must have."""

    def __str__(self) -> str:
        return self.args[0]


class Lang:
    """One language, checked complete when it is loaded."""

    def __init__(self, code: str, module: ModuleType) -> None:
        self.code, self.module = code, module
        for table, names in (("TEMPLATES", TEMPLATES), ("WORDS", WORDS)):
            have = getattr(module, table, {})
            for name in names:
                if name not in have:
                    raise MissingString(f"language {code!r} lacks the string {table}[{name!r}]")
        for name in (*DATA, *FUNCTIONS):
            if not hasattr(module, name):
                raise MissingString(f"language {code!r} lacks {name}")
        self.templates: dict = module.TEMPLATES
        self.words: dict[str, str] = module.WORDS
        self.facts: str = getattr(module, "FACTS", code)

    def __getattr__(self, name: str):
        if name in (*DATA, *FUNCTIONS):
            return getattr(self.module, name)
        raise AttributeError(name)

    def vetted(self) -> list[str]:
        """Every template sentence of this language (each table's values, nested tables flattened)."""
        out: list[str] = []
        for value in self.templates.values():
            out += list(value.values()) if isinstance(value, dict) else [value]
        return out


BUILT_IN: tuple[str, ...] = tuple(m.name for m in pkgutil.iter_modules(__path__))
_LOADED: dict[str, Lang] = {}


def register(code: str, module: ModuleType) -> Lang:
    """Add (or replace) a language from a module object: a language need not live in this folder."""
    _LOADED[code] = Lang(code, module)
    return _LOADED[code]


def unregister(code: str) -> None:
    _LOADED.pop(code, None)


def get(code: str) -> Lang:
    """The language `code`, loaded from this folder on first use; ValueError for one nobody added."""
    if code not in _LOADED:
        if code not in BUILT_IN:
            known = sorted({*BUILT_IN, *_LOADED})
            raise ValueError(f"unsupported language {code!r}: use one of {', '.join(known)}")
        register(code, importlib.import_module(f"{__name__}.{code}"))
    return _LOADED[code]
