"""The eval harness: scoring rules on hand-computed cases, agreement with an independent scorer,
gold-format errors, any folder pair, the baseline gate (and a deliberate regression it must
catch), and the HTML report opened in a real headless browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from imr_llm.cli import main
from imr_llm.evaluation.baseline import compare, load_baseline, to_baseline
from imr_llm.evaluation.cli import DEFAULT_SUITES
from imr_llm.evaluation.gold import GoldFormatError, load_suite
from imr_llm.evaluation.report import write_html
from imr_llm.evaluation.runner import run_eval
from imr_llm.evaluation.scoring import aggregate, align_items, norm_text, score_letter, token_f1
from conftest import GOLD_DEV, GOLD_SEEDS, LETTERS, ROOT, dev_letters_available, load_gold
from letter_factory import ItemSpec, LetterSpec, expected, render

BASELINE = ROOT / "evals" / "baseline.json"


def _suites():
    return [load_suite(name, letters, gold) for name, letters, gold in DEFAULT_SUITES if letters.is_dir()]


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
    run = run_eval(_suites())
    _independent(run.report["suites"]["seeds"], GOLD_SEEDS, LETTERS)
    if dev_letters_available():
        _independent(run.report["suites"]["dev"], GOLD_DEV, DEFAULT_SUITES[1][1])


# -- gold format -------------------------------------------------------------------------------------

@pytest.mark.parametrize("content,problem", [
    ("{not json", "not valid JSON"),
    ('{"items": [{"decision": "partially"}]}', "upheld or overturned"),
    ('{"date_of_injury": "10/14/2010"}', "YYYY-MM-DD"),
    ('{"items": [{"reviewer_basis": {"sources": ["MTUS", "Guideline"]}}]}', "unknown families"),
    ('{"items": [{"quantity": 8}]}', "quantity must be an object"),
])
def test_malformed_gold_is_reported_with_file_and_problem(tmp_path, content, problem):
    (tmp_path / "letters").mkdir()
    (tmp_path / "gold").mkdir()
    (tmp_path / "gold" / "a.json").write_text(content)
    with pytest.raises(GoldFormatError, match=re.escape(problem)) as info:
        load_suite("t", tmp_path / "letters", tmp_path / "gold")
    assert "a.json" in str(info.value)


def test_unknown_gold_keys_are_warnings_not_errors(tmp_path):
    (tmp_path / "letters").mkdir()
    (tmp_path / "gold").mkdir()
    (tmp_path / "gold" / "a.json").write_text('{"labeller": "me", "items": [{"decision": "upheld", "colour": 1}]}')
    suite = load_suite("t", tmp_path / "letters", tmp_path / "gold")
    assert suite.warnings == ["a.json: unknown key 'labeller' ignored", "a.json: items[0]: unknown key 'colour' ignored"]
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
    assert main(["eval", "--compare", str(tmp_path / "missing.json"), "--report", str(tmp_path / "r.json")]) == 2


# -- the baseline gate ---------------------------------------------------------------------------------

def test_no_regression_against_the_committed_baseline():
    """The CI gate: the seeds and (where present) the dev letters score at least the blessed baseline."""
    run = run_eval(_suites())
    comparison = compare(run.report, load_baseline(BASELINE))
    assert not comparison.metric_regressions, comparison.metric_regressions
    assert not comparison.letter_regressions, comparison.letter_regressions
    assert "seeds" in load_baseline(BASELINE)["suites"] and "dev" in load_baseline(BASELINE)["suites"]


def _drop_overturned(monkeypatch):
    import imr_llm.parsing as parsing

    real = parsing.parse_items

    def broken(source, start, end):
        return [item for item in real(source, start, end) if item.decision != "overturned"]

    monkeypatch.setattr(parsing, "parse_items", broken)


def test_a_deliberate_regression_fails_compare_and_names_the_letters(monkeypatch, capsys, tmp_path):
    _drop_overturned(monkeypatch)  # "a parser change that drops one item type"
    code = main(["eval", "--compare", "--report", str(tmp_path / "r.json")])
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

    run = run_eval([load_suite("seeds", LETTERS, GOLD_SEEDS)], judge=FakeJudge())
    reasons = run.report["suites"]["seeds"]["metrics"]["items.reasons"]
    assert reasons["judge_mean"] == 0.25 and reasons["judged"] == 7 and FakeJudge.calls >= 7


# -- the HTML report in a real browser -------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine")
def test_html_report_opens_in_headless_chromium_and_shows_the_diffs(monkeypatch, tmp_path):
    _drop_overturned(monkeypatch)
    suite = load_suite("seeds", LETTERS, GOLD_SEEDS)
    run = run_eval([suite], keep_text=True)
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
