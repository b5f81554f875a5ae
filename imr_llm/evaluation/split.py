"""The dev gold split in two by letter: vocabularies and tables may be fitted on the fitting half
only; the checking half is the figure that counts (issue 16). Made once with a fixed seed,
stratified by outcome, and written to `evals/gold/split.json` (a test checks it is `split_letters`)."""

from __future__ import annotations

import json
import random
from pathlib import Path

SPLIT_FILE = "split.json"
SEED = 16  # issue 16
HALVES = ("fitting", "checking")


def split_letters(outcomes: dict[str, str], seed: int = SEED) -> dict[str, list[str]]:
    """{"fitting": stems, "checking": stems}: within each stratum (all_upheld, any overturned)
    the stems are shuffled with `seed` and the first half (rounded up) goes to fitting."""
    halves: dict[str, list[str]] = {h: [] for h in HALVES}
    rng = random.Random(seed)
    for stratum in ("all_upheld", "any_overturned"):
        stems = sorted(s for s, o in outcomes.items() if (o == "all_upheld") == (stratum == "all_upheld"))
        rng.shuffle(stems)
        cut = (len(stems) + 1) // 2
        halves["fitting"] += stems[:cut]
        halves["checking"] += stems[cut:]
    return {h: sorted(v) for h, v in halves.items()}


def gold_outcomes(gold_dir: Path) -> dict[str, str]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))["outcome"] for p in sorted(Path(gold_dir).glob("*.json"))}


def load_split(gold_dir: Path) -> dict[str, str]:
    """stem → "fitting" | "checking" for the suite whose gold folder is `gold_dir` ({} when the
    split file beside the gold folders has no entry for it)."""
    gold_dir = Path(gold_dir)
    path = gold_dir.parent / SPLIT_FILE
    if not path.is_file():
        return {}
    entry = json.loads(path.read_text(encoding="utf-8")).get("suites", {}).get(gold_dir.name) or {}
    return {stem: half for half in HALVES for stem in entry.get(half, [])}


def write_split(evals_dir: Path) -> dict:
    halves = split_letters(gold_outcomes(evals_dir / "gold" / "dev"))
    data = {"_comment": "The dev gold split by letter (imr_llm/evaluation/split.py: seed 16, stratified by outcome, "
                        "all upheld vs any overturned). Vocabularies and tables are fitted on the fitting half only; "
                        "the checking half is the figure that counts.",
            "seed": SEED, "suites": {"dev": halves}}
    (evals_dir / "gold" / SPLIT_FILE).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return data


if __name__ == "__main__":
    write_split(Path(__file__).resolve().parents[2] / "evals")
