"""Request dependencies: the app's resources, the unit of work, the actor and the scope guards.

- `SessionDep`: one session per request, committed once before the response is sent
  (`scope="function"`), rolled back on any error unless the error asks to keep its changes.
  Safe methods get the read sessionmaker (AUTOCOMMIT on PostgreSQL: no BEGIN/ROLLBACK trips).
- `CurrentActor`: the bearer token's member, loaded with their live roles in one query.
- `OrgScope(perm)` / `MemberScope(perm)`: resolve the path parameter, check scope, hand over a
  typed target. Out of every scope → 404; visible but not permitted → 403 `scope.forbidden`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError, Forbidden, NotFound, Unauthorized
from app.core.security import InvalidToken
from app.resources import Resources
from app.services import access
from app.services import members as member_service
from app.services import orgs as org_service
from app.services import roles as role_service
from app.services.access import Actor, Permission
from app.services.auth import actor as actor_service
from app.services.auth.common import ClientInfo
from app.services.members import MemberTarget
from app.services.orgs import OrgTarget
from app.services.roles import GrantTarget

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_ID = 2**63 - 1


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def _resources(request: Request) -> Resources:
    return get_resources(request)


ResourcesDep = Annotated[Resources, Depends(_resources)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    db = get_resources(request).db
    maker = db.read if request.method in SAFE_METHODS else db.write
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except AppError as exc:
            if exc.keep_changes:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="Access token from a login endpoint.")


async def get_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The member behind the bearer token, checked against the database on every request (so a
    lock, a logout or a revoked role counts at once): one query on the lean read path."""
    if credentials is None:
        raise Unauthorized()
    resources = get_resources(request)
    try:
        claims = resources.auth.codec.decode_access(credentials.credentials)
    except InvalidToken as exc:
        if exc.reason == "expired":
            raise Unauthorized("Phiên đăng nhập đã hết hạn.", code="auth.token_expired") from exc
        raise Unauthorized("Mã truy cập không hợp lệ.", code="auth.token_invalid") from exc
    return await actor_service.load_actor(resources.reader, claims)


CurrentActor = Annotated[Actor, Depends(get_actor)]


async def get_client(request: Request) -> ClientInfo:
    host = request.client.host if request.client else "unknown"
    return ClientInfo(ip=host, user_agent=request.headers.get("user-agent"))


ClientDep = Annotated[ClientInfo, Depends(get_client)]

OrgId = Annotated[int, Path(ge=1, le=MAX_ID, description="Org id.")]
MemberId = Annotated[int, Path(ge=1, le=MAX_ID, description="Member id.")]
GrantId = Annotated[int, Path(ge=1, le=MAX_ID, description="Role grant id.")]


async def guard_org(
    resources: Resources,
    actor: Actor,
    org_id: int,
    permission: Permission,
    *,
    upward: bool = False,
) -> OrgTarget:
    """The org `org_id`, if the actor holds `permission` on it (else 404 or 403)."""
    target = resources.org_targets.get(org_id)
    if target is None:
        target = await org_service.load_target(resources.reader, org_id)
        if target is None:
            raise NotFound(code="org.not_found")
        resources.org_targets.put(org_id, target)
    access.require(
        actor,
        permission,
        target.path,
        not_found_code="org.not_found",
        upward=upward,
        ancestors_visible=True,  # orgs above one's own can be read, so they are not hidden
    )
    return target


def OrgScope(
    permission: Permission, *, upward: bool = False
) -> Callable[..., Coroutine[Any, Any, OrgTarget]]:
    """Guard for routes with `{org_id}`: the org, if the actor holds `permission` on it."""

    async def guard(org_id: OrgId, actor: CurrentActor, request: Request) -> OrgTarget:
        return await guard_org(get_resources(request), actor, org_id, permission, upward=upward)

    return guard


def MemberScope(
    permission: Permission, *, allow_self: bool = False
) -> Callable[..., Coroutine[Any, Any, MemberTarget]]:
    """Guard for routes with `{member_id}`: checked against the member's branch."""

    async def guard(member_id: MemberId, actor: CurrentActor, request: Request) -> MemberTarget:
        target = await member_service.load_target(get_resources(request).reader, member_id)
        if target is None:
            raise NotFound(code="member.not_found")
        if not (allow_self and target.id == actor.member_id):
            access.require(actor, permission, target.org_path, not_found_code="member.not_found")
        if permission is Permission.MEMBER_MANAGE and not access.can_manage_account(
            actor, target.org_path, target.roles
        ):
            raise Forbidden(
                "Tài khoản này giữ vai trò cao hơn quyền của bạn.", code="member.holds_higher_role"
            )
        return target

    return guard


async def grant_scope(grant_id: GrantId, actor: CurrentActor, request: Request) -> GrantTarget:
    """Guard for `/roles/{grant_id}`: visible to whoever manages roles on the grant's org."""
    target = await role_service.load_target(get_resources(request).reader, grant_id)
    if target is None:
        raise NotFound(code="role.not_found")
    access.require(actor, Permission.ROLE_MANAGE, target.org_path, not_found_code="role.not_found")
    return target
