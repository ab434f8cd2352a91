"""Prometheus metrics. With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR (the
`handbook api` command does it for you) so /metrics aggregates every worker."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OTP_SENT = Counter("otp_sent_total", "OTP codes handed to the SMS gateway.")
OTP_SEND_FAILED = Counter("otp_send_failed_total", "OTP codes the SMS gateway did not take.")
LOGINS = Counter("logins_total", "Successful logins.", ["method"])


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
