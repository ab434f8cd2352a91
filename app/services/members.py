"""Members: the directory of a branch or subtree, details, create, edit, lock, password reset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, bindparam, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import etag
from app.core.db import FastQuery, Reader
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import IfMatch
from app.core.pagination import decode_cursor, page_of
from app.core.text import clean_name, like_escape, member_sort_key, name_key, search_terms
from app.models import ArchiveReason, Gender, Member, MemberStatus, Org, OrgKind, Role, RoleGrant
from app.models.base import utcnow
from app.schemas.member import MemberCreate, MemberRead, MemberUpdate
from app.schemas.org import OrgRef
from app.schemas.role import RoleHeld
from app.services import access, audit, history
from app.services import roles as role_service
from app.services.access import Actor, Permission
from app.services.auth import otp as otp_service
from app.services.auth import sessions as session_service
from app.services.orgs import OrgTarget

_m = Member.__table__
_org = Org.__table__
_grant = RoleGrant.__table__
_LIST_COLUMNS = (
    _m.c.id,
    _m.c.full_name,
    _m.c.phone,
    _m.c.status,
    _m.c.is_exempt,
    _m.c.branch_id,
    _m.c.sort_key,
)


@dataclass(frozen=True, slots=True)
class MemberTarget:
    id: int
    path: str  # the branch's path
    branch_id: int

    @property
    def owner_id(self) -> int:
        return self.id


_TARGET = FastQuery(
    select(_m.c.id, _m.c.org_path, _m.c.branch_id).where(
        _m.c.id == bindparam("member_id", type_=BigInteger)
    )
)


async def load_target(reader: Reader, member_id: int) -> MemberTarget | None:
    rows = await reader.fetch(_TARGET, {"member_id": member_id})
    if not rows:
        return None
    row = rows[0]
    return MemberTarget(id=row["id"], path=row["org_path"], branch_id=row["branch_id"])


def _looks_like_number(q: str) -> bool:
    digits = sum(ch.isdigit() for ch in q)
    return digits >= 4 and not any(ch.isalpha() for ch in q)


# One compiled statement per shape of the members query (which filters are present; the
# depth of the subtree's root where it has an index of its own, else -1).
_LIST_QUERIES: dict[tuple[bool, int, bool, bool, bool, bool, int], FastQuery] = {}


def _list_query(
    *,
    subtree: bool,
    name_terms: int,
    number: bool,
    status: bool,
    exempt: bool,
    after: bool,
    depth: int,
) -> FastQuery:
    depth = depth if subtree and depth in access.UNIT_DEPTHS else -1
    shape = (subtree, name_terms, number, status, exempt, after, depth)
    query = _LIST_QUERIES.get(shape)
    if query is not None:
        return query
    stmt = select(*_LIST_COLUMNS).where(_m.c.archived_on.is_(None))
    if subtree and not (name_terms or number or status or exempt):
        # A committee's page of a subtree of thousands: pick the page's ids on an index alone,
        # then read those rows only, instead of reading every member of the subtree to sort.
        # A ward's or grassroots committee's subtree walks (unit, sort_key, id) in order and
        # stops after a page (PostgreSQL); others scan (org_path, sort_key, id) and sort the
        # small tuples.
        ids = select(_m.c.id).where(
            access.in_subtree_sql(_m.c.org_path, depth),
            _m.c.archived_on.is_(None),
        )
        if after:
            ids = ids.where(
                tuple_(_m.c.sort_key, _m.c.id)
                > tuple_(bindparam("after_key"), bindparam("after_id", type_=BigInteger))
            )
        ids = ids.order_by(_m.c.sort_key, _m.c.id).limit(bindparam("limit", type_=Integer))
        stmt = stmt.where(_m.c.id.in_(ids)).order_by(_m.c.sort_key, _m.c.id)
        # A unit's index walk is the best plan for any unit; a path range's is not.
        query = _LIST_QUERIES[shape] = FastQuery(stmt, generic=depth in access.UNIT_DEPTHS)
        return query
    if subtree:
        stmt = stmt.where(_m.c.org_path >= bindparam("lo"), _m.c.org_path < bindparam("hi"))
    else:
        stmt = stmt.where(_m.c.branch_id == bindparam("branch_id", type_=BigInteger))
    for i in range(name_terms):
        stmt = stmt.where(_m.c.name_folded.like(bindparam(f"term{i}"), escape="\\"))
    if number:
        stmt = stmt.where(
            or_(
                _m.c.phone.like(bindparam("phone_like")),
                _m.c.party_card_number.like(bindparam("card_like"), escape="\\"),
            )
        )
    if status:
        stmt = stmt.where(_m.c.status == bindparam("status"))
    if exempt:
        stmt = stmt.where(_m.c.is_exempt == bindparam("is_exempt", type_=Boolean))
    if after:
        stmt = stmt.where(
            tuple_(_m.c.sort_key, _m.c.id)
            > tuple_(bindparam("after_key"), bindparam("after_id", type_=BigInteger))
        )
    stmt = stmt.order_by(_m.c.sort_key, _m.c.id).limit(bindparam("limit", type_=Integer))
    query = _LIST_QUERIES[shape] = FastQuery(stmt)
    return query


async def list_members(
    reader: Reader,
    actor: Actor,
    org: OrgTarget,
    *,
    q: str | None,
    status: MemberStatus | None,
    is_exempt: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Members of a branch, or of every branch under a committee, in Vietnamese name order.

    Contact details are for those whose work needs them (`member.view`: leadership and
    officers); a plain member sees the names in their branch, not phone numbers, and cannot
    search by number either.
    """
    contact = access.can(actor, Permission.MEMBER_VIEW, org.path)
    params: dict[str, Any] = {"limit": limit + 1}
    if org.is_branch:
        params["branch_id"] = org.id
    else:
        params.update(access.subtree_params(org.path))
    q = (q or "").strip()
    number = bool(q) and contact and _looks_like_number(q)
    terms = [] if number or not q else search_terms(q)
    if number:
        digits = "".join(ch for ch in q if ch.isdigit())
        tail = digits[1:] if digits.startswith("0") else digits  # 0912… is stored as +84912…
        params["phone_like"] = f"%{tail}%"
        params["card_like"] = f"{like_escape(q)}%"
    for i, term in enumerate(terms):
        params[f"term{i}"] = f"%{term}%"
    if status is not None:
        params["status"] = status.value
    if is_exempt is not None:
        params["is_exempt"] = is_exempt
    if cursor:
        params["after_key"], params["after_id"] = decode_cursor(cursor, "members", (str, int))
    query = _list_query(
        subtree=not org.is_branch,
        name_terms=len(terms),
        number=number,
        status=status is not None,
        exempt=is_exempt is not None,
        after=bool(cursor),
        depth=access.depth_of(org.path),
    )
    rows = await reader.fetch(query, params)
    page, next_cursor = page_of(rows, limit, "members", lambda r: (r["sort_key"], r["id"]))
    return [
        {
            "id": row["id"],
            "full_name": row["full_name"],
            "phone": row["phone"] if contact else None,
            "status": row["status"],
            "is_exempt": row["is_exempt"],
            "branch_id": row["branch_id"],
        }
        for row in page
    ], next_cursor


