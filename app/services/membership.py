"""Officer actions on members over time: transfers, residence attachments, exemptions, full
membership, archive. Each writes the history (`services/history.py`) and the audit log.

Every action locks the member row first (`members.lock_for_account_change`: the officer's right
over the member is decided on what is read under the lock, own account refused, higher roles
protected), so two changes of one member are serialised and the member's `version` (its ETag,
checked against `If-Match`) moves with each. Changes take effect today (the deployment's local
day) or on a past day the officer gives, never in the future, never before the member's open
period began: the recorded past stays as it was.
"""

from __future__ import annotations

from datetime import date
from typing import cast

from sqlalchemy import Table, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import etag
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import IfMatch
from app.models import (
    ArchiveReason,
    AttachmentKind,
    Member,
    MembershipPeriod,
    MemberStatus,
    Org,
    OrgKind,
    Role,
    RoleGrant,
)
from app.models.base import utcnow
from app.services import access, audit
from app.services import members as member_service
from app.services import roles as role_service
from app.services.access import Actor, Permission
from app.services.auth import otp as otp_service
from app.services.auth import sessions as session_service
from app.services.history import (
    archived_error,
    change,
    check_not_before,
    effective,
    end,
    open_period,
    primary_period,
)

_grant = cast(Table, RoleGrant.__table__)


async def _locked_member(
    session: AsyncSession, actor: Actor, member_id: int, if_match: IfMatch | None
) -> Member:
    member = await member_service.lock_for_account_change(session, actor, member_id)
    etag.check(if_match, member.version)
    if member.archived_on is not None:
        raise archived_error()
    return member


async def _locked_branch(session: AsyncSession, branch_id: int) -> Org:
    org = await session.get(Org, branch_id, with_for_update=True, populate_existing=True)
    if org is None:
        raise NotFound(code="org.not_found")
    if org.kind != OrgKind.BRANCH:
        raise Unprocessable("Đảng viên phải thuộc một chi bộ.", code="member.org_not_branch")
    if not org.is_active:
        raise Conflict("Tổ chức này đã giải thể hoặc sáp nhập.", code="org.inactive")
    return org


async def transfer(
    session: AsyncSession,
    actor: Actor,
    member_id: int,
    branch_id: int,
    *,
    on: date | None,
    note: str | None,
    today: date,
    if_match: IfMatch | None = None,
) -> None:
    """Move a member to another branch. The officer needs `member.manage` over both branches:
    the member's (checked on the member row, locked) and the destination's (checked on the org
    row, locked), both read in this transaction."""
    member = await _locked_member(session, actor, member_id, if_match)
    branch = await _locked_branch(session, branch_id)
    access.require(actor, Permission.MEMBER_MANAGE, branch.path, not_found_code="org.not_found")
    if branch.id == member.branch_id:
        raise Conflict("Đảng viên đã thuộc chi bộ này.", code="membership.same_branch")
    day = effective(on, today)
    period = await primary_period(session, member)
    await change(session, period, day, org_id=branch.id)
    old_branch_id = member.branch_id
    member.branch_id = branch.id
    member.org_path = branch.path
    member.updated_at = utcnow()
    # Roles held on the old branch (secretary, committee member …) end with the move.
    ended = (
        await session.execute(
            update(_grant)
            .where(
                _grant.c.member_id == member.id,
                _grant.c.org_id == old_branch_id,
                _grant.c.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow(), revoked_by_id=actor.member_id)
            .returning(_grant.c.id, _grant.c.role)
        )
    ).all()
    residence = await open_period(session, member, AttachmentKind.RESIDENCE)
    if residence is not None and residence.org_id == branch.id:
        await end(session, residence, day)  # the residence branch is now the branch
    await session.flush()
    detail = {
        "from_branch_id": old_branch_id,
        "to_branch_id": branch.id,
        "effective_date": day,
        "note": note,
        "roles_ended": [role for _, role in ended],
    }
    for action, org_id in (
        ("member.transfer_out", old_branch_id),
        ("member.transfer_in", branch.id),
    ):
        await audit.record(
            session, actor, action, target=("member", member.id), org_id=org_id, detail=detail
        )


async def set_residence(
    session: AsyncSession,
    actor: Actor,
    member_id: int,
    branch_id: int,
    *,
    on: date | None,
    today: date,
    if_match: IfMatch | None = None,
) -> None:
    """Attach the member to the branch where they live (a second tie; their branch is
    unchanged). The residence branch may lie anywhere in the deployment."""
    member = await _locked_member(session, actor, member_id, if_match)
    branch = await _locked_branch(session, branch_id)
    if branch.id == member.branch_id:
        raise Unprocessable(
            "Chi bộ nơi cư trú phải khác chi bộ sinh hoạt chính thức.",
            code="membership.residence_is_branch",
        )
    day = effective(on, today)
    current = await open_period(session, member, AttachmentKind.RESIDENCE)
    if current is not None and current.org_id == branch.id:
        raise Conflict(
            "Đảng viên đã sinh hoạt nơi cư trú tại chi bộ này.", code="membership.residence_same"
        )
    if current is not None:
        await change(session, current, day, org_id=branch.id)
    else:
        session.add(
            MembershipPeriod(
                member_id=member.id,
                org_id=branch.id,
                kind=AttachmentKind.RESIDENCE,
                status=member.status,
                is_exempt=member.is_exempt,
                valid_from=day,
            )
        )
    member.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "member.residence_set",
        target=("member", member.id),
        org_id=member.branch_id,
        detail={"residence_branch_id": branch.id, "effective_date": day},
    )


