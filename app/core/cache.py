"""A small per-process cache with a time to live, for data that is read on every request and
changes rarely (org paths for scope guards, verified access tokens)."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """Entries live `ttl_s` seconds; when `max_entries` is reached the cache starts afresh
    (cheaper than tracking recency, and a refill costs one query per key)."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: K, value: V, ttl_s: float | None = None) -> None:
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + (self._ttl_s if ttl_s is None else ttl_s), value)

    def clear(self) -> None:
        self._entries.clear()
