"""Push through Firebase Cloud Messaging (HTTP v1): a Protocol, the inbox-only default, the
firebase-admin sender and a lean sender with the same credentials.

- No credentials configured (`FCM__CREDENTIALS_FILE` / `FCM__CREDENTIALS_JSON`): pushes are not
  sent; every notice still lands in the members' in-app inbox.
- `firebase-admin`: `messaging.send_each_async`, at most 500 messages a call, with the
  deployment's service account. The send URL (`FCM__SEND_URL`) and the OAuth token endpoint
  (`FCM__TOKEN_URI`, overriding the service account's `token_uri`) are configurable so tests and
  benchmarks run the real SDK against a local stub. The SDK's own retries are turned off: ours
  are persisted per delivery (a restart loses none) and honour Retry-After, which the SDK does
  not do for 429.
- `lean` (default): the same request to the same endpoint, built with orjson and sent over a
  small pool of keep-alive HTTP/1.1 connections; the OAuth token comes from the same service
  account through google-auth (firebase-admin's `credentials.Certificate`). About 0.04 ms of CPU
  a message against the SDK's ~4 ms (its httpx client: connection-pool bookkeeping per request),
  which is what meets the push bar (docs/benchmarks/push.json).

Every message carries a per-device idempotency key (`data.message_id`, the delivery's id: a resend
after a crash carries the same one, and the app drops repeats) and a collapse key per notice (the
phone replaces rather than stacks a repeat). Tokens are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import ssl
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

from app.core import metrics
from app.core.config import FcmSettings

log = logging.getLogger("app.fcm")

MAX_BATCH = 500
DEFAULT_RETRY_AFTER_S = 60.0
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


class PushOutcome(StrEnum):
    SENT = "sent"
    UNREGISTERED = "unregistered"  # the app was uninstalled or the token expired: prune
    INVALID = "invalid"  # not a token of this project: prune
    RETRY = "retry"  # quota (429), 5xx, network: try again later
    FAILED = "failed"  # refused for another reason


@dataclass(frozen=True, slots=True)
class PushMessage:
    token: str
    title: str
    body: str
    data: Mapping[str, str]
    collapse_key: str  # one per notice
    message_id: str  # one per device and notice: the idempotency key

    def __repr__(self) -> str:  # never the token
        return f"PushMessage(message_id={self.message_id!r}, collapse_key={self.collapse_key!r})"


@dataclass(frozen=True, slots=True)
class PushResult:
    outcome: PushOutcome
    retry_after_s: float | None = None  # from Retry-After, when the server said
    error: str | None = None


class PushSender(Protocol):
    name: str

    async def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        """One result per message, in order (at most MAX_BATCH messages)."""
        ...

    async def aclose(self) -> None: ...


class ConfigError(RuntimeError):
    pass


def load_service_account(settings: FcmSettings) -> dict[str, Any] | None:
    raw = settings.credentials_json.get_secret_value()
    if raw:
        info: dict[str, Any] = json.loads(raw)
    elif settings.credentials_file is not None:
        info = json.loads(settings.credentials_file.read_text(encoding="utf-8"))
    else:
        return None
    if info.get("type") != "service_account":
        raise ConfigError("FCM credentials must be a service account key (type service_account)")
    if settings.token_uri:
        info["token_uri"] = settings.token_uri
    return info


def _project_id(settings: FcmSettings, info: Mapping[str, Any]) -> str:
    project = settings.project_id or str(info.get("project_id") or "")
    if not project:
        raise ConfigError("FCM__PROJECT_ID is needed when the service account names no project")
    return project


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


def _fcm_error_code(payload: Any) -> tuple[str | None, str | None]:
    """(FcmError errorCode, canonical status) of an FCM v1 error body."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = None
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
            code = detail.get("errorCode")
            break
    status = error.get("status")
    return code, status if isinstance(status, str) else None


