"""The generated province: one generator for the demo, the benchmark and volume tests.

`generate(members=N)` lays out a province shaped like Hà Nội after the 2025 reform, scaled to N
members (476,000 members in ~16,800 branches at full size):

- the city committee (Đảng bộ thành phố) at the root;
- 126 commune/ward committees (Đảng ủy xã/phường) of uneven size, each with residential branches
  (Chi bộ Tổ dân phố / Thôn) directly under it and grassroots committees (schools, hospitals,
  enterprises: Đảng bộ cơ sở) holding branches, some of them through partial committees
  (Đảng bộ bộ phận): depth 2 to 4 below the root;
- 4 affiliated committees (Đảng bộ trực thuộc: the Party's and the city government's agencies,
  enterprises) with grassroots committees and branches;
- about 1% of the branches directly under the city committee (chi bộ cơ sở trực thuộc).

Branch sizes vary (a log-normal around 28, residential branches of retirees larger, at least 3);
names follow Vietnamese family-name frequencies (northern: Nguyễn ~38%, Trần, Lê, Phạm, Hoàng,
Vũ …); ~9% are exempt from activities (elderly, 75+), ~4% probationary; phones on Vietnamese mobile
prefixes (most members, fewer of the exempt). Every branch has a secretary, larger ones a deputy
and committee members; every committee a secretary and a deputy; commune and city committees
organisation officers, the city committee editors and approvers.

Rows are generated as a stream and written in chunks (`write`): COPY on PostgreSQL (476,000
members in about a minute), bulk inserts elsewhere. Ids are assigned up front from the tables'
current maxima, so materialized paths are known without a round trip and a province can be added
next to existing data. The same seed gives the same province.

Adding an area's volume (DESIGN.md §5, docs/benchmarks/README.md "Adding an area's data"): write
an `async def seed_<area>(conn, province)` that reads `province` (orgs, branches, member id ranges)
and bulk-writes its rows with `copy_rows`, and list it in `AREA_SEEDERS`.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import JSON, Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.text import member_sort_key, name_key
from app.models import Member, MemberStatus, Org, OrgKind, Role, RoleGrant

HANOI_MEMBERS = 476_000
HANOI_BRANCHES = 16_800
HANOI_COMMUNES = 126
HANOI_AFFILIATED = 4
MEAN_BRANCH_SIZE = HANOI_MEMBERS / HANOI_BRANCHES  # ~28.3
DIRECT_BRANCH_SHARE = 0.01  # branches directly under the city committee
AFFILIATED_BRANCH_SHARE = 0.12  # branches in the affiliated committees' subtrees
RESIDENTIAL_SHARE = 0.62  # a commune's branches directly under its committee
EXEMPT_SHARE = 0.09
PROBATIONARY_SHARE = 0.04
CHUNK_ROWS = 20_000

# Family names with their shares in the north (per cent, the rest spread over the tail).
FAMILY_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("Nguyễn", 38.4),
    ("Trần", 11.0),
    ("Lê", 9.5),
    ("Phạm", 7.0),
    ("Hoàng", 5.0),
    ("Vũ", 4.0),
    ("Phan", 3.0),
    ("Đặng", 2.1),
    ("Bùi", 2.0),
    ("Đỗ", 1.9),
    ("Ngô", 1.3),
    ("Dương", 1.0),
    ("Đinh", 1.0),
    ("Trịnh", 0.9),
    ("Đào", 0.8),
    ("Lương", 0.6),
    ("Hồ", 0.6),
    ("Mai", 0.5),
    ("Tạ", 0.5),
    ("Lý", 0.5),
    ("Kiều", 0.4),
    ("Chu", 0.4),
    ("Cao", 0.4),
    ("Nghiêm", 0.3),
    ("Khuất", 0.3),
    ("Võ", 0.3),
    ("Huỳnh", 0.2),
    ("Lưu", 0.3),
    ("Tô", 0.3),
    ("Hà", 0.4),
)
MIDDLE_M = ("Văn", "Đức", "Minh", "Quang", "Hữu", "Xuân", "Thanh", "Công", "Đình", "Mạnh", "Tuấn")
MIDDLE_F = ("Thị", "Thị", "Thị", "Ngọc", "Thu", "Kim", "Hồng", "Thanh", "Minh", "Phương", "Mỹ")
GIVEN_M = [
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Đức",
    "Giang",
    "Hải",
    "Hiếu",
    "Hùng",
    "Khánh",
    "Long",
    "Minh",
    "Nam",
    "Phong",
    "Phúc",
    "Quân",
    "Quang",
    "Sơn",
    "Tâm",
    "Thắng",
    "Thành",
    "Trung",
    "Tuấn",
    "Tùng",
    "Việt",
    "Vinh",
    "Huy",
    "Đạt",
    "Khoa",
    "Lâm",
    "Hưng",
    "Toàn",
    "Thịnh",
    "Kiên",
    "Hoàng",
]
GIVEN_F = [
    "Anh",
    "Chi",
    "Dung",
    "Hà",
    "Hạnh",
    "Hằng",
    "Hoa",
    "Hương",
    "Lan",
    "Linh",
    "Mai",
    "Nga",
    "Ngọc",
    "Nhung",
    "Oanh",
    "Phương",
    "Quỳnh",
    "Tâm",
    "Thảo",
    "Thu",
    "Trang",
    "Uyên",
    "Vân",
    "Yến",
    "Đào",
    "Loan",
    "Thủy",
    "Liên",
    "Huyền",
    "Giang",
    "Hiền",
    "Thúy",
    "Nhàn",
    "Hồng",
    "Duyên",
]
# Vietnamese mobile prefixes (Viettel, VinaPhone, MobiFone …), as +84 and two digits.
MOBILE_PREFIXES = [
    "+8496",
    "+8497",
    "+8498",
    "+8486",
    "+8432",
    "+8433",
    "+8434",
    "+8435",
    "+8436",
    "+8437",
    "+8438",
    "+8439",
    "+8491",
    "+8494",
    "+8488",
    "+8483",
    "+8484",
    "+8485",
    "+8481",
    "+8482",
    "+8490",
    "+8493",
    "+8470",
    "+8479",
    "+8477",
    "+8476",
    "+8478",
]
PHONE_OFFSET = 1_000_000  # generated numbers start here: clear of the demo's and the tests'
PLACE_WORDS = [
    "An",
    "Bình",
    "Hòa",
    "Phú",
    "Tân",
    "Thanh",
    "Đông",
    "Tây",
    "Nam",
    "Bắc",
    "Hưng",
    "Long",
    "Minh",
    "Phúc",
    "Quang",
    "Thịnh",
    "Vĩnh",
    "Xuân",
    "Yên",
    "Đại",
    "Ngọc",
    "Kim",
    "Thượng",
    "Trung",
    "Hạ",
    "Mỹ",
    "Lạc",
    "Thái",
    "Định",
    "Hồng",
]
GRASSROOTS_KINDS = (
    "Trường Tiểu học",
    "Trường THCS",
    "Trường THPT",
    "Trường Mầm non",
    "Bệnh viện",
    "Trạm Y tế",
    "Công ty Cổ phần",
    "Công ty TNHH",
    "Hợp tác xã",
    "Trung tâm Văn hóa",
)
AFFILIATED_NAMES = (
    "Đảng bộ các cơ quan Đảng thành phố",
    "Đảng bộ Ủy ban nhân dân thành phố",
    "Đảng bộ Khối doanh nghiệp thành phố",
    "Đảng bộ Khối các trường đại học, cao đẳng",
)

_org_t = cast(Table, Org.__table__)
_member_t = cast(Table, Member.__table__)
_grant_t = cast(Table, RoleGrant.__table__)
ORG_COLUMNS = tuple(c.name for c in _org_t.columns)
MEMBER_COLUMNS = tuple(c.name for c in _member_t.columns)
GRANT_COLUMNS = tuple(c.name for c in _grant_t.columns)

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


class Names:
    """Vietnamese full names with realistic family-name frequencies; folded keys cached."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._families: list[str] = [name for name, _ in FAMILY_WEIGHTS]
        self._cumulative = list(itertools.accumulate(share for _, share in FAMILY_WEIGHTS))
        self._keys: dict[str, tuple[str, str]] = {}

    def family(self) -> str:
        roll = self.rng.random() * self._cumulative[-1]
        return self._families[bisect.bisect_right(self._cumulative, roll)]

    def full_name(self, *, female: bool) -> str:
        rng = self.rng
        middle = rng.choice(MIDDLE_F if female else MIDDLE_M)
        given = rng.choice(GIVEN_F if female else GIVEN_M)
        return f"{self.family()} {middle} {given}"

    def keys(self, full_name: str) -> tuple[str, str]:
        """(name_folded, sort_key)."""
        keys = self._keys.get(full_name)
        if keys is None:
            keys = self._keys[full_name] = (name_key(full_name), member_sort_key(full_name))
        return keys


