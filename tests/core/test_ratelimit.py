"""Sliding-window rate limits: the same semantics in memory and in the real Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.ratelimit import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    build_rate_limiter,
)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

LimiterFactory = Callable[[], RateLimiter]


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of its own in the real Redis; every key under it is deleted afterwards."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}); set TEST_REDIS_URL")
    prefix = f"handbook:test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def redis_limiters(redis_prefix: str) -> AsyncIterator[LimiterFactory]:
    """Makes RedisRateLimiter instances ("replicas") sharing one prefix."""
    made: list[RedisRateLimiter] = []

    def make() -> RateLimiter:
        limiter = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


@pytest.fixture(params=["memory", "redis"])
def make_limiter(request: pytest.FixtureRequest) -> LimiterFactory:
    if request.param == "memory":
        return MemoryRateLimiter
    factory: LimiterFactory = request.getfixturevalue("redis_limiters")
    return factory


async def test_allows_limit_hits_then_returns_wait(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()

    allowed = [await limiter.hit("otp:+84912345678", limit=3, window_s=60) for _ in range(3)]
    wait_ms = await limiter.hit("otp:+84912345678", limit=3, window_s=60)

    assert allowed == [0, 0, 0]
    assert 0 < wait_ms <= 60_000


async def test_keys_are_independent(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    await limiter.hit("ip:203.0.113.7", limit=1, window_s=60)

    assert await limiter.hit("ip:203.0.113.7", limit=1, window_s=60) > 0
    assert await limiter.hit("ip:203.0.113.8", limit=1, window_s=60) == 0


async def test_window_slides_and_refused_hits_do_not_count(
    make_limiter: LimiterFactory,
) -> None:
    limiter = make_limiter()
    assert await limiter.hit("login", limit=2, window_s=1) == 0
    assert await limiter.hit("login", limit=2, window_s=1) == 0
    refused = [await limiter.hit("login", limit=2, window_s=1) for _ in range(5)]

    await asyncio.sleep(1.1)  # let the window pass the first two hits

    assert all(wait > 0 for wait in refused)
    assert await limiter.hit("login", limit=2, window_s=1) == 0
    assert await limiter.hit("login", limit=2, window_s=1) == 0
    assert await limiter.hit("login", limit=2, window_s=1) > 0


async def test_redis_replicas_share_the_window(redis_limiters: LimiterFactory) -> None:
    replica_a, replica_b = redis_limiters(), redis_limiters()

    assert await replica_a.hit("otp:+84912345678", limit=3, window_s=60) == 0
    assert await replica_b.hit("otp:+84912345678", limit=3, window_s=60) == 0
    assert await replica_a.hit("otp:+84912345678", limit=3, window_s=60) == 0

    assert await replica_b.hit("otp:+84912345678", limit=3, window_s=60) > 0
    assert await replica_a.hit("otp:+84912345678", limit=3, window_s=60) > 0


async def test_redis_counts_concurrent_hits_exactly(redis_limiters: LimiterFactory) -> None:
    replicas = [redis_limiters() for _ in range(4)]

    results = await asyncio.gather(
        *(replicas[i % 4].hit("burst", limit=10, window_s=60) for i in range(40))
    )

    assert sum(1 for wait in results if wait == 0) == 10


async def test_redis_keys_live_under_prefix_and_expire(
    redis_limiters: LimiterFactory, redis_prefix: str
) -> None:
    limiter = redis_limiters()
    await limiter.hit("otp:+84912345678", limit=3, window_s=60)

    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=redis_prefix + "*")]
        ttl_ms = await client.pttl(redis_prefix + "otp:+84912345678")
    finally:
        await client.aclose()
    assert keys == [f"{redis_prefix}otp:+84912345678".encode()]
    assert 0 < ttl_ms <= 60_000


async def test_memory_limiter_forgets_least_recent_keys_beyond_max_keys() -> None:
    limiter = MemoryRateLimiter(max_keys=2)
    for key in ("a", "b", "c"):  # "c" evicts "a", the least recently used
        await limiter.hit(key, limit=1, window_s=60)

    assert await limiter.hit("a", limit=1, window_s=60) == 0
    assert await limiter.hit("c", limit=1, window_s=60) > 0


async def test_build_rate_limiter_uses_redis_only_when_configured() -> None:
    memory = build_rate_limiter(None)
    redis = build_rate_limiter(REDIS_URL)
    try:
        assert isinstance(memory, MemoryRateLimiter)
        assert isinstance(redis, RedisRateLimiter)
    finally:
        await memory.aclose()
        await redis.aclose()
