"""The response cache: same inputs, same outputs, zero repeated calls. The key recipe (`cache_key`)
leaves out the endpoint's host, so a cache (or cassette) made against one server holds against another
serving the same model. Cached values are about medical letters: the cache owns only folders it marked,
and `clear` deletes diskcache's own files only. IMR_LLM_CACHE_BACKEND names a registered backend or an
installed package's entry point (never an arbitrary module)."""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import diskcache

from .errors import ConfigError
from .output import display_path, private_dir

CACHE_FORMAT = 1
MARKER = ".imr-llm-cache"  # the file that makes a folder a cache folder
_MARKER_TEXT = ("This folder is an imr-llm response cache (model outputs about medical letters: keep it "
                "private). `imr-llm cache clear` deletes the cache's own files here and nothing else.\n")
_DISKCACHE_DB = ("cache.db", "cache.db-wal", "cache.db-shm")
CACHE_BACKENDS: dict[str, Any] = {}  # IMR_LLM_CACHE_BACKEND names one of these (or an entry point of the group)
ENTRY_POINT_GROUP = "imr_llm.cache_backends"


def default_cache_dir() -> Path:
    return Path(os.environ["IMR_LLM_CACHE_DIR"]) if os.environ.get("IMR_LLM_CACHE_DIR") else _named_cache_dir()


def _named_cache_dir() -> Path:
    """~/.cache/imr-llm (or under XDG_CACHE_HOME): a folder that is imr-llm's by its name."""
    return Path(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")) / "imr-llm"


def cache_key(*, model: str, endpoint_kind: str, prompt_hash: str, schema_hash: str,
              messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    blob = json.dumps({"format": CACHE_FORMAT, "model": model, "endpoint_kind": endpoint_kind, "prompt": prompt_hash,
                       "schema": schema_hash, "messages": messages, "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


@runtime_checkable
class CacheBackend(Protocol):
    """What the model client needs from a response store (values are small JSON-able dicts)."""

    def get(self, key: str) -> Any | None: ...
    def set(self, key: str, value: Any) -> None: ...
    def stats(self) -> dict[str, int]: ...
    def clear(self) -> int: ...
    def close(self) -> None: ...


class MemoryCache(dict):
    """Answers kept for this process only (tests, notebooks, one-off runs)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        super().__init__()

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def stats(self) -> dict[str, int]:
        return {"entries": len(self), "bytes": len(json.dumps(self, default=str))}

    def clear(self) -> int:
        removed = len(self)
        super().clear()
        return removed

    def close(self) -> None:
        pass


def claim_cache_dir(directory: Path) -> Path:
    """`directory` as a cache folder: created user-only and marked if missing; marked if empty,
    or if it is ~/.cache/imr-llm (ours by name: a cache from before the marker); used if marked;
    else refused (a ConfigError). A folder named by IMR_LLM_CACHE_DIR gets no exception."""
    marker = directory / MARKER
    if not directory.exists():
        private_dir(directory)
    elif not directory.is_dir():
        raise ConfigError(f"cache folder {display_path(directory)}: is a file, not a folder")
    elif marker.exists():
        return directory
    # the marker is read again after the listing: another process claiming the new folder at the same
    # moment writes its marker before any other file, so files beside a marker are that process's cache
    elif any(directory.iterdir()) and not marker.exists() and directory != _named_cache_dir():
        raise ConfigError(f"cache folder {display_path(directory)}: holds files and is not an imr-llm cache "
                          f"(no {MARKER} in it); give a new or empty folder")
    marker.write_text(_MARKER_TEXT, encoding="utf-8")
    return directory


def register_cache_backend(name: str, factory) -> None:
    """Make `factory` (called with the cache folder, or None) a backend IMR_LLM_CACHE_BACKEND can name."""
    CACHE_BACKENDS[name] = factory


def open_cache(directory: str | Path | None = None) -> CacheBackend:
    """The configured store: the backend IMR_LLM_CACHE_BACKEND names (default "disk": diskcache)."""
    name = os.environ.get("IMR_LLM_CACHE_BACKEND") or "disk"
    factory = CACHE_BACKENDS.get(name)
    if factory is None:
        declared = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        if name not in declared:
            raise ConfigError(f"IMR_LLM_CACHE_BACKEND={name}: no such cache backend (known: "
                              f"{', '.join(sorted({*CACHE_BACKENDS, *declared}))}; a package adds one under the "
                              f"entry-point group {ENTRY_POINT_GROUP})")
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
    """diskcache behind the `CacheBackend` interface (the default; process-safe, one folder)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = claim_cache_dir(Path(directory) if directory else default_cache_dir())
        self._cache = diskcache.Cache(str(self.directory))

    def get(self, key: str) -> Any | None:
        return self._cache.get(key)

    def set(self, key: str, value: Any) -> None:
        self._cache.set(key, value)

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._cache), "bytes": int(self._cache.volume())}

    def clear(self) -> int:
        """Remove every cached response and its files: diskcache's `clear()` leaves freed pages of the old
        answers inside cache.db, so the database is deleted whole. Nothing else in the folder is touched."""
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
