"""Runs and files that are safe (issue 15): one rule for every path a command writes, clear
errors instead of tracebacks, and the cases listed in README's reliability table."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from imr_llm.cli import main
from conftest import LETTERS, ROOT

SEED = LETTERS / "002_e066e2eff228d9d9.txt"
GOLD = ROOT / "evals" / "gold" / "seeds"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- one path rule for every output of every command -------------------------------------------

#: (name, argv before the output path, the flag, file or folder, argv after)
OUTPUTS = [
    ("extract --out", ["extract", SEED, "--out"], "file", []),
    ("explain --out", ["explain", SEED, "--out"], "folder", []),
    ("batch --out", ["batch", SEED, "--out"], "file", []),
    ("batch --csv", ["batch", SEED, "--csv"], "file", ["--out", "{tmp}/o.jsonl"]),
    ("batch --explain", ["batch", SEED, "--explain"], "folder", ["--out", "{tmp}/o.jsonl"]),
    ("eval --html", ["eval", "--letters", LETTERS, "--gold", GOLD, "--report", "{tmp}/r.json", "--html"], "file", []),
    ("eval --report", ["eval", "--letters", LETTERS, "--gold", GOLD, "--report"], "file", []),
]


def _argv(tmp_path, before, target, after):
    return [a.replace("{tmp}", str(tmp_path)) if isinstance(a, str) else a for a in [*before, target, *after]]


@pytest.mark.parametrize("name,before,kind,after", OUTPUTS, ids=[o[0] for o in OUTPUTS])
@pytest.mark.parametrize("case", ["onto the other kind", "under a file"])
def test_an_output_that_cannot_be_written_is_one_usage_line_before_any_work(capsys, tmp_path, name, before, kind,
                                                                         after, case):
    a_file, a_folder = tmp_path / "a-file", tmp_path / "a-folder"
    a_file.write_text("the user's own file")
    a_folder.mkdir()
    target = (a_folder if kind == "file" else a_file) if case == "onto the other kind" else a_file / "x" / "y"
    code, out, err = run(capsys, *_argv(tmp_path, before, target, after))
    assert code == 2 and "Traceback" not in err
    flag = name.split()[1]
    assert f"error: {flag} {target}: " in err and err.strip().splitlines()[-1].startswith("imr-llm")
    assert a_file.read_text() == "the user's own file" and list(a_folder.iterdir()) == []
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "r.json").exists()  # nothing was run


@pytest.mark.parametrize("name,before,kind,after", OUTPUTS, ids=[o[0] for o in OUTPUTS])
def test_an_output_in_a_missing_folder_is_made_there_user_only(capsys, tmp_path, name, before, kind, after):
    target = tmp_path / "new" / "deeper" / ("out" if kind == "folder" else "out.file")
    code, _, err = run(capsys, *_argv(tmp_path, before, target, after))
    assert code == 0, err
    assert target.exists() and target.is_dir() == (kind == "folder")
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_output_in_a_folder_that_cannot_be_written_is_a_usage_line(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, _, err = run(capsys, "extract", SEED, "--out", locked / "o.jsonl")
    assert code == 2 and "permission denied" in err and "Traceback" not in err


# -- inputs and flags ----------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["extract", "explain", "batch"])
def test_a_folder_without_letters_is_a_usage_error_for_every_command(capsys, tmp_path, command):
    empty = tmp_path / "empty"
    empty.mkdir()
    extra = ["--out", str(tmp_path / "o.jsonl")] if command == "batch" else []
    code, out, err = run(capsys, command, empty, *extra)
    assert code == 2 and "folder has no .pdf or .txt letters" in err
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("argv", [["batch", "--bogus", str(LETTERS)], ["batch", str(LETTERS), "--bogus"],
                                  ["extract", "--bogus"], ["explain", "--bogus=1", str(SEED)]])
def test_an_unknown_flag_is_reported_as_unknown(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "unrecognized arguments: --bogus" in err and "required" not in err


def test_flag_abbreviations_and_negative_numbers_are_not_unknown(capsys, tmp_path):
    code, _, err = run(capsys, "batch", SEED, "--ou", tmp_path / "o.jsonl", "--concurrency", "-1")
    assert code == 2 and "--concurrency must be 1 or more" in err


def test_a_missing_letter_through_the_api_is_a_clear_not_found_error():
    import imr_llm

    with pytest.raises(FileNotFoundError, match="no such file") as info:
        imr_llm.extract("/nonexistent.pdf")
    assert isinstance(info.value, imr_llm.InputError)


# -- CSV formula injection ---------------------------------------------------------------------

def test_csv_cells_that_start_like_a_formula_are_escaped(tmp_path, capsys):
    import csv

    letter = tmp_path / "formula.txt"  # a heading planted to become a spreadsheet formula
    letter.write_text(SEED.read_text(encoding="utf-8").replace(
        "Acupuncture 2xwk x 4 wks lumbar spine", '=HYPERLINK("http://example.invalid/x","Acupuncture")', 1),
        encoding="utf-8")
    out, table = tmp_path / "o.jsonl", tmp_path / "o.csv"
    code, _, err = run(capsys, "batch", letter, "--out", out, "--csv", table)
    assert code == 0, err
    requests = [row["request"] for row in csv.DictReader(table.open(encoding="utf-8", newline=""))]
    assert requests[0] == '\'=HYPERLINK("http://example.invalid/x","Acupuncture")'
    assert requests[1] == "Physical therapy 2x wk x 4 wks lumbar spine"  # other cells as they were


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_escaped_and_other_cells_are_not(start):
    from imr_llm.runs.sinks import csv_cell

    assert csv_cell(f"{start}1+1") == f"'{start}1+1"
    assert csv_cell("a = b") == "a = b" and csv_cell(3) == 3 and csv_cell(None) is None


# -- credentials in a URL ------------------------------------------------------------------------

def test_a_user_and_password_in_the_base_url_are_never_stored_or_printed(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("IMR_LLM_RETRY_WAIT_MIN_S", "0")
    monkeypatch.setenv("IMR_LLM_RETRY_WAIT_MAX_S", "0")
    monkeypatch.setenv("IMR_LLM_MAX_TRANSPORT_RETRIES", "0")
    # nothing listens there (and tests are offline): every call fails and its warning names the host
    model = ["--model", "m", "--endpoint-kind", "llamacpp", "--base-url", "http://someone:SECRET-KEY@127.0.0.1:9/v1",
             "--cache-dir", str(tmp_path / "c")]
    seen = []
    code, out, err = run(capsys, "extract", "--json", SEED, *model)
    assert code == 0 and "127.0.0.1:9" in out  # the host is named ...
    seen += [out, err]
    code, out, err = run(capsys, "explain", "--format", "json", SEED, *model)
    seen += [out, err]
    code, out, err = run(capsys, "batch", SEED, "--out", tmp_path / "o.jsonl", "--explain", tmp_path / "pages",
                         "--explain-format", "json", *model)
    seen += [out, err] + [p.read_text(encoding="utf-8") for p in tmp_path.rglob("*") if p.is_file()
                          and p.suffix in (".jsonl", ".json")]
    from imr_llm.model import ModelConfig

    seen.append(repr(ModelConfig(model="m", base_url="http://someone:SECRET-KEY@127.0.0.1:9/v1")))
    blob = "\n".join(seen)
    assert "SECRET-KEY" not in blob and "someone" not in blob  # ... never the user or the password


# -- the cache owns only what it made -------------------------------------------------------------

def _fill(folder: Path) -> None:
    from imr_llm.cache import ResponseCache

    cache = ResponseCache(folder)
    for n in range(5):
        cache.set(f"k{n}", {"value": n})
    cache.set("big", {"value": "DISTINCTIVE " * 20000})  # large values live in files of their own
    cache.close()


def test_cache_clear_deletes_only_the_caches_own_files(capsys, tmp_path):
    folder = tmp_path / "c"
    _fill(folder)
    (folder / "ab").mkdir(exist_ok=True)
    (folder / "ab" / "thesis.txt").write_text("the user's own file, in a folder named like diskcache's")
    (folder / "notes.txt").write_text("the user's own file")
    code, out, _ = run(capsys, "cache", "clear", "--cache-dir", folder)
    assert code == 0 and "cleared 6" in out
    assert (folder / "ab" / "thesis.txt").exists() and (folder / "notes.txt").exists()
    assert not any(b"DISTINCTIVE" in p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_cache_clear_refuses_a_folder_the_cache_did_not_make(capsys, tmp_path):
    folder = tmp_path / "documents"
    (folder / "ab").mkdir(parents=True)
    (folder / "ab" / "thesis.txt").write_text("the user's own file")
    (folder / "cache.db").write_text("not ours either")
    code, out, err = run(capsys, "cache", "clear", "--cache-dir", folder)
    assert code == 2 and "not an imr-llm cache" in err and "Traceback" not in err
    assert sorted(p.name for p in folder.rglob("*")) == ["ab", "cache.db", "thesis.txt"]


def test_a_folder_named_by_the_environment_is_refused_too(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "thesis.txt").write_text("the user's own file")
    monkeypatch.setenv("IMR_LLM_CACHE_DIR", str(folder))
    code, _, err = run(capsys, "cache", "clear")
    assert code == 2 and "not an imr-llm cache" in err and sorted(p.name for p in folder.iterdir()) == ["thesis.txt"]


@pytest.mark.parametrize("mode", [0o1777, 0o755])
def test_an_existing_cache_folder_keeps_its_mode(tmp_path, mode):
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, mode)
    _fill(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == mode  # once forced to 0700 (as root: /tmp broken)
    new = tmp_path / "new" / "cache"
    _fill(new)
    assert stat.S_IMODE(new.stat().st_mode) == stat.S_IMODE(new.parent.stat().st_mode) == 0o700


def test_the_default_cache_folder_from_before_the_marker_is_still_used(tmp_path, monkeypatch):
    import diskcache

    from imr_llm.cache import MARKER, ResponseCache

    monkeypatch.delenv("IMR_LLM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    old = diskcache.Cache(str(tmp_path / "imr-llm"))  # an imr-llm cache made by an earlier version
    old.set("k", {"value": 1})
    old.close()
    cache = ResponseCache()
    assert cache.get("k") == {"value": 1} and (tmp_path / "imr-llm" / MARKER).exists()
    cache.close()


# -- redaction, format by format ----------------------------------------------------------------

HEADER_LETTER = LETTERS / "synthetic_2016_multi.pdf"  # a header with a case number and five dates


@pytest.fixture(scope="module")
def secrets():
    """What --redact must leave out of every format: the case number, every date (as stored and
    as printed), the age, the requests' and diagnoses' words, and the letter's path and name."""
    import imr_llm

    det = imr_llm.extract(HEADER_LETTER)
    dates = [det.date_assigned, det.decision_date, det.date_of_injury, det.ur_denial_date, det.application_received]
    assert det.case_number and all(dates) and det.patient.age
    return [det.case_number, *(d.isoformat() for d in dates), *(d.strftime("%m/%d/%Y") for d in dates),
            f"{det.patient.age} years", *(i.request for i in det.items), *det.diagnoses, "Jane_Example"]


