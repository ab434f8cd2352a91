"""Who has opened and studied a document, by unit: counters kept with the receipts.

A province document reaches every member (476,000 in Hà Nội): joining its receipts to their
members and grouping them by unit takes seconds. So the counts are kept as they happen:

- `document_branch_reads` holds, per document and branch, how many members opened and studied
  it; `count_open` / `count_studied` add one in the same transaction as the receipt's first
  open or first "studied" (exactly once per member, as the receipt is). A read counts in the
  branch the member was in when they read; a later transfer does not move it.
- Members per org (the report's denominators) come from `BranchMembers`, a per-process count
  of every org's subtree refreshed every `BRANCH_MEMBERS_TTL_S` seconds (one grouped query;
  members joining or leaving show in the report within that time).

The coverage of an org is then one read on the lean reader: the document's counter rows in the
org's subtree (~17k at the province root) summed per child unit in SQL (grouped by the child's
id in each branch's path), instead of ~500k receipts; the members come from the cache by id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.db import FastQuery, Reader, Row, dialect_insert
from app.models import DocumentBranchReads, DocumentReceipt, Member, Org
from app.services import access
from app.services.access import Actor

BRANCH_MEMBERS_TTL_S = 300.0

_reads = DocumentBranchReads.__table__
_receipt = DocumentReceipt.__table__
_m = Member.__table__
_o = Org.__table__


async def _add(
    session: AsyncSession, document_id: int, branch_id: int, *, opened: int, studied: int
) -> None:
    statement = dialect_insert(session, DocumentBranchReads).values(
        document_id=document_id, branch_id=branch_id, opened=opened, studied=studied
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["document_id", "branch_id"],
            set_={
                "opened": _reads.c.opened + statement.excluded.opened,
                "studied": _reads.c.studied + statement.excluded.studied,
            },
        )
    )


async def count_open(session: AsyncSession, actor: Actor, document_id: int) -> None:
    """The member opened the document for the first time (their receipt was just created)."""
    await _add(session, document_id, actor.branch_id, opened=1, studied=0)


async def count_studied(session: AsyncSession, actor: Actor, document_id: int) -> None:
    """The member marked the document studied for the first time."""
    await _add(session, document_id, actor.branch_id, opened=0, studied=1)


async def rebuild(conn: AsyncConnection | AsyncSession) -> None:
    """Recount every document's counters from the receipts (receipts written in bulk: the
    generated province, the demo), each read in the branch its member is in now."""
    await conn.execute(delete(DocumentBranchReads))
    await conn.execute(
        insert(DocumentBranchReads).from_select(
            ["document_id", "branch_id", "opened", "studied"],
            select(
                _receipt.c.document_id,
                _m.c.branch_id,
                func.count(_receipt.c.opened_at),
                func.count(_receipt.c.studied_at),
            )
            .select_from(_receipt.join(_m, _m.c.id == _receipt.c.member_id))
            .group_by(_receipt.c.document_id, _m.c.branch_id),
        )
    )


class BranchMembers:
    """Members (not archived) of each org's subtree, by org id: counted once per `ttl_s` in
    each process (one grouped read of the members by branch path, each branch's count then
    added to every org on its path), so a report reads its units' counts by id."""

    def __init__(self, ttl_s: float = BRANCH_MEMBERS_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._counts: dict[int, int] = {}
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def of_orgs(self, reader: Reader) -> Mapping[int, int]:
        """Members of each org's subtree (an org without members is absent)."""
        if time.monotonic() < self._expires:
            return self._counts
        async with self._lock:  # one recount at a time, however many requests wait
            if time.monotonic() >= self._expires:
                counts: dict[int, int] = {}
                for row in await reader.fetch(_MEMBERS_BY_BRANCH, {}):
                    n = int(row["members"])
                    for org_id in access.ancestor_ids(row["org_path"]):
                        counts[org_id] = counts.get(org_id, 0) + n
                self._counts = counts
                self._expires = time.monotonic() + self._ttl_s
        return self._counts


# The report's reads run on the lean reader (`FastQuery`, compiled once): every value is a named
# parameter.
_MEMBERS_BY_BRANCH = FastQuery(
    select(_m.c.org_path, func.count().label("members"))
    .where(_m.c.archived_on.is_(None))
    .group_by(_m.c.org_path)
)
_ZERO: ColumnElement[int] = literal_column("0", Integer)
_document = bindparam("document_id", type_=BigInteger)
_counted = _o.alias("counted")  # the branch a counter row belongs to
_unit = access.child_unit(_counted.c.path).label("unit")
# The document's counters in the org's subtree (below the org itself), summed per child unit.
_per_unit = (
    select(
        _unit,
        func.sum(_reads.c.opened).label("opened"),
        func.sum(_reads.c.studied).label("studied"),
    )
    .select_from(_reads.join(_counted, _counted.c.id == _reads.c.branch_id))
    .where(
        _reads.c.document_id == _document,
        _counted.c.path > bindparam("lo", type_=String),
        _counted.c.path < bindparam("hi", type_=String),
    )
    .group_by(literal_column("unit"))
    .subquery("per_unit")
)
_child = _o.alias("child")
# The org's child units in name order, each with its counters (zero where nobody read).
_UNITS = FastQuery(
    select(
        _child.c.id,
        _child.c.name,
        _child.c.kind,
        func.coalesce(_per_unit.c.opened, _ZERO).label("opened"),
        func.coalesce(_per_unit.c.studied, _ZERO).label("studied"),
    )
    .select_from(_child.outerjoin(_per_unit, _per_unit.c.unit == cast(_child.c.id, String)))
    .where(_child.c.parent_id == bindparam("org_id", type_=BigInteger))
    .order_by(_child.c.name_folded, _child.c.id)
)
# A branch's own counters (a branch has no child units).
_OWN = FastQuery(
    select(_reads.c.opened, _reads.c.studied).where(
        _reads.c.document_id == _document,
        _reads.c.branch_id == bindparam("org_id", type_=BigInteger),
    )
)


async def report(
    reader: Reader, document_id: int, org: Row, branch_members: BranchMembers
) -> dict[str, Any]:
    """Members, opened and studied per child unit of the org (its `id`, `path`, `name`,
    `kind`), and for the org as a whole: the counters summed per unit in one read."""
    params = {"document_id": document_id, "org_id": org["id"], **access.subtree_params(org["path"])}
    units = await reader.fetch(_UNITS, params)
    members = await branch_members.of_orgs(reader)
    if units:
        opened = sum(int(u["opened"]) for u in units)
        studied = sum(int(u["studied"]) for u in units)
    else:  # a branch: its own counters
        own = await reader.fetch(_OWN, params)
        opened, studied = (int(own[0]["opened"]), int(own[0]["studied"])) if own else (0, 0)
    return {
        "document_id": document_id,
        "org": {"id": org["id"], "name": org["name"], "kind": org["kind"]},
        "members": members.get(org["id"], 0),
        "opened": opened,
        "studied": studied,
        "units": [
            {
                "org": {"id": u["id"], "name": u["name"], "kind": u["kind"]},
                "members": members.get(u["id"], 0),
                "opened": int(u["opened"]),
                "studied": int(u["studied"]),
            }
            for u in units
        ],
    }
