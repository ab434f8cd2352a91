"""Idempotency keys for writes: a retried request gets the first response again.

- same key, same request (method, path, body) → the stored response of the first one;
- same key, another request → 422 `idempotency.key_reused`;
- keys are scoped to the member who sent them and kept `TTL` (24 hours).

The claim is the first statement of the write's own transaction (a new key is one
`INSERT … ON CONFLICT DO NOTHING`), and the response is stored in that same transaction before its
one commit: a write is never committed without the answer a retry must get, and a failed write
leaves no claim behind (the client may try again). A duplicate sent while the first is still
running waits on the key's unique index until the first commits, then gets its stored answer (or,
if the first rolled back, runs itself). A row left `in_flight` (by a release that committed its
claim apart from the write) answers 409 `idempotency.in_flight` until its lease passes, then may
be taken over. Only 2xx answers are stored. Operations whose body must not be kept next to the
member (secret ballots, anonymous answers) do not take keys: their own one-per-member rows make
them safe to retry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import BigInteger, String, Table, bindparam, delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import FastQuery, Statements, constant, dialect_insert
from app.core.errors import Conflict, Unprocessable
from app.models import IdempotencyKey
from app.models.base import UTCDateTime, utcnow

TTL = timedelta(hours=24)
# A claim left `in_flight` past this time was abandoned (its process died): it may be taken over.
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


# The statements, compiled once (per database where they differ).
_key_t = cast(Table, IdempotencyKey.__table__)
_id = bindparam("claim_id", type_=BigInteger)
_member_id = bindparam("p_member_id", type_=BigInteger)
_key = bindparam("p_key", type_=String)
_fingerprint = bindparam("p_fingerprint", type_=String)
_locked_until = bindparam("p_locked_until", type_=UTCDateTime())
_created_at = bindparam("p_created_at", type_=UTCDateTime())
_expires_at = bindparam("p_expires_at", type_=UTCDateTime())
_CLAIMS = {
    dialect: FastQuery(
        dialect_insert(dialect, _key_t)
        .values(
            member_id=_member_id,
            key=_key,
            fingerprint=_fingerprint,
            state=constant(IN_FLIGHT),
            locked_until=_locked_until,
            created_at=_created_at,
            expires_at=_expires_at,
        )
        .on_conflict_do_nothing(index_elements=["member_id", "key"])
        .returning(_key_t.c.id)
    )
    for dialect in ("postgresql", "sqlite")
}
_EXISTING = FastQuery(
    select(
        _key_t.c.id,
        _key_t.c.fingerprint,
        _key_t.c.state,
        _key_t.c.locked_until,
        _key_t.c.expires_at,
        _key_t.c.status_code,
        _key_t.c.response_body,
        _key_t.c.response_headers,
    )
    .where(_key_t.c.member_id == _member_id, _key_t.c.key == _key)
    .with_for_update()
)
_TAKE_OVER = FastQuery(
    update(_key_t)
    .where(_key_t.c.id == _id)
    .values(
        fingerprint=_fingerprint,
        state=constant(IN_FLIGHT),
        locked_until=_locked_until,
        status_code=None,
        response_body=None,
        response_headers=None,
        created_at=_created_at,
        expires_at=_expires_at,
    )
)
_COMPLETE = FastQuery(
    update(_key_t)
    .where(_key_t.c.id == _id)
    .values(
        state=constant(DONE),
        status_code=bindparam("p_status_code", type_=_key_t.c.status_code.type),
        response_body=bindparam("p_body", type_=_key_t.c.response_body.type),
        response_headers=bindparam("p_headers", type_=_key_t.c.response_headers.type),
    )
)
_RELEASE = FastQuery(delete(_key_t).where(_key_t.c.id == _id))


def _in_flight() -> Conflict:
    return Conflict(
        "Yêu cầu trùng đang được xử lý. Vui lòng thử lại sau giây lát.",
        code="idempotency.in_flight",
    )


async def claim(
    tx: Statements, *, member_id: int, key: str, fingerprint: str
) -> Claim | StoredResponse:
    """Claim `key` for this request in the write's own transaction `tx` (its first statement),
    or hand back what the first request answered. A new key (nearly every request) costs one
    statement; a duplicate of a write still running waits here until that write commits (then
    gets its answer) or rolls back (then claims the key itself)."""
    now = utcnow()
    params = {
        "p_member_id": member_id,
        "p_key": key,
        "p_fingerprint": fingerprint,
        "p_locked_until": now + LEASE,
        "p_created_at": now,
        "p_expires_at": now + TTL,
    }
    for _ in range(2):
        inserted = await tx.fetch(_CLAIMS[tx.dialect], params)
        if inserted:
            return Claim(id=inserted[0]["id"])
        rows = await tx.fetch(_EXISTING, params)
        if rows:
            return await _existing(tx, rows[0], params)
        # The row went between the two statements (pruned, or released): claim it again.
    raise _in_flight()


async def _existing(tx: Statements, row: Any, params: dict[str, Any]) -> Claim | StoredResponse:
    """The key is taken (its row locked in `tx`): its stored answer, a refusal, or (expired,
    abandoned) a fresh claim."""
    now = params["p_created_at"]
    if row["expires_at"] <= now or (row["state"] == IN_FLIGHT and row["locked_until"] <= now):
        # Expired, or abandoned by a process that died: start afresh under this request.
        await tx.execute(_TAKE_OVER, {**params, "claim_id": row["id"]})
        return Claim(id=row["id"])
    if row["fingerprint"] != params["p_fingerprint"]:
        raise Unprocessable(
            "Khóa Idempotency-Key này đã được dùng cho một yêu cầu khác.",
            code="idempotency.key_reused",
        )
    if row["state"] == DONE and row["status_code"] is not None:
        return StoredResponse(
            status_code=row["status_code"],
            body=bytes(row["response_body"] or b""),
            headers=dict(row["response_headers"] or {}),
        )
    raise _in_flight()


async def complete(tx: Statements, claim: Claim) -> None:
    """Store the claim's response, in the transaction of the write it answers (a claim whose
    write answered anything but 2xx is dropped: the key may be used again)."""
    response = claim.response
    if response is None or not 200 <= response.status_code < 300:
        await release(tx, claim)
        return
    await tx.execute(
        _COMPLETE,
        {
            "claim_id": claim.id,
            "p_status_code": response.status_code,
            "p_body": response.body,
            "p_headers": response.headers,
        },
    )


async def release(tx: Statements, claim: Claim) -> None:
    """Forget the claim, in the write's transaction (one that commits without its answer)."""
    await tx.execute(_RELEASE, {"claim_id": claim.id})


async def prune(session: AsyncSession) -> int:
    """Delete expired keys (housekeeping); returns how many."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow())
    )
    return cast(CursorResult[Any], result).rowcount
