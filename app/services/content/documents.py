"""Documents: drafted by an org's editors, published by its approvers for the org's subtree,
relayed by lower committees with their implementation plan, opened and studied by members.

Who sees what (the permissions are in `services.access`):
- a published document: every member of the publishing org's subtree, and everyone holding a
  view scope there (`content.view`, checked upward: the branch and every org above it);
- a draft: only those who may draft (`content.draft`) or publish (`content.publish`) on its org.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    bindparam,
    func,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import etag
from app.core.config import Settings, get_settings
from app.core.db import FastQuery, Reader, Row, SessionQueries, constant, dialect_insert
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import IfMatch
from app.core.pagination import decode_cursor, page_of
from app.core.text import fold
from app.integrations.storage import ByteRange, ObjectStream, Storage
from app.models import (
    Document,
    DocumentFile,
    DocumentReceipt,
    DocumentRelay,
    DocumentSection,
    DocumentStatus,
    ExtractionStatus,
    Member,
    NoticeKind,
    Org,
)
from app.models.base import utcnow
from app.models.study import PointSource
from app.schemas.content import DocumentCreate, DocumentUpdate, PositionUpdate, RelayCreate
from app.services import access, audit, jobs, notices, points
from app.services import rules as rules_service
from app.services.access import Actor, Permission
from app.services.auth import actor as actor_service
from app.services.content import coverage as coverage_service
from app.services.content.numbers import number_key
from app.services.orgs import OrgTarget
from app.services.uploads import UploadPurpose
from app.services.uploads import records as upload_records

NOT_FOUND = "document.not_found"
EXTRACT_JOB = "document.extract"
LINK_TTL_S = 300
EXTRACTABLE = frozenset(
    {
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)

_d = Document.__table__
_f = DocumentFile.__table__
_r = DocumentReceipt.__table__
_relay = DocumentRelay.__table__
_s = DocumentSection.__table__
_o = Org.__table__
_m = Member.__table__


@dataclass(frozen=True, slots=True)
class DocumentTarget:
    id: int
    org_id: int
    path: str  # the publishing org's path
    status: str

    @property
    def owner_id(self) -> None:
        return None

    @property
    def is_published(self) -> bool:
        return self.status == DocumentStatus.PUBLISHED


_TARGET = FastQuery(
    select(_d.c.id, _d.c.org_id, _d.c.status, _o.c.path)
    .join(_o, _o.c.id == _d.c.org_id)
    .where(_d.c.id == bindparam("document_id", type_=BigInteger))
)


async def load_target(reader: Reader, document_id: int) -> DocumentTarget | None:
    """The document's guard target: one compiled query on the lean reader (for other areas too:
    a meeting that links a document checks it with `DocumentScope(...).check(...)`)."""
    rows = await reader.fetch(_TARGET, {"document_id": document_id})
    if not rows:
        return None
    row = rows[0]
    return DocumentTarget(
        id=row["id"], org_id=row["org_id"], path=row["path"], status=row["status"]
    )


def joined_target(row: Row) -> DocumentTarget | None:
    """The guard's target read in the actor's query (`with_target`)."""
    fields = actor_service.org_object_fields(row)
    return None if fields is None else DocumentTarget(**fields)


# The guard's target in the actor's own query (`api.deps.JoinedTarget`): a document's reads
# take one round trip less.
with_target = actor_service.with_org_object(_d)


def may_edit(actor: Actor, path: str) -> bool:
    return access.can(actor, Permission.CONTENT_DRAFT, path) or access.can(
        actor, Permission.CONTENT_PUBLISH, path
    )


def ensure_readable(actor: Actor, target: DocumentTarget) -> None:
    """Drafts exist only for their org's editors and approvers (404 for everyone else)."""
    if not target.is_published and not may_edit(actor, target.path):
        raise NotFound(code=NOT_FOUND)


