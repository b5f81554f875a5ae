"""The eval harness: scoring rules on hand-computed cases, the scoring table, agreement with an
independent scorer, the task that gets scored, gold-format errors (schema values, the DWC
taxonomy), suites files, any folder pair, the baseline gate (and a deliberate regression it must
catch), the terminal table at 80 columns, and the HTML report opened in a real headless browser."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import typing

import pytest
from rich.console import Console

from imr_llm import schema
from imr_llm.api import Pipeline
from imr_llm.cli import main
from imr_llm.evaluation.baseline import compare, load_baseline, to_baseline
from imr_llm.evaluation.gold import (ITEM_KEYS, LETTER_KEYS, QUANTITY_KEYS, SECTION_KEYS, GoldFormatError,
                                     load_suite, load_suites_file)
from imr_llm.evaluation.report import print_terminal, write_html
from imr_llm.evaluation.runner import run_eval
from imr_llm.evaluation.scoring import (ALIGNMENT_METRIC, SCORING, aggregate, align_items, norm_text, score_letter,
                                        token_f1)
from imr_llm.taxonomy import SUBCATEGORIES
from conftest import DEV_LETTERS, GOLD_DEV, GOLD_SEEDS, LETTERS, ROOT, dev_letters_available, load_gold
from letter_factory import ItemSpec, LetterSpec, expected, render

SUITES_FILE = ROOT / "evals" / "suites.json"
BASELINE = ROOT / "evals" / "baseline.json"


def _suites():
    return load_suites_file(SUITES_FILE).suites


def _extract(path):
    return Pipeline().extract(path)


# -- scoring rules ---------------------------------------------------------------------------------

def test_scoring_rules_on_a_hand_computed_case():
    gold = {
        "case_number": "CM16-0000001", "date_of_injury": "2016-01-02", "priority": None,
        "reviewer": {"licensure_states": ["California", "Texas"], "specialties": ["Family Practice"]},
        "patient": {"age": 40, "sex": "male"},
        "items": [
            {"request": "MRI of the lumbar spine", "decision": "upheld",
             "reviewer_basis": {"sources": ["MTUS", "ODG"]}, "quantity": {"count": 8},
             "reasons": ["no red flags on exam"]},
            {"request": "Norco 10/325mg #60", "decision": "overturned", "reviewer_basis": {"sources": ["MTUS"]}},
        ],
        "outcome": "mixed",
    }
    pred = {
        "case_number": "cm16-0000001", "date_of_injury": "2016-01-03", "priority": None,
        "reviewer": {"licensure_states": ["California", "Ohio"], "specialties": ["Family Practice"]},
        "patient": {"age": 40, "sex": None},
        "items": [
            {"request": "MRI of the lumbar spine.", "decision": "upheld", "reviewer_basis": {"sources": ["ODG", "MTUS"]},
             "quantity": {"count": 8.0}, "reasons": ["exam showed no red flags"]},
            {"request": "Acupuncture x6", "decision": "upheld", "reviewer_basis": {"sources": ["MTUS"]}},
            {"request": "Norco 10/325 mg #60", "decision": "upheld", "reviewer_basis": {"sources": ["MTUS"]}},
        ],
        "outcome": "all_upheld",
    }
    result = score_letter("x", pred, gold)
    by_id = {c.id: c for c in result.checks}
    assert by_id["case_number"].ok  # normalised text: case-insensitive
    assert not by_id["date_of_injury"].ok and by_id["priority"].ok  # null labelled, null extracted
    states = by_id["reviewer.licensure_states"]
    assert (states.tp, states.fp, states.fn, states.ok) == (1, 1, 1, False)
    assert not by_id["patient.sex"].ok and by_id["patient.age"].ok
    assert [(g, p) for g, p, _ in result.alignment] == [(0, 0), (None, 1), (1, 2)]
    assert by_id["items.request@items[0]"].ok  # trailing period dropped by normalisation
    assert not by_id["items.request@items[1]"].ok  # "10/325 mg" vs "10/325mg": not equal
    assert by_id["items.decision@items[0]"].ok and not by_id["items.decision@items[1]"].ok
    src = by_id["items.reviewer_basis.sources@items[0]"]
    assert not src.ok and (src.tp, src.fp, src.fn) == (2, 0, 0)  # order matters for the exact list
    assert by_id["items.quantity.count@items[0]"].ok  # 8 == 8.0
    assert by_id["items.reasons@items[0]"].score == pytest.approx(token_f1("no red flags on exam", "exam showed no red flags"))
    align = by_id["items.alignment"]
    assert (align.tp, align.fp, align.fn) == (2, 1, 0)
    metrics = aggregate([result])
    assert metrics["items.decision"]["accuracy"] == 0.5
    assert metrics["items.alignment"]["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["reviewer.licensure_states"]["f1"] == 0.5


def test_missing_extraction_fails_every_labelled_field():
    gold = load_gold(GOLD_SEEDS / "002_e066e2eff228d9d9.json")
    result = score_letter("s2", None, gold, error="[empty_input] x")
    assert result.checks and not any(c.ok for c in result.checks if c.metric.startswith("items.") and c.where)


def test_alignment_is_order_preserving_and_thresholded():
    pairs = align_items(["a b c", "x y z", "mri of knee"], ["mri of knee", "a b c"])
    assert [(g, p) for g, p, _ in pairs if g is not None and p is not None] == [(0, 1)] or \
        [(g, p) for g, p, _ in pairs if g is not None and p is not None] == [(2, 0)]
    assert norm_text("  Norco, 10/325mg #60!  ") == "norco 10/325mg #60"


def _labelled_everywhere() -> dict:
    """A gold record (used as its own extraction too) that labels every field of the scoring table."""
    sample = {"exact": "x", "text": "some words", "set": ["a", "b"], "sources": ["MTUS"], "free": ["a reason"]}
    gold: dict = {"items": [{}]}
    for path, rule in SCORING.items():
        *parents, key = path.split(".")
        node = gold
        for part in parents:
            node = node["items"][0] if part == "items" else node.setdefault(part, {})
        node[key] = sample[rule.kind]
    return gold


def test_the_scoring_table_is_the_one_list_of_scored_fields():
    gold = _labelled_everywhere()
    result = score_letter("all", json.loads(json.dumps(gold)), gold)
    assert sorted(c.metric for c in result.checks) == sorted([r.metric for r in SCORING.values()] + [ALIGNMENT_METRIC])
    assert all(c.ok for c in result.checks)
    assert {c.kind for c in result.checks} == {r.kind for r in SCORING.values()} | {"align"}
    # and every scored field is a field of the schema the gold format is derived from
    known = {"": LETTER_KEYS, "items.": ITEM_KEYS, "items.quantity.": QUANTITY_KEYS,
             **{f"{section}.": keys for section, keys in SECTION_KEYS.items()}}
    for path in SCORING:
        prefix, key = path.rpartition(".")[0], path.rpartition(".")[2]
        if key == "sources":  # a guideline basis's families
            prefix, key = prefix.rpartition(".")[0], prefix.rpartition(".")[2]
        assert key in known[prefix + "." if prefix else ""], path


def test_an_unlabelled_field_is_not_scored_and_a_removed_key_drops_its_check():
    gold = _labelled_everywhere()
    for path in SCORING:
        trimmed = json.loads(json.dumps(gold))
        *parents, key = path.split(".")
        node = trimmed
        for part in parents:
            node = node["items"][0] if part == "items" else node[part]
        del node[key]
        metrics = {c.metric for c in score_letter("t", gold, trimmed).checks}
        assert SCORING[path].metric not in metrics and len(metrics) == len(SCORING), path


# -- the task is what gets scored -------------------------------------------------------------------

def test_the_task_callable_is_what_gets_scored():
    suite = load_suite("seeds", LETTERS, GOLD_SEEDS)
    with Pipeline() as pipeline:
        def drop_last_item(path):
            det = pipeline.extract(path)
            return det.model_copy(update={"items": det.items[:-1]})

        full = run_eval([suite], pipeline.extract).report["suites"]["seeds"]["metrics"]
        dropped = run_eval([suite], drop_last_item).report["suites"]["seeds"]["metrics"]
    n_items = full["items.decision"]["n"]
    assert full[ALIGNMENT_METRIC]["accuracy"] == 1.0 and full[ALIGNMENT_METRIC]["fn"] == 0
    # every labelled letter lost one item: each letter's alignment fails, one missed item per letter
    n = len(suite.pairs)
    assert dropped[ALIGNMENT_METRIC]["accuracy"] == 0.0
    assert dropped[ALIGNMENT_METRIC]["fn"] == n and dropped[ALIGNMENT_METRIC]["tp"] == n_items - n
    assert dropped["items.decision"]["accuracy"] == pytest.approx((n_items - n) / n_items, abs=1e-6)


def test_an_imr_error_from_the_task_is_that_letters_error():
    from imr_llm.errors import NotAnImrLetter

    def task(path):
        if path.stem == "003_bd44697b6f0a7cef":
            raise NotAnImrLetter(f"{path.name}: not an IMR letter")
        return _extract(path)

    suite = load_suite("seeds", LETTERS, GOLD_SEEDS)
    report = run_eval([suite], task).report["suites"]["seeds"]
    assert report["errors"] == {"003_bd44697b6f0a7cef": "[not_an_imr_letter] 003_bd44697b6f0a7cef.txt: not an IMR letter"}
    failed = report["per_letter"]["003_bd44697b6f0a7cef"]["checks"]
    assert failed and not any(c["ok"] for c in failed if c["where"])
    assert all(not letter["error"] for stem, letter in report["per_letter"].items() if stem != "003_bd44697b6f0a7cef")


# -- an independent scorer, written from evals/README.md only -----------------------------------------

def _independent(report_suite: dict, gold_dir, letters_dir):
    """Re-derive a few metrics from the README's rules without imr_llm's scoring code."""
    import imr_llm

    def norm(s):
        s = re.sub(r"[^\w\s#%/.]+|(?<![0-9])\.|\.(?![0-9])", " ", (s or "").lower())
        return re.sub(r"\s+", " ", s).strip()

    counts = {"decision": [0, 0], "request": [0, 0], "reviewer_sources": [0, 0], "date_of_injury": [0, 0]}
    for gold_path in sorted(gold_dir.glob("*.json")):
        letter = next(letters_dir.glob(gold_path.stem + ".*"))
        gold = json.loads(gold_path.read_text())
        pred = imr_llm.extract(letter).model_dump(mode="json")
        counts["date_of_injury"][0] += pred["date_of_injury"] == gold["date_of_injury"]
        counts["date_of_injury"][1] += 1
        for g, p in zip(gold["items"], pred["items"]):  # same counts on these letters
            counts["decision"][0] += g["decision"] == p["decision"]
            counts["request"][0] += norm(g["request"]) == norm(p["request"])
            counts["reviewer_sources"][0] += g["reviewer_basis"]["sources"] == p["reviewer_basis"]["sources"]
            for k in ("decision", "request", "reviewer_sources"):
                counts[k][1] += 1
    metrics = report_suite["metrics"]
    assert metrics["items.decision"]["accuracy"] == pytest.approx(counts["decision"][0] / counts["decision"][1])
    assert metrics["items.request"]["accuracy"] == pytest.approx(counts["request"][0] / counts["request"][1])
    assert metrics["items.reviewer_basis.sources"]["accuracy"] == pytest.approx(
        counts["reviewer_sources"][0] / counts["reviewer_sources"][1])
    assert metrics["date_of_injury"]["accuracy"] == pytest.approx(counts["date_of_injury"][0] / counts["date_of_injury"][1])
    assert metrics["items.decision"]["n"] == counts["decision"][1]


def test_harness_agrees_with_an_independent_scorer():
    with Pipeline() as pipeline:
        run = run_eval(_suites(), pipeline.extract)
    _independent(run.report["suites"]["seeds"], GOLD_SEEDS, LETTERS)
    if dev_letters_available():
        _independent(run.report["suites"]["dev"], GOLD_DEV, DEV_LETTERS)


# -- gold format -------------------------------------------------------------------------------------

@pytest.mark.parametrize("content,problem", [
    ("{not json", "not valid JSON"),
    ('{"items": [{"decision": "partially"}]}', "upheld or overturned"),
    ('{"date_of_injury": "10/14/2010"}', "YYYY-MM-DD"),
    ('{"items": [{"reviewer_basis": {"sources": ["MTUS", "Guideline"]}}]}', "unknown families"),
    ('{"items": [{"quantity": 8}]}', "quantity must be an object"),
    ('{"items": [{"category": "Imaging"}]}', "category 'Imaging' is not a DWC category"),
    ('{"items": [{"category": "Injection", "subcategory": "Opioids"}]}', "subcategory 'Opioids' is not one of 'Injection'"),
    ('{"items": [{"category": "Therapies", "subcategory": "Other"}]}', "'Therapies' has no subcategories"),
    ('{"items": [{"category": null, "subcategory": "Facet"}]}', "subcategory 'Facet' given without a category"),
    ('{"items": [{"subcategory": "Knee"}]}', "subcategory 'Knee' is in no DWC category"),
    ('{"items": [{"laterality": "both"}]}', "laterality must be left, right, bilateral or null"),
    ('{"items": [{"body_regions": ["low_back", "lumbar"]}]}', "body_regions has unknown regions ['lumbar']"),
    ('{"patient": {"sex": "M"}}', "'patient.sex' must be male, female or null"),
    ('{"outcome": "partial"}', "'outcome' must be all_upheld, all_overturned or mixed"),
])
def test_malformed_gold_is_reported_with_file_and_problem(tmp_path, content, problem):
    (tmp_path / "letters").mkdir()
    (tmp_path / "gold").mkdir()
    (tmp_path / "gold" / "a.json").write_text(content)
    with pytest.raises(GoldFormatError, match=re.escape(problem)) as info:
        load_suite("t", tmp_path / "letters", tmp_path / "gold")
    assert "a.json" in str(info.value)


def test_gold_values_are_the_schemas_and_the_taxonomys():
    from imr_llm.evaluation.gold import validate

    assert set(SUBCATEGORIES) == set(typing.get_args(schema.Category))
    for category, subcategories in SUBCATEGORIES.items():
        for subcategory in subcategories or (None,):
            assert validate({"items": [{"category": category, "subcategory": subcategory}]}) == [], (category, subcategory)
        assert validate({"items": [{"category": category, "subcategory": None}]}) == []
    item = {"laterality": None, "body_regions": list(typing.get_args(schema.BodyRegion)),
            "reviewer_basis": {"sources": list(typing.get_args(schema.SourceFamily))}}
    for side in typing.get_args(schema.Laterality):
        assert validate({"items": [dict(item, laterality=side)]}) == []
    assert validate({"priority": None, "items": [item]}) == []
    for gold in sorted(GOLD_SEEDS.glob("*.json")) + sorted(GOLD_DEV.glob("*.json")):
        assert validate(load_gold(gold)) == [], gold.name


def test_unknown_gold_keys_are_warnings_not_errors(tmp_path):
    (tmp_path / "letters").mkdir()
    (tmp_path / "gold").mkdir()
    (tmp_path / "gold" / "a.json").write_text(
        '{"labeller": "me", "items": [{"decision": "upheld", "colour": 1, "rationale": "a schema field never scored"}]}')
    suite = load_suite("t", tmp_path / "letters", tmp_path / "gold")
    assert suite.warnings == ["a.json: unknown key 'labeller' ignored", "a.json: items[0]: unknown key 'colour' ignored",
                              "a.json: items[0]: 'rationale' is not scored (ignored)"]
    assert suite.missing_letters == ["a"]


def test_eval_runs_on_any_folder_pair_and_writes_reports(tmp_path, capsys):
    letters, gold = tmp_path / "my letters", tmp_path / "my gold"
    letters.mkdir()
    gold.mkdir()
    spec = LetterSpec(items=[ItemSpec("MRI of the right knee", "overturned", 1, 3),
                             ItemSpec("Norco 10/325mg #90", "upheld", 0, 2, modified=1)])
    (letters / "mine.txt").write_text(render(spec))
    want = expected(spec)
    labels = {k: want[k] for k in ("case_number", "date_of_injury", "ur_denial_date", "priority")}
    labels["items"] = [{"request": i["request"], "decision": i["decision"], "modified_by_ur": i["modified_by_ur"],
                        "reviewer_basis": {"sources": i["rv"]}} for i in want["items"]]
    labels["items"][1]["decision"] = "overturned"  # a labelling the extractor disagrees with
    (gold / "mine.json").write_text(json.dumps(labels))
    shutil.copy(LETTERS / "003_bd44697b6f0a7cef.txt", letters / "unlabelled.txt")
    report = tmp_path / "out" / "report.json"
    code = main(["eval", "--letters", str(letters), "--gold", str(gold), "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(report.read_text())
    suite = data["suites"]["my letters"]
    assert suite["metrics"]["items.decision"]["accuracy"] == 0.5
    assert suite["metrics"]["items.request"]["accuracy"] == 1.0
    assert suite["unlabelled_letters"] == ["unlabelled"]
    assert suite["decision_confusion"] == {"overturned": {"overturned": 1, "upheld": 1}}
    assert "items.decision" in out and data["manifest"]["schema_hash"]


def test_eval_usage_errors(capsys, tmp_path):
    assert main(["eval", "--letters", str(LETTERS)]) == 2
    assert main(["eval", "--letters", str(tmp_path / "none"), "--gold", str(GOLD_SEEDS)]) == 2
    assert main(["eval", "--suites", str(SUITES_FILE), "--compare", str(tmp_path / "missing.json"),
                 "--report", str(tmp_path / "r.json")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == ["imr-llm eval: error: give --letters and --gold in pairs",
                      f"imr-llm eval: error: suite 'none': letters folder {tmp_path / 'none'} is not a folder",
                      f"imr-llm eval: error: baseline {tmp_path / 'missing.json'} not found (create it with --bless)"]


# -- the baseline gate ---------------------------------------------------------------------------------

def test_no_regression_against_the_committed_baseline():
    """The CI gate: the seeds and (where present) the dev letters score at least the blessed baseline."""
    with Pipeline() as pipeline:
        run = run_eval(_suites(), pipeline.extract)
    comparison = compare(run.report, load_baseline(BASELINE))
    assert not comparison.metric_regressions, comparison.metric_regressions
    assert not comparison.letter_regressions, comparison.letter_regressions
    assert "seeds" in load_baseline(BASELINE)["suites"] and "dev" in load_baseline(BASELINE)["suites"]


def _drop_overturned(monkeypatch):
    import imr_llm.parsing as parsing

    real = parsing.read_items

    def broken(source, start, end):
        items, rejected, _ = real(source, start, end)
        return [item for item in items if item.decision != "overturned"], rejected, {}

    monkeypatch.setattr(parsing, "read_items", broken)


def test_a_deliberate_regression_fails_compare_and_names_the_letters(monkeypatch, capsys, tmp_path):
    _drop_overturned(monkeypatch)  # "a parser change that drops one item type"
    code = main(["eval", "--suites", str(SUITES_FILE), "--compare", "--report", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert "REGRESSION" in out and "003_bd44697b6f0a7cef" in out
    report = json.loads((tmp_path / "r.json").read_text())
    regressed = {(r["suite"], r["letter"]) for r in report["comparison"]["letter_regressions"]}
    assert ("seeds", "003_bd44697b6f0a7cef") in regressed
    if dev_letters_available():
        overturned = {p.stem for p in GOLD_DEV.glob("*.json")
                      if any(i["decision"] == "overturned" for i in load_gold(p)["items"])}
        assert overturned and {("dev", s) for s in overturned} <= regressed
    assert any(r["metric"] == "items.decision" for r in report["comparison"]["metric_regressions"])


def test_bless_then_compare_is_clean(tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    assert main(["eval", "--letters", str(LETTERS), "--gold", str(GOLD_SEEDS), "--bless", "--baseline", str(baseline),
                 "--report", str(tmp_path / "r.json")]) == 0
    data = json.loads(baseline.read_text())
    text = json.dumps(data)
    assert "Physical therapy" not in text and "PHYSICAL" not in text  # no letter text in a committed file
    assert main(["eval", "--letters", str(LETTERS), "--gold", str(GOLD_SEEDS), "--compare", str(baseline),
                 "--report", str(tmp_path / "r2.json")]) == 0
    assert to_baseline(json.loads((tmp_path / "r.json").read_text()))["suites"] == data["suites"]


def test_free_text_judge_scores_are_aggregated():
    class FakeJudge:
        calls = 0

        def score(self, field, reference, candidate):
            FakeJudge.calls += 1
            return 0.25

    suite = load_suite("seeds", LETTERS, GOLD_SEEDS)
    labelled = sum(1 for _, _, gold in suite.pairs for item in gold["items"] if item.get("reasons"))
    run = run_eval([suite], _extract, judge=FakeJudge())
    reasons = run.report["suites"]["seeds"]["metrics"]["items.reasons"]
    assert reasons["judge_mean"] == 0.25 and reasons["judged"] == labelled and FakeJudge.calls >= labelled


# -- the HTML report in a real browser -------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine")
def test_html_report_opens_in_headless_chromium_and_shows_the_diffs(monkeypatch, tmp_path):
    _drop_overturned(monkeypatch)
    suite = load_suite("seeds", LETTERS, GOLD_SEEDS)
    run = run_eval([suite], _extract, keep_text=True)
    comparison = compare(run.report, load_baseline(BASELINE))
    page = tmp_path / "report.html"
    write_html(run, page, comparison)
    html_text = page.read_text()
    assert "<link" not in html_text and "src=\"http" not in html_text  # self-contained
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    dom = proc.stdout
    assert "imr-llm eval report" in dom, proc.stderr[-2000:]
    assert "REGRESSED" in dom
    # the dropped overturned item of seed 003 shows as a diff: expected 'overturned', got nothing
    block = dom[dom.index('id="seeds-003_bd44697b6f0a7cef"'):]
    block = block[: block.index("</details>")]
    assert "items.decision" in block and "overturned" in block and "— (not stated)" in block
    assert "unsupported_layout" in block and "CLINICAL CASE SUMMARY" in block  # the letter text is shown
    other = dom[dom.index('id="seeds-002_e066e2eff228d9d9"'):]
    other = other[: other.index("</details>")]
    assert '<mark id="seeds-002_e066e2eff228d9d9-m' in other and 'class="ok"' in other  # evidence highlighted


def test_suites_from_folders_with_the_same_name_stay_apart(tmp_path, capsys):
    a, b = tmp_path / "a" / "letters", tmp_path / "b" / "letters"
    for folder in (a, b):
        folder.mkdir(parents=True)
        shutil.copy(LETTERS / "003_bd44697b6f0a7cef.txt", folder)
    report = tmp_path / "r.json"
    code = main(["eval", "--letters", str(a), "--gold", str(GOLD_SEEDS), "--letters", str(b), "--gold", str(GOLD_SEEDS),
                 "--report", str(report)])
    assert code == 0
    suites = json.loads(report.read_text())["suites"]
    assert sorted(suites) == ["letters", "letters-2"] and all(s["letters"] == 1 for s in suites.values())


# -- where the suites come from -------------------------------------------------------------------------

def _write_suites(folder, *suites, **extra):
    """A suites file in `folder` whose paths are relative to it, as in evals/suites.json."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [{"name": name, "letters": os.path.relpath(letters, folder), "gold": os.path.relpath(gold, folder)}
               for name, letters, gold in suites]
    (folder / "suites.json").write_text(json.dumps({"suites": entries, **extra}))
    return folder / "suites.json"


