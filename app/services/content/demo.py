"""Content for the demo province: documents at every level (one relayed, one confidential, one
draft), a conference packet (public for a month), articles in several workflow states, and a
few receipts. Called by `seed_demo` after the tree is written; it finds the orgs and demo
accounts by code and phone."""

from __future__ import annotations

import random
import secrets
from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.text import fold
from app.models import (
    Article,
    ArticleTransition,
    Document,
    DocumentReceipt,
    DocumentRelay,
    Member,
    Org,
    Packet,
    PacketItem,
)
from app.models.base import utcnow
from app.services.content import coverage
from app.services.content.numbers import number_key

_DocumentRow = tuple[str, str, str | None, str, str, date, str, dict[str, bool]]
_DOCUMENTS: tuple[_DocumentRow, ...] = (
    # org code, type, number, title, issuing body, issued on, summary, flags
    (
        "LV",
        "resolution",
        "57-NQ/TW",
        "Nghị quyết về đột phá phát triển khoa học, công nghệ, đổi mới sáng tạo và chuyển đổi "
        "số quốc gia",
        "Bộ Chính trị",
        date(2024, 12, 22),
        "Khoa học, công nghệ, đổi mới sáng tạo và chuyển đổi số là đột phá quan trọng hàng đầu.",
        {"is_important": True},
    ),
    (
        "LV",
        "directive",
        "05-CT/TW",
        "Chỉ thị về đẩy mạnh học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh",
        "Bộ Chính trị",
        date(2016, 5, 15),
        "Tiếp tục đưa việc học tập và làm theo Bác trở thành việc làm tự giác, thường xuyên.",
        {},
    ),
    (
        "LV",
        "announcement",
        "120-TB/TU",
        "Thông báo kết luận của Ban Thường vụ Tỉnh ủy về công tác nhân sự",
        "Ban Thường vụ Tỉnh ủy",
        date(2026, 11, 20),
        "",
        {"is_confidential": True},
    ),
    (
        "LV-HB",
        "plan",
        "12-KH/ĐU",
        "Kế hoạch triển khai Nghị quyết 57-NQ/TW trên địa bàn phường Hòa Bình",
        "Đảng ủy phường Hòa Bình",
        date(2025, 2, 10),
        "Tổ chức học tập, quán triệt đến 100% đảng viên trong quý I.",
        {},
    ),
    (
        "LV-HB-KP1",
        "study_material",
        None,
        "Tài liệu sinh hoạt chi bộ tháng 12: chuyển đổi số ở khu phố",
        "Chi bộ Khu phố 1",
        date(2026, 12, 1),
        "Nội dung gợi ý thảo luận tại buổi sinh hoạt định kỳ tháng 12.",
        {},
    ),
)

_ARTICLES = (
    ("LV", "Tỉnh ủy Lâm Viên sơ kết một năm thực hiện Nghị quyết 57", "published", True),
    ("LV-HB", "Phường Hòa Bình ra mắt mô hình “Khu phố số”", "published", False),
    ("LV-HB-KP1", "Chi bộ Khu phố 1 thăm hỏi đảng viên cao tuổi", "submitted", False),
    ("LV-AP", "Đảng ủy phường An Phú tổng kết công tác năm", "draft", False),
)


