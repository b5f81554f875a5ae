"""The model step over a parsed letter: per disputed item, read the request heading and the rationale.

A request carries only those sections, so an instruction planted elsewhere never reaches the model.
Every model value is grounded in its section or dropped (`model_step.dropped`); the vocabulary
decides category, regions and side where it knows the words (`model_step.corrected`); quantities
are read by rules. A model reading that contradicts a parser fact is a conflict, never a change.
"""

from __future__ import annotations

import re

from ..errors import ConfigError, EndpointError, EndpointTimeout, ModelError, NotAnswered
from ..fields import of_kind
from ..prompts import load_prompt
from ..reading import SourceText
from ..runtime import run_sync
from ..safety import model_text_problem, overlapping, restated
from ..schema import Conflict, Determination, DisputedItem, Evidence, ModelUsage
from ..taxonomy import SUBCATEGORIES, subcategory_problem
from .answers import RequestAnswer, items_answer
from .grounding import Section, ground, locate
from .quantity import find_quantity, parse_quantity, service_span, trim_service
from .sections import decide as section_decide
from .vocabulary import COVERS, classify, regions, sides

MAX_RATIONALE_CHARS = 6000  # bounds the cost of one call; longer rationales are cut (and say so)
# "fields": one call per item for all its fields; "fields-letter": the items of a letter share
# calls, up to GROUP_ITEMS items and GROUP_CHARS characters of rationale a call.
FIELD_MODES = ("fields", "fields-letter")
GROUP_ITEMS = 8
GROUP_CHARS = 12000
ANSWER_TOKENS = 400  # the answer bound per item of a call
_WORD_REST = re.compile(r"[^\W_]*")  # the rest of a word: what str.isalnum() accepts
_NAMES_NO_DEVICE = {"purchase", "rental", "unit"}  # the vocabulary files a request as equipment by them


