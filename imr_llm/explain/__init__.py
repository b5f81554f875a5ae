"""Patient explanations: what an IMR letter means for the injured worker, in plain words.

    from imr_llm.explain import explain, explain_letter
    expl = explain_letter("letter.pdf", language="es")          # read, parse, explain (offline)
    expl = explain(det, source, language="en", writer=None)      # from a parse you already have

`explain` runs a writer (the offline templates when `writer` is None), then the guards
(`guards.py`). An explanation that fails a guard is not shown as written: a non-template writer
gets `reasks` more tries with the failed guards' details as `feedback`; still failing, the
template explanation replaces it and `fallback` says why. A writer is any callable
`writer(det, source, language, *, feedback=None) -> PatientExplanation`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import ImrError
from ..reading import SourceText
from ..safety import without_planted
from ..schema import Determination
from .facts import FACTS_VERSION
from .guards import run_guards
from .model import Fallback, GuardResult, Language, PatientExplanation
from .templates import write_template

Writer = Callable[..., PatientExplanation]

__all__ = ["FACTS_VERSION", "PatientExplanation", "aexplain", "explain", "explain_letter", "run_guards",
           "write_template"]


def _failed(guards: list[GuardResult]) -> list[GuardResult]:
    return [g for g in guards if not g.passed]


def _summary(guards: list[GuardResult]) -> str:
    return "; ".join(f"{g.name}: {g.detail}" for g in _failed(guards))


def explain(det: Determination, source: SourceText | str, language: Language = "en", writer: Writer | None = None,
            *, reasks: int = 1) -> PatientExplanation:
    """Explain one parsed letter. `source` is the letter as read (`SourceText`, or its raw text).
    The writers get the parse without the model-filled points that rest on suspicious text in the
    letter (`safety.without_planted`); the guards check against the parse itself.
    The sync face of `aexplain` (the same code)."""
    if writer is None or not hasattr(writer, "acall"):
        return _drive(aexplain(det, source, language, writer, reasks=reasks))  # nothing to wait on
    from ..runtime import run_sync

    return run_sync(aexplain(det, source, language, writer, reasks=reasks))


def _drive(coro):
    """Run a coroutine that never suspends (no model to wait on) right here, without a loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a writer without `acall` suspended; give it an `acall` coroutine method")


async def _write(writer, *args, **kwargs) -> PatientExplanation:
    acall = getattr(writer, "acall", None)
    return await acall(*args, **kwargs) if acall is not None else writer(*args, **kwargs)


async def aexplain(det: Determination, source: SourceText | str, language: Language = "en",
                   writer: Writer | None = None, *, reasks: int = 1) -> PatientExplanation:
    """`explain`, awaitable: a model writer's calls are awaited (many letters at once in a batch)."""
    reason = None
    written_from = without_planted(det, source.raw if isinstance(source, SourceText) else source)
    if writer is not None and writer is not write_template:
        try:
            expl = await _write(writer, written_from, source, language)
            await _check(expl, det, source, writer)
            for _ in range(max(0, reasks)):
                if expl.passed:
                    break
                expl = await _write(writer, written_from, source, language,
                                    feedback=[f"{g.name}: {g.detail}" for g in _failed(expl.guards)])
                await _check(expl, det, source, writer)
            if expl.passed:
                return expl
            reason = f"the {expl.written_by.kind} explanation failed: {_summary(expl.guards)}"
        except (ImrError, ValueError) as exc:  # the model failed or answered the wrong shape
            reason = f"the model explanation could not be written ({type(exc).__name__}: {str(exc)[:200]})"

    expl = write_template(written_from, source, language)
    run_guards(expl, det, source)
    shown = "the template"
    if not expl.passed:
        # the model-filled reasons (or missing documentation) made the template fail: vetted points only
        first = _summary(expl.guards)
        expl = write_template(written_from, source, language, use_reasons=False)
        run_guards(expl, det, source)
        reason = f"{reason + '; ' if reason else ''}the template with the letter's reasons failed: {first}"
        shown = "the vetted-points template"
        if not expl.passed:
            reason += f"; the vetted-points template failed too: {_summary(expl.guards)}"
    if reason:  # which explanation failed, and which one is shown
        expl.fallback = Fallback(used=True, reason=f"{reason}; shown: {shown}")
    return expl


async def _check(expl: PatientExplanation, det: Determination, source, writer) -> None:
    """The guards, plus the writer's own read-back (a model reading the text back) when it has one."""
    run_guards(expl, det, source)
    if not expl.guards[0].passed:
        return
    areadback = getattr(writer, "areadback", None)
    if areadback is not None:
        expl.guards.append(await areadback(expl, det))
    elif getattr(writer, "readback", None) is not None:
        expl.guards.append(writer.readback(expl, det))


def explain_letter(path_or_text: str | os.PathLike[str] | bytes, language: Language = "en", *, pipeline=None,
                   writer: Writer | None = None) -> tuple[PatientExplanation, Determination]:
    """Read and parse a letter (through `pipeline` when given, e.g. one with a model), then explain it.
    Raises the same `ImrError`s as `extract`."""
    from ..api import Pipeline, load

    source = load(path_or_text)
    if pipeline is None:
        with Pipeline() as offline:
            det = offline.extract_source(source)
    else:
        det = pipeline.extract_source(source)
        if writer is None and pipeline.enricher is not None:
            from .writer import ModelWriter

            writer = ModelWriter(pipeline.enricher.client)  # with a model, the model writes (guarded)
    return explain(det, source, language, writer), det
