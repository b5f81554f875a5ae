"""Inter-annotator agreement: score the second, independent reading (evals/second_reading/) against
the first (evals/gold/dev/) with the harness's own field rules, and list every disagreement.

    python evals/agreement.py            # per-field agreement + disagreements, for evals/agreement.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from imr_llm.evaluation.scoring import aggregate, score_letter  # noqa: E402


def main() -> None:
    results = []
    for second in sorted((HERE / "second_reading").glob("*.json")):
        first = json.loads((HERE / "gold" / "dev" / second.name).read_text())
        other = json.loads(second.read_text())
        results.append(score_letter(second.stem, other, first))
    metrics = aggregate(results)
    print(f"{len(results)} letters read twice\n")
    print(f"{'field':45} {'n':>4} {'agree':>7}")
    for name, m in metrics.items():
        value = m.get("mean_score", m["accuracy"]) if m["kind"] == "free" else m["accuracy"]
        print(f"{name:45} {m['n']:>4} {value:7.3f}")
    print("\nDisagreements (first reading → second reading):")
    for r in results:
        for c in r.checks:
            if not c.ok and c.kind != "free":
                print(f"- {r.stem} {c.id}: {json.dumps(c.expected)} → {json.dumps(c.got)}")


if __name__ == "__main__":
    main()