def phone_for(member_id: int) -> str:
    """A unique mobile number per member id (prefix by id, subscriber number from the id)."""
    prefix: str = MOBILE_PREFIXES[member_id % len(MOBILE_PREFIXES)]
    return f"{prefix}{PHONE_OFFSET + member_id // len(MOBILE_PREFIXES):07d}"


@dataclass(slots=True)
class PersonFacts:
    full_name: str
    female: bool
    status: str
    is_exempt: bool
    exempt_since: date | None
    date_of_birth: date
    joined_date: date
    official_date: date | None
    has_phone: bool

    @property
    def leader(self) -> bool:
        """May hold a branch or committee role: full member, not exempt."""
        return self.status == MemberStatus.FULL.value and not self.is_exempt


class People:
    """Deterministic Vietnamese members: names, ages, statuses, exemptions."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.names = Names(self.rng)

    def person(self, today: date) -> PersonFacts:
        rng = self.rng
        female = rng.random() < 0.42
        roll = rng.random()
        exempt = roll < EXEMPT_SHARE
        probationary = EXEMPT_SHARE <= roll < EXEMPT_SHARE + PROBATIONARY_SHARE
        if exempt:
            age = rng.randint(75, 95)
        elif probationary:
            age = rng.randint(19, 35)
        else:
            age = rng.randint(21, 74)
        birth = today - timedelta(days=age * 365 + rng.randint(0, 364))
        if probationary:
            joined = today - timedelta(days=rng.randint(10, 360))
        else:
            earliest = birth + timedelta(days=19 * 365)
            latest = today - timedelta(days=366)
            span = max(1, (latest - earliest).days)
            joined = earliest + timedelta(days=rng.randint(0, span))
        return PersonFacts(
            full_name=self.names.full_name(female=female),
            female=female,
            status=(MemberStatus.PROBATIONARY if probationary else MemberStatus.FULL).value,
            is_exempt=exempt,
            exempt_since=(today - timedelta(days=rng.randint(30, 3000))) if exempt else None,
            date_of_birth=birth,
            joined_date=joined,
            official_date=None if probationary else joined + timedelta(days=365),
            has_phone=(not exempt and rng.random() < 0.97) or (exempt and rng.random() < 0.4),
        )


@dataclass(slots=True)
class OrgNode:
    id: int
    parent: OrgNode | None
    kind: OrgKind
    name: str
    code: str | None
    path: str
    depth: int
    weight: float = 1.0  # branches: relative size
    size: int = 0  # branches: members

    @property
    def ancestors(self) -> Iterator[OrgNode]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


# Roles a committee wants, by kind: filled from leaders of the branches below it.
COMMITTEE_ROLES: dict[OrgKind, tuple[Role, ...]] = {
    OrgKind.PROVINCE_COMMITTEE: (
        Role.SECRETARY,
        Role.DEPUTY_SECRETARY,
        *([Role.ORGANISATION_OFFICER] * 5),
        Role.EDITOR,
        Role.EDITOR,
        Role.APPROVER,
    ),
    OrgKind.AFFILIATED_COMMITTEE: (
        Role.SECRETARY,
        Role.DEPUTY_SECRETARY,
        Role.ORGANISATION_OFFICER,
    ),
    OrgKind.COMMUNE_COMMITTEE: (
        Role.SECRETARY,
        Role.DEPUTY_SECRETARY,
        Role.ORGANISATION_OFFICER,
        Role.ORGANISATION_OFFICER,
        Role.COMMITTEE_MEMBER,
    ),
    OrgKind.GRASSROOTS_COMMITTEE: (Role.SECRETARY, Role.DEPUTY_SECRETARY),
    OrgKind.PARTIAL_COMMITTEE: (Role.SECRETARY,),
}


@dataclass
class Province:
    """The generated province's shape (orgs in memory; members are streamed when written)."""

    members: int
    seed: int
    first_member_id: int
    first_grant_id: int
    orgs: list[OrgNode] = field(default_factory=list)
    branches: list[OrgNode] = field(default_factory=list)
    grants: int = 0

    @property
    def root(self) -> OrgNode:
        return self.orgs[0]

    @property
    def member_ids(self) -> range:
        return range(self.first_member_id, self.first_member_id + self.members)

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for org in self.orgs:
            counts[org.kind.value] = counts.get(org.kind.value, 0) + 1
        return counts


