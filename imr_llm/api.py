"""The one pipeline: read → parse → optional model step → provenance → explanation. Every front end,
the eval harness and the benchmarks call it, so what is measured is what users run; `Pipeline`
alone builds the model client, the cache handle and the explanation writer."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .parsing import PARSER_VERSION, parse, parse_source  # noqa: F401  (parse: a public re-export)
from .ocr import annotate
from .reading import SourceText, read_bytes, read_images, read_path, read_text
from .schema import Determination, Provenance, schema_hash
from .version import __version__

PathOrText = str | os.PathLike[str] | bytes


class Pipeline:
    """One configured run, holding the model client, the response cache, the usage log and the
    explanation writer (a batch opens the cache once). A context manager (or call `close()`)."""

    def __init__(self, model=None, *, cache_dir: str | os.PathLike[str] | None = None, use_cache: bool = True,
                 http_client=None, requests_per_call: str = "fields-letter", cache=None) -> None:
        """`cache`: any `CacheBackend`, else `open_cache(cache_dir)`; `use_cache=False`: no store at all."""
        # deferred: the model side (openai, instructor) is only imported with a model
        from .model import UsageLog

        self.model, self.usage = model, UsageLog()
        self.enricher = self.cache = self.writer = None
        if model is not None:
            from .cache import open_cache
            from .enrich import Enricher
            from .explain.writer import ModelWriter
            from .model import StructuredClient

            self.cache = (cache if cache is not None else open_cache(cache_dir)) if use_cache else None
            self.enricher = Enricher(StructuredClient(model, cache=self.cache, usage=self.usage,
                                                      http_client=http_client), requests_per_call=requests_per_call)
            self.writer = ModelWriter(self.enricher.client)  # with a model, the model writes; the guards decide

    def extract(self, path_or_text: PathOrText) -> Determination:
        return self.extract_source(load(path_or_text))

    def extract_source(self, source: SourceText) -> Determination:
        det = parse_source(source)
        if self.enricher is not None:
            self.enricher.enrich(source, det)
        return self._finish(source, det)

    async def aextract(self, path_or_text: PathOrText) -> Determination:
        """`extract`, with the model calls awaited: many letters can wait on the endpoint at once."""
        source = load(path_or_text)
        return await self.afinish(source, parse_source(source))

    async def afinish(self, source: SourceText, det: Determination) -> Determination:
        """The steps after the parse (a batch may parse in worker processes): the model step, provenance."""
        if self.enricher is not None:
            await self.enricher.aenrich(source, det)
        return self._finish(source, det)

    def _finish(self, source: SourceText, det: Determination) -> Determination:
        det.provenance = provenance(source, self.enricher)
        if source.ocr is not None:
            annotate(source, det)
        return det

    def explain(self, det: Determination, source: SourceText, language: str = "en"):
        """The patient explanation of a finished letter (written by the model when there is one)."""
        from .explain import explain  # deferred: the explanation's vetted text loads only when asked for

        return explain(det, source, language, self.writer)

    async def aexplain(self, det: Determination, source: SourceText, language: str = "en"):
        from .explain import aexplain  # deferred, as in `explain`

        return await aexplain(det, source, language, self.writer)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    async def aclose(self) -> None:
        """Close the model client's connections (they belong to the event loop that used them)."""
        if self.enricher is not None:
            await self.enricher.client.aclose()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def extract(path_or_text: PathOrText, model=None, *, cache_dir=None, use_cache: bool = True) -> Determination:
    """Parse one letter given as a path, the letter's text, or a file's bytes; with a
    `ModelConfig`, also fill the interpretive fields (grounded, cached)."""
    with Pipeline(model, cache_dir=cache_dir, use_cache=use_cache) as pipeline:
        return pipeline.extract(path_or_text)


async def aextract(path_or_text: PathOrText, model=None, *, cache_dir=None, use_cache: bool = True) -> Determination:
    """`extract`, awaitable: for async applications and many letters at once."""
    with Pipeline(model, cache_dir=cache_dir, use_cache=use_cache) as pipeline:
        return await pipeline.aextract(path_or_text)


def extract_file(path: str | os.PathLike[str], model=None, **options) -> Determination:
    return extract(Path(path), model, **options)


def extract_text(text: str, model=None, **options) -> Determination:
    with Pipeline(model, **options) as pipeline:
        return pipeline.extract_source(read_text(text))


def extract_images(images, model=None, *, name: str | None = None, **options) -> Determination:
    """One letter from pictures of its pages, in order (paths or (bytes, name) pairs), read by OCR."""
    with Pipeline(model, **options) as pipeline:
        return pipeline.extract_source(read_images(list(images), name=name))


def explain_letter(path_or_text: PathOrText, language: str = "en", *, pipeline: Pipeline | None = None):
    """Read, parse (through `pipeline` when given) and explain a letter: (explanation, determination)."""
    source = load(path_or_text)
    with Pipeline() as offline:
        pipeline = pipeline or offline
        det = pipeline.extract_source(source)
        return pipeline.explain(det, source, language), det


def load(path_or_text: PathOrText) -> SourceText:
    """Read without parsing (used by the evaluation and the HTML views, which need the text)."""
    if isinstance(path_or_text, bytes):
        return read_bytes(path_or_text)
    if isinstance(path_or_text, os.PathLike):
        return read_path(path_or_text)
    if "\n" in path_or_text or len(path_or_text) > 1024:
        return read_text(path_or_text)
    return read_path(Path(path_or_text))


def provenance(source: SourceText, enricher=None) -> Provenance:
    return Provenance(
        imr_llm_version=__version__,
        parser_version=PARSER_VERSION,
        schema_hash=schema_hash(),
        source_sha256=hashlib.sha256(source.raw.encode("utf-8", "surrogatepass")).hexdigest(),
        source_kind=source.kind,  # type: ignore[arg-type]
        model=enricher.config.model if enricher else None,
        endpoint_kind=enricher.config.endpoint_kind if enricher else None,
        prompt_hashes=enricher.prompt_hashes() if enricher else {},
    )
