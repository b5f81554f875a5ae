"""Two processes sharing one cache folder and one output file, against a loopback
OpenAI-compatible server with latency: no corrupt or lost line, each letter's answers identical
in both, and no model call made twice unless both copies were in flight at the same moment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict

from conftest import LETTERS, ROOT
from fake_openai_server import fake_openai  # noqa: F401  (fixture)

NAMES = ["000_e4938e93dd873a45.txt", "001_c2ed943a33e6df3f.txt", "002_e066e2eff228d9d9.txt",
         "003_bd44697b6f0a7cef.txt", "004_435950e687b08266.txt", "synthetic_2016_multi.txt"]
SLACK_S = 0.5  # between the server sending an answer and the client writing it to the cache


def _run_two(url: str, cache, out) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMR_LLM_")}
    env.update(IMR_LLM_NO_PROGRESS="1", NO_PROXY="127.0.0.1")
    letters = [str(LETTERS / n) for n in NAMES]
    procs = []
    for order in (letters, letters[::-1]):  # opposite orders: they meet in the middle
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "imr_llm", "extract", "--model", "fake", "--endpoint-kind", "llamacpp",
             "--base-url", url, "--cache-dir", str(cache), "--out", str(out), *order],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def test_two_processes_share_a_cache_and_an_output_file(fake_openai, tmp_path):  # noqa: F811
    fake_openai.latency_s = 0.05
    cache, out = tmp_path / "cache", tmp_path / "results.jsonl"
    procs = _run_two(fake_openai.url, cache, out)
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]

    # the file: every line whole, every letter exactly once per process, nothing lost
    raw = out.read_bytes()
    assert raw.endswith(b"\n")
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    by_letter: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        assert "error" not in row and row["model_step"]["status"] == "complete", row.get("warnings")
        by_letter[os.path.basename(row["source"])].append(row)
    assert sorted(by_letter) == sorted(NAMES) and all(len(v) == 2 for v in by_letter.values())
    for name, (a, b) in by_letter.items():
        strip = ("model_step",)
        assert {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}, name

    # the server: a request body seen twice must have been asked by both processes at once
    seen: dict[str, list] = defaultdict(list)
    for request in fake_openai.requests:
        seen[json.dumps(request.body, sort_keys=True)].append(request)
    assert len(seen) == len(NAMES)  # one call per letter: its items share it
    duplicates = 0
    for copies in seen.values():
        assert len(copies) <= 2
        if len(copies) == 2:
            first, second = sorted(copies, key=lambda r: r.started)
            assert second.started < first.finished + SLACK_S, "asked again after the answer was cached"
            duplicates += 1
    assert duplicates <= 4  # only where the two runs met
    # and both runs' summaries count the cache hits they got from each other
    hits = sum(row["model_step"]["usage"]["cache_hits"] for row in rows)
    assert hits + len(fake_openai.requests) == 2 * len(seen)
