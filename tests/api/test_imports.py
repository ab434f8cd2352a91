"""Member imports: dry run, apply, re-import, the report, refused rows and files, exports."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, Member, Upload
from app.resources import Resources
from tests import samples
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem
from tests.imports_helpers import (
    csv_file,
    download,
    get_import,
    run_jobs,
    sheet_rows,
    start_import,
    upload,
    xlsx_file,
)

ROWS: list[list[Any]] = [
    [
        "01.000101",
        "Phạm Văn Một",
        "15/03/1975",
        "Nam",
        "0912 000 101",
        "Chi bộ Khu phố 1",
        "Chính thức",
        "03/02/2005",
        "03/02/2006",
        "Không",
    ],
    [
        "01.000102",
        "Lê Thị Hai",
        date(1980, 5, 1),
        "Nữ",
        "0912000102",
        "Chi bộ Khu phố 2",
        "Dự bị",
        date(2025, 6, 1),
        None,
        "",
    ],
    ["01.000103", "Hoàng Văn Ba", "", "", "", "chi bo giao vien", "", "", "", "x"],
    # Bad: a phone that is no phone; a card number already in an earlier row; a future date.
    ["01.000104", "Đỗ Văn Bốn", "", "", "12345", "Chi bộ Khu phố 1", "", "", "", ""],
    ["01.000101", "Trùng Số Thẻ", "", "", "", "Chi bộ Khu phố 1", "", "", "", ""],
    ["01.000105", "Vũ Thị Năm", "01/01/2090", "", "", "Chi bộ Khu phố 1", "", "", "", ""],
]


async def _members(session: AsyncSession, *cards: str) -> dict[str, Member]:
    rows = await session.scalars(
        select(Member)
        .where(Member.party_card_number.in_(cards))
        .execution_options(populate_existing=True)
    )
    return {m.party_card_number or "": m for m in rows}


async def _members_in(session: AsyncSession, path: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(Member).where(Member.org_path.startswith(path))
        )
        or 0
    )


async def test_dry_run_changes_nothing_then_apply_upserts_and_reimport_is_unchanged(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    resources: Resources,
    session: AsyncSession,
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    data = xlsx_file(ROWS, title=True)
    created = await start_import(client, officer, tree.c1.id, data)
    assert created["status"] == "checking"
    await run_jobs(resources)
    run = await get_import(client, officer, created["id"])
    assert run["status"] == "checked", run
    assert run["checked"] == {
        "rows": 6,
        "created": 3,
        "updated": 0,
        "transferred": 0,
        "unchanged": 0,
        "rejected": 3,
        "missing": await _members_in(session, tree.c1.path),
    }
    assert await _members(session, "01.000101", "01.000102", "01.000103") == {}

    rejected = (
        await client.get(f"/api/v1/imports/{run['id']}/rejected-rows", headers=officer)
    ).json()
    by_row = {item["row"]: item["problems"] for item in rejected["items"]}
    assert [p["code"] for p in by_row[7]] == ["import.phone_invalid"]
    assert [p["code"] for p in by_row[8]] == ["import.card_duplicate"]
    assert "dòng 4" in by_row[8][0]["message"]
    assert [p["code"] for p in by_row[9]] == ["import.date_in_future"]
    assert by_row[9][0]["header"] == "Ngày sinh"

    applied = await client.post(f"/api/v1/imports/{run['id']}/apply", headers=officer)
    assert applied.status_code == 202, applied.text
    await run_jobs(resources)
    run = await get_import(client, officer, run["id"])
    assert run["status"] == "applied"
    assert run["progress"]["created"] == 3
    assert run["progress"]["rejected"] == 3
    members = await _members(session, "01.000101", "01.000102", "01.000103")
    assert set(members) == {"01.000101", "01.000102", "01.000103"}
    one, two, three = members["01.000101"], members["01.000102"], members["01.000103"]
    assert (one.branch_id, one.phone, one.status, one.gender) == (
        tree.b1.id,
        "+84912000101",
        "full",
        "male",
    )
    assert (one.date_of_birth, one.joined_date, one.official_date) == (
        date(1975, 3, 15),
        date(2005, 2, 3),
        date(2006, 2, 3),
    )
    assert one.org_path == tree.b1.path
    assert one.sort_key == "mot pham van"
    assert (two.branch_id, two.status, two.gender) == (tree.b2.id, "probationary", "female")
    assert (three.branch_id, three.is_exempt, three.phone) == (tree.b3.id, True, None)
    assert not one.is_locked
    assert one.password_hash is None
    versions = {card: m.version for card, m in members.items()}

    # The same file again: nothing changes.
    again = await start_import(client, officer, tree.c1.id, data)
    await run_jobs(resources)
    again = await get_import(client, officer, again["id"])
    assert again["checked"]["unchanged"] == 3
    assert again["checked"]["created"] == 0
    await client.post(f"/api/v1/imports/{again['id']}/apply", headers=officer)
    await run_jobs(resources)
    again = await get_import(client, officer, again["id"])
    assert again["status"] == "applied"
    assert again["progress"]["unchanged"] == 3
    assert again["progress"]["created"] == again["progress"]["updated"] == 0
    members = await _members(session, "01.000101", "01.000102", "01.000103")
    assert {card: m.version for card, m in members.items()} == versions

    actions = (
        await session.scalars(
            select(AuditEvent.action).where(AuditEvent.target_type == "member_import")
        )
    ).all()
    assert sorted(actions) == sorted(
        ["member_import.create", "member_import.apply", "member_import.applied"] * 2
    )

    # A member created by the import can log in by SMS code at once.
    sent = await client.post("/api/v1/auth/otp/request", json={"phone": "0912000101"})
    assert sent.status_code in (200, 202), sent.text


async def test_an_import_updates_changed_fields_and_empty_cells_keep_values(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    resources: Resources,
    session: AsyncSession,
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    first = [
        [
            "02.000001",
            "Ngô Văn Sáu",
            "",
            "Nam",
            "0913000001",
            "Chi bộ Khu phố 1",
            "Dự bị",
            "01/06/2025",
            "",
            "",
        ]
    ]
    run = await start_import(client, officer, tree.b1.id, xlsx_file(first))
    await run_jobs(resources)
    await client.post(f"/api/v1/imports/{run['id']}/apply", headers=officer)
    await run_jobs(resources)
    # Headers without diacritics, in another order, CSV with a BOM and semicolons; the branch
    # column is left out (the import's org is a branch).
    headers = ["ho va ten", "SO THE DANG VIEN", "loai dang vien", "Ngay chinh thuc"]
    second = [["Ngô Văn Sáu", "02.000001", "Chính thức", "01/06/2026"]]
    run = await start_import(
        client, officer, tree.b1.id, csv_file(second, headers, delimiter=";", bom=True), "a.csv"
    )
    await run_jobs(resources)
    run = await get_import(client, officer, run["id"])
    assert run["status"] == "checked", run
    assert run["checked"]["updated"] == 1
    await client.post(f"/api/v1/imports/{run['id']}/apply", headers=officer)
    await run_jobs(resources)
    member = (await _members(session, "02.000001"))["02.000001"]
    assert member.status == "full"
    assert member.official_date == date(2026, 6, 1)
    assert member.phone == "+84913000001"  # not in the file: kept
    assert member.gender == "male"
    assert member.version == 2


async def test_a_card_number_of_another_branch_or_a_taken_phone_is_refused(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    resources: Resources,
    session: AsyncSession,
) -> None:
    tree.outsider.party_card_number = "09.999999"
    await session.flush()
    officer = await as_actor(tree.officer_root.id)
    rows: list[list[Any]] = [
        ["09.999999", "Người Ngoài", "", "", "", "Chi bộ Khu phố 1", "", "", "", ""],
        [
            "09.000001",
            "Trần Văn Mới",
            "",
            "",
            tree.member.phone,
            "Chi bộ Khu phố 1",
            "",
            "",
            "",
            "",
        ],
        ["09.000002", "Trần Văn Tốt", "", "", "", "Chi bộ Không Có", "", "", "", ""],
    ]
    run = await start_import(client, officer, tree.p.id, xlsx_file(rows))
    await run_jobs(resources)
    await client.post(f"/api/v1/imports/{run['id']}/apply", headers=officer)
    await run_jobs(resources)
    run = await get_import(client, officer, run["id"])
    assert run["progress"]["rejected"] == 3
    items = (
        await client.get(f"/api/v1/imports/{run['id']}/rejected-rows", headers=officer)
    ).json()["items"]
    assert [[p["code"] for p in i["problems"]] for i in items] == [
        ["import.card_other_branch"],
        ["import.phone_taken"],
        ["import.branch_unknown"],
    ]
    await session.refresh(tree.outsider)
    assert tree.outsider.branch_id == tree.b4.id
    assert await _members(session, "09.000001", "09.000002") == {}


async def test_the_report_shows_the_problems_beside_each_refused_row(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    resources: Resources,
    session: AsyncSession,
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    run = await start_import(client, officer, tree.c1.id, xlsx_file(ROWS))
    await run_jobs(resources)
    link = await client.get(f"/api/v1/imports/{run['id']}/report", headers=officer)
    assert link.status_code == 200, link.text
    report = await download(client, link.json()["url"])
    summary = sheet_rows(report, "Tổng hợp")
    assert ["Thêm mới", 3] in summary
    assert ["Bị từ chối", 3] in summary
    rows = sheet_rows(report, "Dòng bị từ chối")
    assert rows[0][0] == "Dòng"
    assert rows[0][-1] == "Lỗi"
    assert rows[1][:3] == [5, "01.000104", "Đỗ Văn Bốn"]
    assert "Số điện thoại" in rows[1][-1]
    missing = sheet_rows(report, "Không có trong tệp")
    # C1's members, none of whom is in the file.
    assert len(missing) == 1 + await _members_in(session, tree.c1.path)


async def test_unusable_files_fail_with_a_clear_problem_and_change_nothing(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    resources: Resources,
    session: AsyncSession,
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    good = ["03.000001", "Tên Hợp Lệ", "", "", "", "Chi bộ Khu phố 1", "", "", "", ""]
    cases = {
        "import.missing_columns": xlsx_file([good[1:3]], ["Họ và tên", "Ngày sinh"]),
        "import.no_header": xlsx_file([["a", "b"]], ["Cột A", "Cột B"]),
        "import.formula": xlsx_file([good, [*good[:1], '=HYPERLINK("x")', *good[2:]]]),
        "import.duplicate_column": csv_file([[*good, "x"]], [*HEADERS_WITH_DUPLICATE]),
        # A header and no member; a workbook whose sheet is blank.
        "import.empty": csv_file([], bom=True),
    }
    before = await session.scalar(select(func.count()).select_from(Member))
    for code, data in cases.items():
        run = await start_import(client, officer, tree.c1.id, data)
        await run_jobs(resources)
        run = await get_import(client, officer, run["id"])
        assert run["status"] == "failed", (code, run)
        assert run["error"]["code"] == code
        applied = await client.post(f"/api/v1/imports/{run['id']}/apply", headers=officer)
        assert_problem(applied, 409, "import.not_checked")
    blank = await start_import(client, officer, tree.c1.id, xlsx_file([], headers=[""]))
    await run_jobs(resources)
    blank = await get_import(client, officer, blank["id"])
    assert (blank["status"], blank["error"]["code"]) == ("failed", "import.empty")
    assert await session.scalar(select(func.count()).select_from(Member)) == before
    # Files that are no spreadsheet never become an import.
    refused = await client.post(
        "/api/v1/uploads",
        params={"purpose": "import"},
        content=samples.csv_windows_1258(),
        headers={**officer, "Content-Type": "text/csv"},
    )
    assert_problem(refused, 415, "upload.unsupported_encoding")


HEADERS_WITH_DUPLICATE = [
    "Số thẻ đảng viên",
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Số điện thoại",
    "Chi bộ",
    "Loại đảng viên",
    "Ngày vào Đảng",
    "Ngày chính thức",
    "Miễn sinh hoạt",
    "Ho va ten",
]


async def test_an_import_is_applied_once_and_only_after_its_dry_run(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, resources: Resources
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    run = await start_import(client, officer, tree.c1.id, xlsx_file(ROWS[:1]))
    early = await client.post(f"/api/v1/imports/{run['id']}/apply", headers=officer)
    assert_problem(early, 409, "import.not_checked")
    await run_jobs(resources)
    assert (
        await client.post(f"/api/v1/imports/{run['id']}/apply", headers=officer)
    ).status_code == 202
    again = await client.post(f"/api/v1/imports/{run['id']}/apply", headers=officer)
    assert_problem(again, 409, "import.already_applied")
    # The upload is used: a second import of it is refused.
    listed = (await client.get(f"/api/v1/orgs/{tree.c1.id}/imports", headers=officer)).json()
    assert [i["id"] for i in listed["items"]] == [run["id"]]


async def test_the_template_downloads_and_imports_as_is(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, resources: Resources
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    template = await client.get("/api/v1/imports/template", headers=officer)
    assert template.status_code == 200
    rows = sheet_rows(template.content)
    assert rows[0][:2] == ["Số thẻ đảng viên", "Họ và tên"]
    as_csv = await client.get("/api/v1/imports/template?format=csv", headers=officer)
    assert as_csv.content.decode("utf-8-sig").startswith("Số thẻ đảng viên,Họ và tên")
    run = await start_import(client, officer, tree.c1.id, template.content)
    await run_jobs(resources)
    run = await get_import(client, officer, run["id"])
    # The example row names "Chi bộ Khu phố 1", which C1 has.
    assert run["checked"]["created"] == 1, run


async def test_an_export_lists_the_subtree_with_the_import_columns(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    resources: Resources,
    session: AsyncSession,
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    created = await client.post(
        f"/api/v1/orgs/{tree.c1.id}/exports", json={"format": "xlsx"}, headers=officer
    )
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "pending"
    await run_jobs(resources)
    export = (await client.get(f"/api/v1/exports/{created.json()['id']}", headers=officer)).json()
    assert export["status"] == "done"
    assert export["include_phones"] is True
    rows = sheet_rows(await download(client, export["download"]["url"]))
    c1_members = await session.scalar(
        select(func.count()).select_from(Member).where(Member.org_path.startswith(tree.c1.path))
    )
    assert export["rows"] == c1_members == len(rows) - 1
    names = {row[1] for row in rows[1:]}
    assert tree.member.full_name in names
    assert tree.outsider.full_name not in names
    assert tree.member.phone in {row[4] for row in rows[1:]}
    as_csv = await client.post(
        f"/api/v1/orgs/{tree.c1.id}/exports", json={"format": "csv"}, headers=officer
    )
    await run_jobs(resources)
    export = (await client.get(f"/api/v1/exports/{as_csv.json()['id']}", headers=officer)).json()
    text = (await download(client, export["download"]["url"])).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Số thẻ đảng viên,Họ và tên")
    audit = await session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "member_export.create")
    )
    assert audit == 2
    assert await upload(client, officer, csv_file([]), "x.csv")


async def test_files_that_are_no_member_spreadsheet_are_refused_at_upload(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    garbage = bytes(range(256)) * 40_000  # 10 MB of binary noise
    cases = {
        "a renamed executable": (samples.exe(), 415, "upload.unsupported_type"),
        "a zip bomb": (samples.xlsx_bomb(), 415, "upload.unsupported_type"),
        "a workbook with macros": (samples.xlsm(), 415, "upload.unsupported_type"),
        "a plain zip": (samples.plain_zip(), 415, "upload.unsupported_type"),
        "10 MB of garbage": (garbage, 415, "upload.unsupported_type"),
        "an empty file": (b"", 422, "upload.empty"),
        "UTF-16 text": (samples.csv_utf16(), 415, "upload.unsupported_type"),
    }
    for data, status, code in cases.values():
        response = await client.post(
            "/api/v1/uploads",
            params={"purpose": "import", "filename": "danh-sach.xlsx"},
            content=data,
            headers={**officer, "Content-Type": "application/octet-stream"},
        )
        assert_problem(response, status, code)
    assert await session.scalar(select(func.count()).select_from(Upload)) == 0
