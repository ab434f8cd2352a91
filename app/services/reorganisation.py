"""Reorganising the tree over the years: move a subtree under another parent, merge one org into
another, dissolve an empty org (renames are `PATCH /orgs/{id}`). Each runs in the request's one
transaction: the paths of the whole subtree and every registered copy (`orgs.rewrite_paths`,
`orgs.sync_path_copies`), the org placements (the tree's history,
`app.models.membership.OrgPlacement`), the members' periods of a merged branch, what the merged
org owns, and the audit log.

What a merge moves to the org merged into, and what stays with the merged (inactive) org:

- moves: its members (their periods say where they were before), child orgs, live roles,
  residence attachments (one that now names the member's own branch ends); its documents and
  articles, whatever their state (`origin_org_id` keeps the org they came from, so statistics
  of past periods still count them there), its relays of upper documents (unless the receiving
  org relayed the same document), its packets, quizzes and surveys (open ones go on, for the
  members who are now in the receiving org);
- cancelled: its meetings not yet held (draft or announced) from the later of the merge day and
  today on, with the reason "merged into …": the members summoned are told, and the receiving
  branch's secretary plans the joint meeting (a merged branch's own schedule ends with it);
- stays: held, running and past meetings, tasks, attendance, receipts, points and every other
  record of the past, so statistics of past periods do not change.

The right to do it (`org.manage` on the org and on its new parent) is decided on org rows
re-read `FOR UPDATE` here. Guards in other processes cache org paths for at most
`Resources.org_targets`' TTL (30 s): for that long after a move, another API process may still
authorise against the old path (a caller's own process forgets the moved orgs at once).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core import etag
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import IfMatch
from app.models import (
    Article,
    AttachmentKind,
    Document,
    DocumentRelay,
    Member,
    MembershipPeriod,
    Org,
    OrgKind,
    OrgPlacement,
    Packet,
    Quiz,
    RoleGrant,
    Survey,
)
from app.models.base import utcnow
from app.services import access, audit, history
from app.services import orgs as org_service
from app.services.access import Actor, Permission
from app.services.content import coverage
from app.services.meetings import lifecycle as meeting_service

_org = cast(Table, Org.__table__)
_grant = cast(Table, RoleGrant.__table__)
_pl = cast(Table, OrgPlacement.__table__)
_relay = cast(Table, DocumentRelay.__table__)


async def _locked_org(session: AsyncSession, actor: Actor, org_id: int) -> Org:
    org = await session.get(Org, org_id, with_for_update=True, populate_existing=True)
    if org is None:
        raise NotFound(code="org.not_found")
    access.require(
        actor, Permission.ORG_MANAGE, org.path, not_found_code="org.not_found", upward=False
    )
    return org


async def _lock_subtree_members(session: AsyncSession, org_id: int) -> str | None:
    """Lock the member rows of the org's subtree before any org row. Member edits lock their
    member row and then touch the branch's row (the audit row's key share on it); a move
    rewrites org paths (a unique key) and member rows. Taking the members first keeps the two
    in one order: no deadlock. Returns the path the lock was taken for."""
    path: str | None = await session.scalar(select(_org.c.path).where(_org.c.id == org_id))
    if path is None:
        return None
    lo, hi = access.subtree_range(path)
    await session.execute(
        select(Member.id)
        .where(Member.org_path >= lo, Member.org_path < hi)
        .order_by(Member.id)
        .with_for_update()
    )
    return path


def _same_path(org: Org, locked_path: str | None) -> None:
    if org.path != locked_path:
        raise Conflict(
            "Tổ chức vừa được người khác thay đổi. Vui lòng thử lại.", code="org.changed"
        )


def _inactive() -> Conflict:
    return Conflict("Tổ chức này đã giải thể hoặc sáp nhập.", code="org.inactive")


async def _subtree(session: AsyncSession, path: str) -> list[tuple[int, int | None, str]]:
    lo, hi = access.subtree_range(path)
    rows = await session.execute(
        select(_org.c.id, _org.c.parent_id, _org.c.path)
        .where(_org.c.path >= lo, _org.c.path < hi)
        .order_by(_org.c.path)
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def _replace_placement(
    session: AsyncSession,
    org_id: int,
    *,
    old_lineage: str,
    old_parent: int | None,
    new_lineage: str | None,
    new_parent: int | None,
    day: date,
) -> None:
    """The org sits at `new_lineage` from `day` (None: it leaves the tree that day). An org
    without placements (bulk-loaded) first gets its past: at `old_lineage` until `day`."""
    await history.rollup_stale(session, day)
    current = await session.scalar(
        select(OrgPlacement).where(OrgPlacement.org_id == org_id, OrgPlacement.valid_to.is_(None))
    )
    if current is None:
        placed_before = await session.scalar(
            select(func.count()).select_from(_pl).where(_pl.c.org_id == org_id)
        )
        if not placed_before:
            current = OrgPlacement(
                org_id=org_id, parent_id=old_parent, lineage=old_lineage, valid_from=None
            )
            session.add(current)
    if current is not None:
        if current.valid_from is not None and day < current.valid_from:
            raise Conflict(
                f"Ngày có hiệu lực phải từ {current.valid_from.isoformat()} trở đi.",
                code="org.date_before_current",
            )
        if current.valid_from == day:
            if new_lineage is None:
                await session.delete(current)
            else:
                current.lineage, current.parent_id = new_lineage, new_parent
            await session.flush()
            return
        current.valid_to = day
    if new_lineage is not None:
        session.add(
            OrgPlacement(org_id=org_id, parent_id=new_parent, lineage=new_lineage, valid_from=day)
        )
    await session.flush()


async def _move_subtree(session: AsyncSession, org: Org, parent: Org, day: date) -> tuple[str, str]:
    """Re-parent `org` (and its subtree) under `parent`: paths and their copies, depths,
    placements. Returns the old and the new path."""
    old_prefix = org.path
    new_prefix = access.child_path(parent.path, org.id)
    before = await _subtree(session, old_prefix)
    for org_id, parent_id, path in before:
        new_path = new_prefix + path[len(old_prefix) :]
        new_parent = parent.id if org_id == org.id else parent_id
        await _replace_placement(
            session,
            org_id,
            old_lineage=path,
            old_parent=parent_id,
            new_lineage=new_path,
            new_parent=new_parent,
            day=day,
        )
    await org_service.rewrite_paths(session, old_prefix, new_prefix)
    await coverage.move(session, org.id, old_path=old_prefix, new_path=new_prefix)
    delta = (parent.depth + 1) - org.depth
    if delta:
        lo, hi = access.subtree_range(new_prefix)
        await session.execute(
            update(_org)
            .where(_org.c.path >= lo, _org.c.path < hi)
            .values(depth=_org.c.depth + delta)
            .execution_options(synchronize_session=False)
        )
    # The ORM copy of the moved org: its new path and depth, then the new parent (a versioned
    # edit: the ETag moves).
    await session.refresh(org)
    org.parent_id = parent.id
    org.updated_at = utcnow()
    await session.flush()
    return old_prefix, new_prefix


def _check_parent(org: Org, parent: Org) -> None:
    if parent.kind == OrgKind.BRANCH:
        raise Conflict("Chi bộ không có tổ chức trực thuộc.", code="org.parent_is_branch")
    if not parent.is_active:
        raise _inactive()
    if access.in_subtree(parent.path, org.path):
        raise Unprocessable(
            "Không thể chuyển một tổ chức vào chính nó hoặc cấp dưới của nó.",
            code="org.move_into_itself",
        )


async def move_org(
    session: AsyncSession,
    actor: Actor,
    org_id: int,
    parent_id: int,
    *,
    on: date | None,
    today: date,
    if_match: IfMatch | None = None,
) -> list[int]:
    """Move an org and its whole subtree under another parent. Returns the ids whose paths
    changed (for the caller's cache)."""
    locked_path = await _lock_subtree_members(session, org_id)
    org = await _locked_org(session, actor, org_id)
    _same_path(org, locked_path)
    etag.check(if_match, org.version)
    if not org.is_active:
        raise _inactive()
    parent = await _locked_org(session, actor, parent_id)
    _check_parent(org, parent)
    if org.parent_id == parent.id:
        raise Conflict("Tổ chức đã trực thuộc tổ chức này.", code="org.same_parent")
    day = history.effective(on, today)
    old_parent = org.parent_id
    old_path, new_path = await _move_subtree(session, org, parent, day)
    moved = [row[0] for row in await _subtree(session, new_path)]
    await audit.record(
        session,
        actor,
        "org.move",
        target=("org", org.id),
        org_id=org.id,
        detail={
            "from_parent_id": old_parent,
            "to_parent_id": parent.id,
            "from_path": old_path,
            "to_path": new_path,
            "effective_date": day,
            "orgs_moved": len(moved),
        },
    )
    return moved


async def merge_org(
    session: AsyncSession,
    actor: Actor,
    org_id: int,
    into_id: int,
    *,
    on: date | None,
    today: date,
    if_match: IfMatch | None = None,
    timezone: str = "Asia/Ho_Chi_Minh",
) -> list[int]:
    """Merge an org into another of the same level: a branch's members (with their history),
    a committee's child orgs, the live roles held on it and what it owns move to `into` (see
    the module's docstring); the merged org stays, inactive, for the history. `timezone` is the
    deployment's (`RULES__TIMEZONE`): meetings from the merge day's local midnight on are
    cancelled. Returns the ids whose paths changed."""
    locked_path = await _lock_subtree_members(session, org_id)
    org = await _locked_org(session, actor, org_id)
    _same_path(org, locked_path)
    etag.check(if_match, org.version)
    into = await _locked_org(session, actor, into_id)
    if not org.is_active or not into.is_active:
        raise _inactive()
    if org.id == into.id or access.in_subtree(into.path, org.path):
        raise Unprocessable(
            "Không thể sáp nhập một tổ chức vào chính nó hoặc cấp dưới của nó.",
            code="org.move_into_itself",
        )
    if (org.kind == OrgKind.BRANCH) != (into.kind == OrgKind.BRANCH):
        raise Unprocessable(
            "Chi bộ chỉ sáp nhập vào chi bộ; đảng bộ chỉ sáp nhập vào đảng bộ.",
            code="org.merge_kind_mismatch",
        )
    day = history.effective(on, today)
    moved: list[int] = []
    children = list(
        await session.scalars(
            select(Org)
            .where(Org.parent_id == org.id)
            .order_by(Org.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    for child in children:
        _, new_path = await _move_subtree(session, child, into, day)
        moved += [row[0] for row in await _subtree(session, new_path)]
    members = list(
        await session.scalars(
            select(Member)
            .where(Member.branch_id == org.id, Member.archived_on.is_(None))
            .order_by(Member.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    for member in members:
        period = await history.primary_period(session, member)
        await history.change(session, period, day, org_id=into.id)
        member.branch_id = into.id
        member.org_path = into.path
        member.updated_at = utcnow()
    residences_moved = list(
        await session.scalars(
            select(MembershipPeriod).where(
                MembershipPeriod.org_id == org.id,
                MembershipPeriod.kind == AttachmentKind.RESIDENCE,
                MembershipPeriod.valid_to.is_(None),
            )
        )
    )
    for residence in residences_moved:
        await history.change(session, residence, day, org_id=into.id)
    # A residence attachment that now names the member's own branch is no second tie: it ends.
    coinciding = list(
        await session.scalars(
            select(MembershipPeriod)
            .join(Member, Member.id == MembershipPeriod.member_id)
            .where(
                MembershipPeriod.org_id == into.id,
                MembershipPeriod.kind == AttachmentKind.RESIDENCE,
                MembershipPeriod.valid_to.is_(None),
                Member.branch_id == into.id,
            )
        )
    )
    for residence in coinciding:
        await history.end(session, residence, day)
    await org_service.sync_path_copies(session, into.id, into.path)
    roles = await _move_roles(session, actor, org.id, into.id)
    owned = await _move_owned(session, org.id, into.id)
    # Meetings from the later of the merge day and today on: an earlier one lies in a period
    # whose figures must not change.
    since = datetime.combine(max(day, today), time(), tzinfo=ZoneInfo(timezone))
    owned["meetings_cancelled"] = await meeting_service.cancel_upcoming(
        session,
        actor,
        org.id,
        f"{org.name} đã sáp nhập vào {into.name}.",
        since=since,
    )
    await _replace_placement(
        session,
        org.id,
        old_lineage=org.path,
        old_parent=org.parent_id,
        new_lineage=None,
        new_parent=None,
        day=day,
    )
    org.is_active = False
    org.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "org.merge",
        target=("org", org.id),
        org_id=into.id,
        detail={
            "into_id": into.id,
            "effective_date": day,
            "children_moved": [c.id for c in children],
            "members_moved": len(members),
            "residences_moved": len(residences_moved),
            "residences_ended": len(coinciding),
            "roles_moved": roles,
            **owned,
        },
    )
    return [org.id, *moved]


async def _move_owned(session: AsyncSession, from_id: int, to_id: int) -> dict[str, int]:
    """What the merged org owns moves to `to_id` (counts by kind, for the audit detail).
    Documents and articles remember the org they came from (the first one, after several
    merges): statistics of past periods count them there."""
    counts: dict[str, int] = {}
    for name, model in (("documents_moved", Document), ("articles_moved", Article)):
        table = cast(Table, model.__table__)
        result = await session.execute(
            update(table)
            .where(table.c.org_id == from_id)
            .values(
                org_id=to_id,
                origin_org_id=func.coalesce(table.c.origin_org_id, from_id),
            )
            .execution_options(synchronize_session=False)
        )
        counts[name] = result.rowcount  # type: ignore[attr-defined]
    # Relays of upper documents to the merged org's subtree now reach the receiving org's; a
    # document both relayed keeps the receiving org's relay (the other stays, as history).
    held = aliased(_relay, name="held")
    result = await session.execute(
        update(_relay)
        .where(
            _relay.c.org_id == from_id,
            ~exists().where(
                and_(held.c.document_id == _relay.c.document_id, held.c.org_id == to_id)
            ),
        )
        .values(org_id=to_id)
        .execution_options(synchronize_session=False)
    )
    counts["relays_moved"] = result.rowcount  # type: ignore[attr-defined]
    for name, owned in (
        ("packets_moved", Packet.__table__),
        ("quizzes_moved", Quiz.__table__),
        ("surveys_moved", Survey.__table__),
    ):
        table = cast(Table, owned)
        result = await session.execute(
            update(table)
            .where(table.c.org_id == from_id)
            .values(org_id=to_id)
            .execution_options(synchronize_session=False)
        )
        counts[name] = result.rowcount  # type: ignore[attr-defined]
    return counts


async def _move_roles(session: AsyncSession, actor: Actor, from_id: int, to_id: int) -> int:
    """Live roles on the merged org end and start again on `to` (unless held there already)."""
    now = utcnow()
    live = (
        await session.execute(
            select(_grant.c.id, _grant.c.member_id, _grant.c.role).where(
                _grant.c.org_id == from_id, _grant.c.revoked_at.is_(None)
            )
        )
    ).all()
    held = {
        (r[0], r[1])
        for r in await session.execute(
            select(_grant.c.member_id, _grant.c.role).where(
                _grant.c.org_id == to_id, _grant.c.revoked_at.is_(None)
            )
        )
    }
    if live:
        await session.execute(
            update(_grant)
            .where(_grant.c.id.in_([r[0] for r in live]))
            .values(revoked_at=now, revoked_by_id=actor.member_id)
        )
    moved = 0
    for _, member_id, role in live:
        if (member_id, role) in held:
            continue
        session.add(
            RoleGrant(
                member_id=member_id,
                org_id=to_id,
                role=role,
                granted_by_id=actor.member_id,
                granted_at=now,
            )
        )
        moved += 1
    await session.flush()
    return moved


async def dissolve_org(
    session: AsyncSession,
    actor: Actor,
    org_id: int,
    *,
    on: date | None,
    today: date,
    if_match: IfMatch | None = None,
) -> None:
    """Dissolve an org with no active child org and no member left (move or merge them first).
    The row stays, inactive, for the history; its live roles end."""
    org = await _locked_org(session, actor, org_id)
    etag.check(if_match, org.version)
    if not org.is_active:
        raise _inactive()
    if org.parent_id is None:
        raise Conflict("Không thể giải thể tổ chức gốc.", code="org.is_root")
    children = await session.scalar(
        select(func.count())
        .select_from(_org)
        .where(_org.c.parent_id == org.id, _org.c.is_active.is_(True))
    )
    members = await session.scalar(
        select(func.count())
        .select_from(Member)
        .where(Member.branch_id == org.id, Member.archived_on.is_(None))
    )
    if children or members:
        raise Conflict(
            "Tổ chức còn tổ chức trực thuộc hoặc đảng viên: hãy chuyển hoặc sáp nhập trước.",
            code="org.not_empty",
        )
    day = history.effective(on, today)
    await _replace_placement(
        session,
        org.id,
        old_lineage=org.path,
        old_parent=org.parent_id,
        new_lineage=None,
        new_parent=None,
        day=day,
    )
    await session.execute(
        update(_grant)
        .where(_grant.c.org_id == org.id, _grant.c.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by_id=actor.member_id)
    )
    org.is_active = False
    org.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "org.dissolve",
        target=("org", org.id),
        org_id=org.id,
        detail={"effective_date": day},
    )
