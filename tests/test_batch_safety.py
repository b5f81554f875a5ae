"""A batch run that is safe (issue 15): one identity per letter, one run per output file, the
line as the commit point, per-letter limits where the work runs, and Ctrl-C at any moment."""

from __future__ import annotations

import ast
import csv
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import imr_llm
from imr_llm.cli import main
from conftest import LETTERS, ROOT, letter_copies
from pdfwriter import flate_bomb_pdf, overprinted_text_pdf

SEEDS = sorted(LETTERS.glob("0*.txt"))
PDF = LETTERS / "synthetic_2016_multi.pdf"
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("IMR_LLM_")}, "IMR_LLM_NO_PROGRESS": "1"}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def csv_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def items_of(rows: list[dict]) -> int:
    """CSV rows the JSONL calls for: one per item, one per failed letter."""
    return sum(len(r["items"]) if r["status"] == "ok" else 1 for r in rows)


def letters_with_duplicates(folder: Path, n: int, every: int = 4) -> int:
    """n letter files from the seeds, every `every`-th a copy of the one before (another name, the
    same bytes); returns the number of distinct letters."""
    folder.mkdir(parents=True, exist_ok=True)
    distinct = 0
    for k in range(n):
        if k % every == every - 1:
            (folder / f"copy-{k:04d}.txt").write_bytes((folder / f"letter-{k - 1:04d}.txt").read_bytes())
            continue
        seed = SEEDS[k % len(SEEDS)]
        (folder / f"letter-{k:04d}.txt").write_text(seed.read_text(encoding="utf-8") + "\n" * (k // len(SEEDS) + 1),
                                                    encoding="utf-8")
        distinct += 1
    return distinct


# -- one identity per letter, one run per output -------------------------------------------------

def test_a_letter_under_two_names_is_one_line_listing_both(capsys, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):  # the same letter twice, both in flight at once (concurrency 2)
        (folder / name).write_bytes(SEEDS[0].read_bytes())
    (folder / "c.txt").write_bytes(SEEDS[1].read_bytes())
    out, table = tmp_path / "o.jsonl", tmp_path / "o.csv"
    code, _, err = run(capsys, "batch", folder, "--out", out, "--csv", table, "--concurrency", "2")
    assert code == 0, err
    rows = read_jsonl(out)
    assert len(rows) == 2 and len({r["letter_sha256"] for r in rows}) == 2
    twice = next(r for r in rows if r["source"].endswith("a.txt"))
    assert [Path(p).name for p in twice["source_paths"]] == ["a.txt", "b.txt"]
    assert len(csv_rows(table)) == items_of(rows)
    assert "letters: 2 (2 done" in err and "1 more path(s) held a letter already listed" in err


def test_a_second_batch_on_the_same_output_is_refused_with_one_line(capsys, tmp_path):
    from imr_llm.output import JsonlAppender

    out = tmp_path / "o.jsonl"
    with JsonlAppender(out, own=True) as running:  # another batch, still running
        running.write_line('{"letter_sha256": "", "status": "error"}\n')
        code, _, err = run(capsys, "batch", SEEDS[0], "--out", out)
        assert code == 2 and err.strip().count("\n") == 0 and "another imr-llm batch is writing to it" in err
        with JsonlAppender(out) as extract:  # an `extract --out` may still append its lines
            extract.write_line("{}\n")
    assert out.read_text().count("\n") == 2
    assert run(capsys, "batch", SEEDS[0], "--out", out)[0] == 0  # once the other run is done


def test_two_batch_processes_on_one_output_write_each_letter_once(tmp_path):
    folder = tmp_path / "in"
    distinct = letters_with_duplicates(folder, 24)
    out = tmp_path / "o.jsonl"
    argv = [sys.executable, "-m", "imr_llm", "batch", str(folder), "--out", str(out), "--parse-workers", "0"]
    procs = [subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    codes = sorted(p.returncode for p in procs)
    rows = read_jsonl(out)
    assert len(rows) == len({r["letter_sha256"] for r in rows}) == distinct
    # whichever started second was refused at once, or (if the first was already done) skipped everything
    assert codes in ([0, 0], [0, 2]) and all("Traceback" not in e for e in errs)


# -- the line is the commit point; no temporary left behind ------------------------------------

def test_a_letters_line_is_written_after_its_explanation_page(capsys, tmp_path, monkeypatch):
    import hashlib

    from imr_llm.output import JsonlAppender

    folder, pages, out = tmp_path / "in", tmp_path / "pages", tmp_path / "o.jsonl"
    letters_with_duplicates(folder, 5, every=99)
    pages.mkdir()
    first = f"letter-0000-{hashlib.sha256((folder / 'letter-0000.txt').read_bytes()).hexdigest()[:8]}.en.html"
    left_by_a_kill = pages / f".{first}.k2j4h6g8.tmp"  # a run killed while writing that page
    left_by_a_kill.write_text("half a page")
    not_ours = pages / ".notes.txt.k2j4h6g8.tmp"
    not_ours.write_text("the user's")
    pages_at_commit = []
    real = JsonlAppender.write_line

    def write_line(self, line):
        record = json.loads(line)
        pages_at_commit.append((pages / f"{Path(record['source']).stem}-{record['letter_sha256'][:8]}.en.html").exists())
        return real(self, line)

    monkeypatch.setattr(JsonlAppender, "write_line", write_line)
    code, _, err = run(capsys, "batch", folder, "--out", out, "--explain", pages)
    assert code == 0, err
    assert pages_at_commit == [True] * 5  # every line came after its page
    assert not left_by_a_kill.exists() and not_ours.exists() and (pages / first).exists()


def test_a_batch_killed_at_any_point_resumes_with_every_page_and_no_temporary(tmp_path):
    folder, pages, out = tmp_path / "in", tmp_path / "pages", tmp_path / "o.jsonl"
    distinct = letters_with_duplicates(folder, 12, every=99)
    argv = [sys.executable, "-m", "imr_llm", "batch", str(folder), "--out", str(out), "--explain", str(pages),
            "--parse-workers", "0", "--concurrency", "1"]
    for lines in (1, 4, 8):  # killed (SIGKILL) once the output holds this many lines
        proc = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and (
                not out.exists() or out.read_bytes().count(b"\n") < lines):
            time.sleep(0.005)
        proc.kill()
        proc.wait()
    done = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = read_jsonl(out)
    assert len(rows) == len({r["letter_sha256"] for r in rows}) == distinct
    written = sorted(p.name for p in pages.iterdir())
    assert len(written) == distinct and not [n for n in written if n.endswith(".tmp")]


# -- limits where the work runs -------------------------------------------------------------------

def _limited(memory: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return apply


def test_a_file_is_refused_from_its_size_before_any_of_it_is_read(tmp_path):
    folder = tmp_path / "in"
    distinct = letters_with_duplicates(folder, 3, every=99)
    (folder / "huge.txt").write_bytes(b"")
    os.truncate(folder / "huge.txt", 3 << 30)  # 3 GB, sparse: it was read whole (3 GB of memory)
    out = tmp_path / "o.jsonl"
    proc = subprocess.run([sys.executable, "-m", "imr_llm", "batch", str(folder), "--out", str(out)], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, timeout=120, preexec_fn=_limited(1 << 30))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    rows = read_jsonl(out)
    assert {Path(r["source"]).name: r["error"]["code"] for r in rows if r["status"] == "error"} == {
        "huge.txt": "input_too_large"}
    assert sum(r["status"] == "ok" for r in rows) == distinct


def test_hostile_pdfs_among_real_letters_are_failed_records_and_the_batch_finishes(tmp_path):
    folder = tmp_path / "in"
    distinct = letters_with_duplicates(folder, 10, every=99)
    (folder / "pdf-letter.pdf").write_bytes(PDF.read_bytes())
    (folder / "quadratic.pdf").write_bytes(overprinted_text_pdf(80_000))  # minutes of pdfium time
    (folder / "bomb.pdf").write_bytes(flate_bomb_pdf(4 << 30))  # 4 MB that inflates to 4 GB
    out, table = tmp_path / "o.jsonl", tmp_path / "o.csv"
    env = {**ENV, "IMR_LLM_READ_SECONDS": "2", "IMR_LLM_READ_MEMORY_MB": "512"}
    proc = subprocess.run([sys.executable, "-m", "imr_llm", "batch", str(folder), "--out", str(out), "--csv", str(table)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=_limited(2 << 30))  # the whole batch under a 2 GB address-space limit
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    rows = read_jsonl(out)
    failed = {Path(r["source"]).name: r["error"]["code"] for r in rows if r["status"] == "error"}
    assert failed == {"quadratic.pdf": "reading_limit_exceeded", "bomb.pdf": "reading_limit_exceeded"}
    assert sum(r["status"] == "ok" for r in rows) == distinct + 1 and len(csv_rows(table)) == items_of(rows)
    again = subprocess.run(proc.args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "0 done, 13 already in the output" in again.stderr, again.stderr  # failures are lines too


def test_the_limits_can_be_set_and_a_bad_setting_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("IMR_LLM_READ_MEMORY_MB", "lots")
    code, _, err = run(capsys, "batch", PDF, "--out", tmp_path / "o.jsonl")
    assert code == 2 and "IMR_LLM_READ_MEMORY_MB" in err and "Traceback" not in err


# -- Ctrl-C at any moment ------------------------------------------------------------------------

def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.add(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


#: when the Ctrl-C comes: the run has opened its output; a parse worker is starting (the first
#: letter is a PDF); the output holds this many lines. IMR_LLM_SIGINT_REPEAT=N runs each N times.
MOMENTS = ["output opened", "worker starting", 1, 2, 5, 12, 25] * int(os.environ.get("IMR_LLM_SIGINT_REPEAT", "1"))


def _batch_until(tmp_path: Path, moment, letters: int = 40):
    """A batch in a process group of its own (as a terminal runs a command), once `moment` came."""
    folder, out = tmp_path / "in", tmp_path / "o.jsonl"
    distinct = letters_with_duplicates(folder, letters) + 1
    (folder / "000-first.pdf").write_bytes(PDF.read_bytes())  # read in a worker, so one starts at once
    argv = [sys.executable, "-m", "imr_llm", "batch", str(folder), "--out", str(out), "--csv", str(tmp_path / "o.csv"),
            "--concurrency", "2", "--parse-workers", "1"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.002)
        workers |= _children(proc.pid)
        if moment == "output opened" and out.exists():
            break
        if moment == "worker starting" and workers:
            break
        if isinstance(moment, int) and out.exists() and out.read_bytes().count(b"\n") >= moment:
            break
    return proc, argv, out, distinct, workers


def _check_whole(tmp_path: Path, out: Path) -> list[dict]:
    rows = read_jsonl(out) if out.exists() else []
    assert not out.exists() or out.read_bytes().endswith(b"\n") or out.stat().st_size == 0
    assert len(rows) == len({r["letter_sha256"] for r in rows})  # no letter twice
    if (tmp_path / "o.csv").exists():
        assert len(csv_rows(tmp_path / "o.csv")) == items_of(rows)
    assert not [p for p in tmp_path.rglob("*.tmp")]
    return rows


@pytest.mark.parametrize("moment", MOMENTS)
def test_ctrl_c_at_any_moment_stops_the_batch_with_whole_lines_and_a_rerun_goes_on(tmp_path, moment):
    proc, argv, out, distinct, workers = _batch_until(tmp_path, moment)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # no hang: it once waited forever while its workers started
    assert proc.returncode in (130, 0) and "Traceback" not in err, err[-3000:]
    if proc.returncode == 130:
        assert "stopping: letters in progress get up to" in err and "run the same command again to go on" in err
    assert not [pid for pid in workers if _alive(pid)]  # the workers were ended by the batch
    _check_whole(tmp_path, out)
    done = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(_check_whole(tmp_path, out)) == distinct  # each letter exactly once


@pytest.mark.parametrize("twice", [False, True], ids=["once", "twice"])
def test_a_letter_still_in_progress_after_the_grace_is_dropped_and_a_second_ctrl_c_stops_at_once(tmp_path, twice):
    folder, out = tmp_path / "in", tmp_path / "o.jsonl"
    distinct = letters_with_duplicates(folder, 8, every=99)
    (folder / "000-slow.pdf").write_bytes(overprinted_text_pdf(60_000))  # a minute of pdfium in its worker
    argv = [sys.executable, "-m", "imr_llm", "batch", str(folder), "--out", str(out), "--csv", str(tmp_path / "o.csv"),
            "--concurrency", "2"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while time.monotonic() < deadline and not (workers and out.exists() and out.read_bytes().count(b"\n") >= distinct):
        time.sleep(0.002)
        workers |= _children(proc.pid)  # the text letters are done; the PDF's worker is at it
    os.killpg(proc.pid, signal.SIGINT)
    first = proc.stderr.readline()
    assert "stopping: letters in progress get up to" in first, first
    if twice:
        os.killpg(proc.pid, signal.SIGINT)
    err = first + proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    assert ("stopped at once" in err) == twice and ("run the same command again" in err) != twice
    assert not [pid for pid in workers if _alive(pid)]  # the PDF's worker was ended by the batch
    rows = _check_whole(tmp_path, out)
    assert len(rows) == distinct and not any(r["source"].endswith("000-slow.pdf") for r in rows)


def test_a_ctrl_c_while_the_command_is_still_loading_is_one_line_and_status_130():
    """The console script's entry (`imr_llm.__main__:main`) imports the command inside its guard; a
    KeyboardInterrupt raised by that import (made certain here by an import hook) is no traceback."""
    hook = ("import sys\n"
            "class Interrupt:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'imr_llm.cli':\n"
            "            raise KeyboardInterrupt\n"
            "sys.meta_path.insert(0, Interrupt())\n"
            "from imr_llm.__main__ import main\n"
            "sys.exit(main())\n")
    proc = subprocess.run([sys.executable, "-c", hook, "extract", "x.txt"], cwd=ROOT, capture_output=True, text=True)
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, "imr-llm: interrupted\n", "")


def test_import_imr_llm_loads_no_module_until_a_name_is_used():
    """`import imr_llm` is the version only (so the command's guard covers nearly its whole start);
    each public name still loads on first use, and the names a type checker sees are the same ones."""
    code = ("import sys, imr_llm\n"
            "before = sorted(m for m in sys.modules if m.startswith('imr_llm'))\n"
            "loaded = [getattr(imr_llm, name) for name in imr_llm.__all__ + ['aexplain']]\n"
            "print(before, all(loaded))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.strip() == "['imr_llm', 'imr_llm.version'] True", proc.stderr
    init = ast.parse((ROOT / "imr_llm" / "__init__.py").read_text())
    checked = {alias.name for node in ast.walk(init) if isinstance(node, ast.If)
               for stmt in node.body if isinstance(stmt, ast.ImportFrom) for alias in stmt.names}
    assert checked == set(imr_llm._HOME)


@pytest.mark.parametrize("lines", [1, 10])
def test_ctrl_c_during_extract_is_one_line_status_130_and_whole_lines(tmp_path, lines):
    """It was a RuntimeError traceback ("aclose(): asynchronous generator is already running")."""
    (tmp_path / "in").mkdir()
    letter_copies(tmp_path / "in", 12)  # 84 letters: parse workers, and time to be interrupted
    out = tmp_path / "o.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "imr_llm", "extract", str(tmp_path / "in"), "--out", str(out)],
                            cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not (
            out.exists() and out.read_bytes().count(b"\n") >= lines):
        time.sleep(0.002)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, 0) and "Traceback" not in err, err[-3000:]
    assert proc.returncode == 0 or err.strip().splitlines()[-1] == "imr-llm: interrupted"
    rows = read_jsonl(out)
    assert out.read_bytes().endswith(b"\n") and len(rows) == len({r["source"] for r in rows})
