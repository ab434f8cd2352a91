"""Granting and revoking roles on orgs. No escalation: you grant only what you hold there."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import FastQuery, Reader
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.pagination import decode_cursor, page_of
from app.models import Member, Org, Role, RoleGrant
from app.models.base import utcnow
from app.schemas.org import OrgRef
from app.schemas.role import MemberRef, RoleGrantRead
from app.services import access
from app.services.access import Actor, Permission
from app.services.orgs import OrgTarget

_grant = RoleGrant.__table__
_m = Member.__table__
_org = Org.__table__

_GRANT_QUERY = (
    select(
        _grant.c.id,
        _grant.c.role,
        _m.c.id,
        _m.c.full_name,
        _org.c.id,
        _org.c.name,
        _org.c.kind,
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
    org_path: str


def _read(row: tuple[object, ...]) -> RoleGrantRead:
    return RoleGrantRead(
        id=row[0],  # type: ignore[arg-type]
        role=row[1],  # type: ignore[arg-type]
        member=MemberRef(id=row[2], full_name=row[3]),  # type: ignore[arg-type]
        org=OrgRef(id=row[4], name=row[5], kind=row[6]),  # type: ignore[arg-type]
        granted_at=row[7],  # type: ignore[arg-type]
        granted_by_id=row[8],  # type: ignore[arg-type]
    )


async def list_org_roles(
    session: AsyncSession, org: OrgTarget, *, limit: int, cursor: str | None
) -> tuple[list[RoleGrantRead], str | None]:
    query = _GRANT_QUERY.where(_grant.c.org_id == org.id)
    if cursor:
        (last_id,) = decode_cursor(cursor, "roles", (int,))
        query = query.where(_grant.c.id > last_id)
    rows = (await session.execute(query.order_by(_grant.c.id).limit(limit + 1))).all()
    page, next_cursor = page_of(rows, limit, "roles", lambda r: (r[0],))
    return [_read(tuple(r)) for r in page], next_cursor


_TARGET = FastQuery(
    select(_grant.c.id, _grant.c.role, _org.c.path)
    .join(_org, _org.c.id == _grant.c.org_id)
    .where(_grant.c.id == bindparam("grant_id", type_=BigInteger), _grant.c.revoked_at.is_(None))
)


async def load_target(reader: Reader, grant_id: int) -> GrantTarget | None:
    rows = await reader.fetch(_TARGET, {"grant_id": grant_id})
    if not rows:
        return None
    row = rows[0]
    return GrantTarget(id=row[0], role=Role(row[1]), org_path=row[2])


async def grant_role(
    session: AsyncSession, actor: Actor, org: OrgTarget, *, member_id: int, role: Role
) -> RoleGrantRead:
    if not access.can_grant(actor, role, org.path):
        raise Forbidden("Bạn không thể giao vai trò này.", code="role.cannot_grant")
    member = (
        await session.execute(select(_m.c.id, _m.c.org_path).where(_m.c.id == member_id))
    ).first()
    if member is None or not access.can(actor, Permission.MEMBER_LIST, member[1]):
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
    row = (await session.execute(_GRANT_QUERY.where(_grant.c.id == grant.id))).one()
    return _read(tuple(row))


async def revoke_role(session: AsyncSession, actor: Actor, target: GrantTarget) -> None:
    if not access.can_grant(actor, target.role, target.org_path):
        raise Forbidden("Bạn không thể thu hồi vai trò này.", code="role.cannot_revoke")
    grant = await session.get(RoleGrant, target.id, with_for_update=True)
    if grant is None or grant.revoked_at is not None:
        raise NotFound(code="role.not_found")
    grant.revoked_at = utcnow()
    grant.revoked_by_id = actor.member_id
    await session.flush()
