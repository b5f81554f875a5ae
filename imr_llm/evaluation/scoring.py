"""Per-field scoring of one extraction against one gold record. The measures (exact, text, sources,
set, free) are documented in evals/README.md so that anyone can reproduce every number; which
field gets which measure is the one table `SCORING`. Items are paired by an order-preserving
alignment maximising the summed heading `similarity` (pairs need ALIGN_THRESHOLD)."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..fields import FIELDS


class Rule(NamedTuple):
    kind: str  # exact | text | sources | set | free
    metric: str
    fuzzy: bool = False  # set only: one-to-one matches with `similarity` >= DIAGNOSIS_THRESHOLD


ITEMS = "items."  # fields under this prefix are scored per aligned item
ALIGNMENT_METRIC = "items.alignment"


def _rules(kind: str, *fields: str, fuzzy: bool = False) -> dict[str, Rule]:
    return {f: Rule(kind, f, fuzzy) for f in fields}


def _model(*names: str) -> dict[str, Rule]:
    return {ITEMS + path: Rule(kind, ITEMS + path) for name in names for path, kind in FIELDS[name].scoring}


# The one table of scored fields: gold field path (`items.` = each item) → rule, scored in this
# order; a field registered later is scored after these (`item_rules`).
SCORING: dict[str, Rule] = {
    **_rules("text", "case_number"),
    **_rules("exact", "date_assigned", "decision_date", "date_of_injury", "ur_denial_date", "application_received",
             "priority", "outcome"),
    **_rules("set", "reviewer.licensure_states", "reviewer.specialties", "reviewer.subspecialties"),
    **_rules("exact", "patient.age", "patient.sex"),
    **_rules("set", "diagnoses", fuzzy=True),
    **_rules("text", "items.request", "items.original_request", "items.ur_authorized", "items.disputed_portion"),
    **_model("service"),
    **_rules("exact", "items.decision", "items.modified_by_ur"),
    **_model("category", "subcategory", "laterality"),
    **_rules("sources", "items.claims_administrator_basis.sources", "items.reviewer_basis.sources"),
    **_model(*(name for name in FIELDS if name not in ("service", "category", "subcategory", "laterality"))),
}
LETTER_RULES = {f: r for f, r in SCORING.items() if not f.startswith(ITEMS)}
ITEM_RULES = {f[len(ITEMS):]: r for f, r in SCORING.items() if f.startswith(ITEMS)}  # path inside an item


def item_rules() -> dict[str, Rule]:
    """ITEM_RULES, and after them the rules of fields registered since (fields.register)."""
    later = {path: Rule(kind, ITEMS + path) for f in FIELDS.values() for path, kind in f.scoring if path not in ITEM_RULES}
    return {**ITEM_RULES, **later} if later else ITEM_RULES


ALIGN_THRESHOLD = 0.6
DIAGNOSIS_THRESHOLD = 0.8

STOP_WORDS = frozenset(
    "a an and are as at be been but by for from has have he her his in is it its no not of on or "
    "she that the their there this to was were which with without".split()
)
_PUNCT = re.compile(r"[^\w\s#%/.]+|(?<!\d)\.|\.(?!\d)")  # keep # % / and decimal points
_WS = re.compile(r"\s+")


def norm_text(value: Any) -> str:
    if value is None:
        return ""
    return _WS.sub(" ", _PUNCT.sub(" ", str(value).lower())).strip()


def similarity(a: Any, b: Any) -> float:
    """difflib ratio of the normalised strings (1.0 = identical, or both empty)."""
    return difflib.SequenceMatcher(None, norm_text(a), norm_text(b), autojunk=False).ratio()


def token_f1(gold: str, pred: str) -> float:
    g, p = ({t for t in re.findall(r"[a-z0-9]+", text.lower()) if t not in STOP_WORDS} for text in (gold, pred))
    tp = len(g & p)
    if not tp:
        return float(not g and not p)
    precision, recall = tp / len(p), tp / len(g)
    return 2 * precision * recall / (precision + recall)


@dataclass
class Check:
    """One labelled value compared with what was extracted."""

    metric: str  # e.g. "items.decision"
    where: str  # e.g. "items[2]" or "" for letter-level fields
    kind: str  # exact | text | sources | set | free | align
    expected: Any
    got: Any
    ok: bool
    score: float
    tp: int = 0
    fp: int = 0
    fn: int = 0
    filled: bool = False  # the extractor produced a (non-empty) value
    evidence: dict | None = None  # the extracted value's evidence span, for the HTML diff
    judge: float | None = None  # LLM-judge score for free text, when a model is configured

    @property
    def id(self) -> str:
        return f"{self.metric}@{self.where}" if self.where else self.metric

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in ("metric", "where", "kind", "expected", "got", "ok", "score", "filled")}
        if self.judge is not None:
            out["judge"] = self.judge
        if self.kind in ("sources", "set", "align"):
            out.update(tp=self.tp, fp=self.fp, fn=self.fn)
        if self.evidence:
            out["evidence"] = self.evidence
        return out


@dataclass
class LetterResult:
    stem: str
    checks: list[Check] = field(default_factory=list)
    alignment: list[tuple[int | None, int | None, float]] = field(default_factory=list)  # (gold i, pred j, sim)
    error: str | None = None

    def to_json(self) -> dict:
        return {"error": self.error, "alignment": [list(a) for a in self.alignment],
                "checks": [c.to_json() for c in self.checks]}


def score_letter(stem: str, pred: dict | None, gold: dict, error: str | None = None) -> LetterResult:
    """Compare one extraction (Determination JSON, or None when extraction failed) with its gold."""
    result = LetterResult(stem=stem, error=error)
    p = pred or {}
    result.checks = _score_fields(LETTER_RULES, "", gold, p)
    if "items" in gold:
        g_items, p_items = gold["items"], p.get("items") or []
        result.alignment = align_items([i.get("request") for i in g_items], [i.get("request") for i in p_items])
        matched = sum(1 for gi, pj, _ in result.alignment if gi is not None and pj is not None)
        ok = matched == len(g_items) == len(p_items)
        result.checks.append(Check(ALIGNMENT_METRIC, "", "align", len(g_items), len(p_items), ok, float(ok), tp=matched,
                                   fp=len(p_items) - matched, fn=len(g_items) - matched, filled=bool(p_items)))
        for gi, pj, _ in result.alignment:
            if gi is None:
                continue
            checks = _score_fields(item_rules(), f"items[{gi}]", g_items[gi], p_items[pj] if pj is not None else {})
            if pj is None:  # a labelled item with no extracted partner fails every field
                for c in checks:
                    c.ok, c.score, c.got, c.filled = False, 0.0, None, False
            result.checks += checks
    return result


def _score_fields(rules: dict[str, Rule], where: str, gold: dict, pred: dict) -> list[Check]:
    """A check per rule whose dotted path the gold labels (the key is present, and every section on
    the way is an object)."""
    checks = []
    for path, rule in rules.items():
        *parents, key = path.split(".")
        g_section, p_section = gold, pred
        for part in parents:
            g_section = g_section.get(part)
            if not isinstance(g_section, dict):
                break
            p_section = p_section.get(part) or {}
        else:
            if key in g_section:
                checks.append(_measure(rule, where, g_section[key], p_section.get(key), _evidence(p_section, key)))
    return checks


def _evidence(section: dict, key: str) -> dict | None:
    """The extracted value's span: the section's evidence map entry for `key`, or, for a value
    inside an object with one span of its own (a guideline basis), that span."""
    evidence = section.get("evidence")
    if not isinstance(evidence, dict):
        return None
    return evidence if "start" in evidence else evidence.get(key)


def _measure(rule: Rule, where: str, expected: Any, got: Any, evidence: dict | None) -> Check:
    """Score one labelled value by its rule's measure (evals/README.md)."""
    tp = fp = fn = 0
    if rule.kind == "free":
        p_text = "; ".join(got or [])
        score = token_f1("; ".join(expected or []), p_text)
        return Check(rule.metric, where, "free", expected, got or [], score >= 0.5, score, filled=bool(p_text))
    if rule.kind == "text":
        ok = norm_text(expected) == norm_text(got)  # None and "" both mean "not stated"
    elif rule.kind == "exact":
        ok = _equal(expected, got)
    elif rule.kind == "sources":
        g, p = set(expected), set(got or [])
        ok, tp, fp, fn = list(expected) == list(got or []) and got is not None, len(g & p), len(p - g), len(g - p)
    elif rule.kind == "set":
        g, p = [norm_text(x) for x in expected or []], [norm_text(x) for x in got or []]
        got, evidence = got or [], None
        if rule.fuzzy:
            tp = _fuzzy_matches(g, p, DIAGNOSIS_THRESHOLD)
            fp, fn = len(p) - tp, len(g) - tp
        else:
            tp, fp, fn = len(set(g) & set(p)), len(set(p) - set(g)), len(set(g) - set(p))
        ok = fp == 0 and fn == 0
    else:
        raise ValueError(f"unknown scoring kind {rule.kind!r} for {rule.metric.removeprefix(ITEMS)}")
    return Check(rule.metric, where, rule.kind, expected, got, ok, 1.0 if ok else 0.0, tp=tp, fp=fp, fn=fn,
                 filled=got not in (None, "", []), evidence=evidence)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) < 1e-9
    return a == b


