"""SMS gateways: a Protocol, the console default (dev only) and a real HTTP client.

The HTTP gateway speaks a small JSON contract that Vietnamese brandname-SMS providers (or a
province's relay in front of one) can take directly:

    POST {SMS__URL}
    Authorization: Bearer {SMS__API_KEY}
    {"to": "+84912345678", "text": "...", "sender": "SOTAYDANGVIEN", "reference": "<id>"}

Any 2xx is accepted; 429 and 5xx and network errors are retried (`SMS__RETRIES`) with a short
backoff; other 4xx fail at once. Message texts and keys never reach the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import httpx

from app.core.config import SmsSettings

log = logging.getLogger("app.sms")


class SmsError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class SmsMessage:
    to: str
    text: str
    reference: str


class SmsGateway(Protocol):
    async def send(self, message: SmsMessage) -> None: ...

    async def aclose(self) -> None: ...


class ConsoleSmsGateway:
    """Dev default: writes the message (and so the OTP code) to the log and keeps the last few."""

    def __init__(self, keep: int = 100) -> None:
        self.sent: deque[SmsMessage] = deque(maxlen=keep)

    async def send(self, message: SmsMessage) -> None:
        self.sent.append(message)
        log.warning("DEV SMS to %s: %s", message.to, message.text, extra={"allow_secret": True})

    async def aclose(self) -> None:
        return None


class HttpSmsGateway:
    def __init__(self, settings: SmsSettings, *, transport: httpx.AsyncBaseTransport | None = None):
        self._settings = settings
        headers = {"User-Agent": "handbook-sms/1"}
        key = settings.api_key.get_secret_value()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.AsyncClient(
            timeout=settings.timeout_s, headers=headers, transport=transport
        )

    async def send(self, message: SmsMessage) -> None:
        payload = {
            "to": message.to,
            "text": message.text,
            "sender": self._settings.sender,
            "reference": message.reference,
        }
        attempts = self._settings.retries + 1
        for attempt in range(1, attempts + 1):
            delay = 0.2 * 2 ** (attempt - 1)
            try:
                response = await self._client.post(self._settings.url, json=payload)
            except httpx.HTTPError as exc:
                error: str = type(exc).__name__
            else:
                if response.is_success:
                    log.info("sms sent", extra={"reference": message.reference, "attempt": attempt})
                    return
                error = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    break
                delay = max(delay, _retry_after(response))
            if attempt < attempts:
                await asyncio.sleep(delay)
        log.error("sms failed", extra={"reference": message.reference, "error": error})
        raise SmsError(error)

    async def aclose(self) -> None:
        await self._client.aclose()


MAX_RETRY_AFTER_S = 5.0


def _retry_after(response: httpx.Response) -> float:
    """The gateway's Retry-After in seconds (capped: a login code is useless minutes later)."""
    value = response.headers.get("retry-after", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return 0.0


def build_sms_gateway(settings: SmsSettings) -> SmsGateway:
    if settings.gateway == "http":
        return HttpSmsGateway(settings)
    return ConsoleSmsGateway()