class Enricher:
    """Fills the model fields of a `Determination` in place, every field of an item in one call.
    "fields-letter" (the default) asks fewer prompt tokens than the naive whole-letter peer on
    every letter size (BENCHMARKS.md)."""

    def __init__(self, client, requests_per_call: str = "fields-letter") -> None:
        if requests_per_call not in FIELD_MODES:
            raise ConfigError(f"requests_per_call must be one of {', '.join(FIELD_MODES)} (got {requests_per_call!r})")
        self.client = client
        self.config = client.config
        self.requests_per_call = requests_per_call
        self.prompt = load_prompt("item_fields")

    def prompt_hashes(self) -> dict[str, str]:
        return {"item_fields": self.prompt.short_hash}

    def enrich(self, source: SourceText, det: Determination) -> None:
        """The sync face of `aenrich` (the same code, on imr-llm's background loop)."""
        run_sync(self.aenrich(source, det))

    async def aenrich(self, source: SourceText, det: Determination) -> None:
        step = det.model_step
        step.status, step.model, step.endpoint_kind = "complete", self.config.model, self.config.endpoint_kind
        failures = await self._read_fields(source, det)
        if failures:
            step.status = "failed" if failures >= len(det.items) else "partial"
        elif step.dropped:
            step.status = "partial"

    async def _read_fields(self, source: SourceText, det: Determination) -> int:
        """Read every item's request and rationale with `item_fields`; returns the items that got no answer."""
        todo, failures = [], 0
        for item in det.items:
            where = f"items[{item.index}]"
            portion = item.evidence.get("disputed_portion" if item.modified_by_ur else "request")
            heading = _section(source, portion, f"{where}.request")
            quantity = heading is not None  # a UR-modified item without its remaining portion: never its quantity
            heading = heading or _section(source, item.evidence.get("request"), f"{where}.request")
            rationale = _section(source, item.evidence.get("rationale"), f"{where}.rationale")
            if heading is not None and rationale is not None:
                todo.append((item, heading, rationale, quantity))
            elif heading is not None:
                self._apply_request(source, det, item, heading, None, quantity=quantity)
            else:  # no words of the request to ask about: the step is not complete
                failures += 1
                det.warnings.append(f"{where}: not asked by the model: the request has no words")
        size = GROUP_ITEMS if self.requests_per_call == "fields-letter" else 1
        groups, chars = [], 0
        for entry in todo:
            length = min(len(entry[2].text), MAX_RATIONALE_CHARS)
            if not groups or len(groups[-1]) >= size or chars + length > GROUP_CHARS:
                groups.append([])
                chars = 0
            groups[-1].append(entry)
            chars += length
        down = False
        for group in groups:
            reply = None if down else await self._ask_fields(det, group)
            timed_out = isinstance(reply, EndpointTimeout) and len(group) > 1  # up but slow: one item's answer is shorter
            down = down or (isinstance(reply, EndpointError) and not timed_out)
            answers = _aligned(det, reply, group) if isinstance(reply, list) else [None] * len(group)
            if len(group) > 1 and not down and not isinstance(reply, NotAnswered):  # a Batch API pass never splits
                down = await self._ask_alone(det, group, answers)
            for (item, heading, rationale, with_quantity), answer in zip(group, answers):
                self._apply_request(source, det, item, heading, answer, quantity=with_quantity)
                if answer is not None:
                    self._apply_reasons(det, item, rationale, answer)
            failures += sum(answer is None for answer in answers)
        return failures

    async def _ask_alone(self, det: Determination, group: list, answers: list) -> bool:
        """Ask each item of a shared call that got no answer of its own in a call of its own (in
        place in `answers`); whether the endpoint is down."""
        alone = [k for k, answer in enumerate(answers) if answer is None]
        if alone:
            det.warnings.append(f"{', '.join(f'items[{group[k][0].index}]' for k in alone)}: asked again one item at a time")
        for k in alone:
            one = await self._ask_fields(det, [group[k]])
            if isinstance(one, EndpointError):
                return True
            answers[k] = one[0] if isinstance(one, list) else None
        return False

    async def _ask_fields(self, det: Determination, group: list) -> list | ModelError | None:
        """The model's answers for `group`, as many as it gave. A shared call is not re-asked with
        the whole conversation: each item without a usable answer is asked alone instead."""
        for item, _, rationale, _ in group:
            cut = f"items[{item.index}]: rationale cut to {MAX_RATIONALE_CHARS} characters for the model"
            if len(rationale.text) > MAX_RATIONALE_CHARS and cut not in det.warnings:  # once, also when asked alone
                det.warnings.append(cut)
        items = [{"request": heading.text, "rationale": rationale.text[:MAX_RATIONALE_CHARS]}
                 for _, heading, rationale, _ in group]
        taxonomy = {k: list(v) for k, v in SUBCATEGORIES.items()}
        where = ", ".join(f"items[{item.index}]" for item, *_ in group)
        try:
            done = await self.client.arun("item_fields", self.prompt, {"items": items, "taxonomy": taxonomy},
                                          items_answer(len(group)), context={"items": [(h, r) for _, h, r, _ in group]},
                                          salvage=True, max_tokens=ANSWER_TOKENS * len(group), reask=len(group) == 1)
        except ModelError as exc:
            det.warnings.append(f"{where}: model step failed ({exc})")
            return exc if isinstance(exc, (EndpointError, NotAnswered)) else None
        _count(det.model_step.usage, done)
        return list(done.value.items)

    def _apply_request(self, source: SourceText, det: Determination, item: DisputedItem, heading: Section,
                       answer: RequestAnswer | None, *, quantity: bool = True) -> None:
        """The fields the request heading states: each by its own rules (HEADING_RULES), a text
        field without rules as the model copied it (grounded in the heading, or dropped)."""
        answer = answer or RequestAnswer.model_construct(service="", category=None)
        for name, rule in HEADING_RULES.items():
            if quantity or name != "quantity":
                rule(source, det, item, heading, answer)
            elif answer.quantity:  # the heading states the original and the disputed amounts: which is which?
                det.model_step.dropped.append(f"items[{item.index}].quantity: the request states more than one amount")
        for field in of_kind("text", grounding="heading"):
            if field.name not in HEADING_RULES:
                _copied(det, item, heading, answer, field.name)

    def _apply_reasons(self, det: Determination, item: DisputedItem, rationale: Section, answer) -> None:
        where, step = f"items[{item.index}]", det.model_step
        for field in (f.name for f in of_kind("points", grounding="rationale")):
            kept: list[str] = getattr(item, field)
            for point in getattr(answer, field, None) or []:
                text, quote = point.point, point.quote
                evidence = ground(rationale, quote) if text.strip() else None
                refused = "ungrounded quote" if evidence is None else _refused(det, evidence, text, quote, rationale)
                if refused is not None:
                    step.dropped.append(f"{where}.{field}: {refused}")
                    continue
                item.evidence[f"{field}[{len(kept)}]"] = evidence
                kept.append(" ".join(text.split()))
        for field in of_kind("text", grounding="rationale"):
            _copied(det, item, rationale, answer, field.name)
        printed = "not medically necessary" if item.decision == "upheld" else "medically necessary"
        if answer.conclusion != printed:
            det.conflicts.append(Conflict(
                field=f"{where}.decision", kept=item.decision, other=f"model: {answer.conclusion}",
                note="the model read the rationale's conclusion differently from the printed decision; "
                     "the printed decision is kept"))


