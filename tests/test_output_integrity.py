"""The CLI as a new user meets it: consoles that are not UTF-8, a real terminal with a progress
bar, stdin, `python -m imr_llm`, flags that contradict each other, failed letters as records,
--redact, and the files it writes (user-only, whole, and removable)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from imr_llm.cli import main
from conftest import LETTERS, ROOT, letter_copies

BAD = ROOT / "tests" / "fixtures" / "bad"
SEED = LETTERS / "002_e066e2eff228d9d9.txt"  # two upheld items, age and date of injury stated
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("IMR_LLM_", "PYTHONIOENCODING", "LC_", "LANG"))}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli(*argv, env=None, stdin=None, text=True):
    return subprocess.run([sys.executable, "-m", "imr_llm", *argv], capture_output=True, cwd=ROOT, input=stdin,
                          env={**CLEAN_ENV, "IMR_LLM_NO_PROGRESS": "1", **(env or {})}, text=text, timeout=120)


@pytest.fixture
def odd_letter(tmp_path):
    """A seed letter with characters a cp1252 console cannot show: pdfium's U+FFFE hyphen mark
    and an arrow, inside the rationale (so they reach quotes and reasons)."""
    text = SEED.read_text(encoding="utf-8").replace("presents with low back pain", "presents with low back\ufffepain → ", 1)
    path = tmp_path / "odd.txt"
    path.write_text(text, encoding="utf-8")
    return path


# -- encodings ---------------------------------------------------------------------------------

@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "cp1252"}, {"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0",
                                                                  "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": "ascii"}],
                         ids=["cp1252", "ascii"])
def test_json_on_a_console_that_is_not_utf8_is_exact_and_never_crashes(odd_letter, env):
    utf8 = cli("extract", "--json", str(odd_letter), env={"PYTHONIOENCODING": "utf-8"})
    narrow = cli("extract", "--json", str(odd_letter), env=env, text=False)
    assert narrow.returncode == 0 and b"Traceback" not in narrow.stderr, narrow.stderr[-2000:]
    narrow.stdout.decode("ascii")  # escaped, so any console can carry it
    assert json.loads(narrow.stdout) == json.loads(utf8.stdout)  # lossless: the same values
    assert "\ufffe" in json.dumps(json.loads(narrow.stdout), ensure_ascii=False)
    table = cli("extract", str(odd_letter), env=env, text=False)
    assert table.returncode == 0 and b"Traceback" not in table.stderr and b"upheld" in table.stdout


def test_eval_and_explain_on_a_cp1252_console(tmp_path, odd_letter):
    env = {"PYTHONIOENCODING": "cp1252"}
    report = tmp_path / "report.json"
    proc = cli("eval", "--letters", str(LETTERS), "--gold", str(ROOT / "evals" / "gold" / "seeds"),
               "--report", str(report), env=env, text=False)
    assert b"Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 0 and json.loads(report.read_text(encoding="utf-8"))["suites"]
    for fmt in ("text", "json", "markdown"):
        proc = cli("explain", "--language", "es", "--format", fmt, str(odd_letter), env=env, text=False)
        assert proc.returncode == 0 and b"Traceback" not in proc.stderr, (fmt, proc.stderr[-2000:])


# -- a real terminal ---------------------------------------------------------------------------

CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07]*\x07|([\r\n])|([^\x1b\r\n]+)")


def _screen(stream: str) -> list[str]:
    """The lines a terminal shows after `stream`: a tiny emulator for what rich emits (text,
    CR/LF, cursor up, erase line, colours ignored), enough to see a bar drawn over output."""
    rows, row, col = [""], 0, 0
    for m in CSI.finditer(stream):
        args, command, ctrl, text = m.groups()
        if text:
            line = rows[row].ljust(col)
            rows[row] = line[:col] + text + line[col + len(text):]
            col += len(text)
        elif ctrl == "\r":
            col = 0
        elif ctrl == "\n":
            row += 1
            col = 0
            if row == len(rows):
                rows.append("")
        elif command == "A":
            row = max(0, row - int(args or 1))
        elif command == "K":
            rows[row] = "" if args == "2" else rows[row][:col]
    return [r.rstrip() for r in rows]


def _on_a_terminal(argv: list[str]) -> tuple[list[str], int]:
    """Run the CLI with stdout and stderr on one pseudo-terminal; the screen's lines at the end."""
    import pty

    master, slave = pty.openpty()
    env = {**CLEAN_ENV, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"}
    proc = subprocess.Popen([sys.executable, "-m", "imr_llm", *argv], stdout=slave, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return _screen(b"".join(chunks).decode("utf-8", "replace")), proc.returncode


def test_progress_bar_is_cleared_before_errors_output_and_the_summary(tmp_path):
    letters = letter_copies(tmp_path, 3) + [str(BAD / "empty.txt")]
    lines, code = _on_a_terminal(["extract", *letters])
    assert code == 1
    last = [line for line in lines if line.strip()][-1]
    assert last == f"imr-llm: {len(letters)} letter(s): {len(letters) - 1} done, 1 failed (empty_input 1)", lines[-5:]
    failure = [line for line in lines if "[empty_input]" in line]
    assert len(failure) == 1 and failure[0].startswith("imr-llm: [empty_input]") and "letters" not in failure[0]
    # every letter's table arrived whole: one title rule and one case-number row per letter
    assert sum("Decision date" in line for line in lines) == len(letters) - 1
    assert not any("letters ━" in line or "/22" in line for line in lines)  # no bar left drawn into the output


# -- stdin, python -m, flags -------------------------------------------------------------------

def test_a_letter_on_stdin_text_or_pdf():
    by_path = json.loads(cli("extract", "--json", str(SEED)).stdout)
    piped = cli("extract", "--json", "-", stdin=SEED.read_text(encoding="utf-8"))
    assert piped.returncode == 0, piped.stderr
    row = json.loads(piped.stdout)
    assert row.pop("source") == "<stdin>" and by_path.pop("source") == str(SEED)
    assert row == by_path
    pdf = LETTERS / "synthetic_2016_multi.pdf"
    piped = cli("extract", "--json", "-", stdin=pdf.read_bytes(), text=False)
    assert piped.returncode == 0 and len(json.loads(piped.stdout)["items"]) == 4
    explained = cli("explain", "-", stdin=SEED.read_text(encoding="utf-8"))
    assert explained.returncode == 0 and "not approved" in explained.stdout.lower()
    empty = cli("extract", "--json", "-", stdin="")
    assert empty.returncode == 1 and "<stdin>" in empty.stderr and "Traceback" not in empty.stderr


def test_python_dash_m_is_the_command():
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("imr-llm ")


@pytest.mark.parametrize("argv,says", [
    (["extract", "--no-evidence", str(SEED)], "--no-evidence applies to JSON output"),
    (["extract", "--base-url", "http://127.0.0.1:9/v1", str(SEED)], "only apply with a model"),
    (["extract", "--model", "m", "--no-cache", "--cache-dir", "/tmp/x", str(SEED)], "contradict"),
    (["extract", "--model", "m", "--jobs", "4", str(SEED)], "--jobs"),
    (["extract", "-", str(SEED)], "cannot be combined"),
    (["explain", "--cache-dir", "/tmp/x", str(SEED)], "only apply with a model"),
])
def test_flags_that_make_no_sense_together_are_usage_errors(capsys, monkeypatch, argv, says):
    monkeypatch.delenv("IMR_LLM_MODEL", raising=False)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and says in err and "Traceback" not in err


def test_explain_out_must_be_a_folder(capsys, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    code, _, err = run(capsys, "explain", "--out", str(target), str(SEED))
    assert code == 2 and "give a folder" in err


def test_warnings_appear_in_the_text_summary():
    import io

    from rich.console import Console

    from imr_llm.render import print_determination

    row = json.loads(cli("extract", "--json", str(SEED)).stdout)
    row["warnings"] = ["items[0]: no 'Decision rationale:' found"]  # what the parser says when it is missing
    buffer = io.StringIO()
    print_determination(Console(file=buffer, width=200), str(SEED), row)
    assert "warning: items[0]: no 'Decision rationale:' found" in buffer.getvalue()


# -- redaction ---------------------------------------------------------------------------------

def test_extract_redact_keeps_decisions_and_drops_free_text_ages_and_injury_dates(capsys):
    _, full, _ = run(capsys, "extract", "--json", str(SEED))
    _, red, _ = run(capsys, "extract", "--json", "--redact", str(SEED))
    full, red = json.loads(full), json.loads(red)
    assert red["redacted"] is True
    assert [i["decision"] for i in red["items"]] == [i["decision"] for i in full["items"]] == ["upheld", "upheld"]
    assert red["outcome"] == full["outcome"] and red["case_number"] == full["case_number"]
    assert red["patient"]["age"] is None and red["date_of_injury"] is None and full["patient"]["age"] is not None
    blob = json.dumps(red)
    for item in full["items"]:
        assert item["request"] not in blob and item["rationale"][:40] not in blob
    assert full["date_of_injury"] not in blob and "evidence" not in blob.replace('"evidence": {}', "")
    for diagnosis in full["diagnoses"]:
        assert diagnosis not in blob


@pytest.mark.parametrize("fmt", ["json", "html", "text"])
def test_explain_redact_shows_decisions_and_next_steps_but_no_letter_text(capsys, fmt, tmp_path):
    full = json.loads(cli("extract", "--json", str(SEED)).stdout)
    code, out, _ = run(capsys, "explain", "--redact", "--format", fmt, str(SEED))
    assert code == 0
    for item in full["items"]:
        assert item["request"] not in out and item["rationale"][:40] not in out
    assert "not approved" in out.lower() and "30 days" in out
    if fmt == "json":
        record = json.loads(out)
        assert record["redacted"] is True and all(not i["why"] for i in record["items"])


# -- files written -----------------------------------------------------------------------------

def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_are_user_only_and_failed_letters_are_records(capsys, tmp_path):
    out = tmp_path / "results.jsonl"
    code, stdout, err = run(capsys, "extract", "--out", str(out), str(SEED), str(BAD / "truncated.pdf"))
    assert code == 1 and stdout == "" and _mode(out) == 0o600
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["source"] == str(SEED) and rows[1]["error"]["code"] == "unreadable_pdf"
    assert "written to" in err.splitlines()[-1]
    pages = tmp_path / "pages"
    code, _, _ = run(capsys, "explain", "--format", "html", "--out", str(pages), str(SEED))
    assert code == 0 and _mode(pages) == 0o700
    assert [_mode(p) for p in pages.iterdir()] == [0o600] and not list(pages.glob(".*.tmp"))
    report = tmp_path / "r" / "report.json"
    run(capsys, "eval", "--letters", str(LETTERS), "--gold", str(ROOT / "evals" / "gold" / "seeds"), "--report", str(report))
    assert _mode(report) == 0o600


def test_write_private_never_leaves_a_torn_file(tmp_path, monkeypatch):
    from imr_llm.output import write_private

    target = tmp_path / "page.html"
    write_private(target, "old page")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        write_private(target, "new page that fails half way")
    assert target.read_text() == "old page" and [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_cache_clear_removes_every_trace(tmp_path, capsys):
    from imr_llm.cache import ResponseCache

    folder = tmp_path / "c"
    cache = ResponseCache(folder)
    assert _mode(folder) == 0o700
    for n in range(50):
        cache.set(f"k{n}", {"value": {"reasons": [f"DISTINCTIVE-PHRASE-{n} " * 20]}})
    cache.set("big", {"value": "DISTINCTIVE-PHRASE-big " * 20000})  # large values live in their own files
    cache.close()
    (folder / "notes.txt").write_text("the user's own file")  # never ours to delete

    def traces() -> int:
        return sum(p.read_bytes().count(b"DISTINCTIVE-PHRASE") for p in folder.rglob("*") if p.is_file())

    assert traces() > 0
    code, out, _ = run(capsys, "cache", "clear", "--cache-dir", str(folder))
    assert code == 0 and "cleared 51" in out
    assert traces() == 0 and (folder / "notes.txt").exists()
    code, out, _ = run(capsys, "cache", "stats", "--cache-dir", str(folder))
    assert "0 cached responses" in out
