"""Prompt tokens of the two request-reading modes (one call per item vs one per letter) on the
dev subset, counted exactly and without calling a model: a fake transport captures the chat
messages each mode sends (instructor's schema block included), and the model's own tokenizer
(llama-cpp-python, vocab only, from the GGUF file) counts them in the ChatML form the server uses.

    .venv/bin/python benchmarks/request_mode_tokens.py capture --every 5 --out /tmp/modes.json
    ~/.cache/imr-llm-dev/venv/bin/python benchmarks/request_mode_tokens.py count /tmp/modes.json \
        --gguf ~/.cache/imr-llm-dev/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf

`capture` runs in the project's venv; `count` needs only `llama_cpp` (the local-model venv has it).
The captured file holds prompts with letter text: keep it out of the repository. Prints counts only.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"


def _answer(body: dict) -> dict:
    last = body["messages"][-1]["content"]
    system = body["messages"][0]["content"]
    if system.startswith("Read treatment requests"):  # item_fields: requests with their rationales
        requests = re.findall(r"^Request \d+: (.*)$", last, re.M)
        rationales = re.findall(r"^Rationale \d+: (.*)$", last, re.M)
        return {"items": [{"service": r.split()[0], "category": "Therapies", "subcategory": None, "body_regions": [],
                           "laterality": None, "quantity": None, "conclusion": "not medically necessary",
                           "reasons": [{"point": "x", "quote": " ".join(t.split()[:6])}], "missing_documentation": []}
                          for r, t in zip(requests, rationales)]}
    if system.startswith("You extract structured data"):  # the naive peer
        return {"items": []}
    if "Rationale:" in last:
        quote = " ".join(last.split("Rationale:")[1].split()[:6])
        return {"conclusion": "not medically necessary", "reasons": [{"point": "x", "quote": quote}],
                "missing_documentation": []}
    blank = {"category": "Therapies", "subcategory": None, "body_regions": [], "laterality": None, "quantity": None}
    if body["messages"][0]["content"].startswith("Read the numbered"):
        requests = [line.split(". ", 1)[1] for line in last.splitlines() if line.split(". ", 1)[0].isdigit()]
        return {"items": [{"service": r.split()[0], **blank} for r in requests]}
    return {"service": last.split()[0], **blank}


MODES = ("fields", "fields-letter", "peer")


def capture(letters: list[Path], mode: str) -> list[dict]:
    import httpx2 as httpx

    from imr_llm.api import Pipeline, extract
    from imr_llm.model import ModelConfig

    rows: list[dict] = []
    current = [""]

    def handler(request):
        body = json.loads(request.content)
        task = "rationale" if "Rationale:" in body["messages"][-1]["content"] else "request"
        if body["messages"][0]["content"].startswith("Read treatment requests"):
            task = "fields"
        rows.append({"mode": mode, "letter": current[0], "task": task, "messages": body["messages"],
                     "items": current[1]})
        content = json.dumps(_answer(body))
        return httpx.Response(200, json={"id": "x", "object": "chat.completion", "created": 0, "model": "f",
                                         "choices": [{"index": 0, "finish_reason": "stop",
                                                      "message": {"role": "assistant", "content": content}}],
                                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    config = ModelConfig(model="f", endpoint_kind="llamacpp", base_url="http://127.0.0.1:9/v1")
    http = httpx.Client(transport=httpx.MockTransport(handler))
    if mode == "peer":
        import sys

        sys.path.insert(0, str(ROOT / "benchmarks"))
        from naive_peer import NaivePeer, peer_config

        with NaivePeer(peer_config(base_url=config.base_url), use_cache=False, http_client=http) as peer:
            for path in letters:
                current[:] = [path.stem, len(extract(path).items)]
                peer.extract(path)
        return rows
    with Pipeline(config, use_cache=False, http_client=http, requests_per_call=mode) as pipeline:
        for path in letters:
            current[:] = [path.stem, len(extract(path).items)]
            pipeline.extract(path)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="step", required=True)
    cap = sub.add_parser("capture")
    cap.add_argument("--every", type=int, default=5)
    cap.add_argument("--out", type=Path, required=True)
    cnt = sub.add_parser("count")
    cnt.add_argument("captured", type=Path)
    cnt.add_argument("--gguf", type=Path, required=True)
    args = ap.parse_args()
    if args.step == "capture":
        letters = sorted(DEV.glob("*.pdf"))[::args.every]
        args.out.write_text(json.dumps([r for mode in MODES for r in capture(letters, mode)]))
        return
    from llama_cpp import Llama

    llm = Llama(model_path=str(args.gguf), vocab_only=True, verbose=False)

    def count(messages: list[dict]) -> int:
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return len(llm.tokenize((text + "<|im_start|>assistant\n").encode(), add_bos=False, special=True))

    rows = json.loads(args.captured.read_text())
    sizes = {"1 item": (1, 1), "2-4 items": (2, 4), "5+ items": (5, 999)}
    per_letter: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        per_letter[(row["mode"], row["letter"])] += count(row["messages"])
    n_items = {row["letter"]: row["items"] for row in rows}
    print("prompt tokens per letter (first attempts), by letter size; max over letters in brackets")
    for mode in MODES:
        cells = []
        for label, (lo, hi) in sizes.items():
            got = [t for (m, stem), t in per_letter.items() if m == mode and lo <= n_items[stem] <= hi]
            cells.append(f"{label}: {sum(got) / len(got):.0f} [{max(got)}] ({len(got)} letters)" if got else f"{label}: -")
        print(f"{mode:14s} " + "; ".join(cells))
    worse = {mode: sum(per_letter[(mode, stem)] >= per_letter[("peer", stem)] for stem in n_items)
             for mode in MODES if mode != "peer"}
    print("letters where a mode sends as many prompt tokens as the peer or more:", worse)
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        n_letters = len({r["letter"] for r in mine})
        calls, tokens = defaultdict(int), defaultdict(int)
        for row in mine:
            calls[row["task"]] += 1
            tokens[row["task"]] += count(row["messages"])
        total = sum(tokens.values())
        print(f"{mode:6s} {n_letters} letters: " + ", ".join(
            f"{t} {calls[t]} calls {tokens[t]} tokens" for t in sorted(tokens))
            + f"; prompt tokens per letter {total / n_letters:.0f}")


if __name__ == "__main__":
    main()
