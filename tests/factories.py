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
    org_id: int | None = None,
) -> Org:
    return await org_service.insert_org(
        session, parent, kind=kind, name=name, code=code, org_id=org_id
    )


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


async def login_headers(
    session: AsyncSession, codec: TokenCodec, member_id: int, *, otp_verified: bool = False
) -> dict[str, str]:
    """A live session row and a signed access token for it, as request headers. With
    `otp_verified`, the login proved the phone by an SMS code just now (the password step-up)."""
    now = utcnow()
    auth_session = AuthSession(
        id=new_id(),
        member_id=member_id,
        method="otp" if otp_verified else "test",
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=1),
        otp_verified_at=now if otp_verified else None,
    )
    session.add(auth_session)
    await session.flush()
    token = codec.issue_access(member_id=member_id, session_id=auth_session.id, now=now)
    return {"Authorization": f"Bearer {token}"}


# Fixed org ids of the canonical tree, far above what sequences reach in a test run. C1's id is a
# prefix of C2's ("/…/91000002/" and "/…/910000020/"), so a subtree check that compares path
# prefixes without the closing "/" lets C1's officer into C2 and fails the suite.
TREE_IDS = {
    "p": 91_000_001,
    "c1": 91_000_002,
    "c2": 910_000_020,
    "b1": 910_000_021,
    "b2": 910_000_022,
    "g1": 910_000_023,
    "b3": 910_000_024,
    "b4": 910_000_025,
}


@dataclass
class Tree:
    """The canonical province used across the suite.

    P   Đảng bộ tỉnh Thử Nghiệm (province_committee)
    ├── C1  Đảng ủy phường Hòa Bình (commune_committee)
    │   ├── B1  Chi bộ Khu phố 1: member, secretary, deputy (deputy secretary), exempt,
    │   │       probationary
    │   ├── B2  Chi bộ Khu phố 2: officer_c1 (officer on C1), committee (committee member on
    │   │       C1), editor (on P)
    │   └── G1  Đảng bộ Trường học (grassroots_committee)
    │       └── B3  Chi bộ Giáo viên: teacher, approver (approver on C1)
    └── C2  Đảng ủy xã Tân Lập (commune_committee; its id starts with C1's)
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
    deputy: Member
    exempt: Member
    probationary: Member
    officer_c1: Member
    committee: Member
    editor: Member
    teacher: Member
    approver: Member
    outsider: Member
    officer_root: Member
    admin: Member

    def in_c1(self) -> list[Org]:
        return [self.c1, self.b1, self.b2, self.g1, self.b3]


async def build_tree(session: AsyncSession) -> Tree:
    ids = TREE_IDS
    p = await make_org(
        session, kind=OrgKind.PROVINCE_COMMITTEE, name="Đảng bộ tỉnh Thử Nghiệm", org_id=ids["p"]
    )
    c1 = await make_org(
        session,
        p,
        kind=OrgKind.COMMUNE_COMMITTEE,
        name="Đảng ủy phường Hòa Bình",
        org_id=ids["c1"],
    )
    c2 = await make_org(
        session, p, kind=OrgKind.COMMUNE_COMMITTEE, name="Đảng ủy xã Tân Lập", org_id=ids["c2"]
    )
    b1 = await make_org(session, c1, name="Chi bộ Khu phố 1", org_id=ids["b1"])
    b2 = await make_org(session, c1, name="Chi bộ Khu phố 2", org_id=ids["b2"])
    g1 = await make_org(
        session,
        c1,
        kind=OrgKind.GRASSROOTS_COMMITTEE,
        name="Đảng bộ Trường học",
        org_id=ids["g1"],
    )
    b3 = await make_org(session, g1, name="Chi bộ Giáo viên", org_id=ids["b3"])
    b4 = await make_org(session, c2, name="Chi bộ Thôn Đông", org_id=ids["b4"])
    member = await make_member(session, b1, full_name="Nguyễn Văn An")
    secretary = await make_member(session, b1, full_name="Lê Thị Bình")
    deputy = await make_member(session, b1, full_name="Mai Văn Phó")
    exempt = await make_member(session, b1, full_name="Trần Văn Cụ", is_exempt=True)
    probationary = await make_member(
        session, b1, full_name="Phạm Thị Dung", status=MemberStatus.PROBATIONARY, card=None
    )
    officer_c1 = await make_member(session, b2, full_name="Hoàng Minh Đức")
    committee = await make_member(session, b2, full_name="Tạ Văn Ủy")
    editor = await make_member(session, b2, full_name="Vũ Thu Hà")
    teacher = await make_member(session, b3, full_name="Đỗ Văn Giang")
    approver = await make_member(session, b3, full_name="Kiều Thị Duyệt")
    outsider = await make_member(session, b4, full_name="Bùi Thị Hoa")
    officer_root = await make_member(session, b4, full_name="Đặng Quốc Khánh")
    admin = await make_member(session, b4, full_name="Ngô Văn Long")
    await grant(session, secretary, b1, Role.SECRETARY)
    await grant(session, deputy, b1, Role.DEPUTY_SECRETARY)
    await grant(session, officer_c1, c1, Role.ORGANISATION_OFFICER)
    await grant(session, committee, c1, Role.COMMITTEE_MEMBER)
    await grant(session, editor, p, Role.EDITOR)
    await grant(session, approver, c1, Role.APPROVER)
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
        deputy=deputy,
        exempt=exempt,
        probationary=probationary,
        officer_c1=officer_c1,
        committee=committee,
        editor=editor,
        teacher=teacher,
        approver=approver,
        outsider=outsider,
        officer_root=officer_root,
        admin=admin,
    )
