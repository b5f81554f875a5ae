"""Medical-data hygiene: what the repository and the logs may hold.

* `cassettes/` holds no key, no authorization header, and no text from the real DWC letters
  (only the seed letters and letters we wrote may be recorded). Checked by 8-word shingles:
  any run of 8 words from a dev letter that is not also in a seed/written letter or a prompt
  would be a leak.
* At the default log level, a run of the model path — including failures, re-asks and
  retries — logs no letter text, no model output and no key.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import yaml

from conftest import LETTERS, ROOT

CASSETTES = ROOT / "cassettes"
DEV = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"
SHINGLE = 8
KEY_PATTERNS = [re.compile(p, re.I) for p in (r"\bsk-[A-Za-z0-9_\-]{16,}", r"\bBearer\s+[A-Za-z0-9._\-]{8,}",
                                              r"\bapi[_-]?key\b\s*[:=]\s*['\"]?[A-Za-z0-9_\-]{12,}")]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def _strings(obj) -> list[str]:
    """Every string in a cassette, with JSON bodies opened up (their text is escaped)."""
    out: list[str] = []
    if isinstance(obj, dict):
        for v in obj.values():
            out += _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            out += _strings(v)
    elif isinstance(obj, (str, bytes)):
        s = obj.decode("utf-8", "replace") if isinstance(obj, bytes) else obj
        out.append(s)
        if s[:1] in "{[":
            try:
                out += _strings(json.loads(s))
            except ValueError:
                pass
    return out


def _cassettes() -> list[tuple[Path, dict]]:
    files = sorted(CASSETTES.rglob("*.yaml"))
    assert files, "no cassettes found"
    return [(path, yaml.safe_load(path.read_text(encoding="utf-8"))) for path in files]


def test_cassettes_hold_no_keys_or_authorization_headers():
    for path, tape in _cassettes():
        for interaction in tape["interactions"]:
            for part in ("request", "response"):
                headers = {k.lower(): v for k, v in (interaction[part].get("headers") or {}).items()}
                for name in ("authorization", "api-key", "x-api-key", "openai-organization", "cookie", "set-cookie"):
                    assert name not in headers, f"{path.name}: {part} header {name} recorded"
        text = "\n".join(_strings(tape))
        for pattern in KEY_PATTERNS:
            assert not pattern.search(text), f"{path.name}: something like a key ({pattern.pattern})"


@pytest.mark.skipif(not DEV.is_dir(), reason="the dev letters (../shared) are not on this machine")
def test_cassettes_hold_no_text_from_the_dev_letters():
    from imr_llm.api import load

    allowed: set[tuple[str, ...]] = set()
    for path in list(LETTERS.glob("*.txt")) + list((ROOT / "prompts").glob("*")):
        allowed |= _shingles(path.read_text(encoding="utf-8"))
    dev: set[tuple[str, ...]] = set()
    for pdf in sorted(DEV.glob("*.pdf")):
        dev |= _shingles(load(pdf).text)
    private = dev - allowed
    assert len(private) > 10_000  # the check has something to find
    for path, tape in _cassettes():
        # runs within one string of the tape (two answer fields side by side are not a passage)
        leaked = set().union(*map(_shingles, _strings(tape))) & private
        assert not leaked, f"{path.relative_to(ROOT)} holds {len(leaked)} 8-word runs from the dev letters"


def test_default_logging_carries_no_letter_text_output_or_key(capfd, monkeypatch, tmp_path):
    """A model that quotes text not in the letter (re-asked), then answers; an endpoint that
    fails with 500 first (retried). Nothing of it reaches the logs at the default level."""
    import httpx2 as httpx

    from imr_llm.api import Pipeline
    from imr_llm.model import ModelConfig

    secret = "sk-test-DO-NOT-LOG-0123456789abcdef"
    monkeypatch.setenv("IMR_LLM_API_KEY", secret)
    letter = LETTERS / "002_e066e2eff228d9d9.txt"
    phrase = "MODEL-OUTPUT-MARKER invented quote"
    calls = {"n": 0}

    def transport(request):
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(500, json={"error": {"message": "boom"}})
        body = {"service": phrase, "category": "Physical Therapy", "subcategory": None, "quote": phrase,
                "reasons": [{"text": phrase, "quote": phrase}], "missing_documentation": []}
        return httpx.Response(200, json={
            "id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": json.dumps(body)}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):  # what a user's own logging setup on the root logger would receive
        def emit(self, record):
            records.append(record)

    root = logging.getLogger()
    handler = Keep(level=logging.WARNING)  # Python's default level
    root.addHandler(handler)
    config = ModelConfig(model="m", endpoint_kind="llamacpp", base_url="http://127.0.0.1:9/v1", retry_wait_min_s=0,
                         retry_wait_max_s=0)
    try:
        with Pipeline(config, cache_dir=tmp_path / "c",
                      http_client=httpx.Client(transport=httpx.MockTransport(transport))) as p:
            det = p.extract(letter)
    finally:
        root.removeHandler(handler)
    assert calls["n"] > 2 and det.model_step.status in ("partial", "failed")  # the faults really happened
    out, err = capfd.readouterr()
    logged = " ".join(r.getMessage() + str(r.exc_info or "") for r in records) + out + err
    letter_text = letter.read_text(encoding="utf-8")
    for sentence in re.findall(r"[A-Z][^.\n]{40,}\.", letter_text)[:30]:
        assert sentence not in logged
    assert phrase not in logged and secret not in logged
    assert secret not in json.dumps(det.model_dump(mode="json"))
