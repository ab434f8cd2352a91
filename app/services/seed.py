"""Demo and benchmark data: a generated province with orgs, members and roles.

`seed_demo` builds a small, fixed province for trying the app (4 commune/ward committees, an
agency committee, grassroots committees, 20 branches, ~300 members, demo accounts that can log
in), its people drawn by the province generator. `seed_generated` writes a generated province of
any size (`app/services/province.py`: Hà Nội's shape at 476,000 members, COPY on PostgreSQL).
Both write with explicit ids, so the materialized paths are known up front.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from app.core.config import RulesSettings, WorkerSettings
from app.core.text import member_sort_key, name_key
from app.models import (
    ImportStatus,
    Member,
    MemberExport,
    MemberImport,
    MembershipPeriod,
    MemberStatus,
    Org,
    OrgKind,
    Role,
    RoleGrant,
    Upload,
)
from app.models.base import utcnow
from app.services import province, seed_study
from app.services.content.demo import seed_demo_content
from app.services.meetings.demo import seed_demo_meetings
from app.services.province import People

DEMO_PASSWORD = "Demo@2026"  # noqa: S105 - printed for the demo on purpose


@dataclass(frozen=True)
class DemoAccount:
    phone: str
    full_name: str
    description: str


DEMO_ACCOUNTS = (
    DemoAccount(
        "+84900000001", "Trần Thị Lan", "cán bộ Ban Tổ chức Tỉnh ủy (officer, whole province)"
    ),
    DemoAccount("+84900000002", "Lê Văn Hùng", "bí thư Chi bộ Khu phố 1 (branch secretary)"),
    DemoAccount("+84900000003", "Nguyễn Văn An", "đảng viên Chi bộ Khu phố 1 (member)"),
    DemoAccount("+84900000004", "Phạm Minh Tuấn", "cán bộ tổ chức Đảng ủy phường Hòa Bình"),
    DemoAccount("+84900000009", "Hoàng Quốc Việt", "quản trị hệ thống (deployment admin)"),
)


@dataclass
class _Plan:
    """Rows to insert, with ids assigned up front."""

    next_org: int
    next_member: int
    next_grant: int
    orgs: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    grants: list[dict[str, Any]] = field(default_factory=list)
    branches: list[dict[str, Any]] = field(default_factory=list)
    # Membership history (membership_period rows); members without any read as "since always".
    periods: list[dict[str, Any]] = field(default_factory=list)

    def period(
        self,
        member: dict[str, Any],
        org: dict[str, Any],
        valid_from: date | None,
        valid_to: date | None,
        *,
        kind: str = "primary",
        is_exempt: bool | None = None,
        exemption_ref: str | None = None,
    ) -> None:
        self.periods.append(
            {
                "member_id": member["id"],
                "org_id": org["id"],
                "kind": kind,
                "status": member["status"],
                "is_exempt": member["is_exempt"] if is_exempt is None else is_exempt,
                "exemption_ref": exemption_ref,
                "valid_from": valid_from,
                "valid_to": valid_to,
                "created_at": utcnow(),
            }
        )

    def org(
        self,
        parent: dict[str, Any] | None,
        kind: OrgKind,
        name: str,
        code: str | None = None,
    ) -> dict[str, Any]:
        org_id = self.next_org
        self.next_org += 1
        path = f"{parent['path'] if parent else '/'}{org_id}/"
        now = utcnow()
        row = {
            "id": org_id,
            "parent_id": parent["id"] if parent else None,
            "kind": kind.value,
            "name": name,
            "name_folded": name_key(name),
            "code": code,
            "path": path,
            "depth": path.count("/") - 2,
            "is_active": True,
            "created_at": now,
            "updated_at": now,
        }
        self.orgs.append(row)
        if kind is OrgKind.BRANCH:
            self.branches.append(row)
        return row

    def member(self, branch: dict[str, Any], full_name: str, **fields: Any) -> dict[str, Any]:
        member_id = self.next_member
        self.next_member += 1
        now = utcnow()
        row = {
            "id": member_id,
            "branch_id": branch["id"],
            "org_path": branch["path"],
            "full_name": full_name,
            "name_folded": name_key(full_name),
            "sort_key": member_sort_key(full_name),
            "phone": None,
            "party_card_number": None,
            "status": MemberStatus.FULL.value,
            "is_exempt": False,
            "exempt_since": None,
            "date_of_birth": None,
            "gender": None,
            "joined_date": None,
            "official_date": None,
            "is_locked": False,
            "password_hash": None,
            "password_changed_at": None,
            "archived_on": None,
            "archive_reason": None,
            "created_at": now,
            "updated_at": now,
        }
        row.update(fields)
        self.members.append(row)
        return row

    def grant(self, member: dict[str, Any], org: dict[str, Any], role: Role) -> None:
        self.grants.append(
            {
                "id": self.next_grant,
                "member_id": member["id"],
                "org_id": org["id"],
                "role": role.value,
                "granted_by_id": None,
                "granted_at": utcnow(),
                "revoked_at": None,
                "revoked_by_id": None,
            }
        )
        self.next_grant += 1


class _People:
    """The demo's members: facts from the province generator, phones and cards of the demo."""

    def __init__(self, seed: int, phone_prefix: str, card_prefix: str) -> None:
        self.people = People(seed)
        self.phone_seq = 0
        self.card_seq = 0
        self.phone_prefix = phone_prefix
        self.card_prefix = card_prefix

    def add(self, plan: _Plan, branch: dict[str, Any], today: date) -> dict[str, Any]:
        facts = self.people.person(today)
        self.phone_seq += 1
        fields: dict[str, Any] = {
            "gender": "female" if facts.female else "male",
            "date_of_birth": facts.date_of_birth,
            "joined_date": facts.joined_date,
            "status": facts.status,
            "official_date": facts.official_date,
            "is_exempt": facts.is_exempt,
            "exempt_since": facts.exempt_since,
            "phone": f"{self.phone_prefix}{self.phone_seq:07d}" if facts.has_phone else None,
        }
        if facts.status != MemberStatus.PROBATIONARY.value:
            self.card_seq += 1
            fields["party_card_number"] = f"{self.card_prefix}{self.card_seq:07d}"
        return plan.member(branch, facts.full_name, **fields)