def app_link(settings: Settings, kind: str, object_id: int) -> str:
    """The link a QR code carries: the deployment's public address, never the request's."""
    return f"{settings.public_base_url}/app/{kind}/{object_id}"


# --- reading ----------------------------------------------------------------------------------


def _org_ref(row: Any) -> dict[str, Any]:
    return {"id": row["org_id"], "name": row["org_name"], "kind": row["org_kind"]}


_SUMMARY_COLUMNS = (
    _d.c.id,
    _d.c.org_id,
    _o.c.name.label("org_name"),
    _o.c.kind.label("org_kind"),
    _d.c.type,
    _d.c.number,
    _d.c.title,
    _d.c.issuing_body,
    _d.c.issued_on,
    _d.c.status,
    _d.c.is_important,
    _d.c.is_confidential,
    _d.c.published_at,
)


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "org": _org_ref(row),
        "type": row["type"],
        "number": row["number"],
        "title": row["title"],
        "issuing_body": row["issuing_body"],
        "issued_on": row["issued_on"],
        "status": row["status"],
        "is_important": row["is_important"],
        "is_confidential": row["is_confidential"],
        "published_at": row["published_at"],
    }


def _receipt(receipt: DocumentReceipt | None) -> dict[str, Any] | None:
    if receipt is None:
        return None
    return {
        "opened_at": receipt.opened_at,
        "studied_at": receipt.studied_at,
        "position_section": receipt.position_section,
        "position_offset": receipt.position_offset,
        "position_at": receipt.position_at,
    }


def _typed_null(type_: Any) -> Any:
    """A NULL column of the attachments' union, typed as the column it stands in for (the
    union's columns take their types, and so their result processing, from its first select)."""
    return type_coerce(null(), type_)


_document_id = bindparam("document_id", type_=BigInteger)
_relay_org = _o.alias("relay_org")
# `GET /documents/{id}` in one round trip, compiled once per shape of the reader's scopes: the
# document, the reader's own receipt (no row: never opened) and one row per attachment (or one
# row without any). The attachments are one union: the document's files, then the relays whose
# implementation plans reach the reader (relays by the committees above the reader's scopes, and
# by the units below them: `can(..., upward=True)` in SQL, as there may be hundreds of relays).
_DETAIL_QUERIES: dict[tuple[int, int], FastQuery] = {}


def _detail_query(shape: tuple[int, int]) -> FastQuery:
    query = _DETAIL_QUERIES.get(shape)
    if query is not None:
        return query
    files = select(
        constant("file").label("att_kind"),
        _f.c.id.label("att_id"),
        _f.c.filename.label("att_filename"),
        _f.c.content_type.label("att_content_type"),
        _f.c.size.label("att_size"),
        _f.c.position.label("att_position"),
        _typed_null(_relay.c.note.type).label("relay_note"),
        _typed_null(_relay.c.relayed_at.type).label("relay_at"),
        _typed_null(_o.c.id.type).label("relay_org_id"),
        _typed_null(_o.c.name.type).label("relay_org_name"),
        _typed_null(_o.c.kind.type).label("relay_org_kind"),
        _typed_null(_o.c.path.type).label("relay_org_path"),
    ).where(_f.c.document_id == _document_id)
    relays = (
        select(
            constant("relay"),
            _relay.c.id,
            _relay.c.plan_filename,
            null(),
            null(),
            null(),
            _relay.c.note,
            _relay.c.relayed_at,
            _relay_org.c.id,
            _relay_org.c.name,
            _relay_org.c.kind,
            _relay_org.c.path,
        )
        .join(_relay_org, _relay_org.c.id == _relay.c.org_id)
        .where(
            _relay.c.document_id == _document_id,
            access.bound_scope_clause(shape, "view", _relay_org.c.id, _relay_org.c.path),
        )
    )
    attachments = union_all(files, relays).subquery("attachment")
    att = attachments.c
    query = _DETAIL_QUERIES[shape] = FastQuery(
        select(
            *_SUMMARY_COLUMNS,
            _d.c.summary,
            _d.c.tags,
            _d.c.extraction_status,
            _d.c.created_at,
            _d.c.updated_at,
            _d.c.version,
            _r.c.opened_at,
            _r.c.studied_at,
            _r.c.position_section,
            _r.c.position_offset,
            _r.c.position_at,
            *att,
        )
        .join(_o, _o.c.id == _d.c.org_id)
        .outerjoin(
            _r,
            and_(
                _r.c.document_id == _d.c.id,
                _r.c.member_id == bindparam("member_id", type_=BigInteger),
            ),
        )
        .outerjoin(attachments, true())
        .where(_d.c.id == _document_id)
        .order_by(att.att_kind, att.att_position, att.relay_org_path, att.att_id),
        generic=True,  # every part is found by the document's id
    )
    return query


