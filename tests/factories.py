"""Small async builders for test data, and the canonical province tree."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import TokenCodec, new_id
from app.models import AuthSession, Member, MemberStatus, Org, OrgKind, Role, RoleGrant
from app.models.base import utcnow
from app.services import members as member_service
from app.services import orgs as org_service

_phones = itertools.count(1)
_cards = itertools.count(1)


def next_phone() -> str:
    return f"+8491{next(_phones) % 10_000_000:07d}"


async def make_org(
    session: AsyncSession,
    parent: Org | None = None,
    *,
    kind: OrgKind = OrgKind.BRANCH,
    name: str = "Chi bộ Thử nghiệm",
    code: str | None = None,
) -> Org:
    return await org_service.insert_org(session, parent, kind=kind, name=name, code=code)


async def make_member(
    session: AsyncSession,
    branch: Org,
    *,
    full_name: str = "Nguyễn Văn Thử",
    phone: str | None = "auto",
    card: str | None = "auto",
    status: MemberStatus = MemberStatus.FULL,
    is_exempt: bool = False,
    password_hash: str | None = None,
    is_locked: bool = False,
) -> Member:
    member = member_service.new_member(
        branch,
        full_name,
        phone=next_phone() if phone == "auto" else phone,
        party_card_number=f"T{next(_cards):07d}" if card == "auto" else card,
        status=status,
        is_exempt=is_exempt,
        password_hash=password_hash,
        is_locked=is_locked,
    )
    session.add(member)
    await session.flush()
    return member


async def grant(session: AsyncSession, member: Member, org: Org, role: Role) -> RoleGrant:
    row = RoleGrant(member_id=member.id, org_id=org.id, role=role, granted_at=utcnow())
    session.add(row)
    await session.flush()
    return row


async def login_headers(session: AsyncSession, codec: TokenCodec, member_id: int) -> dict[str, str]:
    """A live session row and a signed access token for it, as request headers."""
    now = utcnow()
    auth_session = AuthSession(
        id=new_id(),
        member_id=member_id,
        method="test",
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=1),
    )
    session.add(auth_session)
    await session.flush()
    token = codec.issue_access(member_id=member_id, session_id=auth_session.id, now=now)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tree:
    """The canonical province used across the suite.

    P   Đảng bộ tỉnh Thử Nghiệm (province_committee)
    ├── C1  Đảng ủy phường Hòa Bình (commune_committee)
    │   ├── B1  Chi bộ Khu phố 1: member, secretary, exempt, probationary
    │   ├── B2  Chi bộ Khu phố 2: officer_c1 (officer on C1), editor (on P)
    │   └── G1  Đảng bộ Trường học (grassroots_committee)
    │       └── B3  Chi bộ Giáo viên: teacher
    └── C2  Đảng ủy xã Tân Lập (commune_committee)
        └── B4  Chi bộ Thôn Đông: outsider, officer_root (officer on P), admin (on P)
    """

    p: Org
    c1: Org
    c2: Org
    g1: Org
    b1: Org
    b2: Org
    b3: Org
    b4: Org
    member: Member
    secretary: Member
    exempt: Member
    probationary: Member
    officer_c1: Member
    editor: Member
    teacher: Member
    outsider: Member
    officer_root: Member
    admin: Member

    def in_c1(self) -> list[Org]:
        return [self.c1, self.b1, self.b2, self.g1, self.b3]


async def build_tree(session: AsyncSession) -> Tree:
    p = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Đảng bộ tỉnh Thử Nghiệm")
    c1 = await make_org(session, p, kind=OrgKind.COMMUNE_COMMITTEE, name="Đảng ủy phường Hòa Bình")
    c2 = await make_org(session, p, kind=OrgKind.COMMUNE_COMMITTEE, name="Đảng ủy xã Tân Lập")
    b1 = await make_org(session, c1, name="Chi bộ Khu phố 1")
    b2 = await make_org(session, c1, name="Chi bộ Khu phố 2")
    g1 = await make_org(session, c1, kind=OrgKind.GRASSROOTS_COMMITTEE, name="Đảng bộ Trường học")
    b3 = await make_org(session, g1, name="Chi bộ Giáo viên")
    b4 = await make_org(session, c2, name="Chi bộ Thôn Đông")
    member = await make_member(session, b1, full_name="Nguyễn Văn An")
    secretary = await make_member(session, b1, full_name="Lê Thị Bình")
    exempt = await make_member(session, b1, full_name="Trần Văn Cụ", is_exempt=True)
    probationary = await make_member(
        session, b1, full_name="Phạm Thị Dung", status=MemberStatus.PROBATIONARY, card=None
    )
    officer_c1 = await make_member(session, b2, full_name="Hoàng Minh Đức")
    editor = await make_member(session, b2, full_name="Vũ Thu Hà")
    teacher = await make_member(session, b3, full_name="Đỗ Văn Giang")
    outsider = await make_member(session, b4, full_name="Bùi Thị Hoa")
    officer_root = await make_member(session, b4, full_name="Đặng Quốc Khánh")
    admin = await make_member(session, b4, full_name="Ngô Văn Long")
    await grant(session, secretary, b1, Role.SECRETARY)
    await grant(session, officer_c1, c1, Role.ORGANISATION_OFFICER)
    await grant(session, editor, p, Role.EDITOR)
    await grant(session, officer_root, p, Role.ORGANISATION_OFFICER)
    await grant(session, admin, p, Role.DEPLOYMENT_ADMIN)
    return Tree(
        p=p,
        c1=c1,
        c2=c2,
        g1=g1,
        b1=b1,
        b2=b2,
        b3=b3,
        b4=b4,
        member=member,
        secretary=secretary,
        exempt=exempt,
        probationary=probationary,
        officer_c1=officer_c1,
        editor=editor,
        teacher=teacher,
        outsider=outsider,
        officer_root=officer_root,
        admin=admin,
    )