def _demo_plan(start: tuple[int, int, int], password_hash: str | None) -> _Plan:
    plan = _Plan(*start)
    today = date.today()  # noqa: DTZ011 - demo data only needs a calendar date
    people = _People(seed=20260701, phone_prefix="+8498", card_prefix="1")
    root = plan.org(None, OrgKind.PROVINCE_COMMITTEE, "Đảng bộ tỉnh Lâm Viên", code="LV")
    agency = plan.org(root, OrgKind.AFFILIATED_COMMITTEE, "Đảng bộ các cơ quan Đảng tỉnh", "LV-CQD")
    office = plan.org(agency, OrgKind.BRANCH, "Chi bộ Văn phòng Tỉnh ủy", "LV-CQD-VP")
    plan.org(agency, OrgKind.BRANCH, "Chi bộ Ban Tổ chức Tỉnh ủy", "LV-CQD-BTC")
    hoa_binh = plan.org(root, OrgKind.COMMUNE_COMMITTEE, "Đảng ủy phường Hòa Bình", "LV-HB")
    kp1 = plan.org(hoa_binh, OrgKind.BRANCH, "Chi bộ Khu phố 1", "LV-HB-KP1")
    for n in range(2, 6):
        plan.org(hoa_binh, OrgKind.BRANCH, f"Chi bộ Khu phố {n}", f"LV-HB-KP{n}")
    an_phu = plan.org(root, OrgKind.COMMUNE_COMMITTEE, "Đảng ủy phường An Phú", "LV-AP")
    for n in range(1, 5):
        plan.org(an_phu, OrgKind.BRANCH, f"Chi bộ Tổ dân phố {n}", f"LV-AP-TDP{n}")
    school = plan.org(
        an_phu, OrgKind.GRASSROOTS_COMMITTEE, "Đảng bộ Trường THPT An Phú", "LV-AP-THPT"
    )
    plan.org(school, OrgKind.BRANCH, "Chi bộ Giáo viên", "LV-AP-THPT-GV")
    tan_lap = plan.org(root, OrgKind.COMMUNE_COMMITTEE, "Đảng ủy xã Tân Lập", "LV-TL")
    for n in range(1, 5):
        plan.org(tan_lap, OrgKind.BRANCH, f"Chi bộ Thôn {n}", f"LV-TL-T{n}")
    phuoc_son = plan.org(root, OrgKind.COMMUNE_COMMITTEE, "Đảng ủy xã Phước Sơn", "LV-PS")
    for name, code in (("Chi bộ Thôn Đồng Xuân", "LV-PS-DX"), ("Chi bộ Thôn Đắk Ơ", "LV-PS-DO")):
        plan.org(phuoc_son, OrgKind.BRANCH, name, code)
    coop = plan.org(
        phuoc_son, OrgKind.GRASSROOTS_COMMITTEE, "Đảng bộ Hợp tác xã Phước Sơn", "LV-PS-HTX"
    )
    plan.org(coop, OrgKind.BRANCH, "Chi bộ Sản xuất", "LV-PS-HTX-SX")
    plan.org(coop, OrgKind.BRANCH, "Chi bộ Dịch vụ", "LV-PS-HTX-DV")

    demo = {a.phone: a for a in DEMO_ACCOUNTS}

    def account(phone: str, branch: dict[str, Any]) -> dict[str, Any]:
        return plan.member(
            branch,
            demo[phone].full_name,
            phone=phone,
            password_hash=password_hash,
            party_card_number=f"9{int(phone[-4:]):07d}",
            gender="female" if "Thị" in demo[phone].full_name else "male",
            date_of_birth=date(1980, 5, 19),
            joined_date=date(2005, 2, 3),
            official_date=date(2006, 2, 3),
        )

    officer = account("+84900000001", office)
    plan.grant(officer, root, Role.ORGANISATION_OFFICER)
    admin = account("+84900000009", office)
    plan.grant(admin, root, Role.DEPLOYMENT_ADMIN)
    secretary = account("+84900000002", kp1)
    plan.grant(secretary, kp1, Role.SECRETARY)
    account("+84900000003", kp1)
    ward_officer = account("+84900000004", kp1)
    plan.grant(ward_officer, hoa_binh, Role.ORGANISATION_OFFICER)

    for index, branch in enumerate(plan.branches):
        size = 12 + (index * 7) % 9
        created = [people.add(plan, branch, today) for _ in range(size)]
        leaders = [m for m in created if not m["is_exempt"] and m["status"] == "full"]
        if branch is not kp1 and leaders:
            plan.grant(leaders[0], branch, Role.SECRETARY)
        if len(leaders) > 1:
            plan.grant(leaders[1], branch, Role.DEPUTY_SECRETARY)
    for committee in (hoa_binh, an_phu, tan_lap, phuoc_son):
        members = [m for m in plan.members if m["org_path"].startswith(committee["path"])]
        plan.grant(members[-1], committee, Role.SECRETARY)
    _demo_history(plan, kp1, today)
    return plan