def _tags(value: Any) -> list[str]:
    """A JSON column: decoded by SQLAlchemy on a session, text straight from asyncpg."""
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


async def read_document(
    reader: Reader, settings: Settings, actor: Actor, document_id: int
) -> dict[str, Any]:
    """The document as `DocumentRead`, on the lean reader (`GET`), or on the request's session
    through `SessionQueries` after a write (the same compiled statements)."""
    scope = access.bound_scope(actor, Permission.CONTENT_VIEW, upward=True)
    rows = await reader.fetch(
        _detail_query(scope.shape),
        {"document_id": document_id, "member_id": actor.member_id, **scope.params("view")},
    )
    if not rows:
        raise NotFound(code=NOT_FOUND)
    row = rows[0]
    return {
        **_summary(row),
        "summary": row["summary"],
        "tags": _tags(row["tags"]),
        "extraction_status": row["extraction_status"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "version": row["version"],
        "files": [
            {
                "id": f["att_id"],
                "filename": f["att_filename"],
                "content_type": f["att_content_type"],
                "size": f["att_size"],
                "position": f["att_position"],
            }
            for f in rows
            if f["att_kind"] == "file"
        ],
        "link": app_link(settings, "documents", document_id),
        "receipt": None
        if row["opened_at"] is None
        else {
            "opened_at": row["opened_at"],
            "studied_at": row["studied_at"],
            "position_section": row["position_section"],
            "position_offset": row["position_offset"],
            "position_at": row["position_at"],
        },
        # The implementation plans that reach the reader: relays by their own committees
        # (and, for leadership, by the units below them).
        "relays": [
            {
                "id": r["att_id"],
                "org": {
                    "id": r["relay_org_id"],
                    "name": r["relay_org_name"],
                    "kind": r["relay_org_kind"],
                },
                "note": r["relay_note"],
                "plan_filename": r["att_filename"],
                "relayed_at": r["relay_at"],
            }
            for r in rows
            if r["att_kind"] == "relay"
        ],
    }


# An org's documents, one compiled statement per shape: (status filter, after a cursor).
_LIST_QUERIES: dict[tuple[bool, bool], FastQuery] = {}


def _list_query(*, status: bool, after: bool) -> FastQuery:
    query = _LIST_QUERIES.get((status, after))
    if query is not None:
        return query
    stmt = (
        select(*_SUMMARY_COLUMNS)
        .join(_o, _o.c.id == _d.c.org_id)
        .where(_d.c.org_id == bindparam("org_id", type_=BigInteger))
    )
    if status:
        stmt = stmt.where(_d.c.status == bindparam("status"))
    if after:
        stmt = stmt.where(_d.c.id < bindparam("last_id", type_=BigInteger))
    stmt = stmt.order_by(_d.c.id.desc()).limit(bindparam("limit", type_=Integer))
    query = _LIST_QUERIES[(status, after)] = FastQuery(stmt)
    return query


async def list_org_documents(
    reader: Reader,
    actor: Actor,
    org: OrgTarget,
    *,
    status: DocumentStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """An org's own documents, newest first. Drafts only for its editors and approvers."""
    if not may_edit(actor, org.path):
        if status is DocumentStatus.DRAFT:
            return [], None
        status = DocumentStatus.PUBLISHED
    params: dict[str, Any] = {"org_id": org.id, "limit": limit + 1}
    if status is not None:
        params["status"] = status.value
    if cursor:
        (params["last_id"],) = decode_cursor(cursor, "org-documents", (int,))
    query = _list_query(status=status is not None, after=bool(cursor))
    rows = await reader.fetch(query, params)
    page, next_cursor = page_of(rows, limit, "org-documents", lambda r: (r["id"],))
    return [_summary(r) for r in page], next_cursor


# --- drafting and publishing ------------------------------------------------------------------


def _fields(body: DocumentCreate | DocumentUpdate) -> dict[str, Any]:
    # An edit cannot clear type, title, summary, tags or the flags (`NotNull` in the schema).
    values = body.model_dump(exclude_unset=isinstance(body, DocumentUpdate))
    if "title" in values:
        values["title_folded"] = fold(values["title"])[:300]
    if "summary" in values:
        values["summary_folded"] = fold(values["summary"])
    if "number" in values:
        values["number_key"] = number_key(values["number"])
    if "tags" in values:
        values["tags"] = sorted({" ".join(t.split()) for t in values["tags"]})
    return values


def _audit_view(document: Document) -> dict[str, Any]:
    return {
        "type": document.type,
        "number": document.number,
        "title": document.title,
        "issuing_body": document.issuing_body,
        "issued_on": document.issued_on,
        "summary": document.summary,
        "tags": list(document.tags or []),
        "is_confidential": document.is_confidential,
        "is_important": document.is_important,
        "status": document.status,
    }


async def create_document(
    session: AsyncSession, actor: Actor, org: OrgTarget, body: DocumentCreate
) -> int:
    now = utcnow()
    document = Document(
        org_id=org.id,
        status=DocumentStatus.DRAFT,
        extraction_status=ExtractionStatus.NONE,
        created_by_id=actor.member_id,
        created_at=now,
        updated_at=now,
        **_fields(body),
    )
    session.add(document)
    await session.flush()
    await audit.record(
        session,
        actor,
        "document.create",
        target=("document", document.id),
        org_id=org.id,
        detail={"title": document.title, "number": document.number},
    )
    return document.id


async def _locked(session: AsyncSession, document_id: int) -> Document:
    document = await session.get(
        Document, document_id, with_for_update=True, populate_existing=True
    )
    if document is None:
        raise NotFound(code=NOT_FOUND)
    return document


def _draft_only(document: Document) -> None:
    if document.status != DocumentStatus.DRAFT:
        raise Conflict(
            "Văn bản đã ban hành không sửa được; hãy soạn văn bản mới.", code="document.not_draft"
        )


async def update_document(
    session: AsyncSession,
    actor: Actor,
    target: DocumentTarget,
    body: DocumentUpdate,
    *,
    if_match: IfMatch | None,
) -> None:
    document = await _locked(session, target.id)
    etag.check(if_match, document.version)
    _draft_only(document)
    before = _audit_view(document)
    values = _fields(body)
    for key, value in values.items():
        setattr(document, key, value)
    document.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "document.update",
        target=("document", document.id),
        org_id=document.org_id,
        changes=audit.changes(before, _audit_view(document)),
    )


MAX_FILES = 20


async def attach_file(
    session: AsyncSession, actor: Actor, target: DocumentTarget, upload_id: int
) -> None:
    document = await _locked(session, target.id)
    _draft_only(document)
    count = await session.scalar(
        select(func.count()).select_from(_f).where(_f.c.document_id == document.id)
    )
    if (count or 0) >= MAX_FILES:
        raise Conflict(f"Một văn bản có tối đa {MAX_FILES} tệp.", code="document.too_many_files")
    upload = await upload_records.take(session, actor, upload_id, purpose=UploadPurpose.DOCUMENT)
    session.add(
        DocumentFile(
            document_id=document.id,
            upload_id=upload.id,
            position=(count or 0) + 1,
            storage_key=upload.storage_key,
            filename=upload.filename,
            content_type=upload.content_type,
            size=upload.size or 0,
            created_at=utcnow(),
        )
    )
    document.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "document.attach",
        target=("document", document.id),
        org_id=document.org_id,
        detail={"filename": upload.filename, "upload_id": upload.id},
    )


