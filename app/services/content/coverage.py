"""Who has opened and studied a document, by unit: counters kept with the receipts.

A province document reaches every member (476,000 in Hà Nội): joining its receipts to their
members and grouping them by unit takes seconds. So the counts are kept as they happen:

- `document_branch_reads` holds, per document and branch, how many members opened and studied
  it; `count_open` / `count_studied` add one in the same transaction as the receipt's first
  open or first "studied" (exactly once per member, as the receipt is). A read counts in the
  branch the member was in when they read; a later transfer does not move it.
- `document_unit_reads` holds the same per org below the root, whatever its kind (a branch's
  row repeats its branch counter, a committee's is the sum of the branch counters in its
  subtree): the same write adds one to each org on the branch's path but the root, top-down.
  The root has no row (its figures are its children's sum), so no row is written by every
  read in the province; a ward's row takes a ward's share of them. When a subtree moves (a
  move, or a committee merged into another), `move` carries its counts from the committees it
  left to those it joined.
- Members per org (the report's denominators) come from `BranchMembers`, a per-process count
  of every org's subtree refreshed every `BRANCH_MEMBERS_TTL_S` seconds (one grouped query;
  members joining or leaving show in the report within that time).

Each unit's row carries its parent (a copy of `org.parent_id`, moved with it), so the coverage
of an org is one read on the lean reader: its child units and their counter rows, each an index
range (~300 rows each at the province root), whatever the number of branches below, joined here
by id; the members come from the cache by id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.db import FastQuery, Reader, Row, dialect_insert, lock_tables
from app.core.errors import NotFound
from app.models import (
    DocumentBranchReads,
    DocumentReceipt,
    DocumentUnitReads,
    Member,
    Org,
    OrgKind,
)
from app.services import access
from app.services.access import Actor

BRANCH_MEMBERS_TTL_S = 300.0
MOVE_CHUNK = 2_000

_reads = DocumentBranchReads.__table__
_units = DocumentUnitReads.__table__
_receipt = DocumentReceipt.__table__
_m = Member.__table__
_o = Org.__table__


async def _upsert(
    session: AsyncSession, model: type[DocumentBranchReads | DocumentUnitReads], rows: list[Any]
) -> None:
    """Add each row's `opened` and `studied` to its counter (created at those values)."""
    table = _reads if model is DocumentBranchReads else _units
    key = "branch_id" if model is DocumentBranchReads else "org_id"
    statement = dialect_insert(session, model).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["document_id", key],
            set_={
                "opened": table.c.opened + statement.excluded.opened,
                "studied": table.c.studied + statement.excluded.studied,
                # A unit's row also takes its parent as it is now (a row the previous release
                # wrote during a rolling upgrade mends at its next count).
                **({"parent_id": statement.excluded.parent_id} if table is _units else {}),
            },
        )
    )


async def _add(
    session: AsyncSession, member_id: int, document_id: int, *, opened: int, studied: int
) -> None:
    """Count the member's read in their branch, and in it and every committee above it but the
    root among the units.

    The branch and its path are read now, the member's row held (key share) until commit: a
    subtree move locks its members' rows first, so it either waits for this count (and then
    carries it with the rest, `move`) or comes first (and this reads the moved path)."""
    branch_id, path = (
        await session.execute(
            select(_m.c.branch_id, _m.c.org_path)
            .where(_m.c.id == member_id)
            .with_for_update(read=True, key_share=True)
        )
    ).one()
    counts = {"document_id": document_id, "opened": opened, "studied": studied}
    await _upsert(session, DocumentBranchReads, [{**counts, "branch_id": branch_id}])
    # Top-down, as every writer takes them: no two writers wait for each other in turn.
    ids = access.ancestor_ids(path)
    if len(ids) > 1:
        rows = [{**counts, "org_id": u, "parent_id": p} for p, u in pairwise(ids)]
        await _upsert(session, DocumentUnitReads, rows)


