"""The authorization matrix's vocabulary: who acts, on which three targets, expecting what.

Every operation is called by every role of the canonical tree (tests.factories.Tree) on three
targets of the operation's kind:

- "own": in branch B1 (the branch of the member, the secretary and the deputy) or B1 itself,
- "near": elsewhere inside commune C1 (the scope of the commune officer, the committee member
  and the approver),
- "far": inside commune C2 (whose id starts with C1's: a prefix bug shows up here).

A row states, for each role, the exact answer on each target as a string of three cells:
`"200 403 404"`. A 2xx is the status alone; 401, 403 and 404 carry their row's default code
(`auth.unauthenticated`, `scope.forbidden`, the row's `not_found`); any other cell names its
code: `"403:role.cannot_grant"`. Rows live in one module per area (`tests/authz/<area>.py`,
each exporting `ROWS`, and optionally an async `setup(ctx, session, resources)` that creates the
area's objects per target); `tests/authz/test_matrix.py` runs them and fails when a route of
the app has no row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.factories import Tree

ROLES = (
    "anonymous",
    "member",
    "secretary",
    "deputy",
    "committee",
    "officer_c1",
    "approver",
    "officer_root",
    "editor",
    "admin",
)
TARGETS = ("own", "near", "far")


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None  # a raw body (uploads) instead of JSON


@dataclass
class Context:
    """The canonical tree plus what some rows act on (one grant per target), and what area
    modules add in their `setup(ctx, session, resources)` hook (`ctx.extra["uploads"]` …)."""

    tree: Tree
    grants: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)


Builder = Callable[[Context, str], Call]


@dataclass(frozen=True)
class Cell:
    status: int
    code: str | None


@dataclass(frozen=True)
class Row:
    build: Builder
    expect: dict[str, str]
    not_found: str = "resource.not_found"

    def cells(self, role: str) -> list[Cell]:
        tokens = self.expect[role].split()
        assert len(tokens) == len(TARGETS), (role, self.expect[role])
        return [self._cell(token) for token in tokens]

    def _cell(self, token: str) -> Cell:
        status_text, _, code = token.partition(":")
        status = int(status_text)
        if code:
            return Cell(status, code)
        defaults = {401: "auth.unauthenticated", 403: "scope.forbidden", 404: self.not_found}
        if status >= 400:
            assert status in defaults, f"cell {token} needs an explicit code"
            return Cell(status, defaults[status])
        return Cell(status, None)


def table(default: str | None = None, /, **by_role: str) -> dict[str, str]:
    """Expectations for every role: `default` for the roles not named (anonymous: 401)."""
    expect: dict[str, str] = {}
    for role in ROLES:
        if role in by_role:
            expect[role] = by_role[role]
        elif role == "anonymous":
            expect[role] = "401 401 401"
        else:
            assert default is not None, f"no expectation for {role}"
            expect[role] = default
    return expect


def everyone(cells: str) -> dict[str, str]:
    """The same answer for every caller, anonymous included (public operations)."""
    return dict.fromkeys(ROLES, cells)


def pick(target: str, own: Any, near: Any, far: Any) -> Any:
    return {"own": own, "near": near, "far": far}[target]


# Targets used by several areas.


def org_targets(own: str, near: str, far: str) -> Callable[[Context, str], int]:
    """An org id per target, by Tree attribute name (e.g. "b1", "b2", "b4")."""

    def org_id(ctx: Context, target: str) -> int:
        return int(getattr(ctx.tree, pick(target, own, near, far)).id)

    return org_id


def member_target(ctx: Context, target: str) -> int:
    """A member without roles: in B1, in B3 (under G1 in C1), in B4 (C2)."""
    t = ctx.tree
    return int(pick(target, t.exempt.id, t.teacher.id, t.outsider.id))


# Recurring patterns (manage = the organisation officers' work).

MANAGE = table(
    member="403 404 404",
    secretary="403 404 404",
    deputy="403 404 404",
    committee="403 403 404",
    officer_c1="200 200 404",
    approver="403 403 404",
    officer_root="200 200 200",
    editor="403 403 403",
    admin="200 200 200",
)
MANAGE_CREATE = {role: cells.replace("200", "201") for role, cells in MANAGE.items()}
MANAGE_DELETE = {role: cells.replace("200", "204") for role, cells in MANAGE.items()}
# Read the branch directory (targets B1, B2, B4): every member of their own branch (the editor
# sits in B2), leadership of their scope.
LIST_BRANCH = table(
    member="200 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="200 200 404",
    officer_c1="200 200 404",
    approver="403 403 404",
    officer_root="200 200 200",
    editor="403 200 403",
    admin="200 200 200",
)
SELF = everyone("200 200 200") | {"anonymous": "401 401 401"}
SELF_NO_CONTENT = everyone("204 204 204") | {"anonymous": "401 401 401"}
