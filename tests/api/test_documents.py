"""Documents: drafted by editors, published by approvers for the subtree, read, studied,
relayed, reported on."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    AuditEvent,
    Document,
    DocumentReceipt,
    DocumentRelay,
    DocumentUnitReads,
    Job,
    Member,
    Notice,
    Org,
    Upload,
)
from app.models.study import PointEntry
from app.resources import Resources
from app.schemas.common import Page
from app.schemas.content import CoverageRead, DocumentRead, DocumentSummary
from app.services import access
from app.services.content import coverage as coverage_service
from app.services.content.numbers import number_key
from tests import samples
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem, assert_written_as, collect

NEW = {
    "type": "resolution",
    "title": "Nghị quyết về đột phá phát triển khoa học, công nghệ",
    "number": "57-NQ/TW",
    "issuing_body": "Bộ Chính trị",
    "issued_on": "2024-12-22",
    "summary": "Phát triển khoa học, công nghệ, đổi mới sáng tạo và chuyển đổi số quốc gia.",
    "tags": ["khoa học", "chuyển đổi số"],
}


async def _upload(client: httpx.AsyncClient, headers: dict[str, str], data: bytes) -> int:
    response = await client.post(
        "/api/v1/uploads?purpose=document&filename=nq57.pdf",
        content=data,
        headers={**headers, "Content-Type": "application/pdf"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def draft(
    client: httpx.AsyncClient, as_actor: ActorLogin, tree: Tree, org_id: int, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/orgs/{org_id}/documents",
        json={**NEW, **extra},
        headers=await as_actor(tree.editor.id),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def publish(
    client: httpx.AsyncClient, as_actor: ActorLogin, tree: Tree, document_id: int
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/documents/{document_id}/publish", headers=await as_actor(tree.approver.id)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_numbers_are_normalised() -> None:
    assert number_key("57-NQ/TW") == number_key("57/NQ-TW") == " 57 nq tw "
    assert number_key("NQ 57") == " 57 nq "
    assert number_key("05/2022/TT-BNV") == " 5 2022 tt bnv "
    assert number_key("Nghị quyết số 57") == " 57 nghi quyet so "
    assert number_key("---") is None


async def test_draft_publish_read_flow(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    editor = await as_actor(tree.editor.id)
    upload_id = await _upload(client, editor, samples.pdf("Nghị quyết 57"))
    created = await draft(client, as_actor, tree, tree.c1.id)
    document_id = created["id"]
    assert created["status"] == "draft"
    assert created["number"] == "57-NQ/TW"
    assert created["link"] == f"http://127.0.0.1:8000/app/documents/{document_id}"
    row = await session.get(Document, document_id, populate_existing=True)
    assert row is not None
    assert row.number_key == " 57 nq tw "
    assert row.title_folded.startswith("nghi quyet ve dot pha")

    # A draft is invisible to members of the subtree.
    member = await as_actor(tree.member.id)
    url = f"/api/v1/documents/{document_id}"
    assert_problem(await client.get(url, headers=member), 404, "document.not_found")

    attached = await client.post(f"{url}/files", json={"upload_id": upload_id}, headers=editor)
    assert attached.status_code == 201, attached.text
    files = attached.json()["files"]
    assert [f["filename"] for f in files] == ["nq57.pdf"]
    upload = await session.get(Upload, upload_id, populate_existing=True)
    assert upload is not None
    assert upload.attached_at is not None

    # The editor cannot publish; a stale If-Match is refused.
    assert_problem(await client.post(f"{url}/publish", headers=editor), 403, "scope.forbidden")
    approver = await as_actor(tree.approver.id)
    assert_problem(
        await client.post(f"{url}/publish", headers={**approver, "If-Match": '"v1"'}),
        412,
        "resource.etag_mismatch",
    )
    published = await client.post(
        f"{url}/publish", headers={**approver, "If-Match": attached.headers["ETag"]}
    )
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    assert published.json()["extraction_status"] == "pending"
    notice = (await session.execute(select(Notice).order_by(Notice.id.desc()))).scalars().first()
    assert notice is not None
    assert notice.audience_org_id == tree.c1.id
    assert notice.data == {"document_id": str(document_id)}
    assert await session.scalar(
        select(func.count()).select_from(Job).where(Job.kind == "document.extract")
    )
    actions = (
        await session.scalars(
            select(AuditEvent.action).where(AuditEvent.target_id == str(document_id))
        )
    ).all()
    assert {"document.create", "document.attach", "document.publish"} <= set(actions)

    # Publishing twice is a conflict; a published document is not edited.
    assert_problem(
        await client.post(f"{url}/publish", headers=approver), 409, "document.already_published"
    )
    assert_problem(
        await client.patch(url, json={"title": "Khác"}, headers=editor), 409, "document.not_draft"
    )

    # Members below C1 read it, and its files; members elsewhere do not see it.
    read = assert_written_as(DocumentRead, await client.get(url, headers=member))
    assert read["receipt"] is None
    assert [f["id"] for f in read["files"]] == [f["id"] for f in files]
    teacher = await as_actor(tree.teacher.id)
    assert (await client.get(url, headers=teacher)).status_code == 200
    outsider = await as_actor(tree.outsider.id)
    assert_problem(await client.get(url, headers=outsider), 404, "document.not_found")
    file_id = files[0]["id"]
    content = await client.get(f"{url}/files/{file_id}/content", headers=member)
    assert content.status_code == 200
    assert content.content == samples.pdf("Nghị quyết 57")
    partial = await client.get(
        f"{url}/files/{file_id}/content", headers={**member, "Range": "bytes=0-3"}
    )
    assert partial.status_code == 206
    assert partial.content == b"%PDF"
    link = await client.get(f"{url}/files/{file_id}/link", headers=member)
    assert link.status_code == 200
    assert link.json()["expires_in"] == 300
    signed = await client.get(link.json()["url"].replace("http://127.0.0.1:8000", ""))
    assert signed.status_code == 200
    assert signed.content == content.content
    assert_problem(
        await client.get(f"{url}/files/999999/content", headers=member),
        404,
        "document.file_not_found",
    )


async def test_edit_a_draft_with_if_match(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    created = await draft(client, as_actor, tree, tree.c1.id)
    editor = await as_actor(tree.editor.id)
    url = f"/api/v1/documents/{created['id']}"
    edited = await client.patch(
        url,
        json={"number": "57/NQ-TW", "tags": ["  khoa   học ", "khoa học"]},
        headers={**editor, "If-Match": f'"v{created["version"]}"'},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["number"] == "57/NQ-TW"
    assert edited.json()["tags"] == ["khoa học"]
    assert edited.headers["ETag"] == f'"v{created["version"] + 1}"'
    assert_problem(
        await client.patch(url, json={"title": "X"}, headers={**editor, "If-Match": '"v1"'}),
        412,
        "resource.etag_mismatch",
    )
    row = await session.get(Document, created["id"], populate_existing=True)
    assert row is not None
    assert row.number_key == " 57 nq tw "
    refused = assert_problem(
        await client.patch(url, json={"title": None}, headers=editor),
        422,
        "request.invalid",
    )
    assert refused["errors"][0]["type"] == "null_forbidden"


async def test_receipts_once_per_member(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    document_id = (await draft(client, as_actor, tree, tree.c1.id))["id"]
    member = await as_actor(tree.member.id)
    url = f"/api/v1/documents/{document_id}"
    assert_problem(
        await client.post(f"{url}/open", headers=await as_actor(tree.editor.id)),
        409,
        "document.not_published",
    )
    await publish(client, as_actor, tree, document_id)
    first = await client.post(f"{url}/open", headers=member)
    again = await client.post(f"{url}/open", headers=member)
    assert first.status_code == again.status_code == 200
    assert first.json()["receipt"]["opened_at"] == again.json()["receipt"]["opened_at"]
    assert first.json()["receipt"]["studied_at"] is None
    count = select(func.count()).select_from(DocumentReceipt)
    assert await session.scalar(count.where(DocumentReceipt.document_id == document_id)) == 1
    studied = await client.post(f"{url}/studied", headers=member)
    assert studied.status_code == 200
    when = studied.json()["receipt"]["studied_at"]
    assert when is not None
    studied_again = await client.post(f"{url}/studied", headers=member)
    assert studied_again.json()["receipt"]["studied_at"] == when
    # Studying earns the document's study points once, however often it is marked.
    entries = await session.scalars(
        select(PointEntry).where(
            PointEntry.source_key == f"document:{document_id}:member:{tree.member.id}"
        )
    )
    assert [(e.member_id, e.source) for e in entries] == [(tree.member.id, "document")]
    position = await client.put(
        f"{url}/position", json={"section": 3, "offset": 120}, headers=member
    )
    assert position.status_code == 200
    read = (await client.get(url, headers=member)).json()["receipt"]
    assert (read["position_section"], read["position_offset"]) == (3, 120)
    assert read["studied_at"] == when
    # Studied without opening first also records the opening.
    teacher = await as_actor(tree.teacher.id)
    assert (await client.post(f"{url}/studied", headers=teacher)).status_code == 200
    receipt = await session.get(DocumentReceipt, (document_id, tree.teacher.id))
    assert receipt is not None
    assert receipt.studied_at is not None


async def test_relay_and_coverage(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    document_id = (await draft(client, as_actor, tree, tree.c1.id))["id"]
    await publish(client, as_actor, tree, document_id)
    url = f"/api/v1/documents/{document_id}"
    secretary = await as_actor(tree.secretary.id)
    plan = await _upload(client, secretary, samples.pdf("Kế hoạch"))
    # The secretary relays to their branch, not for C1 (above them) nor G1 (not theirs).
    assert_problem(
        await client.post(f"{url}/relays", json={"org_id": tree.c1.id}, headers=secretary),
        403,
        "scope.forbidden",
    )
    assert_problem(
        await client.post(f"{url}/relays", json={"org_id": tree.g1.id}, headers=secretary),
        404,
        "org.not_found",
    )
    relayed = await client.post(
        f"{url}/relays",
        json={
            "org_id": tree.b1.id,
            "note": "Chi bộ học tập trong tháng 12",
            "plan_upload_id": plan,
        },
        headers=secretary,
    )
    assert relayed.status_code == 201, relayed.text
    assert relayed.json()["plan_filename"] == "nq57.pdf"
    assert relayed.json()["org"]["id"] == tree.b1.id
    assert_problem(
        await client.post(f"{url}/relays", json={"org_id": tree.b1.id}, headers=secretary),
        409,
        "document.already_relayed",
    )
    # The plan reaches B1's members (in the document itself), not other branches.
    member = await as_actor(tree.member.id)
    relays = (await client.get(url, headers=member)).json()["relays"]
    assert [(r["org"]["id"], r["plan_filename"]) for r in relays] == [(tree.b1.id, "nq57.pdf")]
    teacher = await as_actor(tree.teacher.id)
    assert (await client.get(url, headers=teacher)).json()["relays"] == []
    plan_url = f"{url}/relays/{relayed.json()['id']}/plan"
    plan_link = await client.get(plan_url, headers=member)
    assert plan_link.status_code == 200
    plan_bytes = await client.get(plan_link.json()["url"].replace("http://127.0.0.1:8000", ""))
    assert plan_bytes.content == samples.pdf("Kế hoạch")
    assert_problem(await client.get(plan_url, headers=teacher), 404, "document.relay_not_found")
    committee = await as_actor(tree.committee.id)
    assert_problem(
        await client.post(f"{url}/relays", json={"org_id": tree.c1.id}, headers=committee),
        422,
        "document.relay_not_below",
    )
    assert (
        await session.scalar(
            select(func.count())
            .select_from(DocumentRelay)
            .where(DocumentRelay.document_id == document_id)
        )
        == 1
    )

    status = await client.get(f"{url}/relays", headers=committee)
    assert status.status_code == 200, status.text
    by_org = {u["org"]["id"]: u["relayed_at"] is not None for u in status.json()}
    assert by_org == {tree.b1.id: True, tree.b2.id: False, tree.g1.id: False}

    for who in (tree.member, tree.secretary, tree.teacher):
        await client.post(f"{url}/open", headers=await as_actor(who.id))
    member_headers = await as_actor(tree.member.id)
    for _ in range(2):  # a retried open or "studied" counts once
        await client.post(f"{url}/studied", headers=member_headers)
        await client.post(f"{url}/open", headers=member_headers)
    coverage = await client.get(f"{url}/coverage", headers=committee)
    assert coverage.status_code == 200, coverage.text
    body = coverage.json()
    units = {u["org"]["id"]: (u["members"], u["opened"], u["studied"]) for u in body["units"]}
    assert units == {tree.b1.id: (5, 2, 1), tree.b2.id: (3, 0, 0), tree.g1.id: (2, 1, 0)}
    assert (body["members"], body["opened"], body["studied"]) == (10, 3, 1)
    # Written from plain values (`plain_json`): exactly what the documented model would write.
    assert CoverageRead.model_validate(body).model_dump(mode="json") == body
    # The secretary sees their branch; not C1's whole report.
    assert (
        await client.get(f"{url}/coverage?org_id={tree.b1.id}", headers=secretary)
    ).status_code == 200
    assert_problem(await client.get(f"{url}/coverage", headers=secretary), 403, "scope.forbidden")
    not_read = await collect(
        client, f"{url}/not-read", secretary, {"org_id": tree.b1.id}, page_size=2
    )
    assert [m["full_name"] for m in not_read] == ["Trần Văn Cụ", "Phạm Thị Dung", "Mai Văn Phó"]
    # An org outside the document's subtree is not reported on.
    assert_problem(
        await client.get(f"{url}/coverage?org_id={tree.b4.id}", headers=committee),
        404,
        "org.not_found",
    )


async def _coverage(
    client: httpx.AsyncClient, headers: dict[str, str], document_id: int, org: Org
) -> dict[int | None, tuple[int, int, int]]:
    """The report at `org`: (members, opened, studied) per child unit, and the org's own (None)."""
    response = await client.get(
        f"/api/v1/documents/{document_id}/coverage", params={"org_id": org.id}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    units: dict[int | None, tuple[int, int, int]] = {
        u["org"]["id"]: (u["members"], u["opened"], u["studied"]) for u in body["units"]
    }
    units[None] = (body["members"], body["opened"], body["studied"])
    return units


async def _counted(
    session: AsyncSession, document_id: int, org_id: int
) -> dict[int | None, tuple[int, int, int]]:
    """The truth: members, receipts and "studied" per child unit of the org (and the org's
    own), counted from members and receipts where each member is now."""

    async def subtree(path: str) -> tuple[int, int, int]:
        in_subtree = Member.org_path.startswith(path)
        members = await session.scalar(
            select(func.count()).where(in_subtree, Member.archived_on.is_(None))
        )
        opened, studied = (
            await session.execute(
                select(
                    func.count(DocumentReceipt.opened_at), func.count(DocumentReceipt.studied_at)
                )
                .join(Member, Member.id == DocumentReceipt.member_id)
                .where(DocumentReceipt.document_id == document_id, in_subtree)
            )
        ).one()
        return int(members or 0), int(opened), int(studied)

    org = await session.get_one(Org, org_id, populate_existing=True)
    children = await session.scalars(
        select(Org).where(Org.parent_id == org_id).execution_options(populate_existing=True)
    )
    counted: dict[int | None, tuple[int, int, int]] = {
        child.id: await subtree(child.path) for child in children
    }
    counted[None] = await subtree(org.path)
    return counted


async def _unit_counters_add_up(session: AsyncSession, document_id: int) -> None:
    """Each committee's counters are the sum of the branch counters below it now; a branch's
    are its branch counters; each row names its org's parent now."""
    kept = (
        await session.execute(
            select(
                DocumentUnitReads.org_id,
                DocumentUnitReads.parent_id,
                DocumentUnitReads.opened,
                DocumentUnitReads.studied,
            ).where(DocumentUnitReads.document_id == document_id)
        )
    ).all()
    summed = [
        *(
            await session.execute(
                coverage_service._UNIT_TOTALS.where(
                    coverage_service._reads.c.document_id == document_id
                )
            )
        ).all(),
        *(
            await session.execute(
                coverage_service._BRANCH_TOTALS.where(
                    coverage_service._reads.c.document_id == document_id
                )
            )
        ).all(),
    ]
    assert {(r[0], r[1], r[2], r[3]) for r in kept if r[2] or r[3]} == {
        (r[1], r[2], r[3], r[4]) for r in summed
    }


async def test_coverage_counts_at_every_level_and_across_moves_and_merges(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
) -> None:
    admin = await as_actor(tree.admin.id)
    document_id = (await draft(client, as_actor, tree, tree.p.id))["id"]
    published = await client.post(f"/api/v1/documents/{document_id}/publish", headers=admin)
    assert published.status_code == 200, published.text
    url = f"/api/v1/documents/{document_id}"
    for who in (tree.member, tree.secretary, tree.teacher, tree.outsider, tree.officer_c1):
        assert (await client.post(f"{url}/open", headers=await as_actor(who.id))).is_success
    for who in (tree.teacher, tree.officer_c1, tree.outsider):
        assert (await client.post(f"{url}/studied", headers=await as_actor(who.id))).is_success
    officer = await as_actor(tree.officer_root.id)

    async def agrees(*orgs: Org) -> None:
        resources.branch_members = coverage_service.BranchMembers()  # member counts anew
        for org in orgs:
            assert await _coverage(client, officer, document_id, org) == await _counted(
                session, document_id, org.id
            ), org.name
        await _unit_counters_add_up(session, document_id)

    await agrees(tree.p, tree.c1, tree.c2, tree.g1, tree.b1, tree.b3)
    assert (await _coverage(client, officer, document_id, tree.p))[None][1:] == (5, 3)
    assert (await _coverage(client, officer, document_id, tree.g1))[tree.b3.id][1:] == (1, 1)

    # G1 (with B3 and its reader) moves from C1 to C2; a member of B3 then reads.
    moved = await client.post(
        f"/api/v1/orgs/{tree.g1.id}/move", json={"parent_id": tree.c2.id}, headers=officer
    )
    assert moved.status_code == 200, moved.text
    assert (await client.post(f"{url}/open", headers=await as_actor(tree.approver.id))).is_success
    await agrees(tree.p, tree.c1, tree.c2, tree.g1)
    assert (await _coverage(client, officer, document_id, tree.c2))[tree.g1.id][1:] == (2, 1)

    # C2 (with G1 and B4) merges into C1: its child orgs and their counts move to C1.
    merged = await client.post(
        f"/api/v1/orgs/{tree.c2.id}/merge", json={"into_id": tree.c1.id}, headers=officer
    )
    assert merged.status_code == 200, merged.text
    await agrees(tree.p, tree.c1, tree.c2, tree.g1)
    assert (await _coverage(client, officer, document_id, tree.c1))[None][1:] == (6, 3)

    # B2 merges into B1: its members move, their reads stay counted in B2 (where they read).
    merged = await client.post(
        f"/api/v1/orgs/{tree.b2.id}/merge", json={"into_id": tree.b1.id}, headers=officer
    )
    assert merged.status_code == 200, merged.text
    at_c1 = await _coverage(client, officer, document_id, tree.c1)
    assert at_c1[tree.b2.id][1:] == (1, 1)
    assert at_c1[None][1:] == (6, 3)
    await _unit_counters_add_up(session, document_id)

    # Rows the previous release wrote during a rolling upgrade (without a parent) mend at their
    # next count: the member's "studied" counts on every unit of their path.
    member_path = await session.scalar(select(Member.org_path).where(Member.id == tree.member.id))
    on_path = access.ancestor_ids(str(member_path))[1:]
    await session.execute(
        update(DocumentUnitReads)
        .where(DocumentUnitReads.document_id == document_id, DocumentUnitReads.org_id.in_(on_path))
        .values(parent_id=None)
    )
    await session.commit()
    assert (await client.post(f"{url}/studied", headers=await as_actor(tree.member.id))).is_success
    await _unit_counters_add_up(session, document_id)
    assert (await _coverage(client, officer, document_id, tree.p))[None][1:] == (6, 4)


async def test_org_documents_list(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    first = (await draft(client, as_actor, tree, tree.c1.id))["id"]
    second = (await draft(client, as_actor, tree, tree.c1.id, title="Chỉ thị", type="directive"))[
        "id"
    ]
    await publish(client, as_actor, tree, first)
    url = f"/api/v1/orgs/{tree.c1.id}/documents"
    editor_view = await collect(client, url, await as_actor(tree.editor.id))
    assert [d["id"] for d in editor_view] == [second, first]
    member_view = await collect(client, url, await as_actor(tree.member.id))
    assert [d["id"] for d in member_view] == [first]
    # Written from plain values (`plain_json`): exactly what the documented model would write.
    page = (
        await client.get(url, params={"limit": 1}, headers=await as_actor(tree.editor.id))
    ).json()
    assert page["next_cursor"]
    assert Page[DocumentSummary].model_validate(page).model_dump(mode="json") == page
    drafts = await client.get(
        url, params={"status": "draft"}, headers=await as_actor(tree.member.id)
    )
    assert drafts.json()["items"] == []


async def test_bad_input_changes_nothing(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    editor = await as_actor(tree.editor.id)
    before = await session.scalar(select(func.count()).select_from(Document))
    for body in (
        {**NEW, "type": "poem"},
        {**NEW, "number": "<script>"},
        {**NEW, "issued_on": "22/12/2024"},
        {**NEW, "is_important": "yes"},
        {**NEW, "extra": 1},
    ):
        response = await client.post(
            f"/api/v1/orgs/{tree.c1.id}/documents", json=body, headers=editor
        )
        assert_problem(response, 422, "request.invalid")
    # Approvers do not draft; an org outside one's scope is not revealed.
    approver = await as_actor(tree.approver.id)
    for org_id, status, code in (
        (tree.c1.id, 403, "scope.forbidden"),
        (tree.c2.id, 404, "org.not_found"),
    ):
        response = await client.post(f"/api/v1/orgs/{org_id}/documents", json=NEW, headers=approver)
        assert_problem(response, status, code)
    assert await session.scalar(select(func.count()).select_from(Document)) == before
    # An executable sent as a PDF never becomes an upload to attach.
    refused = await client.post(
        "/api/v1/uploads?purpose=document",
        content=samples.exe(),
        headers={**editor, "Content-Type": "application/pdf"},
    )
    assert refused.status_code == 415


async def test_qr_codes_carry_the_public_link(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    document_id = (await draft(client, as_actor, tree, tree.c1.id))["id"]
    await publish(client, as_actor, tree, document_id)
    member = await as_actor(tree.member.id)
    svg = await client.get(f"/api/v1/documents/{document_id}/qr", headers=member)
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.content.startswith(b"<svg")
    png = await client.get(
        f"/api/v1/documents/{document_id}/qr", params={"format": "png"}, headers=member
    )
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    # The link inside is built from PUBLIC_BASE_URL, whatever Host the request used.
    other_host = await client.get(
        f"/api/v1/documents/{document_id}/qr", headers={**member, "Host": "evil.example"}
    )
    assert other_host.content == svg.content
    assert_problem(
        await client.get(
            f"/api/v1/documents/{document_id}/qr", params={"format": "gif"}, headers=member
        ),
        422,
        "request.invalid",
    )


async def test_only_important_documents_are_pushed(
    client: httpx.AsyncClient, as_actor: ActorLogin, tree: Tree, session: AsyncSession
) -> None:
    """Publishing notifies the subtree's inbox always, and pushes only what is marked
    important (which also ignores quiet hours)."""
    for important in (False, True):
        document = await draft(client, as_actor, tree, tree.c1.id, is_important=important)
        await publish(client, as_actor, tree, document["id"])
        notice = (
            (await session.execute(select(Notice).order_by(Notice.id.desc()))).scalars().first()
        )
        assert notice is not None
        assert notice.data == {"document_id": str(document["id"])}
        assert (notice.has_push, notice.is_urgent) == (important, important)
