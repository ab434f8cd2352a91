"""Copies of org paths: every `*_path` column is `org.path` or registered where paths are
rewritten, and the rewrite moves every copy with its org."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Base, Meeting, MeetingStatus, Member, Org, OrgKind
from app.models.base import utcnow
from app.services import orgs as org_service
from tests.content_factories import make_meeting
from tests.factories import make_member, make_org


def test_every_path_column_is_registered() -> None:
    path_columns = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if column.name == "path" or column.name.endswith("_path")
    }
    registered = {(copy.table, copy.column) for copy in org_service.PATH_COPIES}
    unregistered = path_columns - registered - {("org", "path")}
    assert not unregistered, (
        f"register these path copies in app/services/orgs.py PATH_COPIES: {sorted(unregistered)}"
    )
    assert registered <= path_columns, "PATH_COPIES names a column that does not exist"
    for copy in org_service.PATH_COPIES:
        assert copy.org_column in Base.metadata.tables[copy.table].c, copy


async def test_rewriting_a_subtree_moves_every_copy(session: AsyncSession) -> None:
    root = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Tỉnh ủy")
    old_parent = await make_org(session, root, kind=OrgKind.COMMUNE_COMMITTEE, name="Xã Cũ")
    new_parent = await make_org(session, root, kind=OrgKind.COMMUNE_COMMITTEE, name="Phường Mới")
    moving = await make_org(session, old_parent, kind=OrgKind.GRASSROOTS_COMMITTEE, name="Trường")
    branch = await make_org(session, moving, name="Chi bộ Giáo viên")
    staying = await make_org(session, old_parent, name="Chi bộ Ở Lại")
    member = await make_member(session, branch, full_name="Nguyễn Văn Chuyển")
    other = await make_member(session, staying, full_name="Trần Văn Ở")
    # Written without its copy of the path: it takes the branch's.
    meeting = await make_meeting(session, branch, MeetingStatus.CLOSED, starts_at=utcnow())
    assert meeting.org_path == branch.path
    old, new = moving.path, f"{new_parent.path}{moving.id}/"

    await org_service.rewrite_paths(session, old, new)

    paths = dict((await session.execute(select(Org.id, Org.path))).all())
    assert paths[moving.id] == new
    assert paths[branch.id] == f"{new}{branch.id}/"
    assert paths[staying.id] == staying.path
    member_paths = dict((await session.execute(select(Member.id, Member.org_path))).all())
    assert member_paths[member.id] == f"{new}{branch.id}/"
    assert member_paths[other.id] == staying.path
    meeting_path = await session.scalar(
        select(Meeting.org_path)
        .where(Meeting.id == meeting.id)
        .execution_options(populate_existing=True)
    )
    assert meeting_path == f"{new}{branch.id}/"


async def test_rows_re_pointed_to_an_org_take_its_path(session: AsyncSession) -> None:
    root = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Tỉnh ủy")
    merged = await make_org(session, root, name="Chi bộ Sáp Nhập")
    into = await make_org(session, root, name="Chi bộ Tiếp Nhận")
    member = await make_member(session, merged, full_name="Lê Văn Theo")
    await session.execute(update(Member).where(Member.id == member.id).values(branch_id=into.id))

    await org_service.sync_path_copies(session, into.id, into.path)

    path = await session.scalar(
        select(Member.org_path)
        .where(Member.id == member.id)
        .execution_options(populate_existing=True)
    )
    assert path == into.path