async def publish_document(
    session: AsyncSession,
    actor: Actor,
    target: DocumentTarget,
    *,
    if_match: IfMatch | None,
) -> None:
    """Draft → published: the subtree's members see it and are notified (a confidential
    document's notice carries neither its title nor its summary); its PDF/DOCX files are
    queued for text extraction."""
    document = await _locked(session, target.id)
    etag.check(if_match, document.version)
    if document.status != DocumentStatus.DRAFT:
        raise Conflict("Văn bản đã được ban hành.", code="document.already_published")
    now = utcnow()
    document.status = DocumentStatus.PUBLISHED
    document.published_at = now
    document.published_by_id = actor.member_id
    document.updated_at = now
    extractable = await session.scalar(
        select(func.count())
        .select_from(_f)
        .where(_f.c.document_id == document.id, _f.c.content_type.in_(EXTRACTABLE))
    )
    if extractable:
        document.extraction_status = ExtractionStatus.PENDING
        await jobs.enqueue(
            session,
            EXTRACT_JOB,
            {"document_id": document.id},
            dedupe_key=f"document:{document.id}:extract",
            now=now,
        )
    await session.flush()
    org_name = await session.scalar(select(_o.c.name).where(_o.c.id == document.org_id))
    if document.is_confidential:
        title, body = "Văn bản mới", f"{org_name} ban hành một văn bản mới. Mở ứng dụng để xem."
    else:
        title = document.title
        body = document.summary or f"{org_name} ban hành {document.number or 'văn bản mới'}."
    await notices.notify(
        session,
        kind=NoticeKind.DOCUMENT,
        title=title,
        body=body,
        data={"document_id": document.id},
        audience=notices.Audience(org_id=document.org_id),
        # The inbox for every member; a push only for what is marked important.
        has_push=document.is_important,
        is_urgent=document.is_important,
        created_by_id=actor.member_id,
        now=now,
    )
    await audit.record(
        session,
        actor,
        "document.publish",
        target=("document", document.id),
        org_id=document.org_id,
        detail={"title": document.title, "number": document.number},
    )