def _refused(det: Determination, evidence: Evidence, text: str, quote: str, section: Section) -> str | None:
    """Why a model's text is not used though its quote is in the section: text planted in the letter
    (an instruction, a note to the patient, JSON) is never used, nor a text that reads like it."""
    planted = overlapping(evidence, det.suspicious)
    if planted is not None:
        return f"its quote is suspicious text in the letter ({planted.kind})"
    problem = model_text_problem(text) or model_text_problem(quote)
    if problem is not None:
        return f"reads like an instruction or a claim ({problem})"
    copied = restated(text, section.source.raw, det.suspicious)
    return None if copied is None else f"restates suspicious text in the letter ({copied.kind})"


def _copied(det: Determination, item: DisputedItem, section: Section, answer, name: str) -> None:
    """A text field without rules of its own: the model's words, found in the section."""
    value = getattr(answer, name, None)
    evidence = ground(section, value) if value else None
    refused = None if evidence is None else _refused(det, evidence, value, value, section)
    if value and (evidence is None or refused is not None):
        det.model_step.dropped.append(f"items[{item.index}].{name}" + (f": {refused}" if refused else ""))
    elif value:
        setattr(item, name, " ".join(value.split()))
        item.evidence[name] = evidence


def _service(source: SourceText, det: Determination, item: DisputedItem, heading: Section, answer) -> None:
    """The heading's words the model pointed at, trimmed and cut to the convention (the letter's
    words, never the model's copy of them), else the vocabulary's; with the category."""
    match = classify(heading.text)
    drug = match is not None and match.category == "Pharmaceuticals"
    found = locate(heading, trim_service(heading.text, answer.service, drug=drug)) if answer.service else None
    service_ev = None
    if found is not None:
        start, end = service_span(heading.text, found[0], found[1], drug=drug)
        words = trim_service(heading.text, heading.text[start:end], drug=drug) if end > start else ""
        start = heading.text.find(words, start, end) if words else -1
        if start >= 0:  # nothing left (only administrative words): not a service
            service_ev = heading.evidence(start, start + len(words), found[2])
            item.service = words.lower()
            item.evidence["service"] = service_ev
    if service_ev is None and answer.service:
        det.model_step.dropped.append(f"items[{item.index}].service")
    _decide_category(source, det, item, heading, answer, match, service_ev)
    span = _named_service(heading.text, match) if item.service is None else None
    if span is not None:  # no service of the model's found: the vocabulary's words
        item.service = " ".join(heading.text[span[0]:span[1]].lower().split())
        item.evidence["service"] = heading.evidence(*span, origin="rules")


def _named_service(text: str, match) -> tuple[int, int] | None:
    """The span of the vocabulary's words for the service, whole words ("physical therap", a stem, ends at
    "therapy"), past words that file a request as equipment but name none ("Purchase of a walker": "walker")."""
    offset = 0
    while match is not None:
        start, end = offset + match.start, _WORD_REST.match(text, offset + match.end).end()
        if text[start:end].lower() not in _NAMES_NO_DEVICE:
            return start, end
        offset, match = end, classify(text[end:])
    return None


