"""The province generator at small sizes: its shape, its people, and what it writes."""

from __future__ import annotations

import random
from collections import Counter

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.phone import normalise_phone
from app.models import OrgKind
from app.services import province
from tests import dbs
from tests.conftest import FreshDatabase


def test_layout_scales_hanois_shape() -> None:
    shape = province.layout(47_600)  # a tenth of Hà Nội

    sizes = [b.size for b in shape.branches]
    kinds = shape.kinds()
    assert sum(sizes) == 47_600
    assert 1_600 <= len(shape.branches) <= 1_760  # ~28 members a branch
    assert min(sizes) >= 3
    assert max(sizes) > 2 * (47_600 / len(sizes))  # sizes vary
    assert kinds[OrgKind.PROVINCE_COMMITTEE.value] == 1
    assert 10 <= kinds[OrgKind.COMMUNE_COMMITTEE.value] <= 15
    assert kinds[OrgKind.GRASSROOTS_COMMITTEE.value] > 0
    assert kinds[OrgKind.PARTIAL_COMMITTEE.value] > 0
    assert kinds[OrgKind.AFFILIATED_COMMITTEE.value] >= 1
    # Variable depth: branches directly under the root, under communes, and deeper.
    depths = Counter(b.depth for b in shape.branches)
    assert {1, 2, 3, 4} <= set(depths)
    for org in shape.orgs:
        parent = org.parent
        assert org.path == (parent.path if parent else "/") + f"{org.id}/"
        assert org.depth == org.path.count("/") - 2


def test_layout_is_deterministic_and_starts_at_the_given_ids() -> None:
    first = province.layout(5_000, seed=3, start=(100, 2_000, 50))
    again = province.layout(5_000, seed=3, start=(100, 2_000, 50))

    assert [(o.path, o.name, o.size) for o in first.orgs] == [
        (o.path, o.name, o.size) for o in again.orgs
    ]
    assert first.root.id == 100
    assert first.member_ids == range(2_000, 7_000)


def test_tiny_province_still_has_a_branch_per_member_group() -> None:
    shape = province.layout(10)

    assert sum(b.size for b in shape.branches) == 10
    assert all(b.size >= 1 for b in shape.branches)


def test_family_names_follow_northern_frequencies() -> None:
    names = province.Names(random.Random(1))
    families = Counter(names.family() for _ in range(20_000))

    assert 0.35 <= families["Nguyễn"] / 20_000 <= 0.42
    assert families.most_common(4)[1][0] == "Trần"
    assert families["Hoàng"] > families["Huỳnh"] * 5  # a northern province
    assert len(families) >= 25


def test_phones_are_unique_vietnamese_mobiles() -> None:
    phones = [province.phone_for(i) for i in range(1, 500_001)]

    assert len(set(phones)) == len(phones)
    assert all(len(p) == 12 and p.startswith("+84") for p in phones[:1000])
    assert "+84900000001" not in phones  # the demo's accounts stay free
    # Every prefix is a number the app itself accepts at login.
    for member_id in range(len(province.MOBILE_PREFIXES)):
        assert normalise_phone(province.phone_for(member_id)) == province.phone_for(member_id)


async def _scalar(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(sql)) or 0)


