"""Password logins at a steady rate beside the reads (DESIGN.md §5, the logins bar).

`LoginLoad` posts `POST /api/v1/auth/password/login` at `rate` per second, each on the next
phone of the pool (distinct phones, so no per-phone rule is involved), from a thread of its own
with its own event loop, while wrk measures a read. The server runs with the per-IP login limit
raised for the run. Every answer must be 200.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from app.bench.wrk import require_loopback

LOGIN_PATH = "/api/v1/auth/password/login"
LOGIN_TIMEOUT_S = 10.0


@dataclass
class LoginStats:
    sent: int = 0
    ok: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return self.sent - self.ok

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "statuses": dict(self.statuses),
            "rate_per_s": round(self.rate, 2),
            "p50_ms": round(statistics.median(lat), 1) if lat else None,
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1) if lat else None,
        }


class LoginLoad:
    """`with LoginLoad(base, phones, password, rate=5):` logins run until the block ends."""

    def __init__(self, base_url: str, phones: list[str], password: str, *, rate: float) -> None:
        require_loopback(base_url)
        self.base_url = base_url
        self.phones = phones
        self.password = password
        self.rate = rate
        self.stats = LoginStats()
        self._next = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _phone(self) -> str:
        phone = self.phones[self._next % len(self.phones)]
        self._next += 1
        return phone

    async def _one(self, client: httpx.AsyncClient, phone: str) -> None:
        started = time.monotonic()
        try:
            response = await client.post(
                LOGIN_PATH, json={"phone": phone, "password": self.password}
            )
            key = str(response.status_code)
        except httpx.HTTPError as exc:
            key = type(exc).__name__
        self.stats.statuses[key] = self.stats.statuses.get(key, 0) + 1
        if key == "200":
            self.stats.ok += 1
            self.stats.latencies_ms.append(1000 * (time.monotonic() - started))

    async def _main(self) -> None:
        interval = 1.0 / self.rate
        tasks: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(base_url=self.base_url, timeout=LOGIN_TIMEOUT_S) as client:
            started = time.monotonic()
            due = started
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= due:
                    self.stats.sent += 1
                    task = asyncio.create_task(self._one(client, self._phone()))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    due += interval
                await asyncio.sleep(max(0.0, min(0.05, due - time.monotonic())))
            self.stats.seconds = time.monotonic() - started
            if tasks:
                await asyncio.wait(tasks, timeout=LOGIN_TIMEOUT_S)

    def __enter__(self) -> LoginLoad:
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=LOGIN_TIMEOUT_S + 5)