def classify(status: int, code: str | None, retry_after: float | None) -> PushResult:
    """One FCM v1 answer as an outcome (shared by both senders)."""
    if 200 <= status < 300:
        return PushResult(PushOutcome.SENT)
    label = code or f"HTTP {status}"
    if code == "UNREGISTERED" or (status == 404 and code is None):
        return PushResult(PushOutcome.UNREGISTERED, error=label)
    if code in ("INVALID_ARGUMENT", "SENDER_ID_MISMATCH") or status == 400:
        return PushResult(PushOutcome.INVALID, error=label)
    if status == 429 or code == "QUOTA_EXCEEDED":
        return PushResult(
            PushOutcome.RETRY, retry_after_s=retry_after or DEFAULT_RETRY_AFTER_S, error=label
        )
    if status >= 500 or status in (401, 408) or code in ("UNAVAILABLE", "INTERNAL"):
        return PushResult(PushOutcome.RETRY, retry_after_s=retry_after, error=label)
    return PushResult(PushOutcome.FAILED, error=label)


def guard_payload_errors(results: list[PushResult]) -> list[PushResult]:
    """INVALID_ARGUMENT is also FCM's answer to a malformed message. When every message of a
    batch of several is refused that way, the payload is at fault, not the tokens: fail them
    without pruning anyone's device."""
    if len(results) > 1 and all(r.outcome is PushOutcome.INVALID for r in results):
        log.error("FCM refused a whole batch as invalid: payload problem, no token pruned")
        return [PushResult(PushOutcome.FAILED, error="batch refused as invalid") for _ in results]
    return results


def fcm_message(message: PushMessage) -> dict[str, Any]:
    """The FCM v1 `message` object."""
    return {
        "token": message.token,
        "notification": {"title": message.title, "body": message.body},
        "data": {**message.data, "message_id": message.message_id},
        "android": {"collapse_key": message.collapse_key, "priority": "high"},
        "apns": {"headers": {"apns-collapse-id": message.collapse_key}},
    }


# --- firebase-admin ---------------------------------------------------------------------------


class FirebaseAdminSender:
    """`firebase_admin.messaging.send_each_async` with the deployment's service account."""

    name = "firebase-admin"

    def __init__(self, settings: FcmSettings, info: dict[str, Any]) -> None:
        import firebase_admin
        from firebase_admin import _http_client, credentials, messaging
        from firebase_admin._retry import HttpxRetry

        self._messaging = messaging
        project = _project_id(settings, info)
        self._app = firebase_admin.initialize_app(
            credentials.Certificate(info),
            {"projectId": project, "httpTimeout": settings.timeout_s},
            name=f"handbook-{secrets.token_hex(4)}",
        )
        service = messaging._get_messaging_service(self._app)
        # The SDK formats its class-level FCM_URL with the project; ours may point elsewhere.
        service._fcm_url = settings.send_url.format(project_id=project)
        # No retries inside the SDK (it would sleep with the job's lease held, and it ignores
        # Retry-After on 429): failed messages come back to us and are retried per delivery.
        service._async_client = _http_client.HttpxAsyncClient(
            credential=service._credential,
            timeout=int(settings.timeout_s),
            retry_config=HttpxRetry(max_retries=0),
        )
        self._service = service
        self._credential = service._credential

    async def _fresh_token(self) -> None:
        """Refresh the OAuth token off the event loop (google-auth's refresh is blocking)."""
        if not self._credential.valid:
            from google.auth.transport.requests import Request

            await asyncio.to_thread(self._credential.refresh, Request())

    async def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        if len(messages) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} messages a call")
        if not messages:
            return []
        await self._fresh_token()
        m = self._messaging
        with warnings.catch_warnings():
            # firebase-admin 7.7 deprecates `token` in favour of installation ids (`fid`); the
            # apps register FCM registration tokens, which FCM v1 still takes as `token`.
            warnings.simplefilter("ignore", DeprecationWarning)
            batch = self._batch(messages)
        response = await m.send_each_async(batch, app=self._app)
        return guard_payload_errors([self._result(r) for r in response.responses])

    def _batch(self, messages: Sequence[PushMessage]) -> list[Any]:
        m = self._messaging
        return [
            m.Message(
                token=msg.token,
                notification=m.Notification(title=msg.title, body=msg.body),
                data={**msg.data, "message_id": msg.message_id},
                android=m.AndroidConfig(collapse_key=msg.collapse_key, priority="high"),
                apns=m.APNSConfig(headers={"apns-collapse-id": msg.collapse_key}),
            )
            for msg in messages
        ]

    def _result(self, response: Any) -> PushResult:
        if response.success:
            return PushResult(PushOutcome.SENT)
        exc = response.exception
        http = getattr(exc, "http_response", None)
        status = int(getattr(http, "status_code", 0) or 0)
        code: str | None = None
        retry_after: float | None = None
        if http is not None:
            retry_after = _retry_after(http.headers.get("Retry-After"))
            try:
                code, _ = _fcm_error_code(http.json())
            except ValueError:
                code = None
        if code is None:
            code = getattr(exc, "code", None)  # the platform code: INVALID_ARGUMENT, …
        if status == 0:  # no HTTP answer (network, timeout)
            return PushResult(PushOutcome.RETRY, error=type(exc).__name__)
        return classify(status, code, retry_after)

    async def aclose(self) -> None:
        import firebase_admin

        await self._service._async_client.aclose()
        # delete_app closes the SDK's services with asyncio.run(): not on a running loop.
        await asyncio.to_thread(firebase_admin.delete_app, self._app)