async def read_member(session: AsyncSession, member_id: int) -> MemberRead:
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFound(code="member.not_found")
    branch = (
        await session.execute(
            select(_org.c.id, _org.c.name, _org.c.kind).where(_org.c.id == member.branch_id)
        )
    ).one()
    roles = (
        await session.execute(
            select(
                _grant.c.id.label("grant_id"),
                _grant.c.role,
                _org.c.id.label("org_id"),
                _org.c.name.label("org_name"),
                _org.c.kind.label("org_kind"),
            )
            .join(_org, _org.c.id == _grant.c.org_id)
            .where(_grant.c.member_id == member_id, _grant.c.revoked_at.is_(None))
            .order_by(_grant.c.id)
        )
    ).mappings()
    return MemberRead(
        id=member.id,
        full_name=member.full_name,
        phone=member.phone,
        party_card_number=member.party_card_number,
        status=MemberStatus(member.status),
        is_exempt=member.is_exempt,
        exempt_since=member.exempt_since,
        date_of_birth=member.date_of_birth,
        gender=Gender(member.gender) if member.gender else None,
        joined_date=member.joined_date,
        official_date=member.official_date,
        branch=OrgRef(id=branch.id, name=branch.name, kind=OrgKind(branch.kind)),
        is_locked=member.is_locked,
        archived_on=member.archived_on,
        archive_reason=ArchiveReason(member.archive_reason) if member.archive_reason else None,
        has_password=member.password_hash is not None,
        roles=[
            RoleHeld(
                grant_id=r["grant_id"],
                role=Role(r["role"]),
                org=OrgRef(id=r["org_id"], name=r["org_name"], kind=OrgKind(r["org_kind"])),
            )
            for r in roles
        ],
        version=member.version,
        created_at=member.created_at,
        updated_at=member.updated_at,
    )


