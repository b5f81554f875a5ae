"""Explanation languages as modules: one module per language in this folder, found by its code.

A language module holds everything that differs by language, so that no code outside this folder
compares a language code: its fixed template sentences (`TEMPLATES`, vetted: planted text may copy
them) and joining words (`WORDS`); its vetted facts (`FACTS`: status, next steps, disclaimer, the
sources' labels; `GLOSSARY`, `GLOSSARY_TERMS`), the renderers' labels and quote marks (`LABELS`),
the rules' sentences and number words (`POINTS`), how the guards read it (`GUARDS`), its reading-level
formula and limits (`READING`), its names for the services and paired body parts the rules know
(`SERVICES`, `BODY_PARTS`), its other body-part words (`REGIONS`, `TRUNK`), its name (`NAME`) and the
grammar functions the offline writer calls (`FUNCTIONS`). A module missing any of them, or any key
English has in a table, fails at load, naming it: a language is never silently written in another.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from ...errors import ConfigError
from . import en as _reference

TABLES = ("TEMPLATES", "WORDS", "FACTS", "GLOSSARY", "LABELS", "POINTS", "GUARDS", "READING",  # every key English has
          "SERVICES", "BODY_PARTS")
DATA = ("NAME", "GLOSSARY_TERMS", "REGIONS", "TRUNK")
FUNCTIONS = ("times", "weeks", "body_part", "request_core", "medicine", "as_printed", "quantity")


class MissingString(ConfigError, KeyError):
    """A language module lacks something every language must have."""

    def __str__(self) -> str:
        return self.args[0]


class UnknownLanguage(ConfigError, ValueError):
    """A language code no module in this folder and no `register` call gave."""


def _missing(have, want: dict, path: str) -> str | None:
    """The first key of `want` (nested tables too) that `have` lacks, as `TABLE['key']['key']`."""
    for key, value in want.items():
        if not isinstance(have, dict) or key not in have:
            return f"{path}[{key!r}]"
        if isinstance(value, dict) and (found := _missing(have[key], value, f"{path}[{key!r}]")):
            return found
    return None


class Lang:
    """One language, checked complete when it is loaded; each table also under its lower-case name (`lang.labels`)."""

    templates: dict  # set from the module's tables by the load check, declared here for type checkers
    words: dict[str, str]
    facts: dict[str, str]
    glossary: dict[str, tuple]
    labels: dict[str, str]
    points: dict
    guards: dict
    reading: dict
    services: dict[str, tuple]
    body_parts: dict[str, tuple[str, str]]

    def __init__(self, code: str, module: ModuleType) -> None:
        self.code, self.module = code, module
        for name in (*TABLES, *DATA, *FUNCTIONS):
            if not hasattr(module, name):
                raise MissingString(f"language {code!r} lacks {name}")
        for table in TABLES:
            if found := _missing(getattr(module, table), getattr(_reference, table), table):
                raise MissingString(f"language {code!r} lacks the string {found}")
            setattr(self, table.lower(), getattr(module, table))

    def __getattr__(self, name: str):
        if name in (*TABLES, *DATA, *FUNCTIONS):
            return getattr(self.module, name)
        raise AttributeError(name)

    def vetted(self) -> list[str]:
        """Every template sentence of this language (each table's values, nested tables flattened)."""
        return [s for value in self.templates.values()
                for s in (value.values() if isinstance(value, dict) else [value])]


BUILT_IN: tuple[str, ...] = tuple(m.name for m in pkgutil.iter_modules(__path__))
_LOADED: dict[str, Lang] = {}


def register(code: str, module: ModuleType) -> Lang:
    """Add (or replace) a language from a module object: a language need not live in this folder."""
    _LOADED[code] = Lang(code, module)
    return _LOADED[code]


def unregister(code: str) -> None:
    _LOADED.pop(code, None)


def codes() -> tuple[str, ...]:
    """Every language there is: the built-in ones, then the ones a caller registered."""
    return (*BUILT_IN, *(c for c in _LOADED if c not in BUILT_IN))


def get(code: str) -> Lang:
    """The language `code`, loaded from this folder on first use; UnknownLanguage for one nobody added."""
    if code not in _LOADED:
        if code not in BUILT_IN:
            raise UnknownLanguage(f"unsupported language {code!r}: use one of {', '.join(sorted(codes()))}")
        register(code, importlib.import_module(f"{__name__}.{code}"))
    return _LOADED[code]