def _demo_history(plan: _Plan, kp1: dict[str, Any], today: date) -> None:
    """A few members with a past: a transfer, an exemption by decision, a residence
    attachment, a member who passed away (archived)."""
    by_id = {org["id"]: org for org in plan.orgs}
    in_kp1 = [m for m in plan.members if m["branch_id"] == kp1["id"]]
    kp2 = next(b for b in plan.branches if b["code"] == "LV-HB-KP2")
    tdp1 = next(b for b in plan.branches if b["code"] == "LV-AP-TDP1")
    moved = in_kp1[-1]  # came from Khu phố 2 on 1 September 2025
    plan.period(moved, kp2, None, date(2025, 9, 1))
    plan.period(moved, kp1, date(2025, 9, 1), None)
    an = next(m for m in in_kp1 if m["phone"] == "+84900000003")
    plan.period(an, kp1, None, None)
    plan.period(an, tdp1, date(2024, 1, 1), None, kind="residence")
    exempt = next((m for m in plan.members if m["is_exempt"] and m["exempt_since"]), None)
    if exempt is not None:
        branch = by_id[exempt["branch_id"]]
        plan.period(exempt, branch, None, exempt["exempt_since"], is_exempt=False)
        plan.period(exempt, branch, exempt["exempt_since"], None, exemption_ref="15-QĐ/ĐU")
    holders = {g["member_id"] for g in plan.grants}
    gone = next(
        m
        for m in reversed(plan.members)
        if m["branch_id"] != kp1["id"] and m["id"] not in holders and m is not exempt
    )
    gone_on = today - timedelta(days=30)
    gone.update(archived_on=gone_on, archive_reason="deceased", is_locked=True)
    plan.period(gone, by_id[gone["branch_id"]], None, gone_on)


