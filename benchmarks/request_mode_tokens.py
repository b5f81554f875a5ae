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
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "dwc-imr" / "dev"


def _answer(body: dict) -> dict:
    last = body["messages"][-1]["content"]
    if "Rationale:" in last:
        quote = " ".join(last.split("Rationale:")[1].split()[:6])
        return {"conclusion": "not medically necessary", "reasons": [{"point": "x", "quote": quote}],
                "missing_documentation": []}
    blank = {"category": "Therapies", "subcategory": None, "body_regions": [], "laterality": None, "quantity": None}
    if body["messages"][0]["content"].startswith("Read the numbered"):
        requests = [line.split(". ", 1)[1] for line in last.splitlines() if line.split(". ", 1)[0].isdigit()]
        return {"items": [{"service": r.split()[0], **blank} for r in requests]}
    return {"service": last.split()[0], **blank}


def capture(letters: list[Path], mode: str) -> list[dict]:
    import httpx2 as httpx

    from imr_llm.api import Pipeline
    from imr_llm.model import ModelConfig

    rows: list[dict] = []
    current = [""]

    def handler(request):
        body = json.loads(request.content)
        task = "rationale" if "Rationale:" in body["messages"][-1]["content"] else "request"
        rows.append({"mode": mode, "letter": current[0], "task": task, "messages": body["messages"]})
        content = json.dumps(_answer(body))
        return httpx.Response(200, json={"id": "x", "object": "chat.completion", "created": 0, "model": "f",
                                         "choices": [{"index": 0, "finish_reason": "stop",
                                                      "message": {"role": "assistant", "content": content}}],
                                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    config = ModelConfig(model="f", endpoint_kind="llamacpp", base_url="http://127.0.0.1:9/v1")
    with Pipeline(config, use_cache=False, http_client=httpx.Client(transport=httpx.MockTransport(handler)),
                  requests_per_call=mode) as pipeline:
        for path in letters:
            current[0] = path.stem
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
        args.out.write_text(json.dumps([r for mode in ("item", "letter") for r in capture(letters, mode)]))
        return
    from llama_cpp import Llama

    llm = Llama(model_path=str(args.gguf), vocab_only=True, verbose=False)

    def count(messages: list[dict]) -> int:
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return len(llm.tokenize((text + "<|im_start|>assistant\n").encode(), add_bos=False, special=True))

    rows = json.loads(args.captured.read_text())
    for mode in ("item", "letter"):
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
