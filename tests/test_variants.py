"""The variant corpus (tests/variants.py): benign forms real letters take and tampered letters,
made from the seeds, our written letters and (at test time, never saved) the DWC dev letters.

Benign: no item dropped or added, no decision changed, no false conflict, nothing flagged as
suspicious. Both kinds: the offline explanation passes its own guards (a guard failing on a page
whose decisions are right is a bug, never a message for the patient). Hostile: no real item lost, no
decision changed, and nothing planted accepted as an item without a conflict on it (which the
patient page shows). The confusion table is printed (`pytest -s`); BENCHMARKS.md has the full
run (`python benchmarks/variant_corpus.py`). The default run takes every STRIDE-th dev variant.
"""

from __future__ import annotations

import collections
import re

import pytest

from conftest import DEV_LETTERS, LETTERS, SEEDS, dev_letters_available
from imr_llm.errors import ImrError
from imr_llm.explain import explain
from imr_llm.parsing import parse
from imr_llm.reading import read_path, read_text
from variants import Variant, base_text, benign, hostile, score

STRIDE = 5  # dev-letter variants: every 5th in the default run (all of them in the benchmark)
EXPLAIN_STRIDE = 97  # and an offline explanation, both languages, for every 97th variant
COMMITTED_EXPLAIN_STRIDE = 7  # ... and every 7th of the committed letters' variants
LIMIT = "fake_item_in_rationale"  # the hostile family with the one known limit (below)


def bases(dev: bool) -> list[tuple[str, str]]:
    paths = sorted(DEV_LETTERS.glob("*.pdf")) if dev else [*SEEDS, LETTERS / "synthetic_2016_multi.txt"]
    out = []
    for path in paths:
        source = read_path(path)
        text = base_text(source.text)
        assert text is not None, f"{path.name} does not read back to its own items"
        out.append((path.name, text))
    return out


def run(variants: list[Variant], explain_every: int = 0) -> tuple[dict, list[str]]:
    """The confusion table {(benign|hostile, family): counts} and the first failures."""
    table: dict = collections.defaultdict(collections.Counter)
    failures: list[str] = []
    for n, v in enumerate(variants):
        family = re.sub(r"\[[^\]]*\]", "", v.family)
        row = table[("hostile" if v.hostile else "benign", family)]
        row["variants"] += 1
        source = read_text(v.text)
        try:
            det = parse(source)
        except ImrError:  # no item read at all: every real item is lost
            row.update(dropped=len(v.real), errors=1)
            failures.append(f"{v.base} {v.family}: no item read")
            continue
        counts = score(v, det)
        if explain_every and n % explain_every == 0:  # a tampered letter read right must pass too
            counts["guard_failures"] = sum(not explain(det, source, lang).passed for lang in ("en", "es"))
        row.update(counts)
        if any(counts.values()) and len(failures) < 10:
            failures.append(f"{v.base} {v.family}: {dict((k, x) for k, x in counts.items() if x)}")
    return table, failures


def print_table(table: dict) -> None:
    cols = ["variants", "dropped", "added", "decision_changed", "false_conflicts", "suspicious", "guard_failures",
            "planted_unflagged", "parts_wrong"]
    print("\n" + " | ".join(["kind", "family"] + cols))
    for (kind, family), row in sorted(table.items()):
        print(" | ".join([kind, family] + [str(row[c]) for c in cols]))


def test_the_corpus_is_large_and_varied_on_the_committed_letters():
    variants = [v for name, text in bases(dev=False) for v in benign(text, name) + hostile(text, name)]
    families = {v.family.split("[")[0] for v in variants}
    assert sum(not v.hostile for v in variants) >= 500 and sum(v.hostile for v in variants) >= 100
    assert {"verdict", "ur_modified", "rationale_ends_in_citation", "item_count", "heading_long", "heading_short",
            "lookalike", "fake_item_in_rationale", "fake_issues_header_in_summary", "contradicting_duplicate"} <= families
    phrasings = {v.family for v in variants if v.family.startswith("verdict[") and "+" not in v.family}
    assert len(phrasings) >= 30
    counts = {len(v.real) for v in variants if v.family.startswith("item_count")}
    assert counts == set(range(1, 22))


def test_no_benign_variant_of_the_committed_letters_changes_anything_and_no_planted_item_hides():
    variants = [v for name, text in bases(dev=False) for v in benign(text, name) + hostile(text, name)]
    table, failures = run(variants, explain_every=COMMITTED_EXPLAIN_STRIDE)
    print_table(table)
    assert not failures, failures


@pytest.mark.dev_letters
@pytest.mark.skipif(not dev_letters_available(), reason="the DWC dev letters are not on this machine")
def test_no_benign_variant_of_the_dev_letters_changes_anything_and_no_planted_item_hides():
    every = [v for name, text in bases(dev=True) for v in benign(text, name) + hostile(text, name)]
    # the known limit's family whole (its rate is bounded below, not a sample's), every STRIDE-th of the rest
    variants = [v for v in every if v.family == LIMIT] + [v for v in every if v.family != LIMIT][::STRIDE]
    assert sum(not v.hostile for v in variants) >= 2000
    table, failures = run(variants, explain_every=EXPLAIN_STRIDE)
    print_table(table)
    # the one known limit: a complete item planted right after a sentence that reads as a verdict,
    # with no instruction-like text and a decision its text agrees with, looks exactly like a real
    # item (BENCHMARKS.md counts it: 17 of 155); bounded here, every other count must be 0
    limit = table.pop(("hostile", LIMIT))
    assert limit["planted_unflagged"] <= 0.15 * limit["variants"] and sum(limit.values()) == \
        limit["variants"] + limit["planted_unflagged"], limit
    bad = {key: {k: x for k, x in row.items() if x and k != "variants"} for key, row in table.items()}
    assert not any(bad.values()), ({k: v for k, v in bad.items() if v}, failures)


def _rotated(path, angles: tuple[int, int]) -> bytes:
    import io

    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        for k in range(len(doc)):
            doc[k].set_rotation(angles[k % 2])
        buf = io.BytesIO()
        doc.save(buf)
        return buf.getvalue()
    finally:
        doc.close()


def test_pages_turned_by_rotate_read_like_upright_ones():
    """/Rotate 90, 180 and 270 on alternate pages: pdfium orders a turned page's text in display
    space (lines scrambled, an item lost); the reader reads every page unturned."""
    from imr_llm.reading import read_bytes

    paths = [LETTERS / "synthetic_2016_multi.pdf"]
    if dev_letters_available():
        paths += sorted(DEV_LETTERS.glob("*.pdf"))[::4]
    for path in paths:
        want = [(i.request, i.decision) for i in parse(read_path(path)).items]
        for angles in ((180, 270), (90, 180), (270, 0)):
            got = [(i.request, i.decision) for i in parse(read_bytes(_rotated(path, angles), path.name)).items]
            assert got == want, (path.name, angles)
