"""One error hierarchy, so callers catch `ImrError` and report one line per bad input instead of a
traceback. Messages name the problem and what to do about it; they never quote letter text."""

from __future__ import annotations

#: the exit statuses of every command: all inputs done, some input failed, a usage error
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class ImrError(Exception):
    """Base class for every error imr-llm raises on purpose."""

    #: short machine-readable reason, used in JSON error records and exit summaries
    code = "error"

    def to_json(self) -> dict[str, str]:
        """The "error" of an output record."""
        return {"code": self.code, "message": str(self)}


class InputError(ImrError):
    """The input could not be read as a letter at all."""
    code = "input_error"


class UnsupportedFileType(InputError):
    code = "unsupported_file_type"


class LetterNotFound(InputError, FileNotFoundError):
    """No file at the path given (also a `FileNotFoundError`, as `open` would raise)."""
    code = "no_such_file"


class EmptyInput(InputError):
    code = "empty_input"


class UnreadablePdf(InputError):
    """The file claims to be a PDF but pdfium cannot open it (corrupt or truncated)."""
    code = "unreadable_pdf"


class PasswordProtectedPdf(InputError):
    code = "password_protected_pdf"


class InputTooLarge(InputError):
    """Over a documented size limit (`imr_llm.reading`), refused before any of it is parsed."""
    code = "input_too_large"


class NoTextLayer(InputError):
    """A scanned PDF: pages are images, so there is no text to parse without OCR."""
    code = "no_text_layer"


class NotAnImrLetter(ImrError):
    """Readable text, but not an IMR final determination letter."""
    code = "not_an_imr_letter"


class UnsupportedLayout(ImrError):
    """Looks like an IMR letter, but no disputed item with a decision could be found."""
    code = "unsupported_layout"


class ReadingLimitExceeded(InputError):
    """Reading took longer or more memory than a parse worker allows (a hostile or broken PDF)."""
    code = "reading_limit_exceeded"


class OutputInUse(ImrError):
    """Another run holds the output file (a batch's JSON Lines)."""
    code = "output_in_use"


class ModelError(ImrError):
    """The configured model endpoint failed or returned something unusable."""
    code = "model_error"


class EndpointError(ModelError):
    """The endpoint could not be reached or kept failing (after the transport retries)."""
    code = "model_endpoint_error"


class NotAnswered(ModelError):
    """No answer in this run by design (an OpenAI Batch API pass): not a failure that re-asking helps."""
    code = "model_not_answered"


class EndpointTimeout(EndpointError):
    """The endpoint kept timing out: it may be up but slow, so a shorter answer can still come back."""


class ConfigError(ImrError):
    code = "config_error"


class UnreadableImage(UnsupportedFileType):
    """A .png/.jpg/.tif file that cannot be opened (an `UnsupportedFileType`, as images were before OCR)."""
    code = "unreadable_image"


class OcrUnavailable(NoTextLayer):
    """A page is a picture and Tesseract or its English data is not installed (without OCR: no text)."""
    code = "ocr_unavailable"


class PageTooBlurry(InputError):
    """A page shows ink but OCR cannot read it (blurred, faint or tiny); the message names the page."""
    code = "page_too_blurry"