async def count_open(session: AsyncSession, actor: Actor, document_id: int) -> None:
    """The member opened the document for the first time (their receipt was just created)."""
    await _add(session, actor.member_id, document_id, opened=1, studied=0)


async def count_studied(session: AsyncSession, actor: Actor, document_id: int) -> None:
    """The member marked the document studied for the first time."""
    await _add(session, actor.member_id, document_id, opened=0, studied=1)


async def move(session: AsyncSession, org_id: int, *, old_path: str, new_path: str) -> None:
    """The org's subtree moved from `old_path` to `new_path` (in this transaction, its members'
    rows locked first): its counts (its own row holds its subtree's) leave the committees above
    it that it left and join those it joined."""
    old_ids, new_ids = access.ancestor_ids(old_path), access.ancestor_ids(new_path)
    own = (
        update(DocumentUnitReads)
        .where(DocumentUnitReads.org_id == org_id)
        .values(parent_id=new_ids[-2])  # its rows follow it to its new parent
        .returning(
            DocumentUnitReads.document_id, DocumentUnitReads.opened, DocumentUnitReads.studied
        )
        .execution_options(synchronize_session=False)
    )
    counted = [r for r in (await session.execute(own)).all() if r.opened or r.studied]
    old, new = old_ids[1:-1], new_ids[1:-1]
    left, joined = [u for u in old if u not in new], [u for u in new if u not in old]
    if not left and not joined:
        return
    parents = {u: p for ids in (old_ids, new_ids) for p, u in pairwise(ids)}
    for sign, units in ((-1, left), (1, joined)):
        rows = [
            {
                "document_id": r.document_id,
                "org_id": unit,
                "parent_id": parents[unit],
                "opened": sign * r.opened,
                "studied": sign * r.studied,
            }
            for unit in units  # top-down, as the receipts' counts take them
            for r in counted
        ]
        for start in range(0, len(rows), MOVE_CHUNK):
            await _upsert(session, DocumentUnitReads, rows[start : start + MOVE_CHUNK])


_branch = _o.alias("branch")
_unit = _o.alias("unit")
# Each committee below the root: the sum of the branch counters in its subtree (a branch's row
# is its branch counter).
_UNIT_TOTALS = (
    select(
        _reads.c.document_id,
        _unit.c.id,
        _unit.c.parent_id,
        func.sum(_reads.c.opened),
        func.sum(_reads.c.studied),
    )
    .select_from(
        _unit.join(
            _branch,
            and_(
                _branch.c.path > _unit.c.path,
                _branch.c.path
                < func.substr(_unit.c.path, 1, func.length(_unit.c.path) - 1).concat("0"),
            ),
        ).join(_reads, _reads.c.branch_id == _branch.c.id)
    )
    .where(_unit.c.parent_id.is_not(None), _unit.c.kind != OrgKind.BRANCH.value)
    .group_by(_reads.c.document_id, _unit.c.id, _unit.c.parent_id)
)


_BRANCH_TOTALS = (
    select(
        _reads.c.document_id, _reads.c.branch_id, _o.c.parent_id, _reads.c.opened, _reads.c.studied
    )
    .join(_o, _o.c.id == _reads.c.branch_id)
    .where(_o.c.parent_id.is_not(None))
)


async def rebuild(conn: AsyncConnection | AsyncSession) -> None:
    """Recount every document's counters from the receipts (receipts written in bulk: the
    generated province, the demo), each read in the branch its member is in now, and the
    committees' from those."""
    await conn.execute(delete(DocumentUnitReads))
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
    for totals in (_BRANCH_TOTALS, _UNIT_TOTALS):
        await conn.execute(
            insert(DocumentUnitReads).from_select(
                ["document_id", "org_id", "parent_id", "opened", "studied"], totals
            )
        )


# The counters `recount` rebuilds; the requests that move them hold their writes meanwhile.
COUNTER_TABLES = ("document_branch_reads", "document_unit_reads")


