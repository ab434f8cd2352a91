"""Job handlers by kind, and what a handler may answer.

A handler is `async def handle(ctx: JobContext) -> Later | None`. It frames its own transactions
(`async with ctx.db.write.begin() as session`), one per job or per chunk, and should be safe to
run again: a worker may die after the work and before the job is marked done (at-least-once).

- return None: the job is done;
- return `Later(at)`: run again at `at` (waiting on a Retry-After, quiet hours, the next period
  of a recurring job); not counted as a failed attempt;
- raise `PermanentError`: dead at once (bad payload); any other exception: retried with
  exponential backoff and jitter until `max_attempts`, then dead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.clock import Clock
from app.core.db import Database
from app.resources import Resources
from app.worker.queue import ClaimedJob


class PermanentError(Exception):
    """The job can never succeed (e.g. it refers to something that no longer exists)."""


@dataclass(frozen=True, slots=True)
class Later:
    at: datetime
    progress: dict[str, Any] | None = None


@dataclass
class JobContext:
    job: ClaimedJob
    resources: Resources
    clock: Clock
    owner: str
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def db(self) -> Database:
        return self.resources.db

    def now(self) -> datetime:
        return self.clock.now()


Handler = Callable[[JobContext], Awaitable[Later | None]]


@dataclass(frozen=True, slots=True)
class Recurring:
    """A job every worker makes sure exists (one row, found by its key) at startup."""

    key: str
    kind: str


class Registry:
    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.recurring: list[Recurring] = []

    def handler(self, kind: str, *, recurring: bool = False) -> Callable[[Handler], Handler]:
        def register(function: Handler) -> Handler:
            if kind in self.handlers:
                raise ValueError(f"a handler for {kind!r} is already registered")
            self.handlers[kind] = function
            if recurring:
                self.recurring.append(Recurring(key=f"recurring:{kind}", kind=kind))
            return function

        return register

    def get(self, kind: str) -> Handler | None:
        return self.handlers.get(kind)


# The registry of the product's jobs; `app.worker.handlers` fills it when imported.
registry = Registry()


def default_registry() -> Registry:
    import app.worker.handlers  # noqa: F401 - registers the handlers

    return registry
