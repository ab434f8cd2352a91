"""The audit log: one call for every area to record an action, and the officers' reader.

    await audit.record(
        session, actor, "member.lock", target=("member", member.id), org_id=member.branch_id
    )

`record` adds the row to the caller's session, so it commits or rolls back with the change it
describes. Request id and client address come from the request context (none in jobs and
commands). `changes(before, after)` builds the `{field: [before, after]}` diff of an edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core.logging import client_ip_var, request_id_var
from app.core.pagination import decode_cursor, page_of
from app.models import AuditEvent, Member, Org
from app.models.base import utcnow
from app.services import access
from app.services.access import Actor

# Never audit material, whatever a caller passes.
_SECRET_FIELDS = frozenset({"password", "password_hash", "token", "refresh_token", "code"})


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """`{field: [before, after]}` for the fields of `after` whose value changed."""
    diff: dict[str, list[Any]] = {}
    for field, new in after.items():
        if field in _SECRET_FIELDS:
            continue
        old = before.get(field)
        if _plain(old) != _plain(new):
            diff[field] = [_plain(old), _plain(new)]
    return diff


async def record(
    session: AsyncSession,
    actor: Actor | None,
    action: str,
    *,
    target: tuple[str, int | str],
    org_id: int,
    changes: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
    on_behalf_of: int | None = None,
) -> None:
    """Add an audit row to this session (committed with the change it describes)."""
    safe_detail = {k: _plain(v) for k, v in (detail or {}).items() if k not in _SECRET_FIELDS}
    session.add(
        AuditEvent(
            at=utcnow(),
            actor_id=actor.member_id if actor is not None else None,
            on_behalf_of_id=on_behalf_of,
            action=action,
            target_type=target[0],
            target_id=str(target[1]),
            org_id=org_id,
            changes=dict(changes) if changes else None,
            detail=safe_detail or None,
            request_id=request_id_var.get(),
            ip=client_ip_var.get(),
        )
    )


_e = AuditEvent.__table__
_org = Org.__table__
_actor = aliased(Member.__table__, name="actor")
_behalf = aliased(Member.__table__, name="behalf")


async def list_events(
    session: AsyncSession,
    org_path: str,
    *,
    action: str | None,
    actor_id: int | None,
    target_type: str | None,
    target_id: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Events of the org's subtree, newest first. `action` ending in "." is a prefix
    ("member." for every member action)."""
    lo, hi = access.subtree_range(org_path)
    query = (
        select(
            _e.c.id,
            _e.c.at,
            _e.c.action,
            _e.c.target_type,
            _e.c.target_id,
            _e.c.changes,
            _e.c.detail,
            _e.c.request_id,
            _e.c.ip,
            _e.c.actor_id,
            _actor.c.full_name.label("actor_name"),
            _e.c.on_behalf_of_id,
            _behalf.c.full_name.label("behalf_name"),
            _org.c.id.label("org_id"),
            _org.c.name.label("org_name"),
            _org.c.kind.label("org_kind"),
        )
        .join(_org, _org.c.id == _e.c.org_id)
        .outerjoin(_actor, _actor.c.id == _e.c.actor_id)
        .outerjoin(_behalf, _behalf.c.id == _e.c.on_behalf_of_id)
        .where(_org.c.path >= lo, _org.c.path < hi)
    )
    if action:
        if action.endswith("."):
            query = query.where(_e.c.action.startswith(action, autoescape=True))
        else:
            query = query.where(_e.c.action == action)
    if actor_id is not None:
        query = query.where(_e.c.actor_id == actor_id)
    if target_type is not None:
        query = query.where(_e.c.target_type == target_type)
    if target_id is not None:
        query = query.where(_e.c.target_id == target_id)
    if since is not None:
        query = query.where(_e.c.at >= since)
    if until is not None:
        query = query.where(_e.c.at < until)
    if cursor:
        (last_id,) = decode_cursor(cursor, "audit", (int,))
        query = query.where(_e.c.id < last_id)
    rows = (await session.execute(query.order_by(_e.c.id.desc()).limit(limit + 1))).mappings()
    page, next_cursor = page_of(list(rows), limit, "audit", lambda r: (r["id"],))
    return [_event(row) for row in page], next_cursor


def _event(row: Mapping[str, Any]) -> dict[str, Any]:
    def ref(member_id: int | None, name: str | None) -> dict[str, Any] | None:
        return None if member_id is None else {"id": member_id, "full_name": name or ""}

    return {
        "id": row["id"],
        "at": row["at"],
        "action": row["action"],
        "actor": ref(row["actor_id"], row["actor_name"]),
        "on_behalf_of": ref(row["on_behalf_of_id"], row["behalf_name"]),
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "org": {"id": row["org_id"], "name": row["org_name"], "kind": row["org_kind"]},
        "changes": row["changes"],
        "detail": row["detail"],
        "request_id": row["request_id"],
        "ip": row["ip"],
    }
