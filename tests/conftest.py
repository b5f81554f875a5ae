"""Shared fixtures. The default run is offline: any attempt to open a network connection
(other than a Unix socket) fails the test, so a cassette that is missing or unused cannot
silently fall through to a live endpoint."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run: the default test run must be deterministic.
settings.register_profile("imr-llm", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("imr-llm")

ROOT = Path(__file__).resolve().parent.parent
LETTERS = ROOT / "tests" / "fixtures" / "letters"
SEEDS = sorted(LETTERS.glob("0*.txt"))
GOLD_SEEDS = ROOT / "evals" / "gold" / "seeds"
GOLD_DEV = ROOT / "evals" / "gold" / "dev"
DEV_LETTERS = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"


def letter_copies(folder, times: int) -> list[str]:
    """The seed letters `times` over, each copy a file of its own (a path named twice is done once)."""
    paths = []
    for k in range(times):
        for p in sorted(LETTERS.glob("*.txt")):
            (folder / f"{k}-{p.name}").write_bytes(p.read_bytes())
            paths.append(str(folder / f"{k}-{p.name}"))
    return paths


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _block_network(monkeypatch):
    real_connect = socket.socket.connect

    def guarded(self, address):
        if self.family == getattr(socket, "AF_UNIX", None):
            return real_connect(self, address)
        raise NetworkBlocked(f"tests run offline; blocked a connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


def load_gold(path: Path) -> dict:
    return json.loads(path.read_text())


def dev_letters_available() -> bool:
    return DEV_LETTERS.is_dir() and any(DEV_LETTERS.glob("*.pdf"))


needs_dev_letters = pytest.mark.skipif(
    not dev_letters_available(), reason="the DWC dev letters (../shared/data/dwc-imr/dev) are not on this machine"
)


# -- recorded model traffic ---------------------------------------------------------------------
# Cassettes live in cassettes/<test module>/<test name>.yaml. The default run replays them with
# recording off; IMR_LLM_RECORD=1 records new ones from a live endpoint (e.g. the local model
# server). Auth headers are scrubbed; a test fails if any recorded interaction goes unused.

import os  # noqa: E402

CASSETTES = ROOT / "cassettes"
RECORDING = os.environ.get("IMR_LLM_RECORD") == "1"
SCRUBBED_HEADERS = ["authorization", "x-api-key", "api-key", "cookie", "set-cookie", "openai-organization",
                    "openai-project"]


@pytest.fixture
def cassette(request, monkeypatch):
    """Replay (or, with IMR_LLM_RECORD=1, record) cassettes/<module>/<test>.yaml. A test marked
    `@pytest.mark.prompts("item_fields", ...)` names the prompts its requests render; if one was
    edited since the cassette was recorded the test fails at once with a "stale cassette" message
    (its requests could no longer match), instead of failing somewhere inside the model step."""
    import vcr

    from cassette_manifest import cassette_prompts, current_hashes, record_cassette_prompts

    module = request.node.module.__name__.split(".")[-1]
    name = f"{module}/{request.node.name}.yaml"
    marker = request.node.get_closest_marker("prompts")
    prompts = list(marker.args) if marker else []
    if RECORDING:  # let the recorder reach the live endpoint; a re-recording starts from empty
        monkeypatch.setattr(socket.socket, "connect", _REAL_CONNECT)  # (vcrpy's "all" mode appends)
        (CASSETTES / name).unlink(missing_ok=True)
    elif prompts:
        recorded, current = cassette_prompts(CASSETTES, name), current_hashes(prompts)
        changed = sorted(p for p in prompts if recorded.get(p) != current[p])
        if changed:
            pytest.fail(f"stale cassette {name}: prompt(s) {', '.join(changed)} changed since it was recorded; "
                        f"re-record with IMR_LLM_RECORD=1 .venv/bin/python -m pytest {request.node.nodeid} "
                        "against a live endpoint (see README, Models)", pytrace=False)
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES / module),
        record_mode="all" if RECORDING else "none",
        filter_headers=SCRUBBED_HEADERS,
        match_on=["method", "scheme", "host", "port", "path", "body"],
        decode_compressed_response=True,
    )
    with recorder.use_cassette(f"{request.node.name}.yaml", allow_playback_repeats=False) as tape:
        yield tape
        if not RECORDING:
            assert tape.all_played, f"{len(tape.data) - tape.play_count} recorded interaction(s) unused"
    if RECORDING and prompts:
        record_cassette_prompts(CASSETTES, name, current_hashes(prompts))


_REAL_CONNECT = socket.socket.connect


def pytest_sessionfinish(session, exitstatus):
    """After a recording run, note which prompt versions the cassettes were recorded with, so a
    later prompt change shows up as stale cassettes (tests/test_cassettes.py, eval manifests)."""
    if not RECORDING:
        return
    from cassette_manifest import write_manifest

    write_manifest(CASSETTES)