def _body_regions(source: SourceText, det: Determination, item: DisputedItem, heading: Section, answer) -> None:
    """Only the regions the heading's words state."""
    where, step = f"items[{item.index}]", det.model_step
    found = regions(heading.text)
    names = {r for r, _, _ in found}
    for k, (region, start, end) in enumerate(found):
        item.body_regions.append(region)  # type: ignore[arg-type]
        said = region in answer.body_regions or any(region in COVERS.get(r, ()) for r in answer.body_regions)
        item.evidence[f"body_regions[{k}]"] = heading.evidence(start, end, origin="model" if said else "rules")
    for r in answer.body_regions:
        if r in names:
            continue
        if COVERS.get(r, frozenset()) & names:  # the model's general word for what the heading names exactly
            step.corrected.append(f"{where}.body_regions: model {r}, the heading's words "
                                  + ", ".join(sorted(COVERS[r] & names)))
        else:
            step.dropped.append(f"{where}.body_regions: {r}")


def _laterality(source: SourceText, det: Determination, item: DisputedItem, heading: Section, answer) -> None:
    """Only the side the heading's words state."""
    side, start, end = sides(heading.text)
    if side is not None:
        item.laterality = side  # type: ignore[assignment]
        item.evidence["laterality"] = heading.evidence(start, end, origin="model" if answer.laterality == side else "rules")
    elif answer.laterality is not None:
        det.model_step.dropped.append(f"items[{item.index}].laterality")


def _quantity(source: SourceText, det: Determination, item: DisputedItem, heading: Section, answer) -> None:
    """The numbers read by rules from the quantity words (the heading's, else the model's found in it)."""
    where, step = f"items[{item.index}]", det.model_step
    drug = item.category == "Pharmaceuticals"
    found = find_quantity(heading.text, drug=drug)
    if found is not None:
        item.quantity, start, end = found
        item.evidence["quantity"] = heading.evidence(start, end, origin="rules")
    elif answer.quantity:
        quantity_ev = ground(heading, answer.quantity)
        parsed = parse_quantity(answer.quantity, drug=drug)
        if quantity_ev is None:
            step.dropped.append(f"{where}.quantity")
        elif not _has_amount(parsed):
            step.dropped.append(f"{where}.quantity: no number or unit in the model's quantity words")
        else:
            item.quantity = parsed
            item.evidence["quantity"] = quantity_ev


#: the request's fields with rules of their own, in this order (the category decides a drug's quantity)
HEADING_RULES = {"service": _service, "body_regions": _body_regions, "laterality": _laterality, "quantity": _quantity}


_BARE_DROP = {"service": "its words are not in the request", "quantity": "its words are not in the request",
              "category": "the service it rests on was not found", "laterality": "the request states no side"}
_WHY = {"ungrounded quote": "its quote is not in the rationale"}


def partial_note(det: Determination) -> str:
    """What a partial or failed model step left out, and why, in words (one line for stderr):
    "model step partial: dropped items[0].quantity (no number or unit ...); 1 warning: ..." """
    step = det.model_step
    parts = []
    if step.dropped:
        said = []
        for entry in step.dropped:
            where, _, why = entry.partition(": ")
            field = where.rsplit(".", 1)[-1]
            if not why:
                why = _BARE_DROP.get(field, "not found in the letter")
            elif field == "body_regions":
                where, why = f"{where} {why}", "the request does not name it"
            said.append(f"{where} ({_WHY.get(why, why)})")
        parts.append(f"dropped {len(said)} value(s): " + ", ".join(said))
    warnings = [w for w in det.warnings if "model" in w]
    if warnings:
        parts.append(f"{len(warnings)} warning(s): " + "; ".join(warnings))
    return f"model step {step.status}: " + ("; ".join(parts) if parts else "no value dropped")


def _pair(category: str | None, subcategory: str | None) -> str | None:
    return None if category is None else f"{category}/{subcategory}" if subcategory else category