async def recount(session: AsyncSession) -> None:
    """`rebuild`, in the session's transaction while the API serves: the counters' writers (a
    receipt, a member moved) wait until it commits, so none is lost or counted twice; the
    coverage report reads the old counts meanwhile. For operators (`handbook db recount`): after
    a rolling upgrade across revision 0820 or 0840, whose previous release counted receipts per
    branch only or wrote unit counters without their parent, or whenever a report looks off."""
    await lock_tables(session, COUNTER_TABLES, "SHARE ROW EXCLUSIVE")
    await rebuild(session)


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
_document = bindparam("document_id", type_=BigInteger)


_org_id = bindparam("org_id", type_=BigInteger)
_no_text = null().cast(String)
_no_count = null().cast(Integer)
# ORG, CHILD, COUNTER, OWN: what a row of `_REPORT` is.
ORG, CHILD, COUNTER, OWN = 0, 1, 2, 3


def _counters(part: int, *where: Any) -> Any:
    return select(
        literal_column(str(part)).label("part"),
        _units.c.org_id.label("id"),
        _no_text.label("name"),
        _no_text.label("kind"),
        _no_text.label("name_folded"),
        _units.c.opened,
        _units.c.studied,
    ).where(_units.c.document_id == _document, *where)


# The org, its child units in name order (the database's collation, as every list of orgs),
# their counter rows (one index range: the rows that name the org as their parent) and the
# org's own counters (a branch has no child units), each an index scan of a generic plan, in
# one read; joined by id here.
_REPORT = FastQuery(
    union_all(
        *(
            select(
                literal_column(str(part)).label("part"),
                _o.c.id,
                _o.c.name,
                _o.c.kind,
                _o.c.name_folded,
                _no_count.label("opened"),
                _no_count.label("studied"),
            ).where(where)
            for part, where in ((ORG, _o.c.id == _org_id), (CHILD, _o.c.parent_id == _org_id))
        ),
        _counters(COUNTER, _units.c.parent_id == _org_id),
        _counters(OWN, _units.c.org_id == _org_id),
    ).order_by(*(literal_column(name) for name in ("part", "name_folded", "id"))),
    generic=True,
)


async def report(
    reader: Reader, document_id: int, org_id: int, branch_members: BranchMembers
) -> dict[str, Any]:
    """Members, opened and studied per child unit of the org, and for the org as a whole (the
    sum of its units', or a branch's own counters), in one read; 404 `org.not_found` if the org
    is gone."""
    org: Row | None = None
    children: list[Row] = []
    counted: dict[int, tuple[int, int]] = {}
    opened = studied = 0
    for row in await reader.fetch(_REPORT, {"document_id": document_id, "org_id": org_id}):
        part = row["part"]
        if part == CHILD:
            children.append(row)
        elif part == COUNTER:
            counted[row["id"]] = (row["opened"], row["studied"])
        elif part == ORG:
            org = row
        else:
            opened, studied = row["opened"], row["studied"]
    if org is None:
        raise NotFound("Không tìm thấy tổ chức.", code="org.not_found")
    members = await branch_members.of_orgs(reader)
    units: list[dict[str, Any]] = []
    if children:  # hundreds at a province's root; the org's figures are its units' sum
        opened = studied = 0
        nobody = (0, 0)
        for child in children:
            unit_id = child["id"]
            unit_opened, unit_studied = counted.get(unit_id, nobody)
            opened += unit_opened
            studied += unit_studied
            units.append(
                {
                    "org": {"id": unit_id, "name": child["name"], "kind": child["kind"]},
                    "members": members.get(unit_id, 0),
                    "opened": unit_opened,
                    "studied": unit_studied,
                }
            )
    return {
        "document_id": document_id,
        "org": {"id": org["id"], "name": org["name"], "kind": org["kind"]},
        "members": members.get(org["id"], 0),
        "opened": opened,
        "studied": studied,
        "units": units,
    }
