"""The Ray Data path (`imr-llm batch --engine ray`, imr_llm/ray_batch.py) on a local Ray instance:
the same JSONL as the batch CLI on the same letters, offline and with a model (the loopback fake
server, reached by the Ray worker processes), a resumed run, and a failing letter as an error line.
Skipped where Ray is not installed (`pip install -e '.[ray]'`).

Equality is of the sets of lines (Ray writes them in finishing order). Offline the lines are
compared byte for byte. With a model, both runs start from an empty cache of their own, so calls,
tokens and cache hits agree too; only `model_step.usage.model_seconds` (time spent waiting for the
endpoint) is set to 0 before comparing.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from imr_llm.cli import main  # noqa: E402
from conftest import ROOT  # noqa: E402
from fake_openai_server import fake_openai  # noqa: E402,F401  (fixture)
from test_batch import make_letters  # noqa: E402

EMPTY = ROOT / "tests" / "fixtures" / "bad" / "empty.txt"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")  # Ray's own settings


@pytest.fixture(scope="module")
def local_ray():
    """A local two-CPU Ray instance on loopback for this module (started before the per-test
    offline guard, which covers this process only; the workers reach the fake server directly)."""
    # the workers inherit this environment: the fake server is never reached through a proxy, and a
    # throwaway loopback instance writes no auth token into ~/.ray
    env = {"RAY_AUTH_MODE": "disabled", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level=logging.WARNING, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def without_model_seconds(line: bytes) -> str:
    record = json.loads(line)
    if record.get("status") == "ok":
        record["model_step"]["usage"]["model_seconds"] = 0.0
    return json.dumps(record, ensure_ascii=False)


def test_ray_writes_the_batch_clis_jsonl(local_ray, tmp_path, capsys):
    make_letters(tmp_path / "in", 5)
    inputs = [str(tmp_path / "in"), str(EMPTY)]
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert main(["batch", *inputs, "--out", str(local), "--csv", str(tmp_path / "local.csv")]) == 1  # empty.txt
    capsys.readouterr()
    code = main(["batch", *inputs, "--out", str(remote), "--csv", str(tmp_path / "ray.csv"), "--engine", "ray",
                 "--workers", "2", "--concurrency", "2"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(lines(remote)) == 6 and set(lines(remote)) == set(lines(local))  # byte for byte, any order
    failed = [r for r in map(json.loads, lines(remote)) if r["status"] == "error"]
    assert [(r["source"], r["error"]["code"]) for r in failed] == [(str(EMPTY), "empty_input")]
    assert "letters: 6 (5 done, 0 already in the output, 1 failed: empty_input 1)" in err
    assert f"[empty_input] {failed[0]['error']['message']}" in err and "output holds 6 letter(s)" in err
    local_csv, ray_csv = (sorted((tmp_path / n).read_text(encoding="utf-8").splitlines()) for n in ("local.csv", "ray.csv"))
    assert local_csv == ray_csv


def test_ray_with_a_model_resumes_and_matches_the_batch_cli(local_ray, fake_openai, tmp_path, capsys):  # noqa: F811
    make_letters(tmp_path / "in", 4)
    inputs = [str(tmp_path / "in"), str(EMPTY)]
    model = ["--model", "fake", "--endpoint-kind", "llamacpp", "--base-url", fake_openai.url]
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert main(["batch", *inputs, "--out", str(local), *model, "--cache-dir", str(tmp_path / "c1")]) == 1
    capsys.readouterr()
    # a Ray run that was killed: two letters written, the third torn mid-line
    done = lines(local)
    remote.write_bytes(b"".join(done[:2]) + done[2][:40])
    asked = len(fake_openai.requests)
    code = main(["batch", *inputs, "--out", str(remote), *model, "--cache-dir", str(tmp_path / "c2"),
                 "--engine", "ray", "--workers", "2"])
    err = capsys.readouterr().err
    assert code in (0, 1), err
    redone = [json.loads(x) for x in done[2:]]
    ok = [r for r in redone if r["status"] == "ok"]
    assert f"({len(ok)} done, 2 already in the output" in err
    # the workers (other processes) asked the endpoint exactly what the CLI asked for those letters
    assert len(fake_openai.requests) - asked == sum(r["model_step"]["usage"]["http_attempts"] for r in ok) > 0
    assert all(r["model_step"]["status"] == "complete" for r in ok)
    assert len(lines(remote)) == 5
    assert {without_model_seconds(x) for x in lines(remote)} == {without_model_seconds(x) for x in done}
    calls = sum(r["model_step"]["usage"]["calls"] for r in ok)
    assert f"model: {calls} calls, 0 cache hits" in err and "estimated cost: n/a" in err