class _Layout:
    """Builds the org tree with ids from `next_org` on."""

    def __init__(self, province: Province, next_org: int, rng: random.Random) -> None:
        self.province = province
        self.next_org = next_org
        self.rng = rng
        self._places = [f"{a} {b}" for a in PLACE_WORDS for b in PLACE_WORDS if a != b]
        rng.shuffle(self._places)
        self._place = 0

    def place(self) -> str:
        name = self._places[self._place % len(self._places)]
        self._place += 1
        rounds = self._place // len(self._places)
        return name if rounds == 0 else f"{name} {rounds + 1}"

    def org(
        self,
        parent: OrgNode | None,
        kind: OrgKind,
        name: str,
        code: str | None = None,
        weight: float = 1.0,
    ) -> OrgNode:
        org_id = self.next_org
        self.next_org += 1
        path = f"{parent.path if parent else '/'}{org_id}/"
        node = OrgNode(org_id, parent, kind, name, code, path, path.count("/") - 2, weight)
        self.province.orgs.append(node)
        if kind is OrgKind.BRANCH:
            self.province.branches.append(node)
        return node

    def branch(self, parent: OrgNode, name: str, weight: float = 1.0) -> OrgNode:
        return self.org(parent, OrgKind.BRANCH, name, weight=weight)

    def grassroots(self, parent: OrgNode, branches: int) -> None:
        """A grassroots committee with `branches` branches, some through partial committees."""
        rng = self.rng
        kind = rng.choice(GRASSROOTS_KINDS)
        unit = f"{kind} {self.place()}"
        committee = self.org(parent, OrgKind.GRASSROOTS_COMMITTEE, f"Đảng bộ {unit}")
        left = branches
        part = 0
        if branches >= 6 and rng.random() < 0.3:
            while left > 2:
                part += 1
                inner = min(left - 1, rng.randint(2, 4))
                partial = self.org(
                    committee, OrgKind.PARTIAL_COMMITTEE, f"Đảng bộ bộ phận {part} ({unit})"
                )
                for n in range(inner):
                    self.branch(partial, f"Chi bộ {part}.{n + 1} ({unit})", rng.uniform(0.6, 1.2))
                left -= inner
        for n in range(left):
            self.branch(committee, f"Chi bộ {part + n + 1} ({unit})", rng.uniform(0.6, 1.3))

    def committee_body(self, committee: OrgNode, branches: int, residential_share: float) -> None:
        rng = self.rng
        residential = round(branches * residential_share)
        village = "Thôn" if committee.name.startswith("Đảng ủy xã") else "Tổ dân phố"
        for n in range(residential):
            # Residential branches gather retirees: larger on average.
            self.branch(committee, f"Chi bộ {village} {n + 1}", rng.uniform(0.9, 2.0))
        left = branches - residential
        while left > 0:
            size = min(left, rng.randint(2, 12))
            self.grassroots(committee, size)
            left -= size


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders), summing exactly."""
    whole = sum(weights)
    raw = [total * w / whole for w in weights]
    parts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: parts[i] - raw[i])
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _branch_sizes(members: int, weights: Sequence[float]) -> list[int]:
    """Sizes summing to `members`, in proportion to weights, each at least 3 when it can be."""
    floor = 3 if members >= 3 * len(weights) else (1 if members >= len(weights) else 0)
    spare = members - floor * len(weights)
    return [floor + extra for extra in _split(spare, weights)]


def layout(
    members: int, *, seed: int = 7, start: tuple[int, int, int] = (1, 1, 1), root_code: str = "TN"
) -> Province:
    """The org tree of a province of `members` members, each branch's size decided."""
    rng = random.Random(seed)
    next_org, first_member, first_grant = start
    province = Province(
        members=members, seed=seed, first_member_id=first_member, first_grant_id=first_grant
    )
    shape = _Layout(province, next_org, rng)
    scale = members / HANOI_MEMBERS
    branches_total = max(1, round(members / MEAN_BRANCH_SIZE))
    root = shape.org(None, OrgKind.PROVINCE_COMMITTEE, "Đảng bộ thành phố Thử Nghiệm", root_code)
    direct = round(branches_total * DIRECT_BRANCH_SHARE)
    affiliated_n = min(len(AFFILIATED_NAMES), max(0, round(HANOI_AFFILIATED * scale)))
    if branches_total >= 40:
        affiliated_n = max(1, affiliated_n)
    affiliated_branches = round(branches_total * AFFILIATED_BRANCH_SHARE) if affiliated_n else 0
    commune_branches = branches_total - direct - affiliated_branches
    communes_n = max(1, min(commune_branches, round(HANOI_COMMUNES * scale)))
    # Communes differ a lot in size (a dense ward vs. a merged rural commune).
    commune_weights = [rng.uniform(0.4, 1.8) for _ in range(communes_n)]
    for i, count in enumerate(_split(commune_branches, commune_weights)):
        kind = "phường" if i % 2 == 0 else "xã"
        commune = shape.org(
            root,
            OrgKind.COMMUNE_COMMITTEE,
            f"Đảng ủy {kind} {shape.place()}",
            f"{root_code}-{i + 1}",
        )
        shape.committee_body(commune, max(1, count), RESIDENTIAL_SHARE)
    for i, count in enumerate(_split(affiliated_branches, [1.0] * affiliated_n)):
        committee = shape.org(root, OrgKind.AFFILIATED_COMMITTEE, AFFILIATED_NAMES[i])
        shape.committee_body(committee, max(1, count), 0.1)
    for n in range(direct):
        shape.branch(root, f"Chi bộ cơ sở trực thuộc số {n + 1}", rng.uniform(0.5, 1.5))
    weights = [b.weight * rng.lognormvariate(0, 0.45) for b in province.branches]
    for branch, size in zip(province.branches, _branch_sizes(members, weights), strict=True):
        branch.size = size
    return province


