"""The authorization matrix: every operation × every role × an in-scope and an out-of-scope target.

Roles sit in the canonical tree (tests.factories.Tree): a member and the secretary of B1, the
organisation officer of commune C1, the officer, editor and deployment admin of the province P.
"in" targets lie inside C1 (the commune officer's scope), "out" targets inside C2.

Adding an operation to the API without a row here fails `test_matrix_covers_every_operation`.
Expected statuses: 404 when the target is outside every scope of the actor, 403 when visible
but not permitted, 401 without a token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role, RoleGrant
from tests.conftest import ActorLogin
from tests.factories import Tree, grant

pytestmark = pytest.mark.authz

ROLES = ("anonymous", "member", "secretary", "officer_c1", "officer_root", "editor", "admin")


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    json: dict[str, Any] | None = None


@dataclass
class Context:
    tree: Tree
    grant_in: int
    grant_out: int


Builder = Callable[[Context, str], Call]


@dataclass(frozen=True)
class Row:
    build: Builder
    # role -> (status for the "in" target, status for the "out" target)
    expect: dict[str, tuple[int, int]]


def same_for_all(status: int, *, anonymous: int | None = None) -> dict[str, tuple[int, int]]:
    table = dict.fromkeys(ROLES, (status, status))
    if anonymous is not None:
        table["anonymous"] = (anonymous, anonymous)
    return table


def scoped(
    *,
    member: tuple[int, int],
    secretary: tuple[int, int],
    officer_c1: tuple[int, int],
    officer_root: tuple[int, int],
    editor: tuple[int, int],
    admin: tuple[int, int],
) -> dict[str, tuple[int, int]]:
    return {
        "anonymous": (401, 401),
        "member": member,
        "secretary": secretary,
        "officer_c1": officer_c1,
        "officer_root": officer_root,
        "editor": editor,
        "admin": admin,
    }


def pick(ctx: Context, target: str, inside: Any, outside: Any) -> Any:
    return inside if target == "in" else outside


def _org(kind: str) -> Callable[[Context, str], int]:
    """The in/out org of a kind: branch B1/B4 ("own"), B2/B4 ("sibling"), C1/C2 ("committee")."""

    def org_id(ctx: Context, target: str) -> int:
        t = ctx.tree
        pairs = {"own": (t.b1, t.b4), "sibling": (t.b2, t.b4), "committee": (t.c1, t.c2)}
        inside, outside = pairs[kind]
        return int(pick(ctx, target, inside.id, outside.id))

    return org_id


def _member(ctx: Context, target: str) -> int:
    return int(pick(ctx, target, ctx.tree.teacher.id, ctx.tree.outsider.id))


own, sibling, committee = _org("own"), _org("sibling"), _org("committee")

# Who may manage what: the commune officer inside C1, province roles everywhere.
MANAGE = scoped(
    member=(404, 404),
    secretary=(404, 404),
    officer_c1=(200, 404),
    officer_root=(200, 200),
    editor=(403, 403),
    admin=(200, 200),
)
MANAGE_OWN_BRANCH = scoped(
    member=(403, 404),
    secretary=(403, 404),
    officer_c1=(201, 404),
    officer_root=(201, 201),
    editor=(403, 403),
    admin=(201, 201),
)
LIST_OWN_BRANCH = scoped(
    member=(200, 404),
    secretary=(200, 404),
    officer_c1=(200, 404),
    officer_root=(200, 200),
    editor=(403, 403),
    admin=(200, 200),
)
VIEW_COMMITTEE = scoped(
    member=(403, 404),
    secretary=(403, 404),
    officer_c1=(200, 404),
    officer_root=(200, 200),
    editor=(200, 200),
    admin=(200, 200),
)
SELF = same_for_all(200, anonymous=401)
SELF_NO_CONTENT = same_for_all(204, anonymous=401)
PUBLIC = same_for_all(200)

MATRIX: dict[str, Row] = {
    # auth: public endpoints answer the same whoever calls
    "request_otp": Row(
        lambda c, t: Call(
            "POST", "/api/v1/auth/otp/request", {"phone": pick(c, t, "0987654321", "0987654322")}
        ),
        same_for_all(202),
    ),
    "verify_otp": Row(
        lambda c, t: Call(
            "POST", "/api/v1/auth/otp/verify", {"challenge_id": "0" * 32, "code": "123456"}
        ),
        same_for_all(401),
    ),
    "login_with_password": Row(
        lambda c, t: Call(
            "POST",
            "/api/v1/auth/password/login",
            {"phone": "0987654321", "password": "not the password"},
        ),
        same_for_all(401),
    ),
    "refresh_tokens": Row(
        lambda c, t: Call("POST", "/api/v1/auth/refresh", {"refresh_token": "not-a-token"}),
        same_for_all(401),
    ),
    "logout": Row(lambda c, t: Call("POST", "/api/v1/auth/logout"), SELF_NO_CONTENT),
    "logout_everywhere": Row(lambda c, t: Call("POST", "/api/v1/auth/logout-all"), SELF_NO_CONTENT),
    "set_password": Row(
        # The current password is ignored while none is set, then needed for the second call.
        lambda c, t: Call(
            "PUT",
            "/api/v1/auth/password",
            {
                "new_password": "Một mật khẩu mạnh 2026",
                "current_password": "Một mật khẩu mạnh 2026",
            },
        ),
        SELF_NO_CONTENT,
    ),
    # me
    "get_me": Row(lambda c, t: Call("GET", "/api/v1/me"), SELF),
    "get_home": Row(lambda c, t: Call("GET", "/api/v1/me/home"), SELF),
    # orgs
    "search_orgs": Row(
        lambda c, t: Call("GET", "/api/v1/orgs?q=" + pick(c, t, "hoa binh", "tan lap")), SELF
    ),
    "create_org": Row(
        lambda c, t: Call(
            "POST",
            "/api/v1/orgs",
            {"parent_id": committee(c, t), "name": "Chi bộ Mới", "kind": "branch"},
        ),
        scoped(
            member=(403, 404),
            secretary=(403, 404),
            officer_c1=(201, 404),
            officer_root=(201, 201),
            editor=(403, 403),
            admin=(201, 201),
        ),
    ),
    "get_org": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{sibling(c, t)}"),
        scoped(
            member=(404, 404),
            secretary=(404, 404),
            officer_c1=(200, 404),
            officer_root=(200, 200),
            editor=(200, 200),
            admin=(200, 200),
        ),
    ),
    "update_org": Row(
        lambda c, t: Call("PATCH", f"/api/v1/orgs/{sibling(c, t)}", {"name": "Chi bộ Đổi Tên"}),
        MANAGE,
    ),
    "list_org_children": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{committee(c, t)}/children"), VIEW_COMMITTEE
    ),
    "list_org_subtree": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{committee(c, t)}/subtree"), VIEW_COMMITTEE
    ),
    # members
    "list_org_members": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{own(c, t)}/members"), LIST_OWN_BRANCH
    ),
    "create_member": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/orgs/{own(c, t)}/members", {"full_name": "Nguyễn Văn Mới"}
        ),
        MANAGE_OWN_BRANCH,
    ),
    "get_member": Row(
        lambda c, t: Call("GET", f"/api/v1/members/{_member(c, t)}"),
        scoped(
            member=(404, 404),
            secretary=(404, 404),
            officer_c1=(200, 404),
            officer_root=(200, 200),
            editor=(403, 403),
            admin=(200, 200),
        ),
    ),
    "update_member": Row(
        lambda c, t: Call(
            "PATCH", f"/api/v1/members/{_member(c, t)}", {"full_name": "Tên Mới Đây"}
        ),
        MANAGE,
    ),
    "lock_member": Row(lambda c, t: Call("POST", f"/api/v1/members/{_member(c, t)}/lock"), MANAGE),
    "unlock_member": Row(
        lambda c, t: Call("POST", f"/api/v1/members/{_member(c, t)}/unlock"), MANAGE
    ),
    # roles
    "list_org_roles": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{own(c, t)}/roles"), LIST_OWN_BRANCH
    ),
    "grant_role": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/orgs/{own(c, t)}/roles",
            {
                "member_id": pick(c, t, c.tree.member.id, c.tree.outsider.id),
                "role": "committee_member",
            },
        ),
        MANAGE_OWN_BRANCH,
    ),
    "revoke_role": Row(
        lambda c, t: Call("DELETE", f"/api/v1/roles/{pick(c, t, c.grant_in, c.grant_out)}"),
        scoped(
            member=(403, 404),
            secretary=(403, 404),
            officer_c1=(204, 404),
            officer_root=(204, 204),
            editor=(403, 403),
            admin=(204, 204),
        ),
    ),
    # ops
    "get_health": Row(lambda c, t: Call("GET", "/healthz"), PUBLIC),
    "get_readiness": Row(lambda c, t: Call("GET", "/readyz"), PUBLIC),
    "get_metrics": Row(lambda c, t: Call("GET", "/metrics"), PUBLIC),
}


def operation_ids(app: FastAPI) -> set[str]:
    return {
        operation["operationId"]
        for path_item in app.openapi()["paths"].values()
        for operation in path_item.values()
    }


def test_matrix_covers_every_operation(app: FastAPI) -> None:
    operations = operation_ids(app)
    missing = sorted(operations - MATRIX.keys())
    stale = sorted(MATRIX.keys() - operations)
    assert not missing, f"add these operations to the authorization matrix: {missing}"
    assert not stale, f"these matrix rows match no operation: {stale}"


def test_matrix_lists_every_role() -> None:
    for operation, row in MATRIX.items():
        assert set(row.expect) == set(ROLES), operation


@pytest.fixture
async def context(tree: Tree, session: AsyncSession) -> Context:
    outside = await grant(session, tree.outsider, tree.b4, Role.SECRETARY)
    grant_in = await session.scalar(
        select(RoleGrant.id).where(RoleGrant.member_id == tree.secretary.id)
    )
    await session.commit()
    assert grant_in is not None
    return Context(tree=tree, grant_in=grant_in, grant_out=outside.id)


def actor_id(tree: Tree, role: str) -> int:
    return int(getattr(tree, role).id)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", sorted(MATRIX))
async def test_authorization(
    client: httpx.AsyncClient,
    context: Context,
    as_actor: ActorLogin,
    operation: str,
    role: str,
) -> None:
    row = MATRIX[operation]
    for target, expected in zip(("in", "out"), row.expect[role], strict=True):
        call = row.build(context, target)
        headers = {} if role == "anonymous" else await as_actor(actor_id(context.tree, role))
        response = await client.request(call.method, call.url, json=call.json, headers=headers)
        assert response.status_code == expected, (
            f"{operation} as {role} on the {target}-scope target: "
            f"expected {expected}, got {response.status_code}: {response.text[:300]}"
        )
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        if response.status_code == 403:
            assert response.json()["code"] in {"scope.forbidden", "role.cannot_grant"}


# Lists never leak: whatever a role pages through stays inside what it may see.

VISIBLE_MEMBERS = {
    "member": "b1",
    "secretary": "b1",
    "officer_c1": "c1",
    "officer_root": "p",
    "admin": "p",
}


@pytest.mark.parametrize("role", sorted(VISIBLE_MEMBERS))
async def test_member_lists_stay_inside_scope(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, role: str
) -> None:
    headers = await as_actor(actor_id(tree, role))
    scope_root = getattr(tree, VISIBLE_MEMBERS[role])
    for org in (tree.p, tree.c1, tree.c2, tree.b1, tree.b4):
        response = await client.get(
            f"/api/v1/orgs/{org.id}/members", params={"limit": 100}, headers=headers
        )
        inside = org.path.startswith(scope_root.path)
        if not inside:
            assert response.status_code in {403, 404}
            continue
        assert response.status_code == 200
        branch_paths = {b.id: b.path for b in (tree.b1, tree.b2, tree.b3, tree.b4)}
        for item in response.json()["items"]:
            assert branch_paths[item["branch_id"]].startswith(scope_root.path)


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
async def test_org_search_stays_inside_scope(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, role: str
) -> None:
    headers = await as_actor(actor_id(tree, role))
    allowed = {
        "member": {tree.b1.id},
        "secretary": {tree.b1.id},
        "officer_c1": {tree.c1.id, tree.b1.id, tree.b2.id, tree.g1.id, tree.b3.id},
    }.get(role)
    for query in ("chi bo", "dang", "hoa binh", "tan lap", "thon"):
        response = await client.get(
            "/api/v1/orgs", params={"q": query, "limit": 100}, headers=headers
        )
        assert response.status_code == 200
        found = {item["id"] for item in response.json()["items"]}
        if allowed is not None:
            assert found <= allowed, (role, query, found)
