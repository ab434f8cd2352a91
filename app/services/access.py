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
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    and_,
    bindparam,
    false,
    func,
    literal_column,
    or_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean

from app.core.errors import Forbidden, NotFound
from app.models.role import Role


class Permission(StrEnum):
    ORG_VIEW = "org.view"
    ORG_MANAGE = "org.manage"
    MEMBER_LIST = "member.list"
    MEMBER_VIEW = "member.view"
    MEMBER_MANAGE = "member.manage"
    ROLE_MANAGE = "role.manage"
    AUDIT_VIEW = "audit.view"
    UPLOAD_VIEW = "upload.view"
    # Member imports from the national database's files, and roster exports (officers).
    MEMBER_IMPORT = "member.import"
    MEMBER_EXPORT = "member.export"
    # Act for a member who has no smartphone (proxy actions, recorded as such).
    MEMBER_ASSIST = "member.assist"
    DEPLOYMENT_ADMIN = "deployment.admin"
    # Content: documents and articles. Viewing is held on one's branch and checked upward (what
    # the branch and every org above it published); drafting and publishing on the org.
    CONTENT_VIEW = "content.view"
    CONTENT_DRAFT = "content.draft"
    CONTENT_PUBLISH = "content.publish"
    # Relay an upper document to one's subtree; see relay status and read coverage.
    CONTENT_RELAY = "content.relay"

    # Meetings: read a branch's meetings (members of the branch, leadership above);
    # take part (check in, excuse, comment, vote: the branch's own members);
    # run them (secretary, deputy); review them from above (minutes, upper-level rating).
    MEETING_VIEW = "meeting.view"
    MEETING_ATTEND = "meeting.attend"
    MEETING_MANAGE = "meeting.manage"
    MEETING_REVIEW = "meeting.review"
    # Report on a task: its assignee (an owner permission) and the branch's runners.
    TASK_REPORT = "task.report"

    # Study: see quizzes and surveys (members: those published for their branch or above it,
    # taken there; creators and leadership: those of their subtree).
    STUDY_VIEW = "study.view"
    # Create quizzes and surveys for an org's subtree and see their results.
    STUDY_MANAGE = "study.manage"
    # See one's own quiz attempts (an owner permission).
    ATTEMPT_VIEW = "attempt.view"
    # Award or correct study points by hand, with a note.
    POINTS_AWARD = "points.award"
    # Leaderboards and study statistics of an org's subtree.
    STUDY_STATS = "study.stats"
    # Statistics and the progress report of an org's subtree (leadership and organisation
    # officers on the org or above; plain members none).
    STATS_VIEW = "stats.view"


P = Permission
# Leadership relays upper documents and sees read coverage (officers see it as a statistic).
_LEADERSHIP = frozenset(
    {
        P.ORG_VIEW,
        P.MEMBER_LIST,
        P.MEMBER_VIEW,
        P.CONTENT_VIEW,
        P.CONTENT_RELAY,
        P.MEETING_VIEW,
        P.MEETING_REVIEW,
        P.STUDY_VIEW,
        P.STUDY_STATS,
        P.STATS_VIEW,
    }
)
# Quizzes and surveys are created by editors or leadership (not by organisation officers).
_STUDY_CREATORS = frozenset({P.STUDY_VIEW, P.STUDY_MANAGE})
# What the secretary and deputy secretary do for their branch on top of leadership.
_BRANCH_RUNNERS = _LEADERSHIP | _STUDY_CREATORS | {P.MEMBER_ASSIST, P.MEETING_MANAGE, P.TASK_REPORT}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SECRETARY: _BRANCH_RUNNERS,
    Role.DEPUTY_SECRETARY: _BRANCH_RUNNERS,
    Role.COMMITTEE_MEMBER: _LEADERSHIP | _STUDY_CREATORS,
    Role.ORGANISATION_OFFICER: _LEADERSHIP
    | {
        P.ORG_MANAGE,
        P.MEMBER_MANAGE,
        P.MEMBER_ASSIST,
        P.ROLE_MANAGE,
        P.AUDIT_VIEW,
        P.POINTS_AWARD,
        P.MEMBER_IMPORT,
        P.MEMBER_EXPORT,
    },
    Role.EDITOR: frozenset({P.ORG_VIEW, P.CONTENT_VIEW, P.CONTENT_DRAFT}) | _STUDY_CREATORS,
    Role.APPROVER: frozenset({P.ORG_VIEW, P.CONTENT_VIEW, P.CONTENT_PUBLISH}),
    Role.DEPLOYMENT_ADMIN: frozenset(Permission),
}