async def test_write_stores_the_province_with_roles_and_people(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    await dbs.migrate(engine, "upgrade", "head")
    messages: list[str] = []

    written = await province.write(engine, 3_000, progress=messages.append, chunk=1_000)

    assert written.members == 3_000
    assert await _scalar(engine, "SELECT count(*) FROM member") == 3_000
    assert await _scalar(engine, "SELECT count(*) FROM org") == written.orgs
    assert await _scalar(engine, "SELECT count(*) FROM role_grant") == written.grants
    branches = await _scalar(engine, "SELECT count(*) FROM org WHERE kind = 'branch'")
    assert branches == written.branches
    # Every branch and every committee has exactly one secretary.
    secretaries = await _scalar(
        engine, "SELECT count(DISTINCT org_id) FROM role_grant WHERE role = 'secretary'"
    )
    assert secretaries == await _scalar(engine, "SELECT count(*) FROM org")
    assert (
        await _scalar(engine, "SELECT count(*) FROM role_grant WHERE role = 'organisation_officer'")
        >= 2
    )
    # Members sit in their branch's path; shares of exempt and probationary members.
    assert (
        await _scalar(
            engine,
            "SELECT count(*) FROM member m JOIN org o ON o.id = m.branch_id "
            "WHERE m.org_path <> o.path",
        )
        == 0
    )
    exempt = await _scalar(engine, "SELECT count(*) FROM member WHERE is_exempt")
    probationary = await _scalar(
        engine,
        "SELECT count(*) FROM member WHERE status = 'probationary'",
    )
    assert 150 <= exempt <= 400
    assert 60 <= probationary <= 200
    assert await _scalar(engine, "SELECT count(*) FROM member WHERE phone IS NULL") < 400
    assert any(m.startswith("members 1,000/3,000") for m in messages)
    # Each area's data. Meetings: a year of them, next week's announced in every branch.
    await _assert_a_year_of_meetings(engine, written.branches)
    # Study: points in the ledger, balances, totals by unit.
    assert any(m.startswith("study: ") for m in messages)
    entries = await _scalar(engine, "SELECT count(*) FROM point_entry")
    assert entries > 3_000  # most members attend most months
    assert await _scalar(engine, "SELECT count(*) FROM quiz_attempt") > 0
    assert await _scalar(engine, "SELECT sum(points) FROM point_balance") == 10 * entries
    root_total = await _scalar(
        engine, "SELECT points FROM point_org_total WHERE org_id = (SELECT min(id) FROM org)"
    )
    assert root_total == 10 * entries
    # Content: receipts, and the coverage report's counters agree with them.
    receipts = await _scalar(engine, "SELECT count(*) FROM document_receipt")
    assert receipts > 3_000
    assert await _scalar(engine, "SELECT sum(opened) FROM document_branch_reads") == receipts
    assert await _scalar(engine, "SELECT sum(studied) FROM document_branch_reads") == (
        await _scalar(engine, "SELECT count(studied_at) FROM document_receipt")
    )
    # The root's children's unit counters (what its report reads) hold every receipt.
    assert (
        await _scalar(
            engine,
            "SELECT sum(u.opened) FROM document_unit_reads u JOIN org o ON o.id = u.org_id "
            "WHERE o.depth = 1",
        )
        == receipts
    )

    # A second province next to the first: ids continue, nothing collides.
    second = await province.write(engine, 500, seed=8)

    assert second.province.root.id > written.province.orgs[-1].id
    assert await _scalar(engine, "SELECT count(*) FROM member") == 3_500


async def _assert_a_year_of_meetings(engine: AsyncEngine, branches: int) -> None:
    """Issue 11's generated year: most branches met in the app every month, every member of the
    branch summoned to each meeting, realistic attendance, votes, minutes (some late), ratings,
    tasks and comments."""
    assert await _scalar(engine, "SELECT count(*) FROM meeting WHERE status = 'announced'") == (
        branches
    )
    closed = await _scalar(engine, "SELECT count(*) FROM meeting WHERE status = 'closed'")
    assert 0.8 * 12 * branches < closed <= 12 * branches
    every_month = await _scalar(
        engine,
        "SELECT count(*) FROM (SELECT org_id FROM meeting WHERE status = 'closed' "
        "GROUP BY org_id HAVING count(*) = 12) b",
    )
    assert 0.7 * branches < every_month < branches  # most, not all, met in the app every month
    # One attendance row for every member of the branch at each of its meetings, nobody else's.
    assert await _scalar(engine, "SELECT count(*) FROM meeting_attendee") == await _scalar(
        engine, "SELECT count(*) FROM meeting m JOIN member x ON x.branch_id = m.org_id"
    )
    counted = (
        "FROM meeting_attendee a JOIN meeting m ON m.id = a.meeting_id "
        "WHERE m.status = 'closed' AND NOT a.is_exempt"
    )
    summoned = await _scalar(engine, f"SELECT count(*) {counted}")
    present = await _scalar(engine, f"SELECT count(*) {counted} AND a.attendance = 'present'")
    excused = await _scalar(engine, f"SELECT count(*) {counted} AND a.attendance = 'excused'")
    assert 0.82 * summoned < present < 0.92 * summoned
    assert 0.04 * summoned < excused < 0.12 * summoned
    assert await _scalar(engine, f"SELECT count(*) {counted} AND a.attendance = 'pending'") == 0
    assert (
        await _scalar(
            engine,
            "SELECT count(*) FROM meeting_attendee WHERE attendance = 'excused' "
            "AND excuse_reason IS NULL",
        )
        == 0
    )
    often_absent = await _scalar(
        engine,
        "SELECT count(*) FROM (SELECT member_id FROM meeting_attendee "
        "WHERE attendance = 'absent' GROUP BY member_id HAVING count(*) >= 3) f",
    )
    members = await _scalar(engine, "SELECT count(*) FROM member")
    assert 0 < often_absent < 0.1 * members  # a few members are often absent
    assert (
        await _scalar(
            engine,
            "SELECT count(*) FROM meeting_attendee WHERE is_exempt AND attendance = 'absent'",
        )
        == 0
    )
    # A vote on the month's resolution at every closed meeting: ballots or a show of hands.
    assert await _scalar(engine, "SELECT count(*) FROM motion") == closed
    assert await _scalar(engine, "SELECT count(*) FROM motion WHERE is_show_of_hands") > 0
    assert await _scalar(engine, "SELECT count(*) FROM motion_vote") > 5 * closed
    # Minutes: on time (48 h) in most meetings, late or missing in some.
    on_time = await _scalar(
        engine,
        "SELECT count(*) FROM meeting WHERE status = 'closed' "
        "AND minutes_at <= closed_at + interval '48 hours'"
        if engine.dialect.name == "postgresql"
        else "SELECT count(*) FROM meeting WHERE status = 'closed' "
        "AND julianday(minutes_at) <= julianday(closed_at) + 2",
    )
    missing = await _scalar(
        engine, "SELECT count(*) FROM meeting WHERE status = 'closed' AND minutes_at IS NULL"
    )
    assert 0.7 * closed < on_time < closed
    assert 0 < missing < 0.1 * closed
    assert (
        await _scalar(
            engine,
            "SELECT count(*) FROM meeting WHERE status = 'closed' AND rating NOT IN "
            "('good', 'fair', 'average', 'poor')",
        )
        == 0
    )
    assert await _scalar(engine, "SELECT count(*) FROM task") > 0.5 * closed
    assert await _scalar(engine, "SELECT count(*) FROM meeting_comment") > 0.3 * closed