_TABLES = cast(tuple[Table, Table, Table], (Org.__table__, Member.__table__, RoleGrant.__table__))


async def _next_ids(conn: AsyncConnection) -> tuple[int, int, int]:
    ids = []
    for table in _TABLES:
        ids.append(int(await conn.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1)
    return ids[0], ids[1], ids[2]


async def _write(engine: AsyncEngine, plan: _Plan, chunk: int = 5000) -> None:
    async with engine.begin() as conn:
        for table, rows in zip(_TABLES, (plan.orgs, plan.members, plan.grants), strict=True):
            for part in _chunks(rows, chunk):
                await conn.execute(insert(table), part)
        for part in _chunks(plan.periods, chunk):
            await conn.execute(insert(MembershipPeriod), part)
        if conn.dialect.name == "postgresql":
            for table in _TABLES:
                name = table.name
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608
                        f"(SELECT coalesce(max(id), 1) FROM {name}))"
                    )
                )
                await conn.execute(text(f"ANALYZE {name}"))


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def is_empty(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(Org.__table__)) == 0


@dataclass(frozen=True)
class SeedResult:
    orgs: int
    branches: int
    members: int
    grants: int


async def seed_demo(engine: AsyncEngine, *, password_hash: str | None) -> SeedResult:
    async with engine.connect() as conn:
        start = await _next_ids(conn)
    plan = _demo_plan(start, password_hash)
    await _write(engine, plan)
    async with engine.begin() as conn:
        await seed_demo_content(conn)
    await seed_demo_meetings(engine, DEMO_ACCOUNTS[1].phone)
    await _seed_study(engine, plan)
    await _demo_imports(engine)
    await _demo_stats_report(engine)
    return SeedResult(len(plan.orgs), len(plan.branches), len(plan.members), len(plan.grants))


async def _seed_study(engine: AsyncEngine, plan: _Plan) -> None:
    """The study area's demo objects (`services.seed_study`)."""
    async with async_sessionmaker(engine, expire_on_commit=False).begin() as session:
        await seed_study.seed(session, plan.orgs, plan.members)