# --- files ------------------------------------------------------------------------------------


async def _file(session: AsyncSession, target: DocumentTarget, file_id: int) -> DocumentFile:
    found = await session.get(DocumentFile, file_id)
    if found is None or found.document_id != target.id:
        raise NotFound("Không tìm thấy tệp.", code="document.file_not_found")
    return found


async def file_link(
    session: AsyncSession, storage: Storage, target: DocumentTarget, file_id: int
) -> dict[str, Any]:
    found = await _file(session, target, file_id)
    url = await storage.presign_get(
        found.storage_key, filename=found.filename, expires_s=LINK_TTL_S
    )
    return {"url": url, "expires_in": LINK_TTL_S}


@dataclass(frozen=True, slots=True)
class FileContent:
    stream: ObjectStream
    filename: str


async def open_file(
    session: AsyncSession,
    storage: Storage,
    target: DocumentTarget,
    file_id: int,
    byte_range: ByteRange | None,
) -> FileContent:
    found = await _file(session, target, file_id)
    return FileContent(
        stream=await storage.open(found.storage_key, byte_range), filename=found.filename
    )


# --- receipts ---------------------------------------------------------------------------------


async def _ensure_receipt(session: AsyncSession, actor: Actor, document_id: int) -> DocumentReceipt:
    """The member's receipt, created once whatever the retries or races (ON CONFLICT); its
    creation is counted for the coverage report."""
    created = await session.scalar(
        dialect_insert(session, DocumentReceipt)
        .values(document_id=document_id, member_id=actor.member_id, opened_at=utcnow())
        .on_conflict_do_nothing(index_elements=["document_id", "member_id"])
        .returning(DocumentReceipt.member_id)
    )
    if created is not None:
        await coverage_service.count_open(session, actor, document_id)
    receipt = await session.get(
        DocumentReceipt,
        (document_id, actor.member_id),
        populate_existing=True,
        with_for_update=True,  # "studied" happens once, whatever the concurrent requests
    )
    if receipt is None:  # pragma: no cover - inserted just above
        raise NotFound(code=NOT_FOUND)
    return receipt


