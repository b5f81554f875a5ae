"""Token and call accounting: every model response is logged with its token counts, cache hits
included (as zero-cost records), so reports can say what a run cost. No message content is kept."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field


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
    _totals: Counter = field(default_factory=Counter, repr=False)

    def add(self, record: UsageRecord) -> None:
        self.records.append(record)
        self._totals.update(requests=1, cache_hits=int(record.cached))
        if not record.cached:
            self._totals.update(model_calls=record.attempts, retries=record.retries, model_seconds=record.seconds,
                                prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens)

    def summary(self) -> dict:
        t = self._totals
        return {"requests": t["requests"], "model_calls": t["model_calls"], "retries": t["retries"],
                "cache_hits": t["cache_hits"],
                "cache_hit_rate": round(t["cache_hits"] / t["requests"], 4) if t["requests"] else None,
                "prompt_tokens": t["prompt_tokens"], "completion_tokens": t["completion_tokens"],
                "model_seconds": round(float(t["model_seconds"]), 3)}