async def seed_demo_content(conn: AsyncConnection) -> None:
    orgs = {
        row.code: row.id
        for row in await conn.execute(select(Org.id, Org.code).where(Org.code.is_not(None)))
    }
    phones = {
        row.phone: row.id
        for row in await conn.execute(
            select(Member.id, Member.phone).where(Member.phone.like("+849000000%"))
        )
    }
    now = utcnow()
    documents: dict[str | None, int] = {}
    for index, (code, kind, number, title, body, issued, summary, flags) in enumerate(_DOCUMENTS):
        published = now - timedelta(days=len(_DOCUMENTS) - index)
        values: dict[str, Any] = {
            "org_id": orgs[code],
            "type": kind,
            "number": number,
            "number_key": number_key(number),
            "title": title,
            "title_folded": fold(title)[:300],
            "issuing_body": body,
            "issued_on": issued,
            "summary": summary,
            "summary_folded": fold(summary),
            "tags": [],
            "is_confidential": flags.get("is_confidential", False),
            "is_important": flags.get("is_important", False),
            "status": "published",
            "extraction_status": "none",
            "created_by_id": phones.get("+84900000001"),
            "created_at": published,
            "updated_at": published,
            "published_by_id": phones.get("+84900000001"),
            "published_at": published,
            "version": 1,
        }
        result = await conn.execute(insert(Document).values(values).returning(Document.id))
        documents[number] = int(result.scalar_one())
    draft = await conn.execute(
        insert(Document)
        .values(
            org_id=orgs["LV"],
            type="guidance",
            number="08-HD/BTG",
            number_key=number_key("08-HD/BTG"),
            title="Hướng dẫn tuyên truyền kỷ niệm 96 năm Ngày thành lập Đảng (dự thảo)",
            title_folded=fold("Hướng dẫn tuyên truyền kỷ niệm 96 năm Ngày thành lập Đảng"),
            summary="",
            summary_folded="",
            tags=[],
            is_confidential=False,
            is_important=False,
            status="draft",
            extraction_status="none",
            created_at=now,
            updated_at=now,
            version=1,
        )
        .returning(Document.id)
    )
    draft.scalar_one()
    await conn.execute(
        insert(DocumentRelay).values(
            document_id=documents["57-NQ/TW"],
            org_id=orgs["LV-HB"],
            note="Đảng ủy phường triển khai theo Kế hoạch số 12-KH/ĐU.",
            relayed_by_id=phones.get("+84900000004"),
            relayed_at=now - timedelta(days=3),
        )
    )
    for phone, studied in (("+84900000002", True), ("+84900000003", False)):
        if phone in phones:
            await conn.execute(
                insert(DocumentReceipt).values(
                    document_id=documents["57-NQ/TW"],
                    member_id=phones[phone],
                    opened_at=now - timedelta(days=2),
                    studied_at=now - timedelta(days=1) if studied else None,
                )
            )
    await coverage.rebuild(conn)  # the two receipts in the coverage report's counters
    packet = await conn.execute(
        insert(Packet)
        .values(
            org_id=orgs["LV"],
            kind="conference",
            title="Hội nghị quán triệt Nghị quyết 57-NQ/TW",
            description="Tài liệu hội nghị: quét mã QR để mở trên ứng dụng.",
            public_token=secrets.token_urlsafe(24),
            public_until=now + timedelta(days=30),
            created_at=now,
            updated_at=now,
        )
        .returning(Packet.id)
    )
    packet_id = int(packet.scalar_one())
    for position, number in enumerate(("57-NQ/TW", "05-CT/TW"), start=1):
        await conn.execute(
            insert(PacketItem).values(
                packet_id=packet_id,
                position=position,
                title=next(d[3] for d in _DOCUMENTS if d[2] == number),
                document_id=documents[number],
            )
        )
    for index, (code, title, status, pinned) in enumerate(_ARTICLES):
        at = now - timedelta(hours=len(_ARTICLES) - index)
        result = await conn.execute(
            insert(Article)
            .values(
                org_id=orgs[code],
                title=title,
                title_folded=fold(title)[:300],
                summary="",
                summary_folded="",
                body=f"## {title}\n\nNội dung tin bài minh họa cho bản trình diễn.",
                category="Tin hoạt động",
                is_important=False,
                is_pinned=pinned,
                status=status,
                created_at=at,
                updated_at=at,
                published_at=at if status == "published" else None,
                version=1,
            )
            .returning(Article.id)
        )
        article_id = int(result.scalar_one())
        steps = {"draft": ["draft"], "submitted": ["draft", "submitted"]}.get(
            status, ["draft", "submitted", "published"]
        )
        previous = None
        for step in steps:
            await conn.execute(
                insert(ArticleTransition).values(
                    article_id=article_id, from_status=previous, to_status=step, at=at
                )
            )
            previous = step


async def seed_province_content(conn: AsyncConnection, province: Any) -> int:
    """The generated province's content (`province.AREA_SEEDERS`)."""
    orgs = [
        {
            "id": org.id,
            "kind": org.kind.value,
            "parent_id": org.parent.id if org.parent is not None else None,
            "name": org.name,
            "path": org.path,
        }
        for org in province.orgs
    ]
    rows = await conn.execute(
        select(Member.id, Member.org_path).where(Member.id >= province.first_member_id)
    )
    members = [{"id": row.id, "org_path": row.org_path} for row in rows]
    return await seed_generated_content(conn, orgs, members, seed=province.seed)