# Duties of a role in its own org rather than powers over other people (running meetings,
# drafting, publishing, creating quizzes and surveys): whoever manages roles on an org grants and
# takes back the secretary's, editor's and approver's roles without holding these, so they do not
# count when checking a grant or a revocation for escalation. An area whose role carries such a
# duty adds it here.
DUTIES: frozenset[Permission] = frozenset(
    {P.MEETING_MANAGE, P.TASK_REPORT, P.CONTENT_DRAFT, P.CONTENT_PUBLISH, P.STUDY_MANAGE}
)
WORK_PERMISSIONS = DUTIES  # the study area's name for them

# What every member may do in their own branch.
MEMBERSHIP_PERMISSIONS: frozenset[Permission] = frozenset(
    {P.ORG_VIEW, P.MEMBER_LIST, P.CONTENT_VIEW, P.MEETING_VIEW, P.MEETING_ATTEND, P.STUDY_VIEW}
)
# What a member may do in the branch where they live (sinh hoạt nơi cư trú, a residence
# attachment): read its meetings and the content that reaches it; no attending (they are not
# counted there), no running, no member list.
RESIDENCE_PERMISSIONS: frozenset[Permission] = frozenset(
    {P.ORG_VIEW, P.CONTENT_VIEW, P.MEETING_VIEW}
)
# What a member may do on an object that is their own (`Target.owner_id`), wherever it lies.
OWNER_PERMISSIONS: frozenset[Permission] = frozenset(
    {P.MEMBER_VIEW, P.UPLOAD_VIEW, P.TASK_REPORT, P.ATTEMPT_VIEW}
)


class Target(Protocol):
    """What a guard needs to decide on an object: the path of the org that scopes it, and the
    member it belongs to (if any). Every area's `*Target` dataclass has these two fields."""

    @property
    def path(self) -> str: ...

    @property
    def owner_id(self) -> int | None: ...


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
    # The branch where they live, when attached to one (`RESIDENCE_PERMISSIONS` there).
    residence_path: str | None = None
    # Derived from the branch, the residence and the roles: where the actor holds which
    # permissions.
    scopes: tuple[Scope, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        scopes = [Scope(self.branch_path, MEMBERSHIP_PERMISSIONS)]
        if self.residence_path is not None:
            scopes.append(Scope(self.residence_path, RESIDENCE_PERMISSIONS))
        scopes += [Scope(h.org_path, ROLE_PERMISSIONS[h.role]) for h in self.roles]
        object.__setattr__(self, "scopes", tuple(scopes))


def subtree_range(path: str) -> tuple[str, str]:
    """Bounds of the subtree rooted at `path`: `lo <= p < hi` (paths end with "/", "0" follows)."""
    return path, path[:-1] + "0"


def in_subtree(path: str, root: str) -> bool:
    return path.startswith(root)


def ancestor_ids(path: str) -> list[int]:
    """Ids on the path from the root down to (and including) the org itself."""
    return [int(part) for part in path.strip("/").split("/") if part]


class OnPath(ColumnElement[bool]):
    """SQL for `id in ancestor_ids(path)` with both sides columns: the id is one of the ids on the
    path (the org itself or one above it). Indexable on the id side (an `= ANY(array)` or an
    `IN (…)` of the path's ids), unlike `path LIKE other.path || '%'`, which scans every org."""

    __visit_name__ = "on_path"
    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # no `= 1` appended on SQLite
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's declaration (the cache key)
        ("org_id", InternalTraversal.dp_clauseelement),
        ("path", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, org_id: ColumnElement[int], path: ColumnElement[str]) -> None:
        self.org_id = org_id
        self.path = path

    @property
    def _from_objects(self) -> list[Any]:
        return [*self.org_id._from_objects, *self.path._from_objects]


@compiles(OnPath, "postgresql")
def _on_path_postgresql(element: OnPath, compiler: SQLCompiler, **kw: object) -> str:
    org_id = compiler.process(element.org_id, **kw)
    path = compiler.process(element.path, **kw)
    return f"({org_id} = ANY(CAST(string_to_array(btrim({path}, '/'), '/') AS BIGINT[])))"


@compiles(OnPath)
def _on_path_default(element: OnPath, compiler: SQLCompiler, **kw: object) -> str:
    org_id = compiler.process(element.org_id, **kw)
    path = compiler.process(element.path, **kw)
    ids = f"'[' || replace(trim({path}, '/'), '/', ',') || ']'"
    return f"({org_id} IN (SELECT value FROM json_each({ids})))"  # noqa: S608 - compiled SQL fragments, no input


def on_path(org_id: ColumnElement[int], path: ColumnElement[str]) -> ColumnElement[bool]:
    """`org_id` is on `path`: SQL for `org_id in ancestor_ids(path)` (see `OnPath`)."""
    return OnPath(org_id, path)


# Depths of the committees whose subtrees are large enough to have their own indexes on
# PostgreSQL (`unit_key(path_column, depth)` leads them): a commune or ward under the province
# (1, thousands of members) and a grassroots committee under it (2).
UNIT_DEPTHS = (1, 2)


def unit_key(path: ColumnElement[str], depth: int) -> ColumnElement[str]:
    """The id (as text) of the org at `depth` on each row's `path`: `split_part(path, '/', d + 2)`
    (paths are `/1/23/456/`). An expression index on it, followed by a sort key, gives a
    committee's subtree in that order without reading the whole subtree to sort it."""
    return func.split_part(path, literal_column("'/'"), literal_column(str(depth + 2)))


class InUnit(ColumnElement[bool]):
    """SQL for "`path` lies in the subtree of the org at `depth` whose path is bound as `:lo`"
    (its `subtree_range` as `:lo`/`:hi` and its id as `:unit`): `unit_key(path, depth) = :unit` on
    PostgreSQL, where that expression is indexed (`UNIT_DEPTHS`), the path range elsewhere."""

    __visit_name__ = "in_unit"
    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's declaration (the cache key)
        ("path", InternalTraversal.dp_clauseelement),
        ("depth", InternalTraversal.dp_plain_obj),
    ]

    def __init__(self, path: ColumnElement[str], depth: int) -> None:
        self.path = path
        self.depth = depth

    @property
    def _from_objects(self) -> list[Any]:
        return [*self.path._from_objects]


