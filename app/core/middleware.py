"""One pure-ASGI middleware for every request: request id, body limit, metrics, access log,
security headers and the last-resort 500. Pure ASGI (not BaseHTTPMiddleware) keeps the
per-request cost small.

Security headers: `X-Content-Type-Options: nosniff` on every response; `Cache-Control: no-store`
on every response under `/api/` (tokens and personal data: no browser, proxy or HTTP-client
cache keeps them) unless the route set its own `Cache-Control`.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.config import LogSettings
from app.core.errors import http_problem
from app.core.logging import client_ip_var, request_id_var

log = logging.getLogger("app.access")
error_log = logging.getLogger("app.errors")

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{8,64}")
_SAFE = frozenset({b"GET", b"HEAD", b"OPTIONS"})
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")


class _RequestIds:
    """Request ids: 16 hex digits, a random half per process and a counter, so every request of
    a process has its own without a system call for randomness on each (they identify a
    request in the logs, they grant nothing). A forked child draws a half of its own."""

    def __init__(self) -> None:
        self._renew()
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self._prefix = secrets.token_hex(4)
        self._count = itertools.count(secrets.randbelow(1 << 32))

    def next(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFFFFFF:08x}"


_ids = _RequestIds()


class _BodyTooLarge(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, log_settings: LogSettings) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.access = log_settings.access
        self.slow_s = log_settings.slow_ms / 1000

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming, declared = _read_headers(scope)
        request_id = incoming or _ids.next()
        request_id_var.set(request_id)
        client = scope.get("client")
        client_ip_var.set(client[0] if client else None)
        header = (b"x-request-id", request_id.encode())
        no_store = scope["path"].startswith("/api/")
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [*message.get("headers", ()), header, _NOSNIFF]
                if no_store and not any(name == b"cache-control" for name, _ in headers):
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        received = 0
        limit: int | None = None

        async def receive_wrapper() -> Message:
            # The limit is the route's own (uploads) or the JSON default; routing has happened
            # by the time anything reads the body, so the route is known here.
            nonlocal received, limit
            if limit is None:
                route_limit = getattr(scope.get("route"), "max_body_bytes", None)
                limit = route_limit or self.max_body_bytes
                if declared is not None and declared > limit:
                    raise _BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except _BodyTooLarge:
            if response_started:
                raise
            await _send_problem(413, scope, receive, send_wrapper)
        except Exception:
            error_log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            await _send_problem(500, scope, receive, send_wrapper)

        elapsed = time.perf_counter() - started
        # Label by the route's name (its operationId): stable, and bounded in number.
        route_name = getattr(scope.get("route"), "name", None)
        metrics.observe_request(scope["method"], route_name, status, elapsed)
        operation = route_name or "unmatched"
        if self.access == "all" or (
            self.access == "writes"
            and (status >= 400 or elapsed >= self.slow_s or scope["method"].encode() not in _SAFE)
        ):
            log.info(
                "%s %s %s %.1fms",
                scope["method"],
                scope["path"],
                status,
                elapsed * 1000,
                extra={"operation": operation, "status": status, "ms": round(elapsed * 1000, 1)},
            )


def _read_headers(scope: Scope) -> tuple[str | None, int | None]:
    """The well-formed X-Request-ID and the Content-Length, in one pass over the headers."""
    request_id: str | None = None
    length: int | None = None
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            request_id = text if _REQUEST_ID_RE.fullmatch(text) else None
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
    return request_id, length


async def _send_problem(status: int, scope: Scope, receive: Receive, send: Any) -> None:
    response = http_problem(status, instance=scope.get("path"))
    await response(scope, receive, send)