async def seed_generated_content(
    conn: AsyncConnection,
    orgs: list[dict[str, Any]],
    members: list[dict[str, Any]],
    *,
    seed: int,
    chunk: int = 5000,
) -> int:
    """Content of a generated province at realistic shares: documents at every committee level
    (the province's relayed by every commune), articles, and receipts: about 60% of members
    opened each province document and 35% studied it; commune documents a little less.
    Returns the number of receipts."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not secrets
    now = utcnow()
    committees = [o for o in orgs if o["kind"] != "branch"]
    docs: list[tuple[int, str]] = []  # (document id, org path)
    kinds = ("resolution", "directive", "conclusion", "plan", "announcement", "guidance")
    for org in committees:
        count = 6 if org["parent_id"] is None else 2
        for n in range(count):
            number = f"{n + 1:02d}-{'NQ' if n % 2 == 0 else 'KH'}/{org['id']}"
            title = f"{'Nghị quyết' if n % 2 == 0 else 'Kế hoạch'} số {number} của {org['name']}"
            published = now - timedelta(days=rng.randint(1, 120), minutes=rng.randint(0, 1440))
            result = await conn.execute(
                insert(Document)
                .values(
                    org_id=org["id"],
                    type=kinds[n % len(kinds)],
                    number=number,
                    number_key=number_key(number),
                    title=title,
                    title_folded=fold(title)[:300],
                    issuing_body=org["name"],
                    summary="",
                    summary_folded="",
                    tags=[],
                    is_confidential=False,
                    is_important=n == 0,
                    status="published",
                    extraction_status="none",
                    created_at=published,
                    updated_at=published,
                    published_at=published,
                    version=1,
                )
                .returning(Document.id)
            )
            docs.append((int(result.scalar_one()), org["path"]))
        article_title = f"Hoạt động nổi bật của {org['name']}"
        await conn.execute(
            insert(Article).values(
                org_id=org["id"],
                title=article_title,
                title_folded=fold(article_title)[:300],
                summary="",
                summary_folded="",
                body="Nội dung tin bài.",
                is_important=False,
                is_pinned=False,
                status="published",
                created_at=now,
                updated_at=now,
                published_at=now - timedelta(hours=rng.randint(1, 720)),
                version=1,
            )
        )
    root = next((o for o in orgs if o["parent_id"] is None), None)
    if root is not None:
        communes = [o for o in committees if o["parent_id"] == root["id"]]
        relays = [
            {
                "document_id": document_id,
                "org_id": commune["id"],
                "note": "Triển khai đến các chi bộ.",
                "relayed_at": now,
            }
            for document_id, path in docs
            if path == root["path"]
            for commune in communes
            if rng.random() < 0.8
        ]
        for part in _parts(relays, chunk):
            await conn.execute(insert(DocumentRelay), part)
    receipts: list[dict[str, Any]] = []
    written = 0
    by_branch: dict[str, list[int]] = {}
    for member in members:
        by_branch.setdefault(member["org_path"], []).append(member["id"])
    for document_id, path in docs:
        depth = path.count("/")
        opened_share, studied_share = (0.6, 0.35) if depth <= 2 else (0.5, 0.25)
        reached = [
            member_id
            for branch_path, ids in by_branch.items()
            if branch_path.startswith(path)
            for member_id in ids
        ]
        for member_id in reached:
            draw = rng.random()
            if draw >= opened_share:
                continue
            receipts.append(
                {
                    "document_id": document_id,
                    "member_id": member_id,
                    "opened_at": now,
                    "studied_at": now if draw < studied_share else None,
                }
            )
            if len(receipts) >= chunk:
                await conn.execute(insert(DocumentReceipt), receipts)
                written += len(receipts)
                receipts = []
    if receipts:
        await conn.execute(insert(DocumentReceipt), receipts)
        written += len(receipts)
    await coverage.rebuild(conn)  # the coverage report's counters, from the receipts
    return written


def _parts(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]