@compiles(InUnit, "postgresql")
def _in_unit_postgresql(element: InUnit, compiler: SQLCompiler, **kw: object) -> str:
    key = compiler.process(unit_key(element.path, element.depth), **kw)
    unit = compiler.process(bindparam("unit", type_=String), **kw)
    return f"({key} = {unit})"


@compiles(InUnit)
def _in_unit_default(element: InUnit, compiler: SQLCompiler, **kw: object) -> str:
    path = compiler.process(element.path, **kw)
    lo = compiler.process(bindparam("lo", type_=String), **kw)
    hi = compiler.process(bindparam("hi", type_=String), **kw)
    return f"({path} >= {lo} AND {path} < {hi})"


def in_subtree_sql(path: ColumnElement[str], depth: int) -> ColumnElement[bool]:
    """`path` lies in the subtree bound as `subtree_params(org_path)`: by its indexed unit where
    the org's depth has one (`UNIT_DEPTHS`, on PostgreSQL), by the path range otherwise."""
    if depth in UNIT_DEPTHS:
        return InUnit(path, depth)
    return and_(path >= bindparam("lo", type_=String), path < bindparam("hi", type_=String))


def subtree_params(org_path: str) -> dict[str, str]:
    """The parameters of `in_subtree_sql` for the subtree rooted at `org_path`."""
    lo, hi = subtree_range(org_path)
    return {"lo": lo, "hi": hi, "unit": str(ancestor_ids(org_path)[-1])}


def depth_of(org_path: str) -> int:
    return len(ancestor_ids(org_path)) - 1


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


def authorize(
    actor: Actor,
    permission: Permission,
    target: Target,
    *,
    not_found_code: str,
    upward: bool = False,
    ancestors_visible: bool = False,
) -> None:
    """The one decision of every object guard: an owner's own object, else `require` on the
    object's org path."""
    if target.owner_id == actor.member_id and permission in OWNER_PERMISSIONS:
        return
    require(
        actor,
        permission,
        target.path,
        not_found_code=not_found_code,
        upward=upward,
        ancestors_visible=ancestors_visible,
    )


