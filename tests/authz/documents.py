"""Authorization rows: documents.

Targets: published documents of B1 (own), B3 (near, in C1) and B4 (far, in C2); drafts of the
same orgs for the editing routes; for relays and reports, a document of C1 relayed to or
reported on B1 (own) and G1 (near), and a document of C2 reported on B4 (far).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Document, DocumentFile, DocumentRelay, DocumentStatus
from app.models.base import utcnow
from app.resources import Resources
from tests import samples
from tests.authz.harness import Call, Context, Row, pick, table

NF = "document.not_found"
PDF = "application/pdf"

# Published documents of B1, B3, B4: every member of the subtree below the publisher, and every
# scope that covers it.
READ = table(
    member="200 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="200 200 404",
    officer_c1="200 200 404",
    approver="200 200 404",
    officer_root="200 200 200",
    editor="200 200 200",
    admin="200 200 200",
)
# Drafts: only the org's editors (edit) and approvers (publish); nobody else learns they exist.
EDIT_DRAFT = table(
    "404 404 404",
    approver="403 403 404",
    editor="200 200 200",
    admin="200 200 200",
)
PUBLISH_DRAFT = table(
    "404 404 404",
    approver="200 200 404",
    editor="403 403 403",
    admin="200 200 200",
)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _document(
    session: AsyncSession, resources: Resources, org_id: int, status: DocumentStatus, tag: str
) -> tuple[int, int]:
    now = utcnow()
    document = Document(
        org_id=org_id,
        type="resolution",
        number="57-NQ/TW",
        number_key=" 57 nq tw ",
        title=f"Nghị quyết thử {tag}",
        title_folded=f"nghi quyet thu {tag}",
        summary="",
        summary_folded="",
        tags=[],
        is_confidential=False,
        is_important=False,
        status=status,
        extraction_status="none",
        created_at=now,
        updated_at=now,
        published_at=now if status == DocumentStatus.PUBLISHED else None,
    )
    session.add(document)
    await session.flush()
    key = f"documents/authz/{tag}.pdf"
    data = samples.pdf()
    await resources.storage.put_stream(key, _once(data), content_type="application/pdf")
    file = DocumentFile(
        document_id=document.id,
        position=1,
        storage_key=key,
        filename="nq.pdf",
        content_type="application/pdf",
        size=len(data),
        created_at=now,
    )
    session.add(file)
    await session.flush()
    return document.id, file.id


async def setup(ctx: Context, session: AsyncSession, resources: Resources) -> None:
    t = ctx.tree
    published: dict[str, tuple[int, int]] = {}
    drafts: dict[str, int] = {}
    for target, org in (("own", t.b1), ("near", t.b3), ("far", t.b4)):
        published[target] = await _document(
            session, resources, org.id, DocumentStatus.PUBLISHED, f"pub-{target}"
        )
        drafts[target], _ = await _document(
            session, resources, org.id, DocumentStatus.DRAFT, f"draft-{target}"
        )
    upper_c1, _ = await _document(session, resources, t.c1.id, DocumentStatus.PUBLISHED, "c1")
    upper_c2, _ = await _document(session, resources, t.c2.id, DocumentStatus.PUBLISHED, "c2")
    ctx.extra["documents"] = published
    ctx.extra["drafts"] = drafts
    ctx.extra["upper"] = {"own": upper_c1, "near": upper_c1, "far": upper_c2}
    # Not relayed yet: what the relay row relays.
    fresh_c1, _ = await _document(session, resources, t.c1.id, DocumentStatus.PUBLISHED, "c1b")
    fresh_c2, _ = await _document(session, resources, t.c2.id, DocumentStatus.PUBLISHED, "c2b")
    ctx.extra["fresh"] = {"own": fresh_c1, "near": fresh_c1, "far": fresh_c2}
    relays: dict[str, int] = {}
    for target, document_id, org in (
        ("own", upper_c1, t.b1),
        ("near", upper_c1, t.g1),
        ("far", upper_c2, t.b4),
    ):
        key = f"documents/authz/plan-{target}.pdf"
        await resources.storage.put_stream(key, _once(samples.pdf()), content_type=PDF)
        relay = DocumentRelay(
            document_id=document_id,
            org_id=org.id,
            note="",
            plan_storage_key=key,
            plan_filename="ke-hoach.pdf",
            plan_content_type=PDF,
            plan_size=1,
            relayed_at=utcnow(),
        )
        session.add(relay)
        await session.flush()
        relays[target] = relay.id
    ctx.extra["relays"] = relays


def _doc(c: Context, t: str) -> str:
    return f"/api/v1/documents/{c.extra['documents'][t][0]}"


def _file(c: Context, t: str) -> str:
    document_id, file_id = c.extra["documents"][t]
    return f"/api/v1/documents/{document_id}/files/{file_id}"


def _draft(c: Context, t: str) -> str:
    return f"/api/v1/documents/{c.extra['drafts'][t]}"


def _upper(c: Context, t: str) -> str:
    return f"/api/v1/documents/{c.extra['upper'][t]}"


def _unit(c: Context, t: str) -> int:
    return int(pick(t, c.tree.b1.id, c.tree.g1.id, c.tree.b4.id))


def _org(c: Context, t: str) -> int:
    return int(pick(t, c.tree.b1.id, c.tree.b3.id, c.tree.b4.id))


NEW = {"type": "directive", "title": "Chỉ thị thử nghiệm"}
DRAFT_FOR_ORG = table(
    member="403 404 404",
    secretary="403 404 404",
    deputy="403 404 404",
    committee="403 403 404",
    officer_c1="403 403 404",
    approver="403 403 404",
    officer_root="403 403 403",
    editor="201 201 201",
    admin="201 201 201",
)
# Relays of the upper document to B1 (own), G1 (near), B4 (far): leadership of that org.
RELAY = table(
    member="403 404:org.not_found 404",
    secretary="201 404:org.not_found 404",
    deputy="201 404:org.not_found 404",
    committee="201 201 404",
    officer_c1="201 201 404",
    approver="403 403 404",
    officer_root="201 201 201",
    editor="403 403 403",
    admin="201 201 201",
)
REPORT = {role: cells.replace("201", "200") for role, cells in RELAY.items()}

ROWS = {
    "create_document": Row(
        lambda c, t: Call("POST", f"/api/v1/orgs/{_org(c, t)}/documents", NEW),
        DRAFT_FOR_ORG,
        "org.not_found",
    ),
    "list_org_documents": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{_org(c, t)}/documents"),
        table(
            member="200 404 404",
            secretary="200 404 404",
            deputy="200 404 404",
            committee="200 200 404",
            officer_c1="200 200 404",
            approver="200 200 404",
            officer_root="200 200 200",
            editor="200 200 200",
            admin="200 200 200",
        ),
        "org.not_found",
    ),
    "get_document": Row(lambda c, t: Call("GET", _doc(c, t)), READ, NF),
    "update_document": Row(
        lambda c, t: Call("PATCH", _draft(c, t), {"summary": "Tóm tắt"}), EDIT_DRAFT, NF
    ),
    "attach_document_file": Row(
        # The upload is nobody's: past the guard, the upload itself is not found.
        lambda c, t: Call("POST", f"{_draft(c, t)}/files", {"upload_id": 987654321}),
        {role: cells.replace("200", "404:upload.not_found") for role, cells in EDIT_DRAFT.items()},
        NF,
    ),
    "publish_document": Row(
        lambda c, t: Call("POST", f"{_draft(c, t)}/publish"), PUBLISH_DRAFT, NF
    ),
    "get_document_qr": Row(lambda c, t: Call("GET", f"{_doc(c, t)}/qr?format=png"), READ, NF),
    "get_document_file_link": Row(lambda c, t: Call("GET", f"{_file(c, t)}/link"), READ, NF),
    "download_document_file": Row(lambda c, t: Call("GET", f"{_file(c, t)}/content"), READ, NF),
    "open_document": Row(lambda c, t: Call("POST", f"{_doc(c, t)}/open"), READ, NF),
    "study_document": Row(lambda c, t: Call("POST", f"{_doc(c, t)}/studied"), READ, NF),
    "save_document_position": Row(
        lambda c, t: Call("PUT", f"{_doc(c, t)}/position", {"section": 1, "offset": 0}), READ, NF
    ),
    "list_document_sections": Row(lambda c, t: Call("GET", f"{_doc(c, t)}/sections"), READ, NF),
    "relay_document": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/documents/{c.extra['fresh'][t]}/relays", {"org_id": _unit(c, t)}
        ),
        RELAY,
        NF,
    ),
    "get_relay_plan_link": Row(
        lambda c, t: Call("GET", f"{_upper(c, t)}/relays/{c.extra['relays'][t]}/plan"),
        table(
            member="200 404:document.relay_not_found 404",
            secretary="200 404:document.relay_not_found 404",
            deputy="200 404:document.relay_not_found 404",
            committee="200 200 404",
            officer_c1="200 200 404",
            approver="200 200 404",
            officer_root="200 200 200",
            editor="200 200 200",
            admin="200 200 200",
        ),
        NF,
    ),
    "list_document_relays": Row(
        lambda c, t: Call("GET", f"{_upper(c, t)}/relays?org_id={_unit(c, t)}"), REPORT, NF
    ),
    "get_document_coverage": Row(
        lambda c, t: Call("GET", f"{_upper(c, t)}/coverage?org_id={_unit(c, t)}"), REPORT, NF
    ),
    "list_document_not_read": Row(
        lambda c, t: Call("GET", f"{_upper(c, t)}/not-read?org_id={_unit(c, t)}"), REPORT, NF
    ),
}