def test_the_projects_suites_file():
    config = load_suites_file(SUITES_FILE)
    seeds = next(s for s in config.suites if s.name == "seeds")
    assert seeds.letters_dir.resolve() == LETTERS.resolve() and seeds.gold_dir.resolve() == GOLD_SEEDS.resolve()
    assert config.baseline.resolve() == BASELINE.resolve()
    if dev_letters_available():
        assert [s.name for s in config.suites] == ["seeds", "dev"] and not config.skipped
    else:
        assert [s.name for s in config.suites] == ["seeds"] and config.skipped[0].startswith("suite 'dev' skipped")


def test_eval_finds_the_suites_file_in_the_current_directory(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    evals = project / "evals"
    suites_file = _write_suites(evals, ("mine", LETTERS, GOLD_SEEDS), ("absent", tmp_path / "not here", GOLD_SEEDS))
    monkeypatch.chdir(project)
    assert main(["eval", "--report", "r.json"]) == 0
    err = capsys.readouterr().err
    assert f"imr-llm eval: note: suite 'absent' skipped: its letters folder {evals / os.path.relpath(tmp_path / 'not here', evals)}" in err
    report = json.loads((project / "r.json").read_text())
    assert list(report["suites"]) == ["mine"]
    assert report["suites"]["mine"]["letters"] == len(load_suite("x", LETTERS, GOLD_SEEDS).pairs)
    # the default baseline is the one next to the suites file
    assert main(["eval", "--compare", "--report", "r.json"]) == 2
    assert f"baseline {evals / 'baseline.json'} not found" in capsys.readouterr().err
    assert main(["eval", "--bless", "--report", "r.json"]) == 0 and (evals / "baseline.json").is_file()
    assert main(["eval", "--compare", "--report", "r.json"]) == 0
    assert "no regression against the baseline" in capsys.readouterr().out
    # --suites FILE works from anywhere, and may name another baseline
    _write_suites(evals, ("mine", LETTERS, GOLD_SEEDS), baseline="other.json")
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--suites", str(suites_file), "--bless", "--report", "r.json"]) == 0
    assert (evals / "other.json").is_file()


def test_eval_with_no_suites_or_no_letters_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["eval"]) == 2
    err = capsys.readouterr().err
    assert err == (f"imr-llm eval: error: no suites to run: no evals/suites.json in {tmp_path}; "
                   "give --letters DIR --gold DIR, or --suites FILE\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    _write_suites(tmp_path / "evals", ("seeds", empty, GOLD_SEEDS))
    assert main(["eval"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imr-llm eval: error: no labelled letters to score in the suites of ") and err.count("\n") == 1
    assert main(["eval", "--letters", str(empty), "--gold", str(GOLD_SEEDS)]) == 2
    assert "no labelled letters to score" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()  # nothing was written


def test_installed_command_run_outside_the_project_exits_2(tmp_path):
    """What a user gets after `pip install` when they run `imr-llm eval` in some folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMR_LLM_")}
    proc = subprocess.run([os.sys.executable, "-m", "imr_llm.cli", "eval"], cwd=tmp_path, capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("imr-llm eval: error: no suites to run") and proc.stderr.count("\n") == 1


# -- the terminal table ------------------------------------------------------------------------------------

def _assert_table_fits(out: str, metrics: dict) -> None:
    """No line over 80 characters, and each metric's row whole: its full name, n, accuracy and
    coverage as printed, with nothing cut or wrapped onto another line."""
    lines = out.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, [line for line in lines if len(line) > 80]
    rows: dict[str, list[str]] = {}
    for line in lines:  # the table's rows come before any prose that mentions a metric
        if line.strip():
            rows.setdefault(line.split()[0], line.split())
    for name, m in metrics.items():
        assert name in rows, f"no row starts with the whole metric name {name!r}"
        row = rows[name]
        assert row[1:3] == [str(m["n"]), f"{m['accuracy']:.3f}"], row
        assert f"{m['coverage']:.2f}" in row[3:], row
        if "f1" in m:
            assert f"{m['precision']:.2f}/{m['recall']:.2f}/{m['f1']:.2f}" in row, row


def test_terminal_table_fits_80_columns_with_judge_and_baseline_marks(monkeypatch):
    class FakeJudge:
        def score(self, field, reference, candidate):
            return 0.5

    suite = load_suite("seeds", LETTERS, GOLD_SEEDS)
    with Pipeline() as pipeline:
        blessed = run_eval([suite], pipeline.extract).report
        _drop_overturned(monkeypatch)
        run = run_eval([suite], pipeline.extract, judge=FakeJudge())
    comparison = compare(run.report, to_baseline(blessed))
    assert comparison.metric_regressions
    buffer = io.StringIO()
    print_terminal(run, Console(width=80, file=buffer), comparison)
    out = buffer.getvalue()
    metrics = run.report["suites"]["seeds"]["metrics"]
    _assert_table_fits(out, metrics)
    header = next(line for line in out.splitlines() if line.startswith("field"))
    assert header.split() == ["field", "n", "acc", "P/R/F1·mean", "cover", "judge", "Δ"]
    decision_row = next(line for line in out.splitlines() if line.split()[0] == "items.decision")
    assert decision_row.rstrip().endswith("▼")
    reasons_row = next(line for line in out.splitlines() if line.split()[0] == "items.reasons")
    assert "0.500" in reasons_row.split()  # the judge column
    assert "vs baseline: " in out and "items.decision accuracy -" in out


def test_eval_output_fits_80_columns_when_piped(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["eval", "--letters", str(LETTERS), "--gold", str(GOLD_SEEDS), "--report", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    _assert_table_fits(out, report["suites"]["letters"]["metrics"])
    assert "judge" not in out.splitlines()[1]  # no judge column without a judge


# -- with a model: the pipeline's extraction is scored and the same client judges free text ----------------

def test_eval_with_a_model_scores_the_model_step_and_judges_with_its_client(monkeypatch, tmp_path):
    from imr_llm.enrich import Enricher
    from imr_llm.evaluation.judge import FreeTextJudge

    clients = []

    def fake_enrich(self, source, det):  # stands in for the model step: no network in tests
        clients.append(self.client)
        for item in det.items:
            item.category = "Surgery"

    def fake_score(self, field, reference, candidate):
        assert self.client is clients[-1]  # the judge uses the pipeline's model client
        return 0.75

    monkeypatch.setattr(Enricher, "enrich", fake_enrich)
    monkeypatch.setattr(FreeTextJudge, "score", fake_score)
    base = ["eval", "--letters", str(LETTERS), "--gold", str(GOLD_SEEDS), "--model", "fake-model",
            "--endpoint-kind", "vllm", "--cache-dir", str(tmp_path / "cache")]
    assert main(base + ["--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    metrics = report["suites"]["letters"]["metrics"]
    assert metrics["items.category"]["coverage"] == 1.0  # the model's values were what got scored
    assert metrics["items.reasons"]["judge_mean"] == 0.75
    assert report["manifest"]["model"] == "fake-model" and report["manifest"]["endpoint_kind"] == "vllm"
    assert main(base + ["--no-judge", "--no-cache", "--report", str(tmp_path / "r2.json")]) == 0
    metrics = json.loads((tmp_path / "r2.json").read_text())["suites"]["letters"]["metrics"]
    assert "judge_mean" not in metrics["items.reasons"] and metrics["items.category"]["coverage"] == 1.0


# -- the fitting / checking split (issue 16) --------------------------------------------------------

def test_split_file_is_the_seeded_stratified_split_of_the_dev_gold():
    from imr_llm.evaluation.split import SEED, gold_outcomes, load_split, split_letters

    root = ROOT / "evals"
    data = json.loads((root / "gold" / "split.json").read_text())
    outcomes = gold_outcomes(root / "gold" / "dev")
    assert data["seed"] == SEED and data["suites"]["dev"] == split_letters(outcomes)
    halves = load_split(root / "gold" / "dev")
    assert set(halves) == set(outcomes)  # every dev letter in exactly one half
    for stratum in (True, False):  # all upheld vs any overturned: each split in half
        stems = [s for s, o in outcomes.items() if (o == "all_upheld") is stratum]
        fitting = sum(halves[s] == "fitting" for s in stems)
        assert fitting - (len(stems) - fitting) in (0, 1)


def test_no_vocabulary_or_table_test_pins_a_checking_half_item():
    """Vocabularies and tables are fitted on the fitting half only: no string in their tests is a
    heading (or a disputed portion) of a checking-half item."""
    import ast

    from imr_llm.evaluation.scoring import norm_text
    from imr_llm.evaluation.split import load_split

    root = ROOT
    halves = load_split(root / "evals" / "gold" / "dev")
    checking = set()
    for stem, half in halves.items():
        if half == "checking":
            for item in json.loads((root / "evals" / "gold" / "dev" / f"{stem}.json").read_text())["items"]:
                checking |= {norm_text(v) for v in (item.get("request"), item.get("disputed_portion")) if v}
    assert checking
    for test_file in ("test_vocabulary.py",):
        tree = ast.parse((root / "tests" / test_file).read_text())
        strings = {norm_text(n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        pinned = sorted(strings & checking)
        assert not pinned, f"{test_file} pins checking-half headings: {pinned}"


def test_decider_figures_count_each_decider_alone():
    from imr_llm.evaluation.runner import decider_figures

    rows = [{"stem": "a", "gold": ("Rehabilitation", "PT/OT"),
             "candidates": {"section_table": "Rehabilitation/PT/OT", "vocabulary": "Diagnostic Testing/Imaging/Radiology",
                            "model": None, "decided_by": "section_table", "chosen": "Rehabilitation/PT/OT"}},
            {"stem": "b", "gold": ("Diagnostic Testing", "Imaging/Radiology"),
             "candidates": {"section_table": None, "vocabulary": "Diagnostic Testing/Imaging/Radiology",
                            "model": "Diagnostic Testing", "decided_by": "vocabulary",
                            "chosen": "Diagnostic Testing/Imaging/Radiology"}}]
    out = decider_figures(rows)
    assert out["section_table"] == {"answered": 1, "category_right": 1, "category_and_subcategory_right": 1,
                                    "accuracy_when_answered": 1.0}
    assert out["vocabulary"]["answered"] == 2 and out["vocabulary"]["category_right"] == 1
    assert out["model"]["category_right"] == 1 and out["model"]["category_and_subcategory_right"] == 0
    assert out["decided"]["category_and_subcategory_right"] == 2
    assert out["decided_by"] == {"section_table": 1, "vocabulary": 1, "model": 0}


@pytest.mark.parametrize("text", ["{}", '{"suites": {}}', "[1, 2]", "{not json", '{"suites": {"seeds": 3}}'],
                         ids=["empty object", "no suites", "a list", "not JSON", "a suite of nothing"])
def test_compare_with_a_file_that_is_not_a_baseline_is_a_usage_error_before_the_run(tmp_path, capsys, text):
    baseline, report = tmp_path / "baseline.json", tmp_path / "report.json"
    baseline.write_text(text)
    code = main(["eval", "--letters", str(LETTERS), "--gold", str(GOLD_SEEDS), "--compare", str(baseline),
                 "--report", str(report)])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err and "no regression" not in out  # never a gate passed over nothing
    assert err.splitlines() == [err.splitlines()[0]] and f"baseline {baseline}" in err
    assert not report.exists()
