"""Idempotency keys for writes: a retried request gets the first response again.

- same key, same request (method, path, body) → the stored response of the first one;
- same key, another request → 422 `idempotency.key_reused`;
- the first one still running → 409 `idempotency.in_flight` (retry a moment later);
- keys are scoped to the member who sent them and kept `TTL` (24 hours).

The claim is committed on its own before the write runs (so a duplicate sees it): a new key is
one `INSERT … ON CONFLICT DO NOTHING`, its own transaction; the response
is stored in the write's own transaction (so a write is never committed without the answer a
retry must get); a failed write releases its claim (the client may try again). Only 2xx answers
are stored. Operations whose body must not be kept next to the member (secret ballots,
anonymous answers) do not take keys: their own one-per-member rows make them safe to retry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import Database, dialect_insert
from app.core.errors import Conflict, Unprocessable
from app.models import IdempotencyKey
from app.models.base import utcnow

TTL = timedelta(hours=24)
# A claim not completed within this time was abandoned (its process died): it may be taken over.
LEASE = timedelta(seconds=60)
STORED_HEADERS = ("content-type", "location", "etag")

IN_FLIGHT = "in_flight"
DONE = "done"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes
    headers: dict[str, str]


@dataclass(slots=True)
class Claim:
    id: int
    # Set once the write's handler has produced its answer (see `app.api.idempotency`).
    response: StoredResponse | None = field(default=None)


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


_key_t = cast(Table, IdempotencyKey.__table__)
_COMPLETE = (
    update(_key_t)
    .where(_key_t.c.id == bindparam("claim_id"))
    .values(
        state=DONE,
        status_code=bindparam("p_status_code", type_=_key_t.c.status_code.type),
        response_body=bindparam("p_body", type_=_key_t.c.response_body.type),
        response_headers=bindparam("p_headers", type_=_key_t.c.response_headers.type),
    )
)
_CLAIMS: dict[str, Any] = {}  # the claim's INSERT … ON CONFLICT, built once per dialect


def _claim_statement(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    statement = _CLAIMS.get(dialect)
    if statement is None:
        statement = _CLAIMS[dialect] = (
            dialect_insert(session, _key_t)
            .values(
                member_id=bindparam("p_member_id", type_=_key_t.c.member_id.type),
                key=bindparam("p_key", type_=_key_t.c.key.type),
                fingerprint=bindparam("p_fingerprint", type_=_key_t.c.fingerprint.type),
                state=IN_FLIGHT,
                locked_until=bindparam("p_locked_until", type_=_key_t.c.locked_until.type),
                created_at=bindparam("p_created_at", type_=_key_t.c.created_at.type),
                expires_at=bindparam("p_expires_at", type_=_key_t.c.expires_at.type),
            )
            .on_conflict_do_nothing(index_elements=["member_id", "key"])
            .returning(_key_t.c.id)
        )
    return statement


_RELEASE = delete(_key_t).where(_key_t.c.id == bindparam("claim_id"), _key_t.c.state == IN_FLIGHT)


async def claim(
    db: Database, *, member_id: int, key: str, fingerprint: str
) -> Claim | StoredResponse:
    """Claim `key` for this request, or hand back what the first request answered.

    A new key (nearly every request) costs one statement, committed on its own (`db.single`:
    in AUTOCOMMIT on PostgreSQL, one round trip); a key already there is decided on its row,
    locked in a transaction of its own."""
    now = utcnow()
    async with db.single() as session, session.begin():
        inserted = await session.scalar(
            _claim_statement(session),
            {
                "p_member_id": member_id,
                "p_key": key,
                "p_fingerprint": fingerprint,
                "p_locked_until": now + LEASE,
                "p_created_at": now,
                "p_expires_at": now + TTL,
            },
        )
    if inserted is not None:
        return Claim(id=inserted)
    return await _existing(db.write, member_id=member_id, key=key, fingerprint=fingerprint)


async def _existing(
    maker: async_sessionmaker[AsyncSession], *, member_id: int, key: str, fingerprint: str
) -> Claim | StoredResponse:
    """The key is taken: its stored answer, a refusal, or (expired, abandoned) a fresh claim."""
    now = utcnow()
    async with maker() as session, session.begin():
        row = await session.scalar(
            select(IdempotencyKey)
            .where(IdempotencyKey.member_id == member_id, IdempotencyKey.key == key)
            .with_for_update()
        )
        if row is None:  # released between our insert and this read: the caller may retry
            raise Conflict(
                "Yêu cầu trùng đang được xử lý. Vui lòng thử lại sau giây lát.",
                code="idempotency.in_flight",
            )
        if row.expires_at <= now or (row.state == IN_FLIGHT and row.locked_until <= now):
            # Expired, or abandoned by a process that died: start afresh under this request.
            row.fingerprint = fingerprint
            row.state = IN_FLIGHT
            row.locked_until = now + LEASE
            row.status_code = row.response_body = row.response_headers = None
            row.created_at = now
            row.expires_at = now + TTL
            return Claim(id=row.id)
        if row.fingerprint != fingerprint:
            raise Unprocessable(
                "Khóa Idempotency-Key này đã được dùng cho một yêu cầu khác.",
                code="idempotency.key_reused",
            )
        if row.state == DONE and row.status_code is not None:
            return StoredResponse(
                status_code=row.status_code,
                body=row.response_body or b"",
                headers=dict(row.response_headers or {}),
            )
        raise Conflict(
            "Yêu cầu trùng đang được xử lý. Vui lòng thử lại sau giây lát.",
            code="idempotency.in_flight",
        )


async def complete(session: AsyncSession, claim: Claim) -> None:
    """Store the claim's response, in the transaction of the write it answers."""
    response = claim.response
    if response is None or not 200 <= response.status_code < 300:
        return
    await session.execute(
        _COMPLETE,
        {
            "claim_id": claim.id,
            "p_status_code": response.status_code,
            "p_body": response.body,
            "p_headers": response.headers,
        },
    )


async def release(db: Database, claim: Claim) -> None:
    """The write failed: forget the claim so the client may try again with the same key."""
    async with db.single() as session, session.begin():
        await session.execute(_RELEASE, {"claim_id": claim.id})


async def prune(session: AsyncSession) -> int:
    """Delete expired keys (housekeeping); returns how many."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow())
    )
    return cast(CursorResult[Any], result).rowcount
