"""Sliding-window rate limits: in memory by default, in Redis when `REDIS_URL` is set.

The in-memory limiter is per process; with several API workers or replicas set `REDIS_URL` so
every replica counts against the same window. Per-phone limits on OTP sending and failed logins
live in the database instead (see `services/auth/`), so they hold without Redis too.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from typing import Protocol

from redis.asyncio import Redis

from app.core.errors import ServiceUnavailable, TooManyRequests

log = logging.getLogger("app.ratelimit")

_LUA_SLIDING_WINDOW = """
local key = KEYS[1]
local clock = redis.call('TIME')  -- the server's clock: replicas may disagree on theirs
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local member = ARGV[3] .. '-' .. clock[1] .. clock[2]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return math.ceil(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, window)
return 0
"""


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window_s: int) -> int:
        """Count one event; 0 if allowed, else milliseconds until one is allowed again."""
        ...

    async def aclose(self) -> None: ...


class MemoryRateLimiter:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._events: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, *, limit: int, window_s: int) -> int:
        now = time.monotonic()
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self._max_keys:
                self._evict(now)
            events = self._events[key] = deque()
        while events and events[0] <= now - window_s:
            events.popleft()
        if len(events) >= limit:
            return max(1, int((events[0] + window_s - now) * 1000))
        events.append(now)
        return 0

    def _evict(self, now: float) -> None:
        # Drop keys idle for an hour; if that frees nothing, the least recently used half.
        events = self._events
        stale = [k for k, v in events.items() if not v or v[-1] < now - 3600]
        if not stale:
            stale = sorted(events, key=lambda k: events[k][-1])[: len(events) // 2]
        for key in stale:
            del self._events[key]

    async def aclose(self) -> None:
        self._events.clear()


class RedisRateLimiter:
    def __init__(self, url: str, *, prefix: str = "handbook:rl:") -> None:
        self._redis: Redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix
        self._script = self._redis.register_script(_LUA_SLIDING_WINDOW)
        self._instance = secrets.token_hex(8)  # unique across replicas
        self._seq = 0

    async def hit(self, key: str, *, limit: int, window_s: int) -> int:
        self._seq += 1
        member = f"{self._instance}-{self._seq}"
        result = await self._script(
            keys=[self._prefix + key], args=[window_s * 1000, limit, member]
        )
        return int(result)

    async def aclose(self) -> None:
        await self._redis.aclose()


def build_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()


async def enforce(limiter: RateLimiter, key: str, *, limit: int, window_s: int) -> None:
    """Count a hit on `key`; 429 with `Retry-After` past `limit` in `window_s`. When the shared
    limiter is down the request is refused (503 `rate.unavailable`): limits fail closed."""
    try:
        wait_ms = await limiter.hit(key, limit=limit, window_s=window_s)
    except Exception as exc:
        log.error("rate limiter unavailable: %s", type(exc).__name__)
        raise ServiceUnavailable(code="rate.unavailable") from exc
    if wait_ms:
        raise TooManyRequests(retry_after_s=(wait_ms + 999) // 1000)
