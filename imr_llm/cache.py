"""The response cache: same inputs, same outputs, zero repeated calls.

The key recipe lives here only: model, endpoint kind, prompt hash, response-schema hash, the
rendered messages and the generation parameters, plus CACHE_FORMAT (bumped when what is
stored changes). The endpoint's host is deliberately not in the key, so a cache (or cassette)
made against one server is valid against another serving the same model.

Cached values are model outputs about medical letters: a folder the cache creates is private
(0700); an existing folder's mode is never changed.

The cache owns only what it made. A cache folder carries a marker file (`MARKER`): the cache
uses a new or empty folder (and marks it), a marked one, or the default folder (~/.cache/imr-llm,
ours by name, marked on first use), and refuses any other; `clear` deletes diskcache's own files
in a marked folder (its database and the value files it wrote, then the folders those leave
empty) and nothing else.

The store is an interface (`CacheBackend`: get, set, stats, clear, close). `ResponseCache`
(diskcache, process-safe, one folder) is the default; `MemoryCache` keeps answers for one process;
a shared store for many machines (Redis, a database table) is a class with the same five methods,
given to `Pipeline(cache=...)`, or named by `IMR_LLM_CACHE_BACKEND`: a name in `CACHE_BACKENDS`
(`register_cache_backend`), or one an installed package declares under the entry-point group
`imr_llm.cache_backends` — never an arbitrary module to import. The backend is called with the
cache folder argument, which it may ignore. Values are small JSON-able dicts.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    if os.environ.get("IMR_LLM_CACHE_DIR"):
        return Path(os.environ["IMR_LLM_CACHE_DIR"])
    return _named_cache_dir()


def _named_cache_dir() -> Path:
    """~/.cache/imr-llm (or under XDG_CACHE_HOME): a folder that is imr-llm's by its name."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imr-llm"


def cache_key(*, model: str, endpoint_kind: str, prompt_hash: str, schema_hash: str,
              messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    blob = json.dumps(
        {"format": CACHE_FORMAT, "model": model, "endpoint_kind": endpoint_kind, "prompt": prompt_hash,
         "schema": schema_hash, "messages": messages, "params": params},
        sort_keys=True, ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def schema_fingerprint(schema: dict) -> str:
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]


@runtime_checkable
class CacheBackend(Protocol):
    """What the model client needs from a response store."""

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any) -> None: ...

    def stats(self) -> dict[str, int]: ...

    def clear(self) -> int: ...

    def close(self) -> None: ...


class MemoryCache:
    """Answers kept for this process only (tests, notebooks, one-off runs)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self._data: dict[str, Any] = {}
        self.hits = self.misses = 0

    def get(self, key: str) -> Any | None:
        value = self._data.get(key)
        self.hits, self.misses = self.hits + (value is not None), self.misses + (value is None)
        return value

    def set(self, key: str, value: Any) -> None:
        self._data[key] = value

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._data), "bytes": len(json.dumps(self._data, default=str))}

    def clear(self) -> int:
        removed = len(self._data)
        self._data.clear()
        return removed

    def close(self) -> None:
        pass


#: the file that makes a folder a cache folder (see the module's docstring)
MARKER = ".imr-llm-cache"
_MARKER_TEXT = ("This folder is an imr-llm response cache (model outputs about medical letters: keep it "
                "private). `imr-llm cache clear` deletes the cache's own files here and nothing else.\n")
_DISKCACHE_DB = ("cache.db", "cache.db-wal", "cache.db-shm")


def claim_cache_dir(directory: Path) -> Path:
    """`directory` as a cache folder: created user-only and marked if missing; marked if empty,
    or if it is ~/.cache/imr-llm (ours by name: a cache from before the marker); used if marked;
    else refused (a ConfigError). A folder named by IMR_LLM_CACHE_DIR gets no exception."""
    from .errors import ConfigError
    from .output import display_path, private_dir

    marker = directory / MARKER
    if not directory.exists():
        private_dir(directory)
    elif not directory.is_dir():
        raise ConfigError(f"cache folder {display_path(directory)}: is a file, not a folder")
    elif marker.exists():
        return directory
    elif any(directory.iterdir()) and directory != _named_cache_dir():
        raise ConfigError(f"cache folder {display_path(directory)}: holds files and is not an imr-llm cache "
                          f"(no {MARKER} in it); give a new or empty folder")
    marker.write_text(_MARKER_TEXT, encoding="utf-8")
    return directory


#: IMR_LLM_CACHE_BACKEND names one of these (or an entry point of ENTRY_POINT_GROUP)
CACHE_BACKENDS: dict[str, Any] = {}
ENTRY_POINT_GROUP = "imr_llm.cache_backends"


def register_cache_backend(name: str, factory) -> None:
    """Make `factory` (called with the cache folder, or None) a backend IMR_LLM_CACHE_BACKEND can name."""
    CACHE_BACKENDS[name] = factory


def open_cache(directory: str | Path | None = None) -> CacheBackend:
    """The configured store: the backend IMR_LLM_CACHE_BACKEND names (default "disk": diskcache)."""
    from importlib.metadata import entry_points

    from .errors import ConfigError

    name = os.environ.get("IMR_LLM_CACHE_BACKEND") or "disk"
    factory = CACHE_BACKENDS.get(name)
    if factory is None:
        declared = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        if name not in declared:
            known = ", ".join(sorted({*CACHE_BACKENDS, *declared}))
            raise ConfigError(f"IMR_LLM_CACHE_BACKEND={name}: no such cache backend (known: {known}; a package "
                              f"adds one under the entry-point group {ENTRY_POINT_GROUP})")
        try:
            factory = declared[name].load()
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"IMR_LLM_CACHE_BACKEND={name}: cannot be loaded ({type(exc).__name__})") from None
    try:
        backend = factory(directory)
    except TypeError as exc:
        raise ConfigError(f"IMR_LLM_CACHE_BACKEND={name}: cannot be made ({type(exc).__name__})") from None
    if not isinstance(backend, CacheBackend):
        raise ConfigError(f"IMR_LLM_CACHE_BACKEND={name}: needs get, set, stats, clear and close")
    return backend


class ResponseCache:
    """diskcache behind the `CacheBackend` interface, with hit/miss counts (the default)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        import diskcache

        self.directory = claim_cache_dir(Path(directory) if directory else default_cache_dir())
        self._cache = diskcache.Cache(str(self.directory))
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any | None:
        value = self._cache.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def set(self, key: str, value: Any) -> None:
        self._cache.set(key, value)

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._cache), "bytes": int(self._cache.volume())}

    def clear(self) -> int:
        """Remove every cached response, and the files that held them: diskcache deletes the value
        files it wrote (and the folders that leaves empty); its database is then deleted whole,
        since diskcache's `clear()` alone leaves freed pages of the old answers inside cache.db.
        Nothing else in the folder is touched."""
        import diskcache

        removed = len(self._cache)
        self._cache.clear()
        self._cache.close()
        for name in _DISKCACHE_DB:
            (self.directory / name).unlink(missing_ok=True)
        self._cache = diskcache.Cache(str(self.directory))
        return int(removed)

    def close(self) -> None:
        self._cache.close()


register_cache_backend("disk", ResponseCache)
register_cache_backend("memory", MemoryCache)
