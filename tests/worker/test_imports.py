"""The import jobs: a phase stopped between batches resumes at its cursor; two applies of one
file at once (PostgreSQL: really at once) create each member once, and move a member named in
a transfer once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import SystemClock
from app.core.ratelimit import MemoryRateLimiter
from app.integrations.storage import ObjectNotFound
from app.models import (
    AuditEvent,
    Job,
    Member,
    MemberImport,
    MemberImportRow,
    MembershipPeriod,
    OrgKind,
    Role,
    Upload,
)
from app.resources import Resources
from app.services.imports.runs import APPLY_JOB, CHECK_JOB
from app.worker import import_file, queue
from app.worker.handlers import imports as import_jobs
from app.worker.registry import JobContext, Later
from tests import dbs
from tests.conftest import FreshDatabase, make_settings
from tests.factories import Tree, grant, make_member, make_org
from tests.imports_helpers import xlsx_file


def _rows(count: int, branch: str, start: int = 0) -> list[list[Any]]:
    return [
        [f"07.{start + n:06d}", f"Nguyễn Văn Thứ {n}", "", "", f"0977{start + n:06d}", branch,
         "", "", "", ""]
        for n in range(count)
    ]  # fmt: skip


async def _claim(resources: Resources, kind: str, stopping: bool) -> JobContext:
    clock = SystemClock()
    async with resources.db.write.begin() as session:
        (job,) = await queue.claim(session, "test", now=clock.now(), limit=1, lease_s=600)
    assert job.kind == kind
    ctx = JobContext(job=job, resources=resources, clock=clock, owner="test")
    if stopping:
        ctx.stopping.set()
    return ctx


async def _later(resources: Resources, ctx: JobContext, outcome: Later) -> None:
    async with resources.db.write.begin() as session:
        assert await queue.retry_later(
            session, ctx.job.id, ctx.owner, run_after=outcome.at, now=outcome.at, error=None,
            count_attempt=False,
        )  # fmt: skip


async def test_a_stopped_phase_resumes_after_its_last_batch(
    resources: Resources,
    session: AsyncSession,
    tree: Tree,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resources.settings.imports, "batch_rows", 3)
    rows = _rows(7, "Chi bộ Khu phố 1")
    rows[4][4] = "123"  # a bad phone in the second batch
    file = tmp_path / "ds.xlsx"
    file.write_bytes(xlsx_file(rows))
    import_id = await import_file.start(resources, file, tree.c1.id, tree.officer_c1.id)
    await import_file.run_phase(resources, import_id, CHECK_JOB)
    await import_file.apply(resources, import_id, tree.officer_c1.id)

    ctx = await _claim(resources, APPLY_JOB, stopping=True)
    outcome = await import_jobs.apply_import(ctx)
    assert isinstance(outcome, Later)
    run = await session.get(MemberImport, import_id, populate_existing=True)
    assert run is not None
    assert (run.status, run.next_row) == ("applying", 4)  # rows 2-4 of the file
    assert run.counts == {
        "rows": 3,
        "created": 3,
        "updated": 0,
        "transferred": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    assert await _count(session, Member.party_card_number.like("07.%")) == 3
    await _later(resources, ctx, outcome)

    ctx = await _claim(resources, APPLY_JOB, stopping=False)
    assert await import_jobs.apply_import(ctx) is None
    run = await session.get(MemberImport, import_id, populate_existing=True)
    assert run is not None
    assert run.status == "applied"
    assert run.counts is not None
    assert (run.counts["rows"], run.counts["created"], run.counts["rejected"]) == (7, 6, 1)
    assert await _count(session, Member.party_card_number.like("07.%")) == 6
    rejected = (
        await session.scalars(
            select(MemberImportRow.row).where(MemberImportRow.import_id == import_id)
        )
    ).all()
    assert rejected == [6]


async def _count(session: AsyncSession, *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(Member).where(*where)) or 0)


@pytest.fixture
async def live(fresh_db: FreshDatabase) -> AsyncIterator[tuple[Resources, int, int]]:
    await dbs.migrate(fresh_db.engine)
    settings = make_settings(fresh_db.url)
    settings.imports.batch_rows = 25
    resources = Resources.build(settings)
    resources.limiter = resources.auth.limiter = MemoryRateLimiter()
    async with resources.db.write() as session:
        branch = await make_org(session, name="Chi bộ Đồng thời")
        officer = await make_member(session, branch, full_name="Trần Thị Cán Bộ")
        await grant(session, officer, branch, Role.ORGANISATION_OFFICER)
        await session.commit()
        ids = branch.id, officer.id
    yield resources, *ids
    await resources.aclose()


async def test_two_applies_of_one_file_at_once_create_each_member_once(
    live: tuple[Resources, int, int], tmp_path: Path
) -> None:
    resources, branch_id, officer_id = live
    resources.settings.data_dir = tmp_path
    file = tmp_path / "ds.xlsx"
    file.write_bytes(xlsx_file(_rows(120, "Chi bộ Đồng thời", start=500)))
    ids = [await import_file.start(resources, file, branch_id, officer_id) for _ in range(2)]
    for import_id in ids:
        checked = await import_file.run_phase(resources, import_id, CHECK_JOB)
        assert checked.counts["created"] == 120
        await import_file.apply(resources, import_id, officer_id)
    results = await asyncio.gather(*(import_file.run_phase(resources, i, APPLY_JOB) for i in ids))
    assert [r.status for r in results] == ["applied", "applied"]
    assert sum(r.counts["created"] for r in results) == 120
    for import_id, result in zip(ids, results, strict=True):
        async with resources.db.write() as session:
            problems = (
                await session.execute(
                    select(MemberImportRow.problems).where(MemberImportRow.import_id == import_id)
                )
            ).all()
        assert result.counts["created"] + result.counts["unchanged"] == 120, (
            result.counts,
            problems[:3],
        )
        assert result.counts["rejected"] == 0
    async with resources.db.write() as session:
        assert await _count(session, Member.party_card_number.like("07.%")) == 120


async def test_a_phase_failing_on_its_last_attempt_leaves_the_import_failed(
    resources: Resources, session: AsyncSession, tree: Tree, tmp_path: Path
) -> None:
    file = tmp_path / "ds.xlsx"
    file.write_bytes(xlsx_file(_rows(2, "Chi bộ Khu phố 1")))
    import_id = await import_file.start(resources, file, tree.c1.id, tree.officer_c1.id)
    run = await session.get(MemberImport, import_id)
    assert run is not None
    upload = await session.get(Upload, run.upload_id)
    assert upload is not None
    await resources.storage.delete(upload.storage_key)  # the file is gone from the storage
    await session.execute(update(Job).where(Job.kind == CHECK_JOB).values(max_attempts=1))
    ctx = await _claim(resources, CHECK_JOB, stopping=False)
    with pytest.raises(ObjectNotFound):
        await import_jobs.check_import(ctx)
    run = await session.get(MemberImport, import_id, populate_existing=True)
    assert run is not None
    assert (run.status, run.error_code) == ("failed", "import.job_failed")


@pytest.fixture
async def live_transfer(fresh_db: FreshDatabase) -> AsyncIterator[tuple[Resources, dict[str, int]]]:
    """A committee with two branches, its organisation officer, and a member of the first."""
    await dbs.migrate(fresh_db.engine)
    settings = make_settings(fresh_db.url)
    resources = Resources.build(settings)
    resources.limiter = resources.auth.limiter = MemoryRateLimiter()
    async with resources.db.write() as session:
        committee = await make_org(session, kind=OrgKind.COMMUNE_COMMITTEE, name="Đảng ủy Thử")
        first = await make_org(session, committee, name="Chi bộ Đi")
        second = await make_org(session, committee, name="Chi bộ Đến")
        officer = await make_member(session, first, full_name="Trần Thị Cán Bộ")
        await grant(session, officer, committee, Role.ORGANISATION_OFFICER)
        mover = await make_member(session, first, full_name="Lý Văn Chuyển", card="07.900001")
        await session.commit()
        ids = {"committee": committee.id, "to": second.id, "officer": officer.id, "mover": mover.id}
    yield resources, ids
    await resources.aclose()


async def test_two_applies_of_one_transfer_at_once_move_the_member_once(
    live_transfer: tuple[Resources, dict[str, int]], tmp_path: Path
) -> None:
    resources, ids = live_transfer
    resources.settings.data_dir = tmp_path
    file = tmp_path / "ds.xlsx"
    file.write_bytes(
        xlsx_file([["07.900001", "Lý Văn Chuyển", "", "", "", "Chi bộ Đến", "", "", "", ""]])
    )
    officer = ids["officer"]
    runs = [
        await import_file.start(resources, file, ids["committee"], officer, allow_transfers=True)
        for _ in range(2)
    ]
    for import_id in runs:
        checked = await import_file.run_phase(resources, import_id, CHECK_JOB)
        assert checked.counts["transferred"] == 1
        await import_file.apply(resources, import_id, officer)
    results = await asyncio.gather(*(import_file.run_phase(resources, i, APPLY_JOB) for i in runs))
    assert [r.status for r in results] == ["applied", "applied"]
    assert sorted((r.counts["transferred"], r.counts["unchanged"]) for r in results) == [
        (0, 1),
        (1, 0),
    ]
    async with resources.db.write() as session:
        mover = await session.get(Member, ids["mover"])
        assert mover is not None
        assert mover.branch_id == ids["to"]
        periods = await session.scalar(
            select(func.count())
            .select_from(MembershipPeriod)
            .where(MembershipPeriod.member_id == ids["mover"])
        )
        assert periods == 2
        moves = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "member.transfer_in",
                AuditEvent.target_id == str(ids["mover"]),
            )
        )
        assert moves == 1
