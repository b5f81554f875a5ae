"""What a run did, said on stderr: one `Summary` that every engine adds the same per-letter record
to, the cost estimate, and the progress bar."""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TaskProgressColumn, TextColumn
from rich.progress import Progress as RichProgress
from rich.progress import TimeRemainingColumn
from rich.text import Text

# prices per million tokens (input, output), for the estimate in the summary; others: --price-*
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}


@dataclass
class Summary:
    letters: int = 0  # seen in this run (a letter under several paths: once)
    duplicates: int = 0  # paths of a letter beyond its first
    skipped: int = 0  # already in the output
    done: int = 0
    failed: Counter = field(default_factory=Counter)
    items: int = 0
    decisions: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    output_letters: int = 0  # in the whole output file afterwards
    pages_missing: int = 0  # letters already in the output without an explanation page in --explain
    cost: float | None = None

    def add(self, record: dict[str, Any] | None, paths: int = 1) -> None:
        """One letter, from its output record (what every engine has of it); None: skipped."""
        self.letters += 1
        self.duplicates += paths - 1
        if record is None:
            self.skipped += 1
            return
        if isinstance(record.get("error"), dict):
            self.failed[record["error"]["code"]] += 1
            return
        items = record.get("items") or []
        self.done += 1
        self.items += len(items)
        self.decisions.update(i.get("decision") for i in items)
        if record.get("outcome"):
            self.outcomes[record["outcome"]] += 1
        usage = (record.get("model_step") or {}).get("usage") or {}
        for key in ("calls", "cache_hits", "prompt_tokens", "completion_tokens"):
            setattr(self, key, getattr(self, key) + usage.get(key, 0))

    def fail(self, code: str) -> None:
        self.add({"error": {"code": code}})

    def reasons(self) -> str:
        return ", ".join(f"{code} {n}" for code, n in sorted(self.failed.items()))

    def final_line(self, out: Path | None = None) -> str:
        """`extract` and `explain`: the last line on stderr."""
        reasons = self.reasons()
        line = (f"imr-llm: {self.letters} letter(s): {self.done} done, {sum(self.failed.values())} failed"
                + (f" ({reasons})" if reasons else ""))
        return line + (f"; written to {out}" if out is not None else "")

    def lines(self) -> list[str]:
        """A batch's summary."""
        reasons, rate = self.reasons(), self.done / self.wall_s if self.wall_s else 0.0
        out = [
            f"letters: {self.letters} ({self.done} done, {self.skipped} already in the output, "
            f"{sum(self.failed.values())} failed" + (f": {reasons}" if reasons else "") + ")"
            + ("; interrupted" if self.interrupted else "")
            + (f"; {self.duplicates} more path(s) held a letter already listed" if self.duplicates else ""),
            f"items: {self.items} ({', '.join(f'{k} {v}' for k, v in sorted(self.decisions.items())) or 'none'}); "
            f"outcomes: {', '.join(f'{k} {v}' for k, v in sorted(self.outcomes.items())) or 'none'}",
            f"model: {self.calls} calls, {self.cache_hits} cache hits, {self.prompt_tokens} prompt + "
            f"{self.completion_tokens} completion tokens; estimated cost: "
            + (f"${self.cost:.4f}" if self.cost is not None else "n/a (no prices for this endpoint: --price-in/--price-out)"),
            f"wall time: {self.wall_s:.1f} s ({rate:.2f} letters/s); output holds {self.output_letters} letter(s)",
        ]
        if self.pages_missing:
            out.append(f"{self.pages_missing} letter(s) already in the output have no page in --explain (a page is "
                       "written with its letter's line; a failed letter has none): give a new --out to write them")
        if self.interrupted:
            out.append("interrupted: the output holds whole lines only; run the same command again to go on "
                       "(letters already in the output are skipped)")
        return out

    def estimate_cost(self, config, price_in: float | None = None, price_out: float | None = None,
                      discount: float = 1.0) -> None:
        """At the given prices per million tokens, else the model's known live price (times `discount`);
        offline: 0; a model without a known price: None."""
        if price_in is None and price_out is None:
            if config is not None and (config.endpoint_kind != "openai" or config.model not in PRICES_PER_MTOK):
                self.cost = None
                return
            price_in, price_out = (p * discount for p in PRICES_PER_MTOK[config.model]) if config else (0.0, 0.0)
        self.cost = (self.prompt_tokens * (price_in or 0.0) + self.completion_tokens * (price_out or 0.0)) / 1e6


class RateColumn(ProgressColumn):
    """Letters per second, as measured so far."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f}/s" if speed else "-/s", style="progress.data.speed")


class Progress:
    """A progress bar on stderr when it is a terminal. Lines for stderr go through `say` (stdout through
    rich's redirect), so the bar is redrawn below them; it is cleared before the summary."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        self.total = total
        self.enabled = not quiet and sys.stderr.isatty() and not os.environ.get("IMR_LLM_NO_PROGRESS")
        self._progress = None

    def __enter__(self) -> "Progress":
        if self.enabled:
            self._progress = RichProgress(TextColumn("letters"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                                          RateColumn(), TimeRemainingColumn(), transient=True,
                                          console=Console(stderr=True), redirect_stdout=sys.stdout.isatty(),
                                          redirect_stderr=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("letters", total=self.total)
        return self

    def advance(self, files: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, files)

    def letter_done(self, result) -> None:
        """A failed letter's line, then a step of the bar per file (a letter under two names is two)."""
        if result.error is not None:
            self.say(f"imr-llm: [{result.error.code}] {result.error}")
        self.advance(max(1, len(result.paths)))

    def say(self, line: str) -> None:
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=sys.stderr)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
            self._progress = None