def can_from_above(actor: Actor, permission: Permission, path: str) -> bool:
    """`permission` held through a scope strictly above `path` (an upper level's review of a
    branch: the branch's own secretary does not rate their meeting as the level above)."""
    return any(
        permission in scope.permissions and scope.path != path and in_subtree(path, scope.path)
        for scope in actor.scopes
    )


def is_deployment_admin(actor: Actor) -> bool:
    return any(h.role is Role.DEPLOYMENT_ADMIN for h in actor.roles)


def _covered(role: Role, held: set[Permission] | frozenset[Permission]) -> bool:
    return ROLE_PERMISSIONS[role] - DUTIES <= held


def can_grant(actor: Actor, role: Role, path: str) -> bool:
    """Role management without escalation: only roles whose permissions the actor holds there
    (`DUTIES` apart)."""
    held = permissions_at(actor, path)
    return Permission.ROLE_MANAGE in held and _covered(role, held)


def outranks(actor: Actor, role: Role, path: str) -> bool:
    """The actor may take back (revoke, or lock the account holding) `role` held on `path`: a
    scope strictly above `path` grants role management and every right of that role. Two
    officers of the same org cannot remove each other; deployment admins are excepted."""
    if is_deployment_admin(actor):
        return True
    held: set[Permission] = set()
    for scope in actor.scopes:
        if scope.path != path and in_subtree(path, scope.path):
            held |= scope.permissions
    return Permission.ROLE_MANAGE in held and _covered(role, held)


def require_account_control(
    actor: Actor, member_id: int, member_path: str, member_roles: Iterable[tuple[Role, str]]
) -> None:
    """Edit, lock, unlock or reset a member's account: `member.manage` on their branch, never
    one's own account, and outranking every role they hold (a commune officer does not take
    over a province officer's account, nor a fellow officer's). Services call this with what
    they re-read under `FOR UPDATE` in the write transaction."""
    if member_id == actor.member_id:
        raise Forbidden(
            "Không thể thực hiện thao tác này trên tài khoản của chính mình.",
            code="member.own_account",
        )
    if not can(actor, Permission.MEMBER_MANAGE, member_path):
        raise Forbidden()
    if not all(outranks(actor, role, path) for role, path in member_roles):
        raise Forbidden(
            "Tài khoản này giữ vai trò ngang hoặc cao hơn quyền của bạn.",
            code="member.holds_higher_role",
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


# The same decision for statements compiled once (`FastQuery`): the actor's scopes become bound
# parameters, and the statement is compiled once per shape (how many ids and ranges).


@dataclass(frozen=True, slots=True)
class BoundScope:
    """Where the actor holds a permission, as parameters: the subtree range of each scope root
    and, checked upward, the ids of the orgs on each root's path (the root and those above)."""

    ids: tuple[int, ...]
    ranges: tuple[tuple[str, str], ...]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ids), len(self.ranges)

    def params(self, prefix: str) -> dict[str, object]:
        values: dict[str, object] = {f"{prefix}_id{i}": v for i, v in enumerate(self.ids)}
        for j, (lo, hi) in enumerate(self.ranges):
            values[f"{prefix}_lo{j}"], values[f"{prefix}_hi{j}"] = lo, hi
        return values


def bound_scope(actor: Actor, permission: Permission, *, upward: bool = False) -> BoundScope:
    """`can(actor, permission, path, upward=upward)` for every path at once (see `BoundScope`)."""
    roots = scope_roots(actor, permission)
    ids = sorted({i for root in roots for i in ancestor_ids(root)}) if upward else []
    return BoundScope(tuple(ids), tuple(subtree_range(root) for root in roots))


def bound_scope_clause(
    shape: tuple[int, int],
    prefix: str,
    id_column: ColumnElement[int],
    path_column: ColumnElement[str],
) -> ColumnElement[bool]:
    """SQL condition for a `BoundScope` of `shape` bound as `scope.params(prefix)`: the org
    (`id_column`, `path_column`) is on a root's path or in a root's subtree."""
    ids, ranges = shape
    options: list[ColumnElement[bool]] = []
    if ids:
        options.append(
            id_column.in_([bindparam(f"{prefix}_id{i}", type_=BigInteger) for i in range(ids)])
        )
    for j in range(ranges):
        options.append(
            and_(
                path_column >= bindparam(f"{prefix}_lo{j}", type_=String),
                path_column < bindparam(f"{prefix}_hi{j}", type_=String),
            )
        )
    if not options:
        return false()
    return options[0] if len(options) == 1 else or_(*options)