async def end_residence(
    session: AsyncSession,
    actor: Actor,
    member_id: int,
    *,
    on: date | None,
    today: date,
    if_match: IfMatch | None = None,
) -> None:
    member = await _locked_member(session, actor, member_id, if_match)
    day = effective(on, today)
    current = await open_period(session, member, AttachmentKind.RESIDENCE)
    if current is None:
        raise Conflict("Đảng viên không sinh hoạt nơi cư trú.", code="membership.no_residence")
    await end(session, current, day)
    member.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "member.residence_end",
        target=("member", member.id),
        org_id=member.branch_id,
        detail={"residence_branch_id": current.org_id, "effective_date": day},
    )


async def set_exemption(
    session: AsyncSession,
    actor: Actor,
    member_id: int,
    *,
    decision_ref: str,
    on: date | None,
    today: date,
    if_match: IfMatch | None = None,
) -> None:
    """Exempt a member from branch activities (miễn sinh hoạt) by a decision, from a day."""
    member = await _locked_member(session, actor, member_id, if_match)
    if member.is_exempt:
        raise Conflict("Đảng viên đã được miễn sinh hoạt.", code="membership.already_exempt")
    day = effective(on, today)
    period = await primary_period(session, member)
    await change(session, period, day, is_exempt=True, exemption_ref=decision_ref)
    member.is_exempt = True
    member.exempt_since = day
    member.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "member.exemption_set",
        target=("member", member.id),
        org_id=member.branch_id,
        changes=audit.changes({"is_exempt": False}, {"is_exempt": True}),
        detail={"decision_ref": decision_ref, "effective_date": day},
    )


async def end_exemption(
    session: AsyncSession,
    actor: Actor,
    member_id: int,
    *,
    on: date | None,
    note: str | None,
    today: date,
    if_match: IfMatch | None = None,
) -> None:
    member = await _locked_member(session, actor, member_id, if_match)
    if not member.is_exempt:
        raise Conflict("Đảng viên không được miễn sinh hoạt.", code="membership.not_exempt")
    day = effective(on, today)
    period = await primary_period(session, member)
    await change(session, period, day, is_exempt=False, exemption_ref=None)
    member.is_exempt = False
    member.exempt_since = None
    member.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "member.exemption_end",
        target=("member", member.id),
        org_id=member.branch_id,
        changes=audit.changes({"is_exempt": True}, {"is_exempt": False}),
        detail={"effective_date": day, "note": note},
    )


async def make_full(
    session: AsyncSession,
    actor: Actor,
    member_id: int,
    *,
    official_date: date,
    decision_ref: str | None,
    today: date,
    if_match: IfMatch | None = None,
) -> None:
    """A probationary member becomes a full member (đảng viên chính thức) on `official_date`."""
    member = await _locked_member(session, actor, member_id, if_match)
    if member.status != MemberStatus.PROBATIONARY:
        raise Conflict(
            "Chỉ đảng viên dự bị mới được công nhận chính thức.",
            code="membership.not_probationary",
        )
    day = effective(official_date, today)
    period = await primary_period(session, member)
    await change(session, period, day, status=MemberStatus.FULL)
    member.status = MemberStatus.FULL
    member.official_date = day
    member_service.check_dates(member)
    member.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "member.full_membership",
        target=("member", member.id),
        org_id=member.branch_id,
        changes=audit.changes(
            {"status": MemberStatus.PROBATIONARY, "official_date": None},
            {"status": MemberStatus.FULL, "official_date": day},
        ),
        detail={"decision_ref": decision_ref},
    )


async def archive(
    session: AsyncSession,
    actor: Actor,
    member_id: int,
    *,
    reason: ArchiveReason,
    on: date | None,
    note: str | None,
    today: date,
    if_match: IfMatch | None = None,
) -> None:
    """The member leaves the deployment's rolls (left, deceased, expelled, moved out): the row
    stays (history, audit, content they wrote), every period ends on the day, every role and
    login ends, the account is locked. From that day they are in no count."""
    member = await _locked_member(session, actor, member_id, if_match)
    day = effective(on, today)
    primary = await primary_period(session, member)
    residence = await open_period(session, member, AttachmentKind.RESIDENCE)
    for period in (primary, residence):
        if period is not None:
            check_not_before(period, day)
    if await role_service.holds_role(session, member.id, Role.DEPLOYMENT_ADMIN):
        await role_service.ensure_admin_remains(session, without_member=member.id)
    for period in (primary, residence):
        if period is not None:
            await end(session, period, day)
    now = utcnow()
    await session.execute(
        update(_grant)
        .where(_grant.c.member_id == member.id, _grant.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by_id=actor.member_id)
    )
    member.archived_on = day
    member.archive_reason = reason
    member.is_locked = True
    member.updated_at = now
    await session_service.revoke_sessions(session, member.id, reason="archived")
    await otp_service.close_open_codes(session, member.id)
    await session.flush()
    await audit.record(
        session,
        actor,
        "member.archive",
        target=("member", member.id),
        org_id=member.branch_id,
        detail={"reason": reason, "effective_date": day, "note": note},
    )