async def ensure_unique(
    session: AsyncSession, *, phone: str | None, card: str | None, member_id: int | None
) -> None:
    if phone is not None:
        other = await session.scalar(select(_m.c.id).where(_m.c.phone == phone))
        if other is not None and other != member_id:
            raise Conflict("Số điện thoại đã thuộc về đảng viên khác.", code="member.phone_taken")
    if card is not None:
        other = await session.scalar(select(_m.c.id).where(_m.c.party_card_number == card))
        if other is not None and other != member_id:
            raise Conflict("Số thẻ đảng viên đã tồn tại.", code="member.card_number_taken")


def check_dates(member: Member) -> None:
    if member.status == MemberStatus.PROBATIONARY and member.official_date is not None:
        raise Unprocessable(
            "Đảng viên dự bị chưa có ngày chính thức.", code="member.probationary_has_official_date"
        )
    if member.joined_date and member.official_date and member.official_date < member.joined_date:
        raise Unprocessable(
            "Ngày chính thức phải sau ngày vào Đảng.", code="member.official_before_joined"
        )
    if member.date_of_birth and member.joined_date and member.joined_date <= member.date_of_birth:
        raise Unprocessable("Ngày vào Đảng phải sau ngày sinh.", code="member.joined_before_birth")


def new_member(branch: OrgTarget | Org, full_name: str, **fields: Any) -> Member:
    """A member of `branch` with the derived columns (path copy, search and sort keys) set."""
    name = clean_name(full_name)
    return Member(
        branch_id=branch.id,
        org_path=branch.path,
        full_name=name,
        name_folded=name_key(name),
        sort_key=member_sort_key(name),
        **fields,
    )


# The fields an edit may change, as the audit log shows them.
_EDITABLE = tuple(MemberUpdate.model_fields)


def _snapshot(member: Member) -> dict[str, Any]:
    return {field: getattr(member, field) for field in _EDITABLE}


async def create_member(
    session: AsyncSession,
    actor: Actor,
    branch: OrgTarget,
    data: MemberCreate,
    *,
    today: date | None = None,
) -> MemberRead:
    """Add a member; their membership history starts `today` (the deployment's local day)."""
    if branch.kind != OrgKind.BRANCH:
        raise Unprocessable("Đảng viên phải thuộc một chi bộ.", code="member.org_not_branch")
    await ensure_unique(session, phone=data.phone, card=data.party_card_number, member_id=None)
    member = new_member(
        branch,
        data.full_name,
        phone=data.phone,
        party_card_number=data.party_card_number,
        status=data.status,
        is_exempt=data.is_exempt,
        exempt_since=data.exempt_since if data.is_exempt else None,
        date_of_birth=data.date_of_birth,
        gender=data.gender,
        joined_date=data.joined_date,
        official_date=data.official_date,
    )
    check_dates(member)
    session.add(member)
    await session.flush()
    session.add(history.first_period(member, since=today))
    await audit.record(
        session,
        actor,
        "member.create",
        target=("member", member.id),
        org_id=member.branch_id,
        changes=audit.changes({}, _snapshot(member)),
    )
    return await read_member(session, member.id)