def _published_only(target: DocumentTarget) -> None:
    if not target.is_published:
        raise Conflict("Văn bản chưa được ban hành.", code="document.not_published")


async def open_document(
    session: AsyncSession, actor: Actor, target: DocumentTarget
) -> dict[str, Any]:
    """The member opened the document: recorded once (the first time counts)."""
    _published_only(target)
    receipt = await _ensure_receipt(session, actor, target.id)
    return {"document_id": target.id, "receipt": _receipt(receipt)}


async def study_document(
    session: AsyncSession, actor: Actor, target: DocumentTarget
) -> dict[str, Any]:
    """ "Đã nghiên cứu": an explicit action, recorded once."""
    _published_only(target)
    receipt = await _ensure_receipt(session, actor, target.id)
    if receipt.studied_at is None:
        receipt.studied_at = utcnow()
        await session.flush()
        await member_studied(session, actor, target.id)
    return {"document_id": target.id, "receipt": _receipt(receipt)}


async def member_studied(session: AsyncSession, actor: Actor, document_id: int) -> None:
    """The one place where "this member studied this document" happens, exactly once per member
    and document, inside the write transaction: study points are awarded here (once per member
    and document, whatever happens elsewhere, by the ledger's source key), and the coverage
    report's counter moves."""
    await coverage_service.count_studied(session, actor, document_id)
    await points.award(
        session,
        member_id=actor.member_id,
        points=points.rule_points(
            await rules_service.fresh(session, get_settings().rules), PointSource.DOCUMENT
        ),
        source=PointSource.DOCUMENT,
        source_key=f"document:{document_id}:member:{actor.member_id}",
        reason="Nghiên cứu văn bản",
    )


async def save_position(
    session: AsyncSession, actor: Actor, target: DocumentTarget, body: PositionUpdate
) -> dict[str, Any]:
    """The reading / read-aloud position, synced across the member's devices."""
    _published_only(target)
    receipt = await _ensure_receipt(session, actor, target.id)
    receipt.position_section = body.section
    receipt.position_offset = body.offset
    receipt.position_at = utcnow()
    await session.flush()
    return {"document_id": target.id, "receipt": _receipt(receipt)}


# --- relays and coverage ----------------------------------------------------------------------


async def relay_plan_link(
    session: AsyncSession, storage: Storage, actor: Actor, target: DocumentTarget, relay_id: int
) -> dict[str, Any]:
    """A signed link to a relay's implementation plan, for whoever the relay reaches (the relaying
    org's subtree) and the leadership above it."""
    row = (
        await session.execute(
            select(_relay.c.plan_storage_key, _relay.c.plan_filename, _o.c.path)
            .join(_o, _o.c.id == _relay.c.org_id)
            .where(_relay.c.id == relay_id, _relay.c.document_id == target.id)
        )
    ).one_or_none()
    if row is None or not access.can(actor, Permission.CONTENT_VIEW, row.path, upward=True):
        raise NotFound("Không tìm thấy kế hoạch triển khai.", code="document.relay_not_found")
    if row.plan_storage_key is None:
        raise NotFound("Lần triển khai này không kèm kế hoạch.", code="document.no_plan")
    url = await storage.presign_get(
        row.plan_storage_key, filename=row.plan_filename, expires_s=LINK_TTL_S
    )
    return {"url": url, "expires_in": LINK_TTL_S}


