"""Prometheus metrics. With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR (the
`handbook api` command does it for you) so /metrics aggregates every worker.

/metrics is for operators only (`OPS__METRICS_TOKEN`, see `api/ops.py`): the SMS counters move
only for numbers on the roster, so whoever reads them could tell members from strangers.
`otp_requests_total` moves the same for every number.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

log = logging.getLogger("app.metrics")

REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# The histogram's child per (method, route, status) of the routes matched: `labels()` validates
# and locks on every call, a few microseconds of every request.
_REQUEST_CHILDREN: dict[tuple[str, str, int], Any] = {}


def observe_request(method: str, operation: str | None, status: int, seconds: float) -> None:
    """A request's duration, labelled by its route's name (its operationId: bounded in number)."""
    if operation is None:  # unmatched: whatever the client sent, not kept beyond the histogram
        REQUEST_DURATION.labels(method, "unmatched", str(status)).observe(seconds)
        return
    key = (method, operation, status)
    child = _REQUEST_CHILDREN.get(key)
    if child is None:
        child = _REQUEST_CHILDREN[key] = REQUEST_DURATION.labels(method, operation, str(status))
    child.observe(seconds)


OTP_REQUESTS = Counter(
    "otp_requests_total", "OTP code requests accepted (any number: the same 202 for all)."
)
OTP_SENT = Counter(
    "otp_sent_total", "OTP codes handed to the SMS gateway (numbers on the roster only)."
)
OTP_SEND_FAILED = Counter("otp_send_failed_total", "OTP codes the SMS gateway did not take.")
LOGINS = Counter("logins_total", "Successful logins.", ["method"])

# The worker. Counters are per process (the worker serves them on WORKER__METRICS_PORT; an
# embedded worker shows them on the API's /metrics); gauges read from the database are the same
# from any process (the API refreshes them when scraped, the worker with its heartbeat).
JOBS_FINISHED = Counter(
    "jobs_finished_total",
    "Job runs by kind and outcome (done, failed, dead, expired, later).",
    ["kind", "outcome"],
)
JOBS = Gauge(
    "jobs",
    "Unfinished jobs by status (queued, running, failed = waiting for a retry, dead).",
    ["status"],
    multiprocess_mode="max",
)
JOB_OLDEST_DUE_AGE = Gauge(
    "job_oldest_due_age_seconds",
    "How long the oldest due job has been waiting (0 when none is due).",
    multiprocess_mode="max",
)
WORKERS_ALIVE = Gauge("workers_alive", "Workers with a fresh heartbeat.", multiprocess_mode="max")
PUSH_MESSAGES = Counter(
    "push_messages_total",
    "Push messages by outcome (sent, unregistered, invalid, retry, failed).",
    ["outcome"],
)
SMS_MESSAGES = Counter(
    "sms_messages_total",
    "SMS by purpose (otp, notice) and outcome (sent, failed, over_budget).",
    ["purpose", "outcome"],
)
SMS_BUDGET_USED = Gauge(
    "sms_budget_used", "SMS spent today by purpose.", ["purpose"], multiprocess_mode="max"
)
SMS_BUDGET_LIMIT = Gauge(
    "sms_budget_limit",
    "Today's SMS limit by purpose (0 = no limit).",
    ["purpose"],
    multiprocess_mode="max",
)
SMS_NOTICE_FUSE = Gauge(
    "sms_notice_fuse_tripped",
    "1 when notices have used their share of the daily SMS budget and stopped going by SMS.",
    multiprocess_mode="max",
)


DB_POOL = Gauge(
    "db_pool_connections",
    "Database connections of the API processes by pool (orm, read) and state (in_use, idle, "
    "capacity).",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
READINESS_FAILURES = Counter(
    "readiness_failures_total", "Readiness checks (/readyz) that found the database unavailable."
)


def record_pool(pool: str, *, in_use: int, idle: int, capacity: int) -> None:
    DB_POOL.labels(pool, "in_use").set(in_use)
    DB_POOL.labels(pool, "idle").set(idle)
    DB_POOL.labels(pool, "capacity").set(capacity)


_DB_REFRESH_EVERY_S = 5.0
_db_refreshed_at = 0.0


async def refresh_from_database(refresh: Callable[[], Awaitable[None]]) -> None:
    """Run `refresh` (it sets the gauges read from the database) at most every few seconds per
    process; a database that does not answer leaves the previous values."""
    global _db_refreshed_at
    now = time.monotonic()
    if now - _db_refreshed_at < _DB_REFRESH_EVERY_S:
        return
    _db_refreshed_at = now
    try:
        await refresh()
    except Exception:  # metrics never fail the scrape
        log.warning("could not read queue gauges from the database", exc_info=True)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
