"""imr-llm: California workers' compensation IMR final determination letters → verified data.

    >>> import imr_llm
    >>> det = imr_llm.extract("tests/fixtures/letters/000_e4938e93dd873a45.txt")
    >>> det.items[0].decision
    'upheld'

`extract` parses every fact a letter states, each with its evidence span: no model, no network."""

from __future__ import annotations

from .version import __version__  # noqa: E402
from .api import Pipeline, aextract, extract, extract_file, extract_images, extract_text  # noqa: E402
from .runs.loop import extract_many  # noqa: E402
from .errors import (  # noqa: E402
    EmptyInput, ImrError, InputError, InputTooLarge, LetterNotFound, NoTextLayer, NotAnImrLetter, PasswordProtectedPdf,
    UnreadablePdf, UnsupportedFileType, UnsupportedLayout,
)
from .schema import Determination, DisputedItem, Evidence, GuidelineBasis  # noqa: E402

__all__ = ["__version__", "Pipeline", "aextract", "extract", "extract_many", "extract_file", "extract_text",
           "extract_images", "Determination", "DisputedItem", "Evidence", "GuidelineBasis", "ImrError", "InputError",
           "InputTooLarge", "LetterNotFound", "EmptyInput", "NoTextLayer", "NotAnImrLetter", "PasswordProtectedPdf",
           "UnreadablePdf", "UnsupportedFileType", "UnsupportedLayout"]


def __getattr__(name: str):
    """`imr_llm.aexplain` loads the explanation package (imr_llm.explain) on first use."""
    if name == "aexplain":
        from .explain import aexplain  # deferred: the vetted text and textstat load only for an explanation

        return aexplain
    raise AttributeError(f"module 'imr_llm' has no attribute '{name}'")
