"""The OpenAI Batch API path (`imr-llm openai-batch prepare|collect`; README, "Past one machine"):
two passes of the normal pipeline with the model client in a batch mode (`StructuredClient.batch_api`).
prepare writes each model call not in the cache as one request line (custom_id: its cache key; body:
the very request a live run sends), sending nothing; collect answers each call from the results by
custom_id, validated and cached as a live answer; a missing or failed one is a failed call, never
invented. `--model`/`--endpoint-kind` are part of the custom_id; the requests file is user-only."""

from __future__ import annotations

import json
import re
from contextlib import aclosing
from pathlib import Path
from typing import TextIO

import httpx2 as httpx

from ..errors import ModelError, NotAnswered
from ..output import private_file
from .batch import BatchOptions, run_batch
from .loop import aiter_results
from .summary import Summary

BATCH_URL = "/v1/chat/completions"
MAX_REQUESTS, MAX_BYTES = 50_000, 200 * 1024 * 1024  # OpenAI's limits per batch input file
BATCH_DISCOUNT = 0.5  # Batch API tokens cost half the live price


class BatchDeferred(NotAnswered):
    """A model call written to the requests file instead of sent (the prepare pass)."""

    code = "model_deferred"


class _Recorded(Exception):
    """Raised by the prepare transport once it has the request: nothing is sent."""


class PreparePass:
    """`StructuredClient.batch_api` for the prepare pass: a cache miss becomes one request line
    (once per custom_id) and a `BatchDeferred` for the enricher (a failed call: nothing cached)."""

    def __init__(self, requests: TextIO) -> None:
        self.requests = requests  # the requests file, put in place when the pass ends well (`private_file`)
        self.keys: set[str] = set()
        self.deferred = 0  # calls deferred (a request shared by two letters counts twice)
        self.bytes = 0

    async def acall(self, task: str, key: str, call):
        recorded: list = []

        def record(request):
            recorded.append(request)
            raise _Recorded()

        try:
            await call(httpx.MockTransport(record))
        except ModelError:
            if len(recorded) != 1:
                raise
        if len(recorded) != 1:  # instructor answered without a request: cannot happen
            raise ModelError(f"{task}: no request to defer to the Batch API")
        request = recorded[0]
        self.deferred += 1
        if key not in self.keys:
            if not request.url.path.endswith("/chat/completions"):
                raise ModelError(f"{task}: the request is not a chat completion ({request.url.path})")
            line = {"custom_id": key, "method": "POST", "url": BATCH_URL, "body": json.loads(request.content)}
            text = json.dumps(line, ensure_ascii=False) + "\n"
            self.requests.write(text)
            self.keys.add(key)
            self.bytes += len(text.encode("utf-8"))
        raise BatchDeferred(f"{task}: deferred to the OpenAI Batch API (request {key[:16]})")


class BatchResults:
    """The Batch API's output and error files, indexed by custom_id (file and offset: a line is read
    again when asked for). A successful answer wins over a failed one; else the last line wins."""

    def __init__(self, paths) -> None:
        self.paths = [Path(p) for p in paths]
        self._index: dict[str, tuple[int, int, bool]] = {}
        self.lines = self.bad_lines = 0
        for n, path in enumerate(self.paths):
            with path.open("rb") as handle:
                offset = 0
                for raw in handle:
                    where, offset = offset, offset + len(raw)
                    if not raw.strip():
                        continue
                    try:
                        record = json.loads(raw)
                        custom_id = record["custom_id"]
                    except (ValueError, KeyError, TypeError):
                        custom_id = None
                    if not isinstance(custom_id, str):
                        self.bad_lines += 1
                        continue
                    self.lines += 1
                    ok = _answer(record) is not None
                    old = self._index.get(custom_id)
                    if old is None or ok or not old[2]:
                        self._index[custom_id] = (n, where, ok)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def get(self, key: str) -> dict | None:
        found = self._index.get(key)
        if found is None:
            return None
        n, offset, _ = found
        with self.paths[n].open("rb") as handle:
            handle.seek(offset)
            return json.loads(handle.readline())


def _answer(record: dict) -> dict | None:
    """The chat completion of a successful output line, else None."""
    response = _dict(record, "response")
    body = response.get("body")
    ok = not record.get("error") and response.get("status_code") == 200 and isinstance(body, dict)
    return body if ok else None