def _fuzzy_matches(gold: list[str], pred: list[str], threshold: float) -> int:
    """Greedy one-to-one matching, most similar pairs first."""
    scored = sorted(((similarity(a, b), i, j) for i, a in enumerate(gold) for j, b in enumerate(pred)), reverse=True)
    used_g, used_p = set(), set()
    for s, i, j in scored:
        if s >= threshold and i not in used_g and j not in used_p:
            used_g.add(i)
            used_p.add(j)
    return len(used_g)


def align_items(gold: list[str | None], pred: list[str | None]) -> list[tuple[int | None, int | None, float]]:
    """Order-preserving alignment maximising summed heading similarity (pairs need ≥ ALIGN_THRESHOLD):
    (gold index or None, pred index or None, similarity) in letter order."""
    n, m = len(gold), len(pred)
    sim = [[similarity(gold[i], pred[j]) for j in range(m)] for i in range(n)]
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            take = sim[i][j] + best[i + 1][j + 1] if sim[i][j] >= ALIGN_THRESHOLD else -1.0
            best[i][j] = max(take, best[i + 1][j], best[i][j + 1])
    out: list[tuple[int | None, int | None, float]] = []
    i = j = 0
    while i < n and j < m:
        if sim[i][j] >= ALIGN_THRESHOLD and abs(best[i][j] - (sim[i][j] + best[i + 1][j + 1])) < 1e-12:
            out.append((i, j, sim[i][j]))
            i, j = i + 1, j + 1
        elif abs(best[i][j] - best[i + 1][j]) < 1e-12:
            out.append((i, None, 0.0))
            i += 1
        else:
            out.append((None, j, 0.0))
            j += 1
    out += [(k, None, 0.0) for k in range(i, n)] + [(None, k, 0.0) for k in range(j, m)]
    return out


