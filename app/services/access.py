"""The one place that decides scope.

Permissions are data: `ROLE_PERMISSIONS` maps each role to what it allows, and a role held on an
org covers that org's whole subtree. Every member also holds `MEMBERSHIP_PERMISSIONS` on their own
branch. Orgs carry a materialized path (`/1/7/93/`), so "in the subtree of X" is
`X.path <= path < X.path[:-1] + "0"`: one range scan on a plain btree index.

Guards use `require(...)`: out of every scope of the actor → 404 (existence is not revealed);
visible but lacking the permission → 403 `scope.forbidden`. Lists use `scope_clause(...)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, false, or_

from app.core.errors import Forbidden, NotFound
from app.models.role import Role


class Permission(StrEnum):
    ORG_VIEW = "org.view"
    ORG_MANAGE = "org.manage"
    MEMBER_LIST = "member.list"
    MEMBER_VIEW = "member.view"
    MEMBER_MANAGE = "member.manage"
    ROLE_MANAGE = "role.manage"
    DEPLOYMENT_ADMIN = "deployment.admin"


P = Permission
_LEADERSHIP = frozenset({P.ORG_VIEW, P.MEMBER_LIST, P.MEMBER_VIEW})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SECRETARY: _LEADERSHIP,
    Role.DEPUTY_SECRETARY: _LEADERSHIP,
    Role.COMMITTEE_MEMBER: _LEADERSHIP,
    Role.ORGANISATION_OFFICER: _LEADERSHIP | {P.ORG_MANAGE, P.MEMBER_MANAGE, P.ROLE_MANAGE},
    Role.EDITOR: frozenset({P.ORG_VIEW}),
    Role.APPROVER: frozenset({P.ORG_VIEW}),
    Role.DEPLOYMENT_ADMIN: frozenset(Permission),
}

# What every member may do in their own branch.
MEMBERSHIP_PERMISSIONS: frozenset[Permission] = frozenset({P.ORG_VIEW, P.MEMBER_LIST})


@dataclass(frozen=True, slots=True)
class RoleHolding:
    grant_id: int
    role: Role
    org_id: int
    org_name: str
    org_kind: str
    org_path: str


@dataclass(frozen=True, slots=True)
class Scope:
    path: str
    permissions: frozenset[Permission]


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated member of a request, with the roles they hold right now."""

    member_id: int
    session_id: str
    full_name: str
    phone: str | None
    status: str
    is_exempt: bool
    branch_id: int
    branch_name: str
    branch_path: str
    roles: tuple[RoleHolding, ...] = ()
    scopes: tuple[Scope, ...] = field(default=(), compare=False)

    @classmethod
    def build(cls, *, roles: Iterable[RoleHolding] = (), **fields: object) -> Actor:
        holdings = tuple(roles)
        actor = cls(roles=holdings, **fields)  # type: ignore[arg-type]
        scopes = [Scope(actor.branch_path, MEMBERSHIP_PERMISSIONS)]
        scopes += [Scope(h.org_path, ROLE_PERMISSIONS[h.role]) for h in holdings]
        object.__setattr__(actor, "scopes", tuple(scopes))
        return actor


def subtree_range(path: str) -> tuple[str, str]:
    """Bounds of the subtree rooted at `path`: `lo <= p < hi` (paths end with "/", "0" follows)."""
    return path, path[:-1] + "0"


def in_subtree(path: str, root: str) -> bool:
    return path.startswith(root)


def ancestor_ids(path: str) -> list[int]:
    """Ids on the path from the root down to (and including) the org itself."""
    return [int(part) for part in path.strip("/").split("/") if part]


def child_path(parent_path: str | None, org_id: int) -> str:
    return f"{parent_path or '/'}{org_id}/"


def permissions_at(actor: Actor, path: str) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for scope in actor.scopes:
        if in_subtree(path, scope.path):
            granted |= scope.permissions
    return frozenset(granted)


def can(actor: Actor, permission: Permission, path: str, *, upward: bool = False) -> bool:
    """`permission` holds at `path`: in the subtree of a scope that grants it (with `upward`,
    also on the orgs above such a scope: members may read the names of the committees above)."""
    for scope in actor.scopes:
        if permission in scope.permissions and (
            in_subtree(path, scope.path) or (upward and in_subtree(scope.path, path))
        ):
            return True
    return False


def is_visible(actor: Actor, path: str, *, ancestors: bool = False) -> bool:
    """In some scope's subtree; with `ancestors`, also an org above one of the actor's scopes."""
    for scope in actor.scopes:
        if in_subtree(path, scope.path) or (ancestors and in_subtree(scope.path, path)):
            return True
    return False


def require(
    actor: Actor,
    permission: Permission,
    path: str,
    *,
    not_found_code: str,
    upward: bool = False,
    ancestors_visible: bool = False,
) -> None:
    """Allow, or raise 403 when `path` is visible to the actor, else 404 (`not_found_code`)."""
    if can(actor, permission, path, upward=upward):
        return
    if is_visible(actor, path, ancestors=upward or ancestors_visible):
        raise Forbidden()
    raise NotFound(code=not_found_code)


def can_grant(actor: Actor, role: Role, path: str) -> bool:
    """Role management without escalation: only roles whose permissions the actor holds there."""
    held = permissions_at(actor, path)
    return Permission.ROLE_MANAGE in held and ROLE_PERMISSIONS[role] <= held


def can_manage_account(
    actor: Actor, member_path: str, member_roles: Iterable[tuple[Role, str]]
) -> bool:
    """Edit, lock or unlock a member: `member.manage` on their branch, and the right to grant
    every role they hold (a commune officer does not take over a province officer's account)."""
    return can(actor, Permission.MEMBER_MANAGE, member_path) and all(
        can_grant(actor, role, path) for role, path in member_roles
    )


def scope_roots(actor: Actor, permission: Permission) -> list[str]:
    """The outermost paths where the actor holds `permission` (nested scopes removed)."""
    paths = sorted({s.path for s in actor.scopes if permission in s.permissions})
    roots: list[str] = []
    for path in paths:
        if not any(in_subtree(path, root) for root in roots):
            roots.append(path)
    return roots


def scope_clause(
    actor: Actor, permission: Permission, path_column: ColumnElement[str]
) -> ColumnElement[bool]:
    """SQL condition: `path_column` lies in a subtree where the actor holds `permission`."""
    ranges = []
    for root in scope_roots(actor, permission):
        lo, hi = subtree_range(root)
        ranges.append(and_(path_column >= lo, path_column < hi))
    if not ranges:
        return false()
    return ranges[0] if len(ranges) == 1 else or_(*ranges)
