"""The blessed baseline and the regression gate. `evals/baseline.json` is committed, so it holds no
letter text: per suite the metrics, per letter the ids of the failed checks. A report compared with
it gives metric regressions (beyond the tolerance), letter regressions (a check that passed fails
now), improvements, and the manifest changes that explain them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigError

STATS = ("accuracy", "f1", "mean_score", "judge_mean")
MANIFEST_KEYS = ("parser_version", "schema_hash", "prompt_hashes", "model", "endpoint_kind")


def to_baseline(report: dict) -> dict:
    suites = {name: {
        "metrics": {m: {k: v for k, v in stats.items() if k in STATS or k == "n"} for m, stats in suite["metrics"].items()},
        "letters": {stem: {"checks": len(letter["checks"]),
                           "failed": [f"{c['metric']}@{c['where']}" if c["where"] else c["metric"]
                                      for c in letter["checks"] if not c["ok"]],
                           "error": bool(letter["error"])} for stem, letter in suite["per_letter"].items()},
    } for name, suite in report["suites"].items()}
    manifest = {k: report["manifest"].get(k) for k in MANIFEST_KEYS}
    manifest["gold"] = {name: s["gold_sha256"] for name, s in report["manifest"]["suites"].items()}
    manifest["git_commit"] = report["manifest"].get("git", {}).get("commit")
    return {"format": 1, "manifest": manifest, "suites": suites}


@dataclass
class Comparison:
    tolerance: float = 0.0
    metric_regressions: list[dict] = field(default_factory=list)
    letter_regressions: list[dict] = field(default_factory=list)
    improvements: list[dict] = field(default_factory=list)
    manifest_changes: list[str] = field(default_factory=list)
    skipped_suites: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.metric_regressions or self.letter_regressions)

    def to_json(self) -> dict:
        out = asdict(self)
        return {"tolerance": out.pop("tolerance"), "regressed": self.regressed, **out}


def compare(report: dict, baseline: dict, tolerance: float = 0.0) -> Comparison:
    out = Comparison(tolerance=tolerance)
    current, blessed = to_baseline(report), baseline.get("manifest", {})
    out.manifest_changes = [f"{key}: {blessed.get(key)!r} → {current['manifest'].get(key)!r}" for key in MANIFEST_KEYS
                            if blessed.get(key) != current["manifest"].get(key)]
    out.manifest_changes += [f"gold labels of suite '{name}' changed since the baseline"
                             for name, gold_hash in current["manifest"]["gold"].items()
                             if blessed.get("gold", {}).get(name) not in (None, gold_hash)]
    for name, base_suite in baseline.get("suites", {}).items():
        suite = current["suites"].get(name)
        if suite is None:
            out.skipped_suites.append(name)
            continue
        for metric, base_stats in base_suite["metrics"].items():
            stats = suite["metrics"].get(metric)
            if stats is None:
                out.metric_regressions.append({"suite": name, "metric": metric, "stat": "present",
                                               "baseline": 1, "current": 0})
                continue
            for stat in STATS:
                if stat in base_stats and stat in stats:
                    delta = stats[stat] - base_stats[stat]
                    row = {"suite": name, "metric": metric, "stat": stat, "baseline": base_stats[stat],
                           "current": stats[stat], "delta": round(delta, 6)}
                    if delta < -tolerance - 1e-9:
                        out.metric_regressions.append(row)
                    elif delta > 1e-9:
                        out.improvements.append(row)
        for stem, base_letter in base_suite["letters"].items():
            letter = suite["letters"].get(stem)
            if letter is None:
                continue
            newly_failed = sorted(set(letter["failed"]) - set(base_letter["failed"]))
            if letter["error"] and not base_letter["error"]:
                newly_failed = ["extraction error"] + newly_failed
            if newly_failed:
                out.letter_regressions.append({"suite": name, "letter": stem, "checks": newly_failed})
    return out


def load_baseline(path: Path) -> dict:
    """A baseline `--bless` wrote. Anything else (missing, not JSON, no suite with metrics and letters) is
    a `ConfigError`: compared with it, every run would pass the gate."""
    try:
        baseline = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"baseline {path} not found (create it with --bless)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"baseline {path} cannot be read as JSON ({exc})") from None
    suites = baseline.get("suites") if isinstance(baseline, dict) else None
    if not isinstance(suites, dict) or not suites or not all(
            isinstance(s, dict) and isinstance(s.get("metrics"), dict) and isinstance(s.get("letters"), dict)
            for s in suites.values()):
        raise ConfigError(f"baseline {path} is not one --bless wrote (no suites with their metrics and letters)")
    return baseline


def write_baseline(report: dict, path: Path) -> None:
    Path(path).write_text(json.dumps(to_baseline(report), indent=1, sort_keys=True) + "\n", encoding="utf-8")