def aggregate(results: list[LetterResult]) -> dict[str, dict]:
    by_metric: dict[str, list[Check]] = {}
    for c in (c for result in results for c in result.checks):
        by_metric.setdefault(c.metric, []).append(c)
    return {name: _metric_json(by_metric[name]) for name in sorted(by_metric)}


def _metric_json(checks: list[Check]) -> dict:
    n, kind = len(checks), checks[0].kind
    out: dict[str, Any] = {"kind": kind, "n": n, "accuracy": _ratio(sum(c.ok for c in checks), n),
                           "coverage": _ratio(sum(c.filled for c in checks), n)}
    if kind == "free":
        out["mean_score"] = _ratio(sum(c.score for c in checks), n)
        judged = [c.judge for c in checks if c.judge is not None]
        if judged:
            out["judge_mean"] = _ratio(sum(judged), len(judged))
            out["judged"] = len(judged)
    if kind in ("sources", "set", "align"):
        tp, fp, fn = (sum(getattr(c, k) for c in checks) for k in ("tp", "fp", "fn"))
        # with nothing predicted (or nothing labelled) the ratio is 1 only if the other side is empty too
        precision = _ratio(tp, tp + fp) if tp + fp else float(fn == 0)
        recall = _ratio(tp, tp + fn) if tp + fn else float(fp == 0)
        out.update(precision=precision, recall=recall, f1=_f1(precision, recall), tp=tp, fp=fp, fn=fn)
    return out


def _ratio(a: float, b: float) -> float:
    return round(a / b, 6) if b else 1.0


def _f1(p: float, r: float) -> float:
    return round(2 * p * r / (p + r), 6) if p + r else 0.0


def decision_confusion(results: list[LetterResult]) -> dict[str, dict[str, int]]:
    """gold decision → extracted decision ('missing' when no item was extracted) → count."""
    matrix: dict[str, Counter] = {}
    for c in (c for result in results for c in result.checks if c.metric == "items.decision"):
        matrix.setdefault(str(c.expected), Counter())[str(c.got) if c.got is not None else "missing"] += 1
    return matrix
