"""Granting and revoking roles on orgs.

- No escalation: you grant only roles whose rights you hold there (`access.can_grant`).
- Taking a role back (revoking it, or locking the account that holds it) needs a scope strictly
  above it (`access.outranks`): two officers of one org cannot remove each other. Nobody revokes
  their own role, and the last deployment admin stays (`role.last_admin`); an operator with
  database access can grant the role again with `handbook admin grant`.
- Grants and account changes both lock the member row first, so a rule checked in one write
  transaction still holds when it commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, RowMapping, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import FastQuery, Reader
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.pagination import decode_cursor, page_of
from app.models import Member, Org, OrgKind, Role, RoleGrant
from app.models.base import utcnow
from app.schemas.org import OrgRef
from app.schemas.role import MemberRef, RoleGrantRead
from app.services import access, audit
from app.services.access import Actor, Permission
from app.services.orgs import OrgTarget

_grant = RoleGrant.__table__
_m = Member.__table__
_org = Org.__table__

_GRANT_QUERY = (
    select(
        _grant.c.id,
        _grant.c.role,
        _m.c.id.label("member_id"),
        _m.c.full_name,
        _org.c.id.label("org_id"),
        _org.c.name.label("org_name"),
        _org.c.kind.label("org_kind"),
        _grant.c.granted_at,
        _grant.c.granted_by_id,
    )
    .join(_m, _m.c.id == _grant.c.member_id)
    .join(_org, _org.c.id == _grant.c.org_id)
    .where(_grant.c.revoked_at.is_(None))
)


@dataclass(frozen=True, slots=True)
class GrantTarget:
    id: int
    role: Role
    path: str  # the path of the org the role is held on
    org_id: int
    member_id: int

    @property
    def owner_id(self) -> None:
        return None  # holding a role gives no right over its grant


def _read(row: RowMapping | Mapping[str, Any]) -> RoleGrantRead:
    return RoleGrantRead(
        id=row["id"],
        role=Role(row["role"]),
        member=MemberRef(id=row["member_id"], full_name=row["full_name"]),
        org=OrgRef(id=row["org_id"], name=row["org_name"], kind=OrgKind(row["org_kind"])),
        granted_at=row["granted_at"],
        granted_by_id=row["granted_by_id"],
    )


async def list_org_roles(
    session: AsyncSession, org: OrgTarget, *, limit: int, cursor: str | None
) -> tuple[list[RoleGrantRead], str | None]:
    query = _GRANT_QUERY.where(_grant.c.org_id == org.id)
    if cursor:
        (last_id,) = decode_cursor(cursor, "roles", (int,))
        query = query.where(_grant.c.id > last_id)
    rows = (await session.execute(query.order_by(_grant.c.id).limit(limit + 1))).mappings()
    page, next_cursor = page_of(list(rows), limit, "roles", lambda r: (r["id"],))
    return [_read(r) for r in page], next_cursor


_TARGET = FastQuery(
    select(_grant.c.id, _grant.c.role, _grant.c.org_id, _grant.c.member_id, _org.c.path)
    .join(_org, _org.c.id == _grant.c.org_id)
    .where(_grant.c.id == bindparam("grant_id", type_=BigInteger), _grant.c.revoked_at.is_(None))
)


async def load_target(reader: Reader, grant_id: int) -> GrantTarget | None:
    rows = await reader.fetch(_TARGET, {"grant_id": grant_id})
    if not rows:
        return None
    row = rows[0]
    return GrantTarget(
        id=row["id"],
        role=Role(row["role"]),
        path=row["path"],
        org_id=row["org_id"],
        member_id=row["member_id"],
    )


async def ensure_admin_remains(
    session: AsyncSession, *, without_member: int | None = None, without_grant: int | None = None
) -> None:
    """Refuse a change after which no deployment admin could log in: locking the member
    `without_member`, or revoking the grant `without_grant`."""
    query = (
        select(func.count())
        .select_from(_grant.join(_m, _m.c.id == _grant.c.member_id))
        .where(
            _grant.c.role == Role.DEPLOYMENT_ADMIN,
            _grant.c.revoked_at.is_(None),
            _m.c.is_locked.is_(False),
        )
    )
    if without_member is not None:
        query = query.where(_grant.c.member_id != without_member)
    if without_grant is not None:
        query = query.where(_grant.c.id != without_grant)
    if not await session.scalar(query):
        raise Conflict(
            "Đây là quản trị hệ thống cuối cùng: hãy giao vai trò này cho người khác trước.",
            code="role.last_admin",
        )


async def holds_role(session: AsyncSession, member_id: int, role: Role) -> bool:
    found = await session.scalar(
        select(_grant.c.id).where(
            _grant.c.member_id == member_id, _grant.c.role == role, _grant.c.revoked_at.is_(None)
        )
    )
    return found is not None


async def _lock_member(session: AsyncSession, member_id: int) -> Member | None:
    return await session.get(Member, member_id, with_for_update=True, populate_existing=True)


async def grant_role(
    session: AsyncSession, actor: Actor, org: OrgTarget, *, member_id: int, role: Role
) -> RoleGrantRead:
    if not access.can_grant(actor, role, org.path):
        raise Forbidden("Bạn không thể giao vai trò này.", code="role.cannot_grant")
    member = await _lock_member(session, member_id)
    if member is None or not access.can(actor, Permission.MEMBER_LIST, member.org_path):
        raise NotFound("Không tìm thấy đảng viên.", code="member.not_found")
    existing = await session.scalar(
        select(_grant.c.id).where(
            _grant.c.member_id == member_id,
            _grant.c.org_id == org.id,
            _grant.c.role == role,
            _grant.c.revoked_at.is_(None),
        )
    )
    if existing is not None:
        raise Conflict("Đảng viên đã giữ vai trò này.", code="role.already_granted")
    grant = RoleGrant(
        member_id=member_id,
        org_id=org.id,
        role=role,
        granted_by_id=actor.member_id,
        granted_at=utcnow(),
    )
    session.add(grant)
    await session.flush()
    await audit.record(
        session,
        actor,
        "role.grant",
        target=("role_grant", grant.id),
        org_id=org.id,
        detail={"role": role, "member_id": member_id},
    )
    row = (await session.execute(_GRANT_QUERY.where(_grant.c.id == grant.id))).mappings().one()
    return _read(row)


async def revoke_role(session: AsyncSession, actor: Actor, target: GrantTarget) -> None:
    if target.member_id == actor.member_id:
        raise Forbidden("Không thể tự thu hồi vai trò của mình.", code="role.own_grant")
    if not access.outranks(actor, target.role, target.path):
        raise Forbidden("Bạn không thể thu hồi vai trò này.", code="role.cannot_revoke")
    await _lock_member(session, target.member_id)
    grant = await session.get(RoleGrant, target.id, with_for_update=True, populate_existing=True)
    if grant is None or grant.revoked_at is not None:
        raise NotFound(code="role.not_found")
    if grant.role == Role.DEPLOYMENT_ADMIN:
        await ensure_admin_remains(session, without_grant=grant.id)
    grant.revoked_at = utcnow()
    grant.revoked_by_id = actor.member_id
    await session.flush()
    await audit.record(
        session,
        actor,
        "role.revoke",
        target=("role_grant", grant.id),
        org_id=grant.org_id,
        detail={"role": grant.role, "member_id": grant.member_id},
    )
