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


def _kind(name: str, bases: tuple[type, ...], code: str | None, doc: str | None = None) -> type:
    """An error class that differs from its bases only by its `code` (None: its base's)."""
    body = {"__module__": __name__, "__doc__": doc, **({"code": code} if code else {})}
    return type(name, bases, body)


# Each kind below is one row: the class, its bases, its code, and what it means when that is not its name.
InputError = _kind("InputError", (ImrError,), "input_error", "The input could not be read as a letter at all.")
UnsupportedFileType = _kind("UnsupportedFileType", (InputError,), "unsupported_file_type")
LetterNotFound = _kind("LetterNotFound", (InputError, FileNotFoundError), "no_such_file",
                       "No file at the path given (also a `FileNotFoundError`, as `open` would raise).")
EmptyInput = _kind("EmptyInput", (InputError,), "empty_input")
UnreadablePdf = _kind("UnreadablePdf", (InputError,), "unreadable_pdf",
                      "The file claims to be a PDF but pdfium cannot open it (corrupt or truncated).")
PasswordProtectedPdf = _kind("PasswordProtectedPdf", (InputError,), "password_protected_pdf")
InputTooLarge = _kind("InputTooLarge", (InputError,), "input_too_large",
                      "Over a documented size limit (`imr_llm.reading`), refused before any of it is parsed.")
NoTextLayer = _kind("NoTextLayer", (InputError,), "no_text_layer",
                    "A scanned PDF: pages are images, so there is no text to parse without OCR.")
NotAnImrLetter = _kind("NotAnImrLetter", (ImrError,), "not_an_imr_letter",
                       "Readable text, but not an IMR final determination letter.")
UnsupportedLayout = _kind("UnsupportedLayout", (ImrError,), "unsupported_layout",
                          "Looks like an IMR letter, but no disputed item with a decision could be found.")
ReadingLimitExceeded = _kind("ReadingLimitExceeded", (InputError,), "reading_limit_exceeded",
                             "Reading took longer or more memory than a parse worker allows (a hostile or broken PDF).")
OutputInUse = _kind("OutputInUse", (ImrError,), "output_in_use", "Another run holds the output file (a batch's JSON Lines).")
ModelError = _kind("ModelError", (ImrError,), "model_error",
                   "The configured model endpoint failed or returned something unusable.")
EndpointError = _kind("EndpointError", (ModelError,), "model_endpoint_error",
                      "The endpoint could not be reached or kept failing (after the transport retries).")
NotAnswered = _kind("NotAnswered", (ModelError,), "model_not_answered",
                    "No answer in this run by design (an OpenAI Batch API pass): not a failure that re-asking helps.")
EndpointTimeout = _kind("EndpointTimeout", (EndpointError,), None,
                        "The endpoint kept timing out: it may be up but slow, so a shorter answer can still come back.")
ConfigError = _kind("ConfigError", (ImrError,), "config_error")
UnreadableImage = _kind("UnreadableImage", (UnsupportedFileType,), "unreadable_image",
                        "A .png/.jpg/.tif file that cannot be opened (an `UnsupportedFileType`, as images were before OCR).")
OcrUnavailable = _kind("OcrUnavailable", (NoTextLayer,), "ocr_unavailable",
                       "A page is a picture and Tesseract or its English data is not installed (without OCR: no text).")
PageTooBlurry = _kind("PageTooBlurry", (InputError,), "page_too_blurry",
                      "A page shows ink but OCR cannot read it (blurred, faint or tiny); the message names the page.")