@pytest.fixture
def named_letter(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "Jane_Example_IMR_letter.pdf"  # a file named after the patient
    path.write_bytes(HEADER_LETTER.read_bytes())
    return path


def _assert_redacted(text: str, secrets: list[str], where: str) -> None:
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"{where}: {leaked}"
    assert "letter's words" not in text and "words: \"\"" not in text, where


@pytest.mark.parametrize("fmt", ["json", "out", "text"])
def test_extract_redact_leaves_nothing_out_in_any_format(capsys, tmp_path, secrets, named_letter, fmt):
    out = tmp_path / "o.jsonl"
    argv = {"json": ["--json"], "out": ["--out", out], "text": []}[fmt]
    code, stdout, err = run(capsys, "extract", "--redact", named_letter, *argv)
    assert code == 0 and "Traceback" not in err, err
    text = out.read_text(encoding="utf-8") if fmt == "out" else stdout
    assert "overturned" in text and "upheld" in text  # the decisions stay
    _assert_redacted(text, secrets + [str(named_letter.parent)], f"extract {fmt}")


@pytest.mark.parametrize("fmt", ["text", "markdown", "json", "html"])
def test_explain_redact_leaves_nothing_out_in_any_format(capsys, tmp_path, secrets, named_letter, fmt):
    code, stdout, err = run(capsys, "explain", "--redact", "--format", fmt, named_letter)
    assert code == 0, err
    assert "30 days" in stdout  # the next steps stay
    _assert_redacted(stdout, secrets + [str(named_letter.parent)], f"explain {fmt}")
    pages = tmp_path / "pages"
    code, _, err = run(capsys, "explain", "--redact", "--format", fmt, "--out", pages, named_letter)
    assert code == 0 and [p.name for p in pages.iterdir()] == [f"letter-1.en.{ {'text': 'txt', 'markdown': 'md'}.get(fmt, fmt)}"]
    _assert_redacted(next(pages.iterdir()).read_text(encoding="utf-8") + err, secrets, f"explain --out {fmt}")


@pytest.mark.parametrize("fmt", ["html", "json", "markdown", "text"])
def test_batch_redact_leaves_nothing_out_of_the_lines_the_csv_or_the_pages(capsys, tmp_path, secrets, named_letter,
                                                                          fmt):
    from imr_llm.runs.sinks import csv_columns

    out, table, pages = tmp_path / "o.jsonl", tmp_path / "o.csv", tmp_path / "pages"
    bad = named_letter.parent / "Jane_Example_empty.txt"  # a failed letter's message names its file
    bad.write_text("")
    code, _, err = run(capsys, "batch", "--redact", named_letter.parent, "--out", out, "--csv", table,
                       "--explain", pages, "--explain-format", fmt)
    assert code == 1, err  # the empty file failed
    produced = {"jsonl": out.read_text(encoding="utf-8"), "csv": table.read_text(encoding="utf-8")}
    produced.update({p.name: p.read_text(encoding="utf-8") for p in pages.iterdir()})
    assert len(produced) == 3 and table.read_text().splitlines()[0] == ",".join(csv_columns())
    for name, text in produced.items():
        _assert_redacted(text + name, secrets + [str(named_letter.parent)], f"batch {name}")


def test_a_csv_rebuilt_with_redact_is_redacted_whatever_the_lines_hold(capsys, tmp_path, secrets, named_letter):
    out, table = tmp_path / "o.jsonl", tmp_path / "o.csv"
    assert run(capsys, "batch", named_letter, "--out", out)[0] == 0  # an earlier run, without --redact
    assert run(capsys, "batch", "--redact", named_letter, "--out", out, "--csv", table)[0] == 0
    _assert_redacted(table.read_text(encoding="utf-8"), secrets, "csv")


def test_the_redaction_list_is_declared_once():
    from imr_llm import redaction as output

    for name in ("case_number", "date_of_injury", "decision_date", "date_assigned", "ur_denial_date",
                 "application_received", "age", "source", "request", "rationale", "quote"):
        assert name in output.REDACTED_FIELDS
    assert output.redact({"warnings": ["header says CM16-0219557 on 03/30/2017"]}) == {
        "warnings": ["header says [redacted] on [redacted]"]}


# -- whole lines ------------------------------------------------------------------------------

def test_extract_out_never_appends_to_half_a_line(capsys, tmp_path):
    import json

    out = tmp_path / "o.jsonl"
    out.write_text('{"source": "a", "items": []}\n{"source": "b", "items": [{"ind')  # a writer killed mid-line
    code, _, err = run(capsys, "extract", "--out", out, SEED)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert code == 0 and len(lines) == 2 and json.loads(lines[1])["items"], err


def test_an_output_held_by_a_run_is_refused_to_a_second_one(tmp_path):
    from imr_llm.errors import OutputInUse
    from imr_llm.output import JsonlAppender

    out = tmp_path / "o.jsonl"
    with JsonlAppender(out, own=True):
        with pytest.raises(OutputInUse, match="another imr-llm batch is writing to it"):
            JsonlAppender(out, own=True)
        JsonlAppender(out).close()  # a writer that does not own it still may append
    JsonlAppender(out, own=True).close()  # free once the first is done


def test_a_file_name_that_is_not_utf8_is_written_safely(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9-letter.txt")  # Latin-1 bytes from another system
    (folder / name).write_bytes(SEED.read_bytes())
    out, csv_path, pages = tmp_path / "o.jsonl", tmp_path / "o.csv", tmp_path / "pages"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMR_LLM_")}
    proc = subprocess.run([sys.executable, "-m", "imr_llm", "batch", str(folder), "--out", str(out), "--csv",
                           str(csv_path), "--explain", str(pages)], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "IMR_LLM_NO_PROGRESS": "1"}, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    import json

    row = json.loads(out.read_text(encoding="utf-8"))
    assert row["status"] == "ok" and row["source"].endswith("caf\\xe9-letter.txt")
    assert "caf\\xe9-letter.txt" in csv_path.read_text(encoding="utf-8")
    assert len(list(pages.iterdir())) == 1
    again = subprocess.run(proc.args, cwd=ROOT, capture_output=True, text=True,
                           env={**env, "IMR_LLM_NO_PROGRESS": "1"}, timeout=120)
    assert again.returncode == 0 and "1 already in the output" in again.stderr


# -- a file the user already has is never changed ----------------------------------------------

@pytest.mark.parametrize("argv", [["extract", SEED, "--out"], ["batch", SEED, "--out"],
                                  ["batch", SEED, "--out", "{tmp}/o.jsonl", "--csv"]],
                         ids=["extract --out", "batch --out", "batch --csv"])
def test_an_existing_file_that_is_not_an_output_of_ours_is_refused_untouched(capsys, tmp_path, argv):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nthe last line, no newline")
    code, _, err = run(capsys, *_argv(tmp_path, argv, notes, []))
    assert code == 2 and "Traceback" not in err
    assert f"{notes}: " in err and "not" in err.splitlines()[-1]
    assert notes.read_text() == "my notes\nthe last line, no newline"
    assert not (tmp_path / "o.jsonl").exists()


def test_outputs_of_ours_are_still_appended_and_rebuilt(capsys, tmp_path):
    out, csv = tmp_path / "o.jsonl", tmp_path / "i.csv"
    for _ in range(2):
        code, _, err = run(capsys, "batch", SEED, "--out", out, "--csv", csv)
        assert code == 0, err
    code, _, err = run(capsys, "extract", SEED, "--out", out)
    assert code == 0, err
    assert len(out.read_text().splitlines()) == 2 and csv.read_text().startswith("letter_sha256,")