_ORG = FastQuery(
    select(_o.c.id, _o.c.path, _o.c.name, _o.c.kind).where(
        _o.c.id == bindparam("org_id", type_=BigInteger)
    ),
    generic=True,  # by its key
)


async def _org(queries: AsyncSession | Reader, org_id: int) -> Any:
    """The org's id, path, name and kind: through the request's session, or on the lean reader
    for a report that reads nothing else through the session."""
    if isinstance(queries, AsyncSession):
        queries = SessionQueries(queries)
    rows = await queries.fetch(_ORG, {"org_id": org_id})
    return rows[0] if rows else None


def _relay_read(relay: DocumentRelay, org: Any) -> dict[str, Any]:
    return {
        "id": relay.id,
        "document_id": relay.document_id,
        "org": {"id": org["id"], "name": org["name"], "kind": org["kind"]},
        "note": relay.note,
        "plan_filename": relay.plan_filename,
        "relayed_by_id": relay.relayed_by_id,
        "relayed_at": relay.relayed_at,
    }


async def relay_document(
    session: AsyncSession, actor: Actor, target: DocumentTarget, body: RelayCreate
) -> dict[str, Any]:
    """A lower committee's leadership relays an upper document to its subtree, with its own
    implementation plan. Once per org."""
    _published_only(target)
    org = await _org(session, body.org_id)
    if org is None or not access.is_visible(actor, org["path"], ancestors=True):
        raise NotFound("Không tìm thấy tổ chức.", code="org.not_found")
    access.require(
        actor,
        Permission.CONTENT_RELAY,
        org["path"],
        not_found_code="org.not_found",
        ancestors_visible=True,
    )
    if org["path"] == target.path or not access.in_subtree(org["path"], target.path):
        raise Unprocessable(
            "Chỉ cấp dưới của nơi ban hành mới chuyển tiếp văn bản.",
            code="document.relay_not_below",
        )
    exists = await session.scalar(
        select(_relay.c.id).where(_relay.c.document_id == target.id, _relay.c.org_id == org["id"])
    )
    if exists is not None:
        raise Conflict("Tổ chức này đã chuyển tiếp văn bản.", code="document.already_relayed")
    relay = DocumentRelay(
        document_id=target.id,
        org_id=org["id"],
        note=body.note,
        relayed_by_id=actor.member_id,
        relayed_at=utcnow(),
    )
    if body.plan_upload_id is not None:
        upload = await upload_records.take(
            session, actor, body.plan_upload_id, purpose=UploadPurpose.DOCUMENT
        )
        relay.plan_storage_key = upload.storage_key
        relay.plan_filename = upload.filename
        relay.plan_content_type = upload.content_type
        relay.plan_size = upload.size
    session.add(relay)
    await session.flush()
    await notices.notify(
        session,
        kind=NoticeKind.DOCUMENT,
        title=f"{org['name']} triển khai văn bản",
        body="Có văn bản cấp trên được triển khai kèm kế hoạch thực hiện.",
        data={"document_id": target.id, "relay_id": relay.id},
        audience=notices.Audience(org_id=org["id"]),
        created_by_id=actor.member_id,
    )
    await audit.record(
        session,
        actor,
        "document.relay",
        target=("document", target.id),
        org_id=org["id"],
        detail={"relay_id": relay.id},
    )
    return _relay_read(relay, org)


