"""Token and call accounting: every model response is logged with its token counts, cache hits
included (as zero-cost records), so reports can say what a run cost. No message content is kept."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field


@dataclass
class UsageRecord:
    task: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 1  # HTTP responses it took (validation re-asks count)
    retries: int = 0  # re-asks plus transport retries
    cached: bool = False
    seconds: float = 0.0


KEEP_RECORDS = 10_000  # the latest records stay for inspection; totals cover every call


@dataclass
class UsageLog:
    """Running totals of every call, plus the latest KEEP_RECORDS records: a batch of a million
    letters must not hold a record per call."""

    records: deque = field(default_factory=lambda: deque(maxlen=KEEP_RECORDS))
    _totals: dict = field(default_factory=lambda: {"requests": 0, "model_calls": 0, "retries": 0, "cache_hits": 0,
                                                   "prompt_tokens": 0, "completion_tokens": 0, "model_seconds": 0.0},
                          repr=False)

    def add(self, record: UsageRecord) -> None:
        self.records.append(record)
        totals = self._totals
        totals["requests"] += 1
        if record.cached:
            totals["cache_hits"] += 1
            return
        totals["model_calls"] += record.attempts
        totals["retries"] += record.retries
        totals["prompt_tokens"] += record.prompt_tokens
        totals["completion_tokens"] += record.completion_tokens
        totals["model_seconds"] += record.seconds

    def summary(self) -> dict:
        t = self._totals
        return {
            "requests": t["requests"],
            "model_calls": t["model_calls"],
            "retries": t["retries"],
            "cache_hits": t["cache_hits"],
            "cache_hit_rate": round(t["cache_hits"] / t["requests"], 4) if t["requests"] else None,
            "prompt_tokens": t["prompt_tokens"],
            "completion_tokens": t["completion_tokens"],
            "model_seconds": round(t["model_seconds"], 3),
        }

    def to_json(self) -> list[dict]:
        return [asdict(r) for r in self.records]