def _dict(record: dict, key: str) -> dict:
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _failure(record: dict) -> str:
    """Why a line has no answer: its status and error code only (never a message or a body)."""
    error, response = _dict(record, "error"), _dict(record, "response")
    body_error = _dict(_dict(response, "body"), "error")
    code = error.get("code") or body_error.get("code") or body_error.get("type")
    code = code if isinstance(code, str) and re.fullmatch(r"[\w.\-]{1,64}", code) else None
    status = response.get("status_code")
    parts = [f"HTTP {status}" if isinstance(status, int) else None, code]
    return ", ".join(p for p in parts if p) or "no response"


class CollectPass:
    """`StructuredClient.batch_api` for the collect pass: a cache miss is answered by its line in
    the results (validated, salvaged, counted and cached as a live answer), or fails."""

    def __init__(self, results: BatchResults) -> None:
        self.results = results
        self.answered = 0  # usable answers taken from the results
        self.missing: set[str] = set()  # keys not in the results
        self.failed: set[str] = set()  # keys whose request failed in the batch
        self.unusable: set[str] = set()  # keys whose answer failed (refusal, cut off, not JSON, ...)

    async def acall(self, task: str, key: str, call):
        record = self.results.get(key)
        if record is None:
            self.missing.add(key)
            raise NotAnswered(f"{task}: no answer in the batch results for request {key[:16]} "
                              "(run prepare again to submit it)")
        body = _answer(record)
        if body is None:
            self.failed.add(key)
            raise NotAnswered(f"{task}: request {key[:16]} failed in the batch ({_failure(record)})")
        try:
            completion = await call(httpx.MockTransport(lambda request: httpx.Response(200, json=body)))
        except ModelError:
            self.unusable.add(key)
            raise
        self.answered += 1
        return completion

    def lines(self) -> list[str]:
        out = [f"{self.answered} answer(s) taken from the batch results; {len(self.missing)} request(s) missing "
               f"from them, {len(self.failed)} failed in the batch, {len(self.unusable)} with an unusable answer"]
        if self.missing or self.failed or self.unusable:
            out.append("those were not cached: run prepare again for a requests file with just them")
        if self.missing and not self.answered and len(self.results):
            out.append("none of this run's requests are in the results: are --model and --endpoint-kind the "
                       "ones prepare was run with?")
        if self.results.bad_lines:
            out.append(f"{self.results.bad_lines} line(s) of the results were not Batch API output lines")
        return out


def prepare_lines(summary: Summary, deferred: PreparePass, requests: Path) -> list[str]:
    """What the prepare pass did: letters, requests written, calls deferred and already cached."""
    reasons, requests_n = summary.reasons(), len(deferred.keys)
    out = [f"letters: {summary.letters} ({sum(summary.failed.values())} failed" + (f": {reasons}" if reasons else "") + ")",
           f"{requests_n} request(s) written to {requests} ({deferred.deferred} model call(s) deferred; "
           f"{summary.cache_hits} already answered in the cache)"]
    if not requests_n:
        out.append("nothing to submit: run collect (or imr-llm batch) with this model and cache")
    if requests_n > MAX_REQUESTS or deferred.bytes > MAX_BYTES:
        out.append(f"OpenAI takes at most {MAX_REQUESTS:,} requests and {MAX_BYTES // 2**20} MB per batch file: "
                   "split it (its lines are independent) and submit each part")
    return out


async def aprepare(paths, pipeline, requests: Path, *, concurrency: int = 4, progress=None) -> tuple[list[str], bool]:
    """The prepare pass over `paths`: (the summary's lines, whether a letter failed)."""
    client = pipeline.enricher.client
    summary = Summary()
    try:  # the requests file replaces an older one only when the pass ends well
        with private_file(requests) as handle, client.batch_api(PreparePass(handle)) as deferred:
            async with aclosing(aiter_results(paths, pipeline, concurrency=concurrency)) as results:
                async for result in results:
                    summary.add(result.record())
                    if progress is not None:
                        progress(result)
    finally:
        await client.aclose()
    return prepare_lines(summary, deferred, requests), bool(summary.failed)


async def acollect(paths, pipeline, results: BatchResults, options: BatchOptions, *, progress=None):
    """The collect pass over `paths`, written as `imr-llm batch` writes: (Summary, CollectPass)."""
    with pipeline.enricher.client.batch_api(CollectPass(results)) as collected:
        summary = await run_batch(paths, pipeline, options, progress=progress)
    return summary, collected
