"""Token and call accounting: every model response is logged with its token counts, cache hits
included (as zero-cost records), so reports can say what a run cost. No message content is kept."""

from __future__ import annotations

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


@dataclass
class UsageLog:
    records: list[UsageRecord] = field(default_factory=list)

    def add(self, record: UsageRecord) -> None:
        self.records.append(record)

    def summary(self) -> dict:
        calls = [r for r in self.records if not r.cached]
        hits = len(self.records) - len(calls)
        return {
            "requests": len(self.records),
            "model_calls": sum(r.attempts for r in calls),
            "retries": sum(r.retries for r in calls),
            "cache_hits": hits,
            "cache_hit_rate": round(hits / len(self.records), 4) if self.records else None,
            "prompt_tokens": sum(r.prompt_tokens for r in calls),
            "completion_tokens": sum(r.completion_tokens for r in calls),
            "model_seconds": round(sum(r.seconds for r in calls), 3),
        }

    def to_json(self) -> list[dict]:
        return [asdict(r) for r in self.records]