def _decide_category(source: SourceText, det: Determination, item: DisputedItem, heading: Section,
                     answer: RequestAnswer, match, service_ev: Evidence | None) -> None:
    """Category in this order (issue 16): the guideline topic the reviewer cites for this item (the
    section table), the vocabulary read with the item's context, then the model. Within the chosen
    category the heading's words (the vocabulary) give the subcategory when they know it. Every
    decider's answer is kept in `model_step.candidates`; the value's evidence says which decided."""
    where, step = f"items[{item.index}]", det.model_step
    citations = item.reviewer_basis.citations if item.reviewer_basis is not None else []
    table = section_decide(heading.text, citations)
    basis = citations[table.citation].evidence if table is not None else None
    cited = _section(source, basis, f"{where}.reviewer_basis")
    table_ev = ground(cited, table.text[table.start:table.end]) if cited is not None else None
    model_fits = answer.category is not None and subcategory_problem(answer.category, answer.subcategory) is None
    candidates = {
        "section_table": _pair(table.row.category, table.row.subcategory) if table_ev is not None else None,
        "vocabulary": _pair(match.category, match.subcategory) if match is not None else None,
        "model": _pair(answer.category, answer.subcategory if model_fits else None) if service_ev is not None else None,
    }
    if table_ev is not None:
        category = table.row.category  # the subcategory: the heading's words', the row's, else the model's
        heading_sub = match.subcategory if match is not None and match.category == category else None
        model_sub = answer.subcategory if answer.category == category and model_fits else None
        subcategory = heading_sub or table.row.subcategory or model_sub
        evidence, decided_by = table_ev.model_copy(update={"origin": "section_table"}), "section_table"
    elif match is not None:
        category, subcategory = match.category, match.subcategory
        evidence, decided_by = heading.evidence(match.start, match.end, origin="rules"), "vocabulary"
    elif service_ev is not None and answer.category is not None:
        category, subcategory = answer.category, answer.subcategory if model_fits else None
        if not model_fits:
            step.dropped.append(f"{where}.subcategory: {answer.subcategory} is not a {answer.category} subcategory")
        elif subcategory == "Dental":  # the vocabulary knows every dental word; none is in this heading
            step.dropped.append(f"{where}.subcategory: Dental, but the request names no dental treatment")
            subcategory = None
        evidence, decided_by = service_ev, "model"
    else:
        if answer.category is not None:
            step.dropped.append(f"{where}.category")
        step.candidates[f"{where}.category"] = {**candidates, "decided_by": None, "chosen": None}
        return
    item.category, item.subcategory = category, subcategory  # type: ignore[assignment]
    item.evidence["category"] = evidence
    step.candidates[f"{where}.category"] = {**candidates, "decided_by": decided_by, "chosen": _pair(category, subcategory)}
    if decided_by != "model" and answer.category is not None and (answer.category, answer.subcategory) != (category, subcategory):
        step.corrected.append(f"{where}.category: model {answer.category}/{answer.subcategory}, "
                              f"{decided_by.replace('_', ' ')} {category}/{subcategory}")


def _has_amount(quantity) -> bool:
    """A quantity states a number or a unit ("without contrast" does not)."""
    numbers = ("count", "frequency_per_week", "duration_weeks", "total_sessions", "strength", "dispense_qty")
    return any(getattr(quantity, f) is not None for f in numbers) or (
        bool(quantity.raw) and find_quantity(quantity.raw) is not None)


def _aligned(det: Determination, answers: list, group: list) -> list:
    """Each item's answer from one call: in its place when the counts agree; when the model gave
    fewer, the next answer in order whose service is found in the item's heading (None for an item
    none fits). More answers than requests is an answer for text that is no request (a planted
    heading): none of them is used."""
    if len(answers) == len(group):
        return list(answers)
    det.warnings.append(f"{', '.join(f'items[{e[0].index}]' for e in group)}: "
                        f"the model gave {len(answers)} answers for {len(group)} requests")
    if len(answers) > len(group):
        return [None] * len(group)
    out, start = [], 0
    for _, heading, _, _ in group:
        fits = (j for j in range(start, len(answers)) if answers[j].service and locate(heading, answers[j].service))
        j = next(fits, None)
        out.append(None if j is None else answers[j])
        start = start if j is None else j + 1
    return out


def _section(source: SourceText, ev: Evidence | None, name: str) -> Section | None:
    if ev is None or ev.end <= ev.start:
        return None
    section = Section(source, source.norm_offset(ev.start), source.norm_offset(ev.end - 1) + 1, name)
    return section if section.text else None


def _count(usage: ModelUsage, done) -> None:
    record = done.record
    if record.cached:
        usage.cache_hits += 1
        return
    usage.calls += 1
    usage.http_attempts += record.attempts
    usage.retries += record.retries
    usage.prompt_tokens += record.prompt_tokens
    usage.completion_tokens += record.completion_tokens
    usage.model_seconds = round(usage.model_seconds + record.seconds, 3)
