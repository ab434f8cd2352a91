"""The actor of a request: a verified access token turned into an `Actor` in one round trip on
the lean read path (the member, their branch, live roles, and whether the session still holds)."""

from __future__ import annotations

from sqlalchemy import BigInteger, String, and_, bindparam, select
from sqlalchemy.orm import aliased

from app.core.db import FastQuery, Reader
from app.core.errors import Unauthorized
from app.core.security import AccessClaims
from app.models import AuthSession, Member, Org, Role, RoleGrant
from app.models.base import utcnow
from app.services.access import Actor, RoleHolding

_session_t = AuthSession.__table__
_member_t = Member.__table__
_grant_t = RoleGrant.__table__
_branch_t = aliased(Org.__table__, name="branch")
_role_org_t = aliased(Org.__table__, name="role_org")

_ACTOR_QUERY = (
    select(
        _member_t.c.id,
        _member_t.c.full_name,
        _member_t.c.phone,
        _member_t.c.status,
        _member_t.c.is_exempt,
        _member_t.c.is_locked,
        _member_t.c.branch_id,
        _branch_t.c.name,
        _branch_t.c.path,
        _session_t.c.expires_at,
        _grant_t.c.id,
        _grant_t.c.role,
        _role_org_t.c.id,
        _role_org_t.c.name,
        _role_org_t.c.kind,
        _role_org_t.c.path,
    )
    .select_from(_session_t)
    .join(_member_t, _member_t.c.id == _session_t.c.member_id)
    .join(_branch_t, _branch_t.c.id == _member_t.c.branch_id)
    .outerjoin(
        _grant_t,
        and_(_grant_t.c.member_id == _member_t.c.id, _grant_t.c.revoked_at.is_(None)),
    )
    .outerjoin(_role_org_t, _role_org_t.c.id == _grant_t.c.org_id)
    .where(
        _session_t.c.id == bindparam("sid", type_=String),
        _session_t.c.member_id == bindparam("sub", type_=BigInteger),
        _session_t.c.revoked_at.is_(None),
    )
    .order_by(_grant_t.c.id)
)
_ACTOR = FastQuery(_ACTOR_QUERY)


async def load_actor(reader: Reader, claims: AccessClaims) -> Actor:
    """One round trip: the member, their branch, live roles, and whether the session still holds."""
    rows = await reader.fetch(_ACTOR, {"sid": claims.session_id, "sub": claims.member_id})
    if not rows:
        raise Unauthorized("Phiên đăng nhập đã kết thúc.", code="auth.session_revoked")
    first = rows[0]
    if first[9] <= utcnow():
        raise Unauthorized("Phiên đăng nhập đã hết hạn.", code="auth.session_expired")
    if first[5]:
        raise Unauthorized(
            "Tài khoản đã bị khóa. Vui lòng liên hệ bí thư chi bộ hoặc Ban Tổ chức.",
            code="auth.account_locked",
        )
    roles = [
        RoleHolding(
            grant_id=row[10],
            role=Role(row[11]),
            org_id=row[12],
            org_name=row[13],
            org_kind=row[14],
            org_path=row[15],
        )
        for row in rows
        if row[10] is not None
    ]
    return Actor.build(
        member_id=first[0],
        session_id=claims.session_id,
        full_name=first[1],
        phone=first[2],
        status=first[3],
        is_exempt=first[4],
        branch_id=first[6],
        branch_name=first[7],
        branch_path=first[8],
        roles=roles,
    )