# --- the lean sender -------------------------------------------------------------------------


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


class LeanFcmSender:
    """FCM v1 over keep-alive HTTP/1.1 connections, with the service account's OAuth token."""

    name = "lean"

    def __init__(self, settings: FcmSettings, info: dict[str, Any]) -> None:
        from firebase_admin import credentials

        project = _project_id(settings, info)
        self._credential = credentials.Certificate(info).get_credential()
        url = urlsplit(settings.send_url.format(project_id=project))
        self._tls = url.scheme == "https"
        self._host = url.hostname or ""
        self._port = url.port or (443 if self._tls else 80)
        self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        host_header = self._host if url.port is None else f"{self._host}:{url.port}"
        self._head = (
            f"POST {self._path} HTTP/1.1\r\nHost: {host_header}\r\n"
            "Content-Type: application/json; charset=UTF-8\r\n"
            "User-Agent: handbook-fcm/1\r\n"
        ).encode()
        self._timeout = settings.timeout_s
        self._size = settings.connections
        self._idle: list[_Connection] = []
        self._ssl = ssl.create_default_context() if self._tls else None
        self._token_lock = asyncio.Lock()
        self._auth = b""

    async def _token(self, *, force: bool = False) -> bytes:
        if force or not self._credential.valid or not self._auth:
            async with self._token_lock:
                if force or not self._credential.valid or not self._auth:
                    from google.auth.transport.requests import Request

                    await asyncio.to_thread(self._credential.refresh, Request())
                    self._auth = f"Authorization: Bearer {self._credential.token}\r\n".encode()
        return self._auth

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self._host, self._port, ssl=self._ssl), self._timeout
        )
        return _Connection(reader, writer)

    async def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        if len(messages) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} messages a call")
        if not messages:
            return []
        auth = await self._token()
        results: list[PushResult | None] = [None] * len(messages)
        lanes = min(self._size, len(messages))
        refresh = False

        async def lane(start: int) -> None:
            nonlocal refresh
            connection: _Connection | None = None
            try:
                for index in range(start, len(messages), lanes):
                    if connection is None:
                        connection = self._idle.pop() if self._idle else await self._connect()
                    result, keep = await self._exchange(connection, messages[index], auth)
                    if result.error == "HTTP 401":
                        refresh = True
                    results[index] = result
                    if not keep:
                        connection.close()
                        connection = None
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                if connection is not None:
                    connection.close()
                    connection = None
                for index in range(start, len(messages), lanes):
                    if results[index] is None:
                        results[index] = PushResult(PushOutcome.RETRY, error=type(exc).__name__)
            finally:
                if connection is not None:
                    self._idle.append(connection)

        await asyncio.gather(*(lane(i) for i in range(lanes)))
        if refresh:
            await self._token(force=True)
        return guard_payload_errors([r or PushResult(PushOutcome.RETRY) for r in results])

    async def _exchange(
        self, connection: _Connection, message: PushMessage, auth: bytes
    ) -> tuple[PushResult, bool]:
        body = orjson.dumps({"message": fcm_message(message)})
        connection.writer.write(
            b"".join((self._head, auth, b"Content-Length: %d\r\n\r\n" % len(body), body))
        )
        status, headers, payload = await asyncio.wait_for(
            _read_response(connection.reader), self._timeout
        )
        keep = headers.get(b"connection", b"").lower() != b"close"
        if 200 <= status < 300:
            return PushResult(PushOutcome.SENT), keep
        try:
            code, _ = _fcm_error_code(orjson.loads(payload) if payload else None)
        except orjson.JSONDecodeError:
            code = None
        retry_after = _retry_after(headers.get(b"retry-after", b"").decode() or None)
        return classify(status, code, retry_after), keep

    async def aclose(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes]:
    """Status, headers (lower-case names) and body of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ValueError("not an HTTP/1.x response")
    status = int(parts[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, headers, b"".join(chunks)
    length = int(headers.get(b"content-length", b"0"))
    return status, headers, await reader.readexactly(length) if length else b""


# --- the gateway the worker uses ---------------------------------------------------------------


class InboxOnlySender:
    """No Firebase credentials: nothing is pushed (notices still reach the in-app inbox)."""

    name = "inbox-only"

    async def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        return [PushResult(PushOutcome.FAILED, error="push disabled") for _ in messages]

    async def aclose(self) -> None:
        return None


class PushGateway:
    """A sender, plus what FCM expects of a polite client: a send-rate cap per Firebase project
    (shared by the live workers: each takes `share` of it) and a pause after a 429 until its
    Retry-After has passed. Counts outcomes in metrics."""

    def __init__(self, sender: PushSender, settings: FcmSettings, *, enabled: bool) -> None:
        self.sender = sender
        self.settings = settings
        self.enabled = enabled
        self.share = 1.0
        self.paused_until: datetime | None = None
        self._allowance = 0.0
        self._stamp: float | None = None
        self._lock = asyncio.Lock()

    async def send(self, messages: Sequence[PushMessage], *, now: datetime) -> list[PushResult]:
        results: list[PushResult] = []
        for start in range(0, len(messages), self.settings.batch_size):
            batch = messages[start : start + self.settings.batch_size]
            if self.paused_until is not None and now < self.paused_until:
                wait = (self.paused_until - now).total_seconds()
                results += [
                    PushResult(PushOutcome.RETRY, retry_after_s=wait, error="paused") for _ in batch
                ]
                continue
            await self._take(len(batch))
            answers = await self.sender.send(batch)
            for answer in answers:
                metrics.PUSH_MESSAGES.labels(str(answer.outcome)).inc()
                if answer.outcome is PushOutcome.RETRY and answer.error in (
                    "QUOTA_EXCEEDED",
                    "HTTP 429",
                ):
                    wait = min(
                        answer.retry_after_s or DEFAULT_RETRY_AFTER_S,
                        self.settings.max_retry_after_s,
                    )
                    until = now + timedelta(seconds=wait)
                    if self.paused_until is None or until > self.paused_until:
                        self.paused_until = until
                        log.warning("FCM quota exceeded: pausing pushes", extra={"s": wait})
            results += answers
        return results

    async def _take(self, count: int) -> None:
        """A token bucket of `rate_per_s × share` messages a second (a burst of one second)."""
        rate = self.settings.rate_per_s * self.share
        if rate <= 0:
            return
        async with self._lock:
            loop = asyncio.get_running_loop()
            now = loop.time()
            if self._stamp is None:
                self._stamp, self._allowance = now, rate
            self._allowance = min(rate, self._allowance + (now - self._stamp) * rate)
            self._stamp = now
            self._allowance -= count
            if self._allowance < 0:
                await asyncio.sleep(-self._allowance / rate)

    async def aclose(self) -> None:
        await self.sender.aclose()


def build_push_gateway(settings: FcmSettings) -> PushGateway:
    info = load_service_account(settings)
    if info is None:
        return PushGateway(InboxOnlySender(), settings, enabled=False)
    sender: PushSender
    if settings.sender == "lean":
        sender = LeanFcmSender(settings, info)
    else:
        sender = FirebaseAdminSender(settings, info)
    return PushGateway(sender, settings, enabled=True)