def _org_row(node: OrgNode, now: datetime) -> tuple[Any, ...]:
    values = {
        "id": node.id,
        "parent_id": node.parent.id if node.parent else None,
        "kind": node.kind.value,
        "name": node.name,
        "name_folded": name_key(node.name),
        "code": node.code,
        "path": node.path,
        "depth": node.depth,
        "is_active": True,
        "has_residence_attendees": False,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    return tuple(values[c] for c in ORG_COLUMNS)


class _Rows:
    """Streams member rows branch by branch and collects the role grants on the way."""

    def __init__(self, province: Province, today: date, now: datetime) -> None:
        self.province = province
        self.people = People(province.seed)
        self.today = today
        self.now = now
        self.grants: list[tuple[Any, ...]] = []
        self._next_grant = province.first_grant_id
        self._wanted = {
            org.id: list(COMMITTEE_ROLES.get(org.kind, ())) for org in province.orgs if org.kind
        }
        self._holders: set[int] = set()

    def grant(self, member_id: int, org: OrgNode, role: Role) -> None:
        values = {
            "id": self._next_grant,
            "member_id": member_id,
            "org_id": org.id,
            "role": role.value,
            "granted_by_id": None,
            "granted_at": self.now,
            "revoked_at": None,
            "revoked_by_id": None,
        }
        self.grants.append(tuple(values[c] for c in GRANT_COLUMNS))
        self._next_grant += 1
        self._holders.add(member_id)

    def members(self) -> Iterator[tuple[Any, ...]]:
        member_id = self.province.first_member_id
        names = self.people.names
        columns = MEMBER_COLUMNS
        now = self.now
        for branch in self.province.branches:
            leaders: list[int] = []
            for _ in range(branch.size):
                facts = self.people.person(self.today)
                folded, sort_key = names.keys(facts.full_name)
                values = {
                    "id": member_id,
                    "branch_id": branch.id,
                    "org_path": branch.path,
                    "full_name": facts.full_name,
                    "name_folded": folded,
                    "sort_key": sort_key,
                    "phone": phone_for(member_id) if facts.has_phone else None,
                    "party_card_number": (
                        None
                        if facts.status == MemberStatus.PROBATIONARY.value
                        else f"{member_id:08d}"
                    ),
                    "status": facts.status,
                    "is_exempt": facts.is_exempt,
                    "exempt_since": facts.exempt_since,
                    "date_of_birth": facts.date_of_birth,
                    "gender": "female" if facts.female else "male",
                    "joined_date": facts.joined_date,
                    "official_date": facts.official_date,
                    "is_locked": False,
                    "password_hash": None,
                    "password_changed_at": None,
                    "archived_on": None,
                    "archive_reason": None,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                yield tuple(values[c] for c in columns)
                if facts.leader:
                    leaders.append(member_id)
                member_id += 1
            self._branch_roles(branch, leaders)

    def _branch_roles(self, branch: OrgNode, leaders: list[int]) -> None:
        roles = [Role.SECRETARY]
        if branch.size >= 10:
            roles.append(Role.DEPUTY_SECRETARY)
        if branch.size >= 25:
            roles += [Role.COMMITTEE_MEMBER] * (1 + branch.size // 40)
        for member_id, role in zip(leaders, roles, strict=False):
            self.grant(member_id, branch, role)
        spare = [m for m in leaders if m not in self._holders]
        # Committees above take their officers from the branches below (two at most from one).
        for ancestor in branch.ancestors:
            wanted = self._wanted.get(ancestor.id)
            taken = 0
            while wanted and spare and taken < 2:
                self.grant(spare.pop(), ancestor, wanted.pop(0))
                taken += 1


def _chunks(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


async def copy_rows(
    conn: AsyncConnection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Bulk-write rows (tuples in `columns` order): COPY on PostgreSQL, inserts elsewhere.
    JSON columns take Python values on both (COPY gets them encoded here)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        encoded = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
        if encoded:
            rows = [
                tuple(json.dumps(v) if i in encoded else v for i, v in enumerate(row))
                for row in rows
            ]
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))
    else:
        await conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


async def next_ids(conn: AsyncConnection) -> tuple[int, int, int]:
    """The first free id of org, member and role_grant."""
    ids = []
    for table in (_org_t, _member_t, _grant_t):
        ids.append(int(await conn.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1)
    return ids[0], ids[1], ids[2]


AreaSeeder = Callable[[AsyncConnection, Province], Awaitable[int]]


# Areas add their volumes here: `async def seed_x(conn, province) -> rows written`.
async def _content(conn: AsyncConnection, province: Province) -> int:
    from app.services.content.demo import seed_province_content

    return await seed_province_content(conn, province)


async def _study(conn: AsyncConnection, province: Province) -> int:
    from app.services.seed_study import seed_province_study

    return await seed_province_study(conn, province)


async def _meetings(conn: AsyncConnection, province: Province) -> int:
    from app.services.meetings.demo import seed_province_meetings

    return await seed_province_meetings(conn, province)


async def _activity(conn: AsyncConnection, province: Province) -> int:
    from app.services.activity import seed_province_activity

    return await seed_province_activity(conn, province)


AREA_SEEDERS: list[tuple[str, AreaSeeder]] = [
    ("content", _content),
    ("meetings", _meetings),
    ("study", _study),
    ("activity", _activity),
]


@dataclass(frozen=True)
class Written:
    province: Province
    orgs: int
    branches: int
    members: int
    grants: int
    seconds: float


async def write(
    engine: AsyncEngine,
    members: int,
    *,
    seed: int = 7,
    progress: Progress = _quiet,
    chunk: int = CHUNK_ROWS,
) -> Written:
    """Generate and write a province of `members` members in one transaction, then analyse."""
    started = time.monotonic()
    now = datetime.now(UTC)
    today = now.date()
    async with engine.begin() as conn:
        start = await next_ids(conn)
        province = layout(members, seed=seed, start=start, root_code=_root_code(start[0]))
        kinds = ", ".join(f"{n:,} {kind}" for kind, n in sorted(province.kinds().items()))
        progress(f"layout: {len(province.orgs):,} orgs ({kinds})")
        await copy_rows(conn, _org_t, ORG_COLUMNS, [_org_row(o, now) for o in province.orgs])
        rows = _Rows(province, today, now)
        done = 0
        for part in _chunks(rows.members(), chunk):
            await copy_rows(conn, _member_t, MEMBER_COLUMNS, part)
            done += len(part)
            elapsed = time.monotonic() - started
            progress(f"members {done:,}/{members:,} ({100 * done / members:.0f}%), {elapsed:.0f} s")
        for part in _chunks(rows.grants, chunk):
            await copy_rows(conn, _grant_t, GRANT_COLUMNS, part)
        province.grants = len(rows.grants)
        progress(f"roles {province.grants:,}")
        for name, seeder in AREA_SEEDERS:
            written = await seeder(conn, province)
            progress(f"{name}: {written:,} rows, {time.monotonic() - started:.0f} s")
        if conn.dialect.name == "postgresql":
            for table in (_org_t, _member_t, _grant_t):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                        f"(SELECT coalesce(max(id), 1) FROM {table.name}))"
                    )
                )
    if engine.dialect.name == "postgresql":
        # Statistics and the visibility map (index-only scans) before anything is measured.
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            # Every table: the areas' seeders wrote theirs in the same transaction.
            await autocommit.execute(text("VACUUM ANALYZE"))
        progress(f"vacuumed and analysed, {time.monotonic() - started:.0f} s")
    return Written(
        province=province,
        orgs=len(province.orgs),
        branches=len(province.branches),
        members=members,
        grants=province.grants,
        seconds=time.monotonic() - started,
    )


def _root_code(first_org_id: int) -> str:
    """The root's code: "TN" for the first province in a database, unique after that."""
    return "TN" if first_org_id == 1 else f"TN{first_org_id}"
