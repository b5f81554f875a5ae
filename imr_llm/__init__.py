"""imr-llm: California workers' compensation IMR final determination letters → verified data.

    >>> import imr_llm
    >>> det = imr_llm.extract("tests/fixtures/letters/000_e4938e93dd873a45.txt")
    >>> det.items[0].decision
    'upheld'

`extract` parses every fact a letter states, each with its evidence span: no model, no network.
A public name loads its module on first use, so `import imr_llm` is instant and the `imr-llm`
command can catch a Ctrl-C while it loads (`__main__.main`)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .version import __version__

_HOME = {  # public name -> the module that defines it
    **dict.fromkeys(("Pipeline", "aextract", "extract", "extract_file", "extract_images", "extract_text"), "api"),
    "extract_many": "runs.loop",
    "aexplain": "explain",
    **dict.fromkeys(("Determination", "DisputedItem", "Evidence", "GuidelineBasis"), "schema"),
    **dict.fromkeys(("ImrError", "InputError", "InputTooLarge", "LetterNotFound", "EmptyInput", "NoTextLayer",
                     "NotAnImrLetter", "PasswordProtectedPdf", "UnreadablePdf", "UnsupportedFileType",
                     "UnsupportedLayout"), "errors"),
}
__all__ = ["__version__", *(name for name in _HOME if name != "aexplain")]

if TYPE_CHECKING:  # what a type checker sees; at run time `__getattr__` loads the same names
    from .api import Pipeline, aextract, extract, extract_file, extract_images, extract_text  # noqa: F401
    from .errors import (  # noqa: F401
        EmptyInput, ImrError, InputError, InputTooLarge, LetterNotFound, NoTextLayer, NotAnImrLetter,
        PasswordProtectedPdf, UnreadablePdf, UnsupportedFileType, UnsupportedLayout,
    )
    from .explain import aexplain  # noqa: F401
    from .runs.loop import extract_many  # noqa: F401
    from .schema import Determination, DisputedItem, Evidence, GuidelineBasis  # noqa: F401


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'imr_llm' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value  # loaded once
    return value
