"""The cache is an interface: a store with get/set/stats/clear/close can replace diskcache —
given to the Pipeline, or named by IMR_LLM_CACHE_BACKEND — and gets exactly the same entries."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import httpx2 as httpx
import pytest

from imr_llm.api import Pipeline
from imr_llm.cache import CacheBackend, MemoryCache, ResponseCache, open_cache
from imr_llm.errors import ConfigError
from imr_llm.model import ModelConfig
from conftest import LETTERS

LETTER = LETTERS / "003_bd44697b6f0a7cef.txt"
CONFIG = ModelConfig(model="m", endpoint_kind="llamacpp", base_url="http://127.0.0.1:9/v1")


class CountingStore(MemoryCache):
    """What a shared store (Redis, a table) would look like: the same five methods."""

    instances: list["CountingStore"] = []

    def __init__(self, directory=None) -> None:
        super().__init__(directory)
        self.directory_given = directory
        self.sets = 0
        CountingStore.instances.append(self)

    def set(self, key, value) -> None:
        self.sets += 1
        super().set(key, value)


def _transport():
    from fake_openai_server import chat_completion, valid_answer

    calls = []

    def handler(request):
        body = json.loads(request.content)
        calls.append(body)
        return httpx.Response(200, json=chat_completion(json.dumps(valid_answer(body))))

    return handler, calls


def _run(tmp_path, **options):
    handler, calls = _transport()
    with Pipeline(CONFIG, cache_dir=tmp_path / "disk", http_client=httpx.Client(transport=httpx.MockTransport(handler)),
                  **options) as pipeline:
        det = pipeline.extract(LETTER)
        again = pipeline.extract(LETTER)
    return det, again, calls, pipeline.cache


def test_a_plugged_in_store_gets_the_same_entries_as_diskcache(tmp_path):
    det_disk, _, calls_disk, disk = _run(tmp_path / "a")
    store = CountingStore()
    det_mem, again, calls_mem, used = _run(tmp_path / "b", cache=store)
    assert used is store and isinstance(store, CacheBackend)
    assert det_mem.model_dump(exclude={"model_step"}) == det_disk.model_dump(exclude={"model_step"})
    assert len(calls_mem) == len(calls_disk) == store.sets  # one write per call, none on the re-run
    assert again.model_step.usage.cache_hits == store.sets and again.model_step.usage.calls == 0
    reopened = ResponseCache(tmp_path / "a" / "disk")
    try:
        assert reopened.stats()["entries"] == store.stats()["entries"] == len(calls_disk)
    finally:
        reopened.close()


def test_the_backend_can_be_named_in_the_environment(tmp_path, monkeypatch):
    # a package declares its store under the entry-point group; the environment names it
    dist = tmp_path / "site" / "shared_store-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shared-store\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[imr_llm.cache_backends]\ncounting = test_cache_backends:CountingStore\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("IMR_LLM_CACHE_BACKEND", "counting")
    CountingStore.instances.clear()
    det, again, calls, used = _run(tmp_path)
    assert isinstance(used, CountingStore) and used.directory_given == tmp_path / "disk" and used.sets == len(calls)
    monkeypatch.setenv("IMR_LLM_CACHE_BACKEND", "memory")  # the built-in names
    assert isinstance(open_cache(tmp_path), MemoryCache)
    monkeypatch.setenv("IMR_LLM_CACHE_BACKEND", "no_such_store")
    with pytest.raises(ConfigError, match="no such cache backend.*counting, disk, memory"):
        open_cache(tmp_path)


def test_the_environment_cannot_make_the_cache_import_a_module(tmp_path, monkeypatch):
    """IMR_LLM_CACHE_BACKEND=module:Class once imported the module it named: code execution
    through an environment variable. Only registered names and declared entry points count."""
    ran = tmp_path / "imported"
    (tmp_path / "planted_store.py").write_text(f"open({str(ran)!r}, 'w').close()\nclass Store: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec in ("planted_store:Store", "planted_store", "os:system"):
        monkeypatch.setenv("IMR_LLM_CACHE_BACKEND", spec)
        with pytest.raises(ConfigError, match="no such cache backend"):
            open_cache(tmp_path / "c")
    assert not ran.exists()


def test_a_registered_backend_that_is_no_store_is_refused(tmp_path, monkeypatch):
    from imr_llm.cache import CACHE_BACKENDS, register_cache_backend

    monkeypatch.setitem(CACHE_BACKENDS, "path", None)
    register_cache_backend("path", lambda directory: PurePosixPath("x"))  # constructs, but is no store
    monkeypatch.setenv("IMR_LLM_CACHE_BACKEND", "path")
    with pytest.raises(ConfigError, match="needs get, set"):
        open_cache(tmp_path)
