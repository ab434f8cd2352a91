"""First start of a deployment: the root org and the first deployment admin.

Everything after that (the tree, members, roles) goes through the API with the admin's login.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict
from app.models import Org, OrgKind, Role, RoleGrant
from app.models.base import utcnow
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
