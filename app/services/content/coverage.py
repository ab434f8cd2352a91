"""Who has opened and studied a document, by unit: counters kept with the receipts.

A province document reaches every member (476,000 in Hà Nội): joining its receipts to their
members and grouping them by unit takes seconds. So the counts are kept as they happen:

- `document_branch_reads` holds, per document and branch, how many members opened and studied
  it; `count_open` / `count_studied` add one in the same transaction as the receipt's first
  open or first "studied" (exactly once per member, as the receipt is). A read counts in the
  branch the member was in when they read; a later transfer does not move it.
- Members per branch (the report's denominators) come from `BranchMembers`, a per-process count
  refreshed every `BRANCH_MEMBERS_TTL_S` seconds (one grouped query; members joining or leaving
  show in the report within that time).

The coverage of an org then sums ~17k counter rows and ~17k cached counts at the province root,
instead of ~500k receipts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.db import dialect_insert
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
    """Members (not archived) per branch path, counted once per `ttl_s` in each process; and,
    from those, per child unit of an org (kept until the next recount)."""

    def __init__(self, ttl_s: float = BRANCH_MEMBERS_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._counts: dict[str, int] = {}
        self._units: dict[str, tuple[int, dict[int, int]]] = {}
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def _current(self, session: AsyncSession) -> dict[str, int]:
        if time.monotonic() < self._expires:
            return self._counts
        async with self._lock:  # one recount at a time, however many requests wait
            if time.monotonic() >= self._expires:
                rows = await session.execute(
                    select(_m.c.org_path, func.count())
                    .where(_m.c.archived_on.is_(None))
                    .group_by(_m.c.org_path)
                )
                self._counts = {path: int(n) for path, n in rows}
                self._units = {}
                self._expires = time.monotonic() + self._ttl_s
        return self._counts

    async def of_units(self, session: AsyncSession, org_path: str) -> tuple[int, dict[int, int]]:
        """Members of the org's subtree, and per child unit (by the child's id)."""
        counts = await self._current(session)
        known = self._units.get(org_path)
        if known is not None:
            return known
        lo, hi = access.subtree_range(org_path)
        depth = len(access.ancestor_ids(org_path))  # a child's id sits at this index of a path
        total, units = 0, dict[int, int]()
        for path, n in counts.items():
            if lo <= path < hi:
                total += n
                if path != org_path:
                    unit = access.ancestor_ids(path)[depth]
                    units[unit] = units.get(unit, 0) + n
        self._units[org_path] = (total, units)
        return total, units


async def report(
    session: AsyncSession, document_id: int, org: Any, branch_members: BranchMembers
) -> dict[str, Any]:
    """Members, opened and studied per child unit of the org (its `id`, `path`, `name`,
    `kind`), and for the org as a whole."""
    child = _o.alias("child")
    branch = _o.alias("branch")
    upper = func.substr(child.c.path, 1, func.length(child.c.path) - 1) + "0"
    units = (
        await session.execute(
            select(
                child.c.id,
                child.c.name,
                child.c.kind,
                func.coalesce(func.sum(_reads.c.opened), 0).label("opened"),
                func.coalesce(func.sum(_reads.c.studied), 0).label("studied"),
            )
            .select_from(child)
            .outerjoin(branch, and_(branch.c.path >= child.c.path, branch.c.path < upper))
            .outerjoin(
                _reads,
                and_(_reads.c.branch_id == branch.c.id, _reads.c.document_id == document_id),
            )
            .where(child.c.parent_id == org["id"])
            .group_by(child.c.id, child.c.name, child.c.kind, child.c.name_folded)
            .order_by(child.c.name_folded, child.c.id)
        )
    ).all()
    members, members_of = await branch_members.of_units(session, org["path"])
    if units:
        opened, studied = sum(u.opened for u in units), sum(u.studied for u in units)
    else:  # a branch: its own counters
        own = (
            await session.execute(
                select(_reads.c.opened, _reads.c.studied).where(
                    _reads.c.document_id == document_id, _reads.c.branch_id == org["id"]
                )
            )
        ).first()
        opened, studied = (own.opened, own.studied) if own is not None else (0, 0)
    return {
        "document_id": document_id,
        "org": {"id": org["id"], "name": org["name"], "kind": org["kind"]},
        "members": members,
        "opened": int(opened),
        "studied": int(studied),
        "units": [
            {
                "org": {"id": u.id, "name": u.name, "kind": u.kind},
                "members": members_of.get(u.id, 0),
                "opened": int(u.opened),
                "studied": int(u.studied),
            }
            for u in units
        ],
    }