async def lock_for_account_change(session: AsyncSession, actor: Actor, member_id: int) -> Member:
    """The member row locked for this transaction, once the actor may manage the account.

    The decision is made on what is read here, under the lock: a role granted to the member a
    moment ago (grants lock the member row too) counts, a stale guard read does not."""
    member = await session.get(Member, member_id, with_for_update=True, populate_existing=True)
    if member is None:
        raise NotFound(code="member.not_found")
    held = (
        await session.execute(
            select(_grant.c.role, _org.c.path)
            .join(_org, _org.c.id == _grant.c.org_id)
            .where(_grant.c.member_id == member_id, _grant.c.revoked_at.is_(None))
        )
    ).all()
    access.require_account_control(
        actor, member.id, member.org_path, [(Role(role), path) for role, path in held]
    )
    return member


async def update_member(
    session: AsyncSession,
    actor: Actor,
    member_id: int,
    data: MemberUpdate,
    *,
    if_match: IfMatch | None = None,
    today: date | None = None,
) -> MemberRead:
    """Edit a member. A change of status or exemption is written to the history from `today`
    (officers backdate such changes with the membership actions)."""
    member = await lock_for_account_change(session, actor, member_id)
    etag.check(if_match, member.version)
    if member.archived_on is not None:
        raise history.archived_error()
    # `full_name`, `status` and `is_exempt` come set or not at all (`NotNull` in the schema).
    changes = data.model_dump(exclude_unset=True)
    await ensure_unique(
        session,
        phone=changes.get("phone"),
        card=changes.get("party_card_number"),
        member_id=member.id,
    )
    before = _snapshot(member)
    phone_changed = "phone" in changes and changes["phone"] != member.phone
    for field, value in changes.items():
        setattr(member, field, value)
    if "full_name" in changes:
        member.full_name = clean_name(member.full_name)
        member.name_folded = name_key(member.full_name)
        member.sort_key = member_sort_key(member.full_name)
    if "is_exempt" in changes and not member.is_exempt:
        member.exempt_since = None
    check_dates(member)
    diff = audit.changes(before, _snapshot(member))
    if not diff:
        return await read_member(session, member.id)
    if phone_changed:
        # The phone is how this member logs in: a new number ends every session on the old one.
        await session_service.revoke_sessions(session, member.id, reason="phone_changed")
        await otp_service.close_open_codes(session, member.id)
    member.updated_at = utcnow()
    await session.flush()
    await history.record_edit(session, member, before, today=today or utcnow().date())
    await audit.record(
        session,
        actor,
        "member.update",
        target=("member", member.id),
        org_id=member.branch_id,
        changes=diff,
    )
    return await read_member(session, member.id)


async def set_locked(
    session: AsyncSession, actor: Actor, member_id: int, *, locked: bool
) -> MemberRead:
    member = await lock_for_account_change(session, actor, member_id)
    if not locked and member.archived_on is not None:
        raise history.archived_error()
    if member.is_locked == locked:
        return await read_member(session, member.id)
    if locked and await role_service.holds_role(session, member.id, Role.DEPLOYMENT_ADMIN):
        await role_service.ensure_admin_remains(session, without_member=member.id)
    member.is_locked = locked
    member.updated_at = utcnow()
    if locked:
        await session_service.revoke_sessions(session, member.id, reason="locked")
        await otp_service.close_open_codes(session, member.id)
    await session.flush()
    await audit.record(
        session,
        actor,
        "member.lock" if locked else "member.unlock",
        target=("member", member.id),
        org_id=member.branch_id,
    )
    return await read_member(session, member.id)


async def reset_password(session: AsyncSession, actor: Actor, member_id: int) -> MemberRead:
    """An officer's reset: the password is cleared and every login of the member ends. The member
    logs in again by SMS code and sets a new password right after (the OTP step-up)."""
    member = await lock_for_account_change(session, actor, member_id)
    now = utcnow()
    member.password_hash = None
    member.password_changed_at = now
    member.updated_at = now
    await session_service.revoke_sessions(session, member.id, reason="password_reset")
    await session.flush()
    await audit.record(
        session,
        actor,
        "member.password_reset",
        target=("member", member.id),
        org_id=member.branch_id,
    )
    return await read_member(session, member.id)
