"""The naive peer: a plain whole-letter instructor extraction, what a user of instructor alone
would write. One call per letter, the whole letter text in the prompt
(benchmarks/naive_peer_prompt.j2), a pydantic schema with the same item fields as
`imr_llm.schema` (field names and enum values imported from there) and no parser help: the
letter is only *read* (`imr_llm.api.load`), never parsed.

It goes through the project's `StructuredClient`, so caching, retries and token counting are
identical to the product's model step. The result is a Determination-shaped dict
(`{"items": [...], "outcome": ...}`) that `imr_llm.evaluation.scoring.score_letter` scores.

    python benchmarks/naive_peer.py LETTER.pdf      # prints the extraction (contains letter text: do not commit)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pydantic import BaseModel, Field

from imr_llm.api import load
from imr_llm.cache import ResponseCache
from imr_llm.model import ModelConfig, StructuredClient, UsageLog
from imr_llm.prompts import Prompt, load_prompt
from imr_llm.schema import BodyRegion, Category, Decision, Laterality, case_outcome

HERE = Path(__file__).resolve().parent
PROMPT_NAME = "naive_peer_prompt"
TASK = "naive_peer"
DEFAULT_MODEL = "qwen2.5-coder-1.5b"
DEFAULT_BASE_URL = "http://127.0.0.1:8011/v1"


class NaiveQuantity(BaseModel):
    raw: str | None = Field(None, description="the quantity words as printed in the request")
    count: float | None = Field(None, description="units or sessions as a number")
    frequency_per_week: float | None = Field(None, description="sessions per week")
    duration_weeks: float | None = Field(None, description="duration in weeks")
    total_sessions: float | None = Field(None, description="total sessions")
    strength: str | None = Field(None, description='drug strength, e.g. "10mg"')
    dispense_qty: float | None = Field(None, description='number dispensed, "#60" -> 60')


class NaiveItem(BaseModel):
    request: str = Field(description="the item's heading as printed, without ': Upheld'/': Overturned'")
    decision: Decision = Field(description="upheld or overturned")
    category: Category | None = Field(None, description="DWC request category")
    subcategory: str | None = Field(None, description="DWC request subcategory or drug class")
    service: str | None = Field(None, description="the treatment in plain lower-case words, without quantity or body part")
    body_regions: list[BodyRegion] = Field(default_factory=list, description="body regions the request names")
    laterality: Laterality | None = Field(None, description="side the request names")
    quantity: NaiveQuantity | None = Field(None, description="how much was requested")
    reasons: list[str] = Field(default_factory=list, description="the reviewer's reasons for the decision")
    missing_documentation: list[str] = Field(default_factory=list, description="what the records did not show")


class NaiveExtraction(BaseModel):
    items: list[NaiveItem] = Field(description="every disputed item, in letter order")


def peer_config(model: str = DEFAULT_MODEL, endpoint_kind: str = "llamacpp", base_url: str | None = DEFAULT_BASE_URL,
                max_tokens: int = 1500) -> ModelConfig:
    return ModelConfig(model=model, endpoint_kind=endpoint_kind, base_url=base_url, max_tokens=max_tokens)


def load_peer_prompt() -> Prompt:
    return load_prompt(PROMPT_NAME, directory=HERE)


def to_determination_dict(extraction: NaiveExtraction) -> dict:
    """The peer's answer in the Determination JSON shape the scorer reads."""
    items = []
    for index, item in enumerate(extraction.items):
        d = item.model_dump(mode="json")
        d["index"] = index
        items.append(d)
    return {"items": items, "outcome": case_outcome([i["decision"] for i in items])}


class NaivePeer:
    """One configured naive run: holds the client, the response cache and the usage log."""

    def __init__(self, config: ModelConfig, *, cache_dir: str | os.PathLike[str] | None = None,
                 use_cache: bool = True, http_client=None) -> None:
        self.config = config
        self.prompt = load_peer_prompt()
        self.cache = ResponseCache(cache_dir) if use_cache else None
        self.usage = UsageLog()
        self.client = StructuredClient(config, cache=self.cache, usage=self.usage, http_client=http_client)

    def extract(self, path: str | os.PathLike[str]) -> dict:
        text = load(Path(path)).text  # reading only: no parser
        return self.extract_text(text)

    def extract_text(self, text: str) -> dict:
        result = self.client.complete(TASK, self.prompt, {"letter": text}, NaiveExtraction)
        return to_determination_dict(result)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> "NaivePeer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("letters", nargs="+", type=Path)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--endpoint-kind", default="llamacpp")
    ap.add_argument("--base-url", default=DEFAULT_BASE_URL)
    ap.add_argument("--max-tokens", type=int, default=1500)
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "imr-llm-bench")
    args = ap.parse_args(argv)
    config = peer_config(args.model, args.endpoint_kind, args.base_url, args.max_tokens)
    with NaivePeer(config, cache_dir=args.cache_dir) as peer:
        for path in args.letters:
            print(json.dumps({"source": str(path), **peer.extract(path)}, ensure_ascii=False))
        print(json.dumps(peer.usage.summary()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
