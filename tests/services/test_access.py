"""The scope service: Python decisions (`can`) and SQL filters (`scope_clause`) must agree."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import FastQuery, Reader
from app.core.errors import Forbidden, NotFound
from app.models import Org, OrgKind, Role
from app.services import access
from app.services.access import ROLE_PERMISSIONS, Actor, Permission, RoleHolding
from tests.factories import Tree, make_org


def actor(branch_path: str, *roles: tuple[Role, str]) -> Actor:
    return Actor(
        member_id=1,
        session_id="s",
        full_name="Nguyễn Văn An",
        phone=None,
        status="full",
        is_exempt=False,
        branch_id=int(branch_path.strip("/").split("/")[-1]),
        branch_name="Chi bộ",
        branch_path=branch_path,
        roles=tuple(
            RoleHolding(grant_id=i, role=role, org_id=0, org_name="", org_kind="", org_path=path)
            for i, (role, path) in enumerate(roles)
        ),
    )


def test_subtree_range_excludes_ids_sharing_a_prefix() -> None:
    lo, hi = access.subtree_range("/1/7/")
    assert lo <= "/1/7/" < hi
    assert lo <= "/1/7/93/" < hi
    assert not lo <= "/1/70/" < hi
    assert not lo <= "/1/8/" < hi
    assert not lo <= "/1/" < hi


def test_ancestor_ids_and_child_path() -> None:
    assert access.ancestor_ids("/1/7/93/") == [1, 7, 93]
    assert access.child_path("/1/7/", 93) == "/1/7/93/"
    assert access.child_path(None, 1) == "/1/"


def test_membership_gives_only_the_directory_of_ones_own_branch() -> None:
    member = actor("/1/2/5/")
    assert access.can(member, Permission.MEMBER_LIST, "/1/2/5/")
    assert not access.can(member, Permission.MEMBER_VIEW, "/1/2/5/")
    assert not access.can(member, Permission.MEMBER_LIST, "/1/2/6/")
    assert not access.can(member, Permission.ORG_VIEW, "/1/2/")
    assert access.can(member, Permission.ORG_VIEW, "/1/2/", upward=True)
    assert not access.can(member, Permission.ORG_VIEW, "/1/3/", upward=True)


def test_a_role_covers_the_whole_subtree() -> None:
    officer = actor("/1/3/9/", (Role.ORGANISATION_OFFICER, "/1/2/"))
    for path in ("/1/2/", "/1/2/5/", "/1/2/6/77/"):
        assert access.can(officer, Permission.MEMBER_MANAGE, path)
    assert not access.can(officer, Permission.MEMBER_MANAGE, "/1/")
    assert not access.can(officer, Permission.MEMBER_MANAGE, "/1/3/9/")
    assert not access.can(officer, Permission.MEMBER_MANAGE, "/1/20/")


def test_require_hides_what_is_outside_every_scope() -> None:
    member = actor("/1/2/5/")
    with pytest.raises(NotFound) as hidden:
        access.require(member, Permission.MEMBER_VIEW, "/1/3/", not_found_code="member.not_found")
    assert hidden.value.code == "member.not_found"
    with pytest.raises(Forbidden) as refused:
        access.require(member, Permission.MEMBER_VIEW, "/1/2/5/", not_found_code="member.not_found")
    assert refused.value.code == "scope.forbidden"
    with pytest.raises(Forbidden):
        access.require(
            member,
            Permission.ORG_MANAGE,
            "/1/2/",
            not_found_code="org.not_found",
            ancestors_visible=True,
        )


def test_grants_never_exceed_what_the_granter_holds() -> None:
    officer = actor("/1/3/9/", (Role.ORGANISATION_OFFICER, "/1/2/"))
    admin = actor("/1/3/9/", (Role.DEPLOYMENT_ADMIN, "/1/"))
    secretary = actor("/1/2/5/", (Role.SECRETARY, "/1/2/5/"))
    assert access.can_grant(officer, Role.SECRETARY, "/1/2/5/")
    assert access.can_grant(officer, Role.ORGANISATION_OFFICER, "/1/2/5/")
    assert not access.can_grant(officer, Role.DEPLOYMENT_ADMIN, "/1/2/")
    assert not access.can_grant(officer, Role.SECRETARY, "/1/3/")
    assert access.can_grant(admin, Role.DEPLOYMENT_ADMIN, "/1/2/")
    assert not access.can_grant(secretary, Role.SECRETARY, "/1/2/5/")


def test_scope_roots_drop_nested_scopes() -> None:
    many = actor(
        "/1/2/5/", (Role.SECRETARY, "/1/2/5/"), (Role.SECRETARY, "/1/2/"), (Role.SECRETARY, "/1/4/")
    )
    assert access.scope_roots(many, Permission.MEMBER_VIEW) == ["/1/2/", "/1/4/"]
    assert access.scope_roots(actor("/1/2/5/"), Permission.ROLE_MANAGE) == []


def test_every_role_has_permissions() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert ROLE_PERMISSIONS[Role.DEPLOYMENT_ADMIN] == frozenset(Permission)


async def test_scope_clause_selects_exactly_what_can_allows(
    session: AsyncSession, tree: Tree
) -> None:
    paths = (await session.scalars(select(Org.path))).all()
    actors = [
        actor(tree.b1.path),
        actor(tree.b1.path, (Role.SECRETARY, tree.b1.path)),
        actor(tree.b2.path, (Role.ORGANISATION_OFFICER, tree.c1.path)),
        actor(tree.b4.path, (Role.EDITOR, tree.p.path)),
        actor(tree.b4.path, (Role.SECRETARY, tree.g1.path), (Role.SECRETARY, tree.c2.path)),
    ]
    for who in actors:
        for permission in Permission:
            in_sql = set(
                (
                    await session.scalars(
                        select(Org.path).where(
                            access.scope_clause(who, permission, Org.__table__.c.path)
                        )
                    )
                ).all()
            )
            in_python = {p for p in paths if access.can(who, permission, p)}
            assert in_sql == in_python, (who.roles, permission)


async def test_bound_scope_selects_exactly_what_can_allows(
    session: AsyncSession, reader: Reader, tree: Tree
) -> None:
    """The compiled form (`bound_scope` parameters of a statement compiled per shape), run on
    the lean reader: the same orgs as `can`, upward or not."""
    paths = (await session.scalars(select(Org.path))).all()
    org = Org.__table__
    actors = [
        actor(tree.b1.path),
        actor(tree.b3.path, (Role.SECRETARY, tree.b3.path)),
        actor(tree.b2.path, (Role.ORGANISATION_OFFICER, tree.c1.path)),
        actor(tree.b4.path, (Role.EDITOR, tree.p.path)),
        actor(tree.b4.path, (Role.SECRETARY, tree.g1.path), (Role.SECRETARY, tree.c2.path)),
    ]
    for who in actors:
        for permission in (Permission.CONTENT_VIEW, Permission.MEMBER_VIEW, Permission.ORG_MANAGE):
            for upward in (False, True):
                scope = access.bound_scope(who, permission, upward=upward)
                query = FastQuery(
                    select(org.c.path).where(
                        access.bound_scope_clause(scope.shape, "s", org.c.id, org.c.path)
                    )
                )
                rows = await reader.fetch(query, scope.params("s"))
                in_python = {p for p in paths if access.can(who, permission, p, upward=upward)}
                assert {r["path"] for r in rows} == in_python, (who.roles, permission, upward)


# Property: on random trees, SQL scope and Python scope agree for random actors.

tree_shapes = st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=30)
role_choices = st.lists(
    st.tuples(st.sampled_from(list(Role)), st.integers(min_value=0, max_value=30)), max_size=3
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(parents=tree_shapes, roles=role_choices, branch=st.integers(min_value=0, max_value=30))
async def test_scope_clause_matches_can_on_random_trees(
    session: AsyncSession, parents: list[int], roles: list[tuple[Role, int]], branch: int
) -> None:
    async with session.begin_nested() as savepoint:
        root = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Gốc")
        orgs = [root]
        for parent_index in parents:
            parent = orgs[parent_index % len(orgs)]
            orgs.append(await make_org(session, parent, kind=OrgKind.GRASSROOTS_COMMITTEE))
        who = actor(
            orgs[branch % len(orgs)].path,
            *[(role, orgs[i % len(orgs)].path) for role, i in roles],
        )
        ids = [o.id for o in orgs]
        for permission in (Permission.MEMBER_VIEW, Permission.ORG_MANAGE, Permission.ORG_VIEW):
            in_sql = set(
                (
                    await session.scalars(
                        select(Org.path).where(
                            Org.id.in_(ids),
                            access.scope_clause(who, permission, Org.__table__.c.path),
                        )
                    )
                ).all()
            )
            assert in_sql == {o.path for o in orgs if access.can(who, permission, o.path)}
        await savepoint.rollback()


async def test_scope_on_sibling_ids_that_share_a_prefix(session: AsyncSession) -> None:
    """A fixed example of the property above: org 2 and its siblings 20–29 (and 2's child 200)
    share the prefix "2" in their paths; a role on 2 covers 2 and 200, never 20–29."""
    async with session.begin_nested() as savepoint:
        root = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Gốc", org_id=1)
        two = await make_org(session, root, kind=OrgKind.COMMUNE_COMMITTEE, org_id=2)
        siblings = [
            await make_org(session, root, kind=OrgKind.COMMUNE_COMMITTEE, org_id=i)
            for i in range(20, 30)
        ]
        child = await make_org(session, two, org_id=200)
        nephew = await make_org(session, siblings[0], org_id=201)
        orgs = [root, two, *siblings, child, nephew]
        for who in (
            actor(child.path, (Role.ORGANISATION_OFFICER, two.path)),
            actor(nephew.path, (Role.SECRETARY, siblings[0].path)),
        ):
            for permission in (Permission.MEMBER_VIEW, Permission.ORG_MANAGE, Permission.ORG_VIEW):
                in_sql = set(
                    (
                        await session.scalars(
                            select(Org.path).where(
                                Org.id.in_([o.id for o in orgs]),
                                access.scope_clause(who, permission, Org.__table__.c.path),
                            )
                        )
                    ).all()
                )
                in_python = {o.path for o in orgs if access.can(who, permission, o.path)}
                assert in_sql == in_python, (who.roles, permission)
        officer = actor(child.path, (Role.ORGANISATION_OFFICER, two.path))
        assert access.can(officer, Permission.MEMBER_MANAGE, child.path)
        assert not any(access.can(officer, Permission.ORG_VIEW, o.path) for o in siblings)
        await savepoint.rollback()


async def test_on_path_matches_ancestor_ids(session: AsyncSession) -> None:
    """`on_path(id, path)` in SQL selects exactly `ancestor_ids(path)`, on both databases: the
    org itself and those above it, never a sibling whose id shares a prefix (2 vs 20, 200)."""
    async with session.begin_nested() as savepoint:
        root = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Gốc", org_id=1)
        two = await make_org(session, root, kind=OrgKind.COMMUNE_COMMITTEE, org_id=2)
        twenty = await make_org(session, root, kind=OrgKind.COMMUNE_COMMITTEE, org_id=20)
        child = await make_org(session, two, org_id=200)
        nephew = await make_org(session, twenty, org_id=201)
        orgs = [root, two, twenty, child, nephew]
        above = Org.__table__.alias("above")
        for org in orgs:
            in_sql = set(
                (
                    await session.scalars(
                        select(above.c.id)
                        .select_from(above.join(Org, Org.id == org.id))
                        .where(
                            above.c.id.in_([o.id for o in orgs]),
                            access.on_path(above.c.id, Org.__table__.c.path),
                        )
                    )
                ).all()
            )
            assert in_sql == set(access.ancestor_ids(org.path)), org.path
        await savepoint.rollback()