async def _demo_imports(engine: AsyncEngine) -> None:
    """The ward officer's imports into Hòa Bình (one applied, one waiting to be applied) and an
    export of the ward. Their files are not in the demo's storage: the runs are for reading."""
    now = utcnow()
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    async with engine.begin() as conn:
        officer = await conn.scalar(select(Member.id).where(Member.phone == "+84900000004"))
        ward = await conn.scalar(select(Org.id).where(Org.code == "LV-HB"))
        if officer is None or ward is None:
            return
        counts = {
            "rows": 64,
            "created": 60,
            "updated": 0,
            "transferred": 0,
            "unchanged": 0,
            "rejected": 4,
        }
        for n, (status, applied) in enumerate(
            ((ImportStatus.APPLIED, True), (ImportStatus.CHECKED, False)), start=1
        ):
            upload_id = await conn.scalar(
                insert(Upload)
                .values(
                    member_id=officer,
                    purpose="import",
                    status="ready",
                    storage_key=f"uploads/import/demo/hoa-binh-{n}.xlsx",
                    filename=f"Danh sách đảng viên phường Hòa Bình {n}.xlsx",
                    content_type=xlsx,
                    size=18_432,
                    created_at=now,
                    expires_at=now,
                    attached_at=now,
                )
                .returning(Upload.id)
            )
            await conn.execute(
                insert(MemberImport).values(
                    org_id=ward,
                    created_by_id=officer,
                    upload_id=upload_id,
                    filename=f"Danh sách đảng viên phường Hòa Bình {n}.xlsx",
                    status=status,
                    next_row=65,
                    counts=counts,
                    checked_counts=counts,
                    created_at=now,
                    updated_at=now,
                    checked_at=now,
                    applied_at=now if applied else None,
                )
            )
        await conn.execute(
            insert(MemberExport).values(
                org_id=ward,
                created_by_id=officer,
                format="xlsx",
                include_phones=True,
                status="pending",
                rows=0,
                created_at=now,
            )
        )


async def _demo_stats_report(engine: AsyncEngine) -> None:
    """The ward officer's progress report of Hòa Bình for this month, queued for the worker."""
    from app.models import StatsReport
    from app.schemas.stats import PeriodKind
    from app.services import history, jobs, stats, stats_report

    async with async_sessionmaker(engine, expire_on_commit=False).begin() as session:
        officer = await session.scalar(select(Member.id).where(Member.phone == "+84900000004"))
        ward = await session.scalar(select(Org.id).where(Org.code == "LV-HB"))
        if officer is None or ward is None:
            return
        period = stats.resolve_period(
            PeriodKind.MONTH, None, None, today=history.local_today("Asia/Ho_Chi_Minh")
        )
        report = StatsReport(
            org_id=ward,
            created_by_id=officer,
            period_kind=period.kind,
            period_start=period.start,
            period_end=period.end,
            status="pending",
        )
        session.add(report)
        await session.flush()
        await jobs.enqueue(session, stats_report.REPORT_JOB, {"report_id": report.id})


def _quiet(_message: str) -> None:
    return None


async def seed_generated(
    engine: AsyncEngine,
    *,
    members: int,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
    rules: RulesSettings | None = None,
    worker: WorkerSettings | None = None,
) -> SeedResult:
    """A generated province of `members` members (`app/services/province.py`), then its
    statistics rollup: one run of the worker's `stats.rollup` job, so that the statistics (and
    the bench's stats part) read the rollup from the start."""
    written = await province.write(engine, members, seed=seed, progress=progress or _quiet)
    await build_rollup(engine, rules or RulesSettings(), worker or WorkerSettings(), progress)
    return SeedResult(written.orgs, written.branches, written.members, written.grants)


async def build_rollup(
    engine: AsyncEngine,
    rules: RulesSettings,
    worker: WorkerSettings,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, object]]:
    """One run of the statistics rollup job (`stats_rollup.run`) on the engine's database, with
    progress; PostgreSQL's statistics of the rollup tables refreshed after it."""
    from app.core.db import Database
    from app.services import stats_rollup

    say = progress or _quiet
    started = time.monotonic()
    say("statistics rollup: counting the periods the worker's job would count now")
    done = await stats_rollup.run(Database.over(engine), rules, worker, now=utcnow(), progress=say)
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("stats_rollup_period", "stats_rollup", "stats_branch_rollup"):
                await autocommit.execute(text(f"VACUUM ANALYZE {table}"))
    say(f"statistics rollup: {len(done)} period(s) in {time.monotonic() - started:.0f} s")
    return done
