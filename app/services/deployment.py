"""First start of a deployment: the root org and the first deployment admin.

Everything after that (the tree, members, roles) goes through the API with the admin's login.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict
from app.core.text import clean_name, fold, member_sort_key
from app.models import Member, Org, OrgKind, Role, RoleGrant
from app.models.base import utcnow
from app.services import access


@dataclass(frozen=True)
class Initialised:
    root_id: int
    branch_id: int
    admin_id: int


async def _add_org(
    session: AsyncSession, parent: Org | None, kind: OrgKind, name: str, code: str | None
) -> Org:
    name = clean_name(name)
    org = Org(
        parent_id=parent.id if parent else None,
        kind=kind,
        name=name,
        name_folded=fold(name),
        code=code,
        path="/pending/" if parent is None else f"{parent.path}pending/",
        depth=0 if parent is None else parent.depth + 1,
    )
    session.add(org)
    await session.flush()
    org.path = access.child_path(parent.path if parent else None, org.id)
    await session.flush()
    return org


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
    root = await _add_org(session, None, OrgKind.PROVINCE_COMMITTEE, org_name, org_code)
    branch = await _add_org(session, root, OrgKind.BRANCH, branch_name, None)
    name = clean_name(admin_name)
    admin = Member(
        branch_id=branch.id,
        org_path=branch.path,
        full_name=name,
        name_folded=fold(name),
        sort_key=member_sort_key(name),
        phone=admin_phone,
    )
    session.add(admin)
    await session.flush()
    session.add(
        RoleGrant(
            member_id=admin.id, org_id=root.id, role=Role.DEPLOYMENT_ADMIN, granted_at=utcnow()
        )
    )
    await session.flush()
    return Initialised(root_id=root.id, branch_id=branch.id, admin_id=admin.id)
