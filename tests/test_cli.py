"""The `imr-llm` command: JSON Lines contract, folders, exit codes, readable table."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rich.console import Console

from imr_llm import extract
from imr_llm.cli import main
from imr_llm.render import print_determination
from imr_llm.schema import ModelStep, ModelUsage, Quantity
from conftest import LETTERS, ROOT, letter_copies

BAD = ROOT / "tests" / "fixtures" / "bad"
SEED = LETTERS / "002_e066e2eff228d9d9.txt"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lines_one_object_per_input_with_source(capsys):
    code, out, err = run(capsys, "extract", "--json", str(SEED), str(LETTERS / "synthetic_2016_multi.pdf"))
    assert code == 0 and err == "imr-llm: 2 letter(s): 2 done, 0 failed\n"
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["source"] for r in rows] == [str(SEED), str(LETTERS / "synthetic_2016_multi.pdf")]
    first = rows[0]
    assert first["date_of_injury"] == "2006-12-06" and first["ur_denial_date"] is None
    assert [i["request"] for i in first["items"]] == ["Acupuncture 2xwk x 4 wks lumbar spine",
                                                      "Physical therapy 2x wk x 4 wks lumbar spine"]
    assert first["items"][0]["category"] is None and first["outcome"] == "all_upheld"
    second = rows[1]
    assert second["priority"] == "expedited" and second["outcome"] == "mixed"
    assert second["reviewer"]["licensure_states"] == ["Oregon", "California", "Nevada"]
    assert second["items"][2]["reviewer_basis"]["sources"] == ["ACOEM", "OTHER"]


def test_directory_means_every_pdf_and_txt(capsys, tmp_path):
    code, out, _ = run(capsys, "extract", "--json", str(LETTERS))
    assert code == 0
    sources = [json.loads(line)["source"] for line in out.splitlines()]
    assert len(sources) == len(list(LETTERS.glob("*.txt"))) + len(list(LETTERS.glob("*.pdf")))


def test_failures_are_one_line_each_and_the_run_continues(capsys):
    code, out, err = run(capsys, "extract", "--json", str(BAD / "empty.txt"), str(SEED), str(BAD / "truncated.pdf"))
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]  # a failed letter is a record too, in order
    assert [r["source"] for r in rows] == [str(BAD / "empty.txt"), str(SEED), str(BAD / "truncated.pdf")]
    assert rows[0]["error"]["code"] == "empty_input" and rows[2]["error"]["code"] == "unreadable_pdf"
    assert "error" not in rows[1] and rows[1]["items"]
    lines = err.strip().splitlines()
    assert len(lines) == 3
    assert "empty.txt" in lines[0] and "empty" in lines[0]
    assert "truncated.pdf" in lines[1] and "Traceback" not in err
    assert lines[2] == "imr-llm: 3 letter(s): 1 done, 2 failed (empty_input 1, unreadable_pdf 1)"


def test_every_bad_fixture_fails_cleanly(capsys):
    code, out, err = run(capsys, "extract", "--json", str(BAD))
    letters = [p for p in BAD.iterdir() if p.suffix in {".pdf", ".txt"}]  # .png/.docx are not picked from folders
    assert code == 1 and all("error" in json.loads(line) for line in out.splitlines())
    assert len(out.splitlines()) == len(letters) == 7
    assert len(err.strip().splitlines()) == len(letters) + 1  # one line each, then the summary
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [[], ["extract"], ["extract", "/no/such/path"], ["frobnicate"], ["extract", "--bogus", "x"]])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        code = main(argv)
        raise SystemExit(code)
    assert info.value.code == 2


def test_table_output_is_readable(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, "extract", str(LETTERS / "004_435950e687b08266.txt"))
    assert code == 0
    assert "Twelve sessions of physical therapy" in out and "upheld" in out
    assert "not stated" in out  # no age/sex in this letter: said so, not invented


def test_console_script_runs_as_a_process():
    proc = subprocess.run([sys.executable, "-m", "imr_llm.cli", "extract", "--json", str(SEED)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["items"][1]["decision"] == "upheld"


def test_parallel_jobs_give_identical_output(capsys, tmp_path):
    paths = letter_copies(tmp_path, 3)
    _, serial, _ = run(capsys, "extract", "--json", "--jobs", "1", *paths)
    _, parallel, _ = run(capsys, "extract", "--json", "--jobs", "2", *paths)
    assert serial == parallel and len(serial.splitlines()) == len(paths)


def test_progress_bar_on_a_terminal_never_swallows_the_json(capsys, monkeypatch, tmp_path):
    import io

    class FakeTerminal(io.StringIO):
        def isatty(self):
            return True

    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    paths = letter_copies(tmp_path, 4)  # 28 letters: enough for a progress bar
    code = main(["extract", "--json", "--jobs", "1", *paths])
    out = capsys.readouterr().out
    assert code == 0
    assert len(out.splitlines()) == len(paths) and all(line.startswith('{"source"') for line in out.splitlines())
    assert "letters" in terminal.getvalue()  # the bar went to stderr


# -- the model options and the cache command ---------------------------------------------------

def test_without_a_model_the_output_says_model_fields_were_not_requested(capsys, monkeypatch):
    monkeypatch.delenv("IMR_LLM_MODEL", raising=False)
    code, out, err = run(capsys, "extract", "--json", str(SEED))
    row = json.loads(out)
    assert code == 0 and row["model_step"]["status"] == "not_requested"
    code, out, err = run(capsys, "extract", str(SEED))
    assert "not requested" in " ".join(out.split())


def test_a_bad_model_configuration_is_a_usage_error(capsys):
    code, out, err = run(capsys, "extract", "--model", "m", "--endpoint-kind", "nonsense", str(SEED))
    assert code == 2 and "unknown endpoint kind 'nonsense'" in err and out == ""


def test_extract_with_a_model_prints_usage_totals_and_failures_do_not_stop_the_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("IMR_LLM_RETRY_WAIT_MIN_S", "0")  # the transport retries' backoff
    monkeypatch.setenv("IMR_LLM_RETRY_WAIT_MAX_S", "0")
    # nothing listens on this port (and tests are offline): every model call fails, the letters
    # still come out parsed, the failure is a warning per item, and the totals are printed
    code, out, err = run(capsys, "extract", "--json", "--model", "m", "--endpoint-kind", "llamacpp",
                         "--base-url", "http://127.0.0.1:9/v1", "--cache-dir", str(tmp_path / "c"), str(SEED))
    row = json.loads(out)
    assert code == 0 and row["items"][0]["decision"] == "upheld"
    assert row["model_step"]["status"] == "failed" and row["provenance"]["model"] == "m"
    assert any("model step failed" in w for w in row["warnings"])
    assert "imr-llm: model m: 0 calls" in err


def test_cache_stats_and_clear(capsys, tmp_path):
    from imr_llm.cache import ResponseCache

    cache = ResponseCache(tmp_path / "c")
    cache.set("k1", {"value": 1})
    cache.set("k2", {"value": 2})
    cache.close()
    code, out, _ = run(capsys, "cache", "stats", "--cache-dir", str(tmp_path / "c"))
    assert code == 0 and "2 cached responses" in out
    code, out, _ = run(capsys, "cache", "clear", "--cache-dir", str(tmp_path / "c"))
    assert code == 0 and "cleared 2" in out
    code, out, _ = run(capsys, "cache", "stats", "--cache-dir", str(tmp_path / "c"))
    assert "0 cached responses" in out


def test_the_terminal_table_shows_the_model_fields_and_the_model_step():
    """With a model, the default output lists each item's model-filled fields and the step's usage."""
    det = extract(SEED)
    item = det.items[0]
    item.service, item.category, item.subcategory = "Acupuncture", "Physical Medicine", "Acupuncture"
    item.quantity, item.body_regions, item.laterality = Quantity(raw="2xwk x 4 wks"), ["low_back"], "left"
    item.reasons, item.missing_documentation = ["no functional improvement"], ["a home exercise program"]
    det.model_step = ModelStep(status="complete", model="m1", usage=ModelUsage(calls=2, cache_hits=1))
    console = Console(record=True, width=200)
    print_determination(console, "seed", det.model_dump(mode="json"))
    out = console.export_text()
    assert "1. Acupuncture  [Physical Medicine / Acupuncture]  left low_back  qty: 2xwk x 4 wks" in out
    assert "why: no functional improvement" in out and "not shown: a home exercise program" in out
    assert "model m1: complete; 2 calls, 1 cache hits" in out and "not requested" not in out


def test_a_missing_path_beside_a_letter_is_named_on_stderr(capsys, tmp_path):
    missing = tmp_path / "nope.pdf"
    code, out, err = run(capsys, "extract", "--json", str(missing), str(SEED))
    assert code == 1 and len(out.splitlines()) == 1
    assert err.splitlines() == [f"imr-llm: error: {missing}: no such file or folder",
                                "imr-llm: 2 letter(s): 1 done, 1 failed (no_such_input 1)"]


def test_explain_json_of_a_failed_letter_is_its_error_record(capsys):
    code, out, err = run(capsys, "explain", "--format", "json", str(BAD / "empty.txt"), str(SEED))
    assert code == 1 and "Traceback" not in err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0] == {"source": str(BAD / "empty.txt"),
                       "error": {"code": "empty_input", "message": f"{BAD / 'empty.txt'}: the file is empty"}}
    assert rows[1]["source"] == str(SEED) and "error" not in rows[1]


@pytest.mark.parametrize("command", ["extract --json", "explain --format json"])
def test_a_letter_named_twice_is_done_once(capsys, tmp_path, command):
    link = tmp_path / "link.txt"
    link.symlink_to(SEED)
    code, out, err = run(capsys, *command.split(), str(SEED), str(LETTERS), str(SEED), str(link))
    assert code == 0, err
    sources = [json.loads(line)["source"] for line in out.splitlines()]
    assert sources.count(str(SEED)) == 1 and str(link) not in sources
    assert len(sources) == len({p.resolve() for p in LETTERS.iterdir() if p.suffix in {".pdf", ".txt"}})


def test_pages_written_into_the_letters_own_folder_leave_its_letters_letters(capsys, tmp_path):
    (tmp_path / "a.txt").write_bytes(SEED.read_bytes())
    code, _, err = run(capsys, "explain", "--format", "html", "--out", str(tmp_path), str(tmp_path))
    assert code == 0 and (tmp_path / "a.en.html").exists(), err
