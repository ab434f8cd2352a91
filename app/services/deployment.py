"""First start of a deployment (the root org and the first deployment admin), and the operator's
break-glass recovery of a deployment admin.

Everything after that (the tree, members, roles) goes through the API with the admin's login.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound
from app.models import Member, Org, OrgKind, Role, RoleGrant
from app.models.base import utcnow
from app.services import audit
from app.services import members as member_service
from app.services import orgs as org_service


@dataclass(frozen=True)
class Initialised:
    root_id: int
    branch_id: int
    admin_id: int


async def initialise(
    session: AsyncSession,
    *,
    org_name: str,
    org_code: str | None,
    branch_name: str,
    admin_name: str,
    admin_phone: str,
) -> Initialised:
    """Create the root org, the admin's branch under it, the admin, and their role.

    Refuses when the database already holds orgs: this runs once per deployment.
    """
    if await session.scalar(select(func.count()).select_from(Org)):
        raise Conflict("Hệ thống đã được khởi tạo.", code="deployment.already_initialised")
    root = await org_service.insert_org(
        session, None, kind=OrgKind.PROVINCE_COMMITTEE, name=org_name, code=org_code
    )
    branch = await org_service.insert_org(session, root, kind=OrgKind.BRANCH, name=branch_name)
    admin = member_service.new_member(branch, admin_name, phone=admin_phone)
    session.add(admin)
    await session.flush()
    session.add(
        RoleGrant(
            member_id=admin.id, org_id=root.id, role=Role.DEPLOYMENT_ADMIN, granted_at=utcnow()
        )
    )
    await session.flush()
    return Initialised(root_id=root.id, branch_id=branch.id, admin_id=admin.id)


async def grant_admin(session: AsyncSession, *, phone: str, unlock: bool) -> int:
    """Break-glass recovery for an operator with database access: make the member with this
    phone a deployment admin on the root org again (and unlock the account if asked). Audited
    with no actor and `via: cli`. Returns the grant id (an existing live grant is reused)."""
    member = await session.scalar(select(Member).where(Member.phone == phone).with_for_update())
    if member is None:
        raise NotFound("Không có đảng viên nào dùng số điện thoại này.", code="member.not_found")
    root_id = await session.scalar(select(Org.id).where(Org.parent_id.is_(None)).order_by(Org.id))
    if root_id is None:
        raise Conflict("Hệ thống chưa được khởi tạo.", code="deployment.not_initialised")
    if unlock and member.is_locked:
        member.is_locked = False
        await audit.record(
            session,
            None,
            "member.unlock",
            target=("member", member.id),
            org_id=member.branch_id,
            detail={"via": "cli"},
        )
    existing = await session.scalar(
        select(RoleGrant.id).where(
            RoleGrant.member_id == member.id,
            RoleGrant.org_id == root_id,
            RoleGrant.role == Role.DEPLOYMENT_ADMIN,
            RoleGrant.revoked_at.is_(None),
        )
    )
    if existing is not None:
        await session.flush()
        return existing
    grant = RoleGrant(
        member_id=member.id, org_id=root_id, role=Role.DEPLOYMENT_ADMIN, granted_at=utcnow()
    )
    session.add(grant)
    await session.flush()
    await audit.record(
        session,
        None,
        "role.grant",
        target=("role_grant", grant.id),
        org_id=root_id,
        detail={"role": Role.DEPLOYMENT_ADMIN, "member_id": member.id, "via": "cli"},
    )
    return grant.id
