"""The org tree: read a node, its children, its subtree; search; create and rename."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, func, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.core import etag
from app.core.db import FastQuery, Reader
from app.core.errors import Conflict, NotFound
from app.core.etag import IfMatch
from app.core.pagination import decode_cursor, page_of
from app.core.security import new_id
from app.core.text import clean_name, name_key, search_terms
from app.models import Org, OrgKind
from app.schemas.org import OrgCreate, OrgRead, OrgRef, OrgSummary, OrgUpdate
from app.services import access, audit
from app.services.access import Actor, Permission

_org = Org.__table__
_SUMMARY_COLUMNS = (
    _org.c.id,
    _org.c.parent_id,
    _org.c.name,
    _org.c.kind,
    _org.c.code,
    _org.c.depth,
)


@dataclass(frozen=True, slots=True)
class OrgTarget:
    """What guards need to know about an org named in a request."""

    id: int
    path: str
    kind: str

    @property
    def is_branch(self) -> bool:
        return self.kind == OrgKind.BRANCH

    @property
    def owner_id(self) -> None:
        return None


_TARGET = FastQuery(
    select(_org.c.id, _org.c.path, _org.c.kind).where(
        _org.c.id == bindparam("org_id", type_=BigInteger)
    )
)


async def load_target(reader: Reader, org_id: int) -> OrgTarget | None:
    rows = await reader.fetch(_TARGET, {"org_id": org_id})
    if not rows:
        return None
    row = rows[0]
    return OrgTarget(id=row["id"], path=row["path"], kind=row["kind"])


def _summaries(rows: list[Any]) -> list[OrgSummary]:
    return [
        OrgSummary(id=r[0], parent_id=r[1], name=r[2], kind=r[3], code=r[4], depth=r[5])
        for r in rows
    ]


async def read_org(session: AsyncSession, org_id: int) -> OrgRead:
    org = await session.get(Org, org_id)
    if org is None:
        raise NotFound(code="org.not_found")
    ids = access.ancestor_ids(org.path)[:-1]
    ancestors: list[OrgRef] = []
    if ids:
        rows = (
            await session.execute(
                select(_org.c.id, _org.c.name, _org.c.kind).where(_org.c.id.in_(ids))
            )
        ).all()
        by_id = {r[0]: OrgRef(id=r[0], name=r[1], kind=r[2]) for r in rows}
        ancestors = [by_id[i] for i in ids if i in by_id]
    child_count = await session.scalar(
        select(func.count()).select_from(_org).where(_org.c.parent_id == org.id)
    )
    return OrgRead(
        id=org.id,
        parent_id=org.parent_id,
        name=org.name,
        kind=OrgKind(org.kind),
        code=org.code,
        depth=org.depth,
        ancestors=ancestors,
        child_count=child_count or 0,
        is_active=org.is_active,
        version=org.version,
        created_at=org.created_at,
        updated_at=org.updated_at,
    )


async def list_children(
    session: AsyncSession, parent: OrgTarget, *, limit: int, cursor: str | None
) -> tuple[list[OrgSummary], str | None]:
    query = select(*_SUMMARY_COLUMNS, _org.c.name_folded).where(_org.c.parent_id == parent.id)
    return await _by_name(session, query, "children", limit, cursor)


async def search_orgs(
    session: AsyncSession, actor: Actor, *, q: str | None, limit: int, cursor: str | None
) -> tuple[list[OrgSummary], str | None]:
    """With `q`: orgs whose name contains every word (diacritics ignored) in the actor's view.

    Without: the tops of the actor's view (their branch, and the orgs their roles sit on).
    """
    if not q or not search_terms(q):
        roots = access.scope_roots(actor, Permission.ORG_VIEW)
        query = select(*_SUMMARY_COLUMNS, _org.c.name_folded).where(_org.c.path.in_(roots))
        return await _by_name(session, query, "roots", limit, cursor)
    query = select(*_SUMMARY_COLUMNS, _org.c.name_folded).where(
        access.scope_clause(actor, Permission.ORG_VIEW, _org.c.path),
        *[_org.c.name_folded.like(f"%{term}%", escape="\\") for term in search_terms(q)],
    )
    return await _by_name(session, query, "org_search", limit, cursor)


async def _by_name(
    session: AsyncSession, query: Select[Any], sort: str, limit: int, cursor: str | None
) -> tuple[list[OrgSummary], str | None]:
    if cursor:
        name, last_id = decode_cursor(cursor, sort, (str, int))
        query = query.where(tuple_(_org.c.name_folded, _org.c.id) > tuple_(name, last_id))
    rows = (
        await session.execute(query.order_by(_org.c.name_folded, _org.c.id).limit(limit + 1))
    ).all()
    page, next_cursor = page_of(rows, limit, sort, lambda r: (r[6], r[0]))
    return _summaries(page), next_cursor


async def list_subtree(
    session: AsyncSession,
    root: OrgTarget,
    *,
    max_depth: int | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[OrgSummary], str | None]:
    """The subtree in tree order (each org before its descendants), the root first."""
    lo, hi = access.subtree_range(root.path)
    query = select(*_SUMMARY_COLUMNS, _org.c.path).where(_org.c.path >= lo, _org.c.path < hi)
    if max_depth is not None:
        root_depth = len(access.ancestor_ids(root.path)) - 1
        query = query.where(_org.c.depth <= root_depth + max_depth)
    if cursor:
        (last_path,) = decode_cursor(cursor, "subtree", (str,))
        query = query.where(_org.c.path > last_path)
    rows = (await session.execute(query.order_by(_org.c.path).limit(limit + 1))).all()
    page, next_cursor = page_of(rows, limit, "subtree", lambda r: (r[6],))
    return _summaries(page), next_cursor


async def _ensure_code_free(session: AsyncSession, code: str | None, org_id: int | None) -> None:
    if code is None:
        return
    taken = await session.scalar(select(_org.c.id).where(_org.c.code == code))
    if taken is not None and taken != org_id:
        raise Conflict("Mã tổ chức đã được dùng.", code="org.code_taken")


async def insert_org(
    session: AsyncSession,
    parent: OrgTarget | Org | None,
    *,
    kind: OrgKind,
    name: str,
    code: str | None = None,
    org_id: int | None = None,
) -> Org:
    """Add an org under `parent` (a root when None), with its materialized path. No checks.
    (`org_id` fixes the id, for generated data and test trees.)"""
    name = clean_name(name)
    parent_path = parent.path if parent is not None else None
    org = Org(
        id=org_id,
        parent_id=parent.id if parent is not None else None,
        kind=kind,
        name=name,
        name_folded=name_key(name),
        code=code,
        # A unique placeholder until the id is known (paths are unique).
        path=access.child_path(parent_path, org_id) if org_id else f"/new-{new_id()}/",
        depth=len(access.ancestor_ids(parent_path)) if parent_path else 0,
    )
    session.add(org)
    await session.flush()
    if org_id is None:
        # The path needs the id: set it without counting an edit (the row version stays 1).
        path = access.child_path(parent_path, org.id)
        await session.execute(update(Org).where(Org.id == org.id).values(path=path))
        set_committed_value(org, "path", path)
    return org


async def create_org(
    session: AsyncSession, actor: Actor, parent: OrgTarget, data: OrgCreate
) -> OrgRead:
    if parent.is_branch:
        raise Conflict("Chi bộ không có tổ chức trực thuộc.", code="org.parent_is_branch")
    await _ensure_code_free(session, data.code, None)
    org = await insert_org(session, parent, kind=data.kind, name=data.name, code=data.code)
    await audit.record(
        session,
        actor,
        "org.create",
        target=("org", org.id),
        org_id=org.id,
        changes=audit.changes({}, {"name": org.name, "kind": org.kind, "code": org.code}),
        detail={"parent_id": parent.id},
    )
    return await read_org(session, org.id)


async def update_org(
    session: AsyncSession,
    actor: Actor,
    target: OrgTarget,
    data: OrgUpdate,
    *,
    if_match: IfMatch | None = None,
) -> OrgRead:
    org = await session.get(Org, target.id, with_for_update=True, populate_existing=True)
    if org is None:
        raise NotFound(code="org.not_found")
    etag.check(if_match, org.version)
    before = {"name": org.name, "code": org.code}
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:  # never null (`NotNull` in the schema)
        org.name = clean_name(changes["name"])
        org.name_folded = name_key(org.name)
    if "code" in changes:
        await _ensure_code_free(session, changes["code"], org.id)
        org.code = changes["code"]
    diff = audit.changes(before, {"name": org.name, "code": org.code})
    if diff:
        await session.flush()
        await audit.record(
            session, actor, "org.update", target=("org", org.id), org_id=org.id, changes=diff
        )
    return await read_org(session, org.id)


# --- copies of org paths ----------------------------------------------------------------------
#
# Rows that carry a copy of an org's path (for one-range-scan lists) are registered here, so the
# one function that rewrites paths (a subtree moving under another parent) rewrites every copy.
# `tests/models/test_path_copies.py` fails on a `*_path` column that is neither `org.path` nor
# registered here.


@dataclass(frozen=True, slots=True)
class PathCopy:
    table: str
    column: str
    doc: str
    # The column naming the org whose path is copied: rows re-pointed to another org (a merge)
    # take that org's path (`sync_path_copies`).
    org_column: str


PATH_COPIES: tuple[PathCopy, ...] = (
    PathCopy("member", "org_path", "the member's branch path: subtree member lists", "branch_id"),
    PathCopy("meeting", "org_path", "the meeting's branch path: a subtree's meetings", "org_id"),
)


async def sync_path_copies(session: AsyncSession, org_id: int, path: str) -> None:
    """Every registered copy on a row that names `org_id` holds `path`: called after rows were
    re-pointed to that org (a merge moves a branch's members, its content …), in the same
    transaction."""
    metadata = Org.metadata
    for copy in PATH_COPIES:
        table = metadata.tables[copy.table]
        column = table.c[copy.column]
        await session.execute(
            update(table)
            .where(table.c[copy.org_column] == org_id, column != path)
            .values({copy.column: path})
            .execution_options(synchronize_session=False)
        )


async def rewrite_paths(session: AsyncSession, old_prefix: str, new_prefix: str) -> None:
    """Every path under `old_prefix` (the org's own included) now starts with `new_prefix`:
    `org.path` and every registered copy, in this transaction. The caller moves the org
    (parent, depth) and clears the per-process org target caches."""
    lo, hi = access.subtree_range(old_prefix)
    tables = [("org", "path"), *((copy.table, copy.column) for copy in PATH_COPIES)]
    metadata = Org.metadata
    for table_name, column_name in tables:
        table = metadata.tables[table_name]
        column = table.c[column_name]
        await session.execute(
            update(table)
            .where(column >= lo, column < hi)
            .values({column_name: literal(new_prefix) + func.substr(column, len(old_prefix) + 1)})
            .execution_options(synchronize_session=False)
        )