async def _scope_org(
    queries: AsyncSession | Reader, actor: Actor, target: DocumentTarget, org_id: int | None
) -> tuple[int, str]:
    """The org whose child units a report lists, as its id and path: the document's org by
    default (decided on the guard's target, without a read), or one of its subtree, where the
    actor holds `content.relay`."""
    _published_only(target)
    if org_id is None or org_id == target.org_id:
        org_id, path = target.org_id, target.path
    else:
        org = await _org(queries, org_id)
        if org is None or not access.in_subtree(org["path"], target.path):
            raise NotFound("Không tìm thấy tổ chức.", code="org.not_found")
        path = org["path"]
    access.require(
        actor,
        Permission.CONTENT_RELAY,
        path,
        not_found_code="org.not_found",
        ancestors_visible=True,
    )
    return org_id, path


async def relay_status(
    session: AsyncSession, actor: Actor, target: DocumentTarget, org_id: int | None
) -> list[dict[str, Any]]:
    """Which child units of the org relayed the document."""
    scope_id, _ = await _scope_org(session, actor, target, org_id)
    rows = (
        await session.execute(
            select(
                _o.c.id,
                _o.c.name,
                _o.c.kind,
                _relay.c.id.label("relay_id"),
                _relay.c.relayed_at,
            )
            .outerjoin(_relay, and_(_relay.c.org_id == _o.c.id, _relay.c.document_id == target.id))
            .where(_o.c.parent_id == scope_id)
            .order_by(_o.c.name_folded, _o.c.id)
        )
    ).mappings()
    return [
        {
            "org": {"id": r["id"], "name": r["name"], "kind": r["kind"]},
            "relayed_at": r["relayed_at"],
            "relay_id": r["relay_id"],
        }
        for r in rows
    ]


async def coverage(
    reader: Reader,
    actor: Actor,
    target: DocumentTarget,
    org_id: int | None,
    branch_members: coverage_service.BranchMembers,
) -> dict[str, Any]:
    """Members, opened and studied per child unit of the org (see `content.coverage`), on the
    lean reader (a heavy read of DESIGN.md §5)."""
    scope_id, _ = await _scope_org(reader, actor, target, org_id)
    return await coverage_service.report(reader, target.id, scope_id, branch_members)


async def members_not_read(
    session: AsyncSession,
    actor: Actor,
    target: DocumentTarget,
    org_id: int | None,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Members of the org's subtree who have not opened the document, in list order."""
    _, path = await _scope_org(session, actor, target, org_id)
    lo, hi = access.subtree_range(path)
    query = (
        select(_m.c.id, _m.c.full_name, _m.c.sort_key)
        .outerjoin(_r, and_(_r.c.member_id == _m.c.id, _r.c.document_id == target.id))
        .where(_m.c.org_path >= lo, _m.c.org_path < hi, _r.c.member_id.is_(None))
    )
    if cursor:
        key, last_id = decode_cursor(cursor, "not-read", (str, int))
        query = query.where(or_(_m.c.sort_key > key, and_(_m.c.sort_key == key, _m.c.id > last_id)))
    rows = list(
        (await session.execute(query.order_by(_m.c.sort_key, _m.c.id).limit(limit + 1))).mappings()
    )
    page, next_cursor = page_of(rows, limit, "not-read", lambda r: (r["sort_key"], r["id"]))
    return [{"id": r["id"], "full_name": r["full_name"]} for r in page], next_cursor


# --- sections ---------------------------------------------------------------------------------


async def read_sections(session: AsyncSession, target: DocumentTarget) -> dict[str, Any]:
    status = await session.scalar(select(_d.c.extraction_status).where(_d.c.id == target.id))
    rows = (
        await session.execute(
            select(_s.c.position, _s.c.kind, _s.c.text)
            .where(_s.c.document_id == target.id)
            .order_by(_s.c.position)
        )
    ).mappings()
    return {
        "document_id": target.id,
        "extraction_status": status,
        "sections": [dict(r) for r in rows],
    }
