"""Members: the directory of a branch or subtree, details, create, edit, lock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.pagination import decode_cursor, page_of
from app.core.text import clean_name, fold, member_sort_key, search_terms
from app.models import Member, MemberStatus, Org, OrgKind, RoleGrant
from app.models.base import utcnow
from app.schemas.member import MemberCreate, MemberRead, MemberUpdate
from app.schemas.org import OrgRef
from app.schemas.role import RoleHeld
from app.services import access
from app.services import auth as auth_service
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
_LIST_KEYS = ("id", "full_name", "phone", "status", "is_exempt", "branch_id")


@dataclass(frozen=True, slots=True)
class MemberTarget:
    id: int
    org_path: str
    branch_id: int


async def load_target(session: AsyncSession, member_id: int) -> MemberTarget | None:
    row = (
        await session.execute(
            select(_m.c.id, _m.c.org_path, _m.c.branch_id).where(_m.c.id == member_id)
        )
    ).first()
    return MemberTarget(*row) if row else None


def _search_condition(q: str) -> Any:
    digits = "".join(ch for ch in q if ch.isdigit())
    if digits and len(digits) >= 4 and not any(ch.isalpha() for ch in q):
        tail = digits[1:] if digits.startswith("0") else digits  # 0912… is stored as +84912…
        return or_(_m.c.phone.like(f"%{tail}%"), _m.c.party_card_number.like(f"{q.strip()}%"))
    return and_(*[_m.c.name_folded.like(f"%{term}%", escape="\\") for term in search_terms(q)])


async def list_members(
    session: AsyncSession,
    org: OrgTarget,
    *,
    q: str | None,
    status: MemberStatus | None,
    is_exempt: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Members of a branch, or of every branch under a committee, in Vietnamese name order."""
    query = select(*_LIST_COLUMNS)
    if org.is_branch:
        query = query.where(_m.c.branch_id == org.id)
    else:
        lo, hi = access.subtree_range(org.path)
        query = query.where(_m.c.org_path >= lo, _m.c.org_path < hi)
    if q and q.strip():
        query = query.where(_search_condition(q))
    if status is not None:
        query = query.where(_m.c.status == status)
    if is_exempt is not None:
        query = query.where(_m.c.is_exempt.is_(is_exempt))
    if cursor:
        sort_key, last_id = decode_cursor(cursor, "members", (str, int))
        query = query.where(tuple_(_m.c.sort_key, _m.c.id) > tuple_(sort_key, last_id))
    rows = (await session.execute(query.order_by(_m.c.sort_key, _m.c.id).limit(limit + 1))).all()
    page, next_cursor = page_of(rows, limit, "members", lambda r: (r[6], r[0]))
    return [dict(zip(_LIST_KEYS, row, strict=False)) for row in page], next_cursor


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
            select(_grant.c.id, _grant.c.role, _org.c.id, _org.c.name, _org.c.kind)
            .join(_org, _org.c.id == _grant.c.org_id)
            .where(_grant.c.member_id == member_id, _grant.c.revoked_at.is_(None))
            .order_by(_grant.c.id)
        )
    ).all()
    return MemberRead(
        id=member.id,
        full_name=member.full_name,
        phone=member.phone,
        party_card_number=member.party_card_number,
        status=MemberStatus(member.status),
        is_exempt=member.is_exempt,
        exempt_since=member.exempt_since,
        date_of_birth=member.date_of_birth,
        gender=member.gender,  # type: ignore[arg-type]
        joined_date=member.joined_date,
        official_date=member.official_date,
        branch=OrgRef(id=branch[0], name=branch[1], kind=branch[2]),
        is_locked=member.is_locked,
        has_password=member.password_hash is not None,
        roles=[
            RoleHeld(grant_id=r[0], role=r[1], org=OrgRef(id=r[2], name=r[3], kind=r[4]))
            for r in roles
        ],
        created_at=member.created_at,
        updated_at=member.updated_at,
    )


async def _ensure_unique(
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


def _check_dates(member: Member) -> None:
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


async def create_member(session: AsyncSession, branch: OrgTarget, data: MemberCreate) -> MemberRead:
    if branch.kind != OrgKind.BRANCH:
        raise Unprocessable("Đảng viên phải thuộc một chi bộ.", code="member.org_not_branch")
    await _ensure_unique(session, phone=data.phone, card=data.party_card_number, member_id=None)
    name = clean_name(data.full_name)
    member = Member(
        branch_id=branch.id,
        org_path=branch.path,
        full_name=name,
        name_folded=fold(name),
        sort_key=member_sort_key(name),
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
    _check_dates(member)
    session.add(member)
    await session.flush()
    return await read_member(session, member.id)


_REQUIRED_ON_UPDATE = ("full_name", "status", "is_exempt")


async def update_member(session: AsyncSession, member_id: int, data: MemberUpdate) -> MemberRead:
    member = await session.get(Member, member_id, with_for_update=True)
    if member is None:
        raise NotFound(code="member.not_found")
    changes = data.model_dump(exclude_unset=True)
    for field in _REQUIRED_ON_UPDATE:
        if field in changes and changes[field] is None:
            raise Unprocessable(
                f"Trường {field} không được để trống.", code="member.field_required"
            )
    await _ensure_unique(
        session,
        phone=changes.get("phone"),
        card=changes.get("party_card_number"),
        member_id=member.id,
    )
    phone_changed = "phone" in changes and changes["phone"] != member.phone
    for field, value in changes.items():
        setattr(member, field, value)
    if "full_name" in changes:
        member.full_name = clean_name(member.full_name)
        member.name_folded = fold(member.full_name)
        member.sort_key = member_sort_key(member.full_name)
    if "is_exempt" in changes and not member.is_exempt:
        member.exempt_since = None
    _check_dates(member)
    if phone_changed:
        # The phone is how this member logs in: a new number ends every session on the old one.
        await auth_service.revoke_sessions(session, member.id, reason="phone_changed")
    member.updated_at = utcnow()
    await session.flush()
    return await read_member(session, member.id)


async def set_locked(session: AsyncSession, member_id: int, *, locked: bool) -> MemberRead:
    member = await session.get(Member, member_id, with_for_update=True)
    if member is None:
        raise NotFound(code="member.not_found")
    member.is_locked = locked
    member.updated_at = utcnow()
    if locked:
        await auth_service.revoke_sessions(session, member.id, reason="locked")
    else:
        member.failed_login_count = 0
        member.failed_login_at = None
    await session.flush()
    return await read_member(session, member.id)
