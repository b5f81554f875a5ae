"""Patient explanations: what an IMR letter means for the injured worker, in plain words.

`explain` writes the page by the templates and the rule-based simplifier, then, with a point writer
(the model, `writer.py`), replaces points one at a time: each sentence is checked on its own
(`guards.PointGuard`), re-asked `reasks` times, and left out when it still fails or reads back as the
opposite decision. A page that fails `run_guards` is replaced by the rules' page, then by the fixed
template points; `fallback` says which point or page failed which guards. A point writer has
`awrite(note, language, *, draft=None, problems=None) -> str` and may have `aread(texts)`."""

from __future__ import annotations

import asyncio

from ..errors import ImrError
from ..reading import SourceText
from ..runtime import run_sync
from ..safety import without_planted
from ..schema import Determination
from . import facts
from .facts import FACTS_VERSION
from .guards import PointGuard, run_guards
from .model import Fallback, GuardResult, Language, PatientExplanation, Point, WrittenBy
from .points import points_for, reason_clause
from .templates import shown_text, specific_points, what_could_help, why_points, write_template
from .text import letter_text

__all__ = ["FACTS_VERSION", "PatientExplanation", "aexplain", "explain", "run_guards",
           "write_template"]
WHY_MAX, HELP_MAX = 3, 3  # grounded values a writer is asked about per item


def explain(det: Determination, source: SourceText | str, language: Language = "en", writer=None,
            *, reasks: int = 1) -> PatientExplanation:
    """Explain one parsed letter. `source` is the letter as read (`SourceText`, or its raw text).
    The writers get the parse without the model-filled points that rest on suspicious text in the
    letter (`safety.without_planted`); the guards check against the parse itself.
    The sync face of `aexplain` (the same code)."""
    if writer is None:
        return _drive(aexplain(det, source, language, reasks=reasks))  # nothing to wait on
    return run_sync(aexplain(det, source, language, writer, reasks=reasks))


def _drive(coro):
    """Run a coroutine that never suspends (no writer to wait on) right here, without a loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the offline explanation suspended")


async def aexplain(det: Determination, source: SourceText | str, language: Language = "en",
                   writer=None, *, reasks: int = 1) -> PatientExplanation:
    """`explain`, awaitable: a model writer's calls are awaited (many points and letters at once)."""
    written_from = without_planted(det, letter_text(source))
    expl = write_template(written_from, source, language)
    notes: list[str] = []
    readback = None
    if writer is not None:
        try:  # the points change only once every call has answered
            readback = await _write_points(expl, written_from, source, language, writer, reasks, notes)
        except (ImrError, ValueError) as exc:  # the model failed or answered the wrong shape: the rules' page
            notes.append(f"the model's points could not be written ({type(exc).__name__}: {str(exc)[:200]}); "
                         "shown: the rules' and template points")
    run_guards(expl, det, source)
    if readback is not None:
        expl.guards.append(readback)
    pages = [("the rules' page", lambda: write_template(written_from, source, language)),
             ("the fixed template points", lambda: write_template(written_from, source, language, specific=False))]
    if expl.written_by.kind == "template":
        pages = pages[1:]
    while not expl.passed and pages:  # the page as a whole failed: a page with fewer written points
        failed = f"the page with {'model-written' if expl.written_by.kind == 'model' else 'rule-based'} points " \
                 f"failed: {'; '.join(f'{g.name}: {g.detail}' for g in expl.guards if not g.passed)}"
        shown, make = pages.pop(0)
        expl = make()
        run_guards(expl, det, source)
        notes.append(f"{failed}; shown: {shown}")
    if notes:
        expl.fallback = Fallback(used=True, reason="; ".join(notes))
    return expl


async def _call(fn_async, fn, *args, **kwargs):
    return await fn_async(*args, **kwargs) if fn_async is not None else fn(*args, **kwargs)


async def _write_points(expl: PatientExplanation, det: Determination, source, language: Language, writer,
                        reasks: int, notes: list[str]) -> GuardResult | None:
    """Replace the points of `expl` by the writer's, one by one (see the module's docstring);
    returns the read-back's summary guard (None when the writer cannot read back)."""
    raw = letter_text(source)
    guard = PointGuard(det, source, language)
    write = getattr(writer, "awrite", None)
    jobs = _jobs(det, language)
    if not jobs:
        return None

    async def one(pos: int, note: dict) -> tuple[str, str, list[str]]:
        text = await _call(write, writer, note, language)
        problems, author = guard.check(text, pos), "model"
        for _ in range(max(0, reasks)):
            if not problems:
                break
            text = await _call(write, writer, note, language, draft=text, problems=problems)
            problems, author = guard.check(text, pos), "model_reasked"
        return text, author, problems

    written = list(await asyncio.gather(*(one(pos, note) for pos, _, _, note in jobs)))
    readback = None
    read = getattr(writer, "aread", None) or getattr(writer, "read", None)
    passing = [k for k, (_, _, problems) in enumerate(written) if not problems]
    if read is not None and passing:
        readings = await _call(getattr(writer, "aread", None), read, [written[k][0] for k in passing])
        opposite = 0
        for k, reading in zip(passing, readings):
            wanted = "approved" if det.items[jobs[k][0]].decision == "overturned" else "not approved"
            if reading not in (wanted, "not said"):
                written[k] = (written[k][0], written[k][1], [f"readback_model: the model read it as {reading!r}"])
                opposite += 1
        readback = GuardResult(name="readback_model", passed=True,
                               detail=f"the model read {len(passing)} written point(s) back; {opposite} read as the "
                                      "opposite decision, left out")
    shown_model = False
    for pos, (item, parsed) in enumerate(zip(expl.items, det.items)):
        model: dict[str, list[Point]] = {"why": [], "help": []}
        for (p, part, ref, _), (text, author, problems) in zip(jobs, written):
            if p != pos:
                continue
            if problems:
                again = " after a re-ask" if author == "model_reasked" else ""
                notes.append(f"item {parsed.index + 1} {ref}: the model's point failed{again} "
                             f"({'; '.join(problems)[:300]}); left out")
                continue
            model[part].append(Point(text=text, evidence=parsed.evidence.get(ref), ref=ref, written_by=author,
                                     grade=guard.grade(text, pos)))
        rules_why, rules_help = specific_points(parsed, pos, raw, language, guard)
        item.why = why_points(parsed, language, _merge(model["why"], rules_why)[:WHY_MAX])
        item.what_could_help = what_could_help(parsed, language, _merge(model["help"], rules_help)[:HELP_MAX])
        shown_model |= any(p.written_by.startswith("model") for p in (*item.why, *item.what_could_help))
    expl.glossary = facts.glossary(shown_text(expl), language)
    if shown_model:
        hashes = writer.prompt_hashes() if hasattr(writer, "prompt_hashes") else {}
        expl.written_by = WrittenBy(kind="model", model=getattr(writer, "model", None), prompt_hashes=hashes)
    return readback


def _jobs(det: Determination, language: Language) -> list[tuple[int, str, str, dict]]:
    """item position, part, ref, note: the values the writer is asked about — the clause of each
    that states it (`points.reason_clause`), and only those the rules cannot already say plainly
    (their point stands for it, vetted, without a call)."""
    jobs: list[tuple[int, str, str, dict]] = []
    for pos, parsed in enumerate(det.items):
        upheld = parsed.decision == "upheld"
        base = {"decision": "not approved" if upheld else "approved"}
        values = [("why", f"reasons[{k}]", "reason", r) for k, r in enumerate(parsed.reasons[:WHY_MAX])]
        if upheld:
            values += [("help", f"missing_documentation[{k}]", "missing", d)
                       for k, d in enumerate(parsed.missing_documentation[:HELP_MAX])]
        jobs += [(pos, part, ref, {**base, "kind": kind, "note": reason_clause(value)})
                 for part, ref, kind, value in values
                 if value.strip() and not points_for(value, language, upheld=upheld, missing=kind == "missing")]
    return jobs


def _merge(first: list[Point], then: list[Point]) -> list[Point]:
    """`first` without repeats, then the points of `then` that rest on another value and another part of the letter."""
    def overlaps(a: Point, b: Point) -> bool:
        return a.text == b.text or a.ref == b.ref and a.ref != "rationale" or (
            a.evidence is not None and b.evidence is not None and a.evidence.start < b.evidence.end
            and b.evidence.start < a.evidence.end)
    out = [p for k, p in enumerate(first) if all(p.text != q.text for q in first[:k])]
    return out + [p for p in then if not any(overlaps(p, q) for q in first)]
