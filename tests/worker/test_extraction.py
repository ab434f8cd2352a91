"""Text extraction of published documents: PDF and DOCX into ordered sections; scans read by
OCR where Tesseract is installed, else marked once; a file that fails to parse is recorded and
retried."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from docx import Document as Docx
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import OcrSettings
from app.integrations.storage import LocalStorage
from app.models import Document, DocumentFile, DocumentSection, Job
from app.models.base import utcnow
from app.resources import Resources
from app.services import jobs
from app.services.content.documents import EXTRACT_JOB
from app.services.content.extraction import DOCX, PDF, Scanned, ocr_available, pdf_sections
from app.worker.runner import Worker
from tests import samples
from tests.factories import Tree
from tests.worker.conftest import START


def text_pdf(*blocks: list[str]) -> bytes:
    """A real one-page PDF with a text layer: each block's lines, blocks apart."""
    ops = ["BT", "/F1 12 Tf", "14 TL", "72 760 Td"]
    for block in blocks:
        for line in block:
            ops.append(f"({line}) Tj T*")
        ops.append("T* T*")
    ops.append("ET")
    content = "\n".join(ops).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
OCR = OcrSettings()
needs_ocr = pytest.mark.skipif(
    not ocr_available(OCR),
    reason="Tesseract with Vietnamese is not installed "
    "(apt install tesseract-ocr tesseract-ocr-vie)",
)


def scanned_pdf(*lines: str) -> bytes:
    """A real scan: a page that is only an image of printed Vietnamese text (no text layer)."""
    page = Image.new("L", (1700, 300 + 160 * len(lines)), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 48) if Path(FONT).exists() else ImageFont.load_default(48)
    for i, line in enumerate(lines):
        draw.text((100, 120 + 160 * i), line, font=font, fill=0)
    out = io.BytesIO()
    page.save(out, "PDF", resolution=200)
    return out.getvalue()


def docx_file() -> bytes:
    document = Docx()
    document.add_heading("Chương I. Những quy định chung", level=1)
    document.add_paragraph("Nghị quyết này quy định về phát triển khoa học, công nghệ.")
    document.add_paragraph("")
    document.add_paragraph("Đảng viên có trách nhiệm nghiên cứu, quán triệt.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _published(
    session: AsyncSession, storage: LocalStorage, tree: Tree, files: list[tuple[str, bytes]]
) -> int:
    now = utcnow()
    document = Document(
        org_id=tree.c1.id,
        type="resolution",
        title="Nghị quyết",
        title_folded="nghi quyet",
        summary="",
        summary_folded="",
        tags=[],
        is_confidential=False,
        is_important=False,
        status="published",
        extraction_status="pending",
        created_at=now,
        updated_at=now,
        published_at=now,
    )
    session.add(document)
    await session.flush()
    for position, (content_type, data) in enumerate(files, start=1):
        key = f"documents/test/{document.id}-{position}"
        await storage.put_stream(key, _chunks(data), content_type=content_type)
        session.add(
            DocumentFile(
                document_id=document.id,
                position=position,
                storage_key=key,
                filename=f"f{position}",
                content_type=content_type,
                size=len(data),
                created_at=now,
            )
        )
    await jobs.enqueue(session, EXTRACT_JOB, {"document_id": document.id}, now=START)
    await session.commit()
    return document.id


async def _sections(session: AsyncSession, document_id: int) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(DocumentSection.kind, DocumentSection.text)
        .where(DocumentSection.document_id == document_id)
        .order_by(DocumentSection.position)
    )
    return [(kind, text) for kind, text in rows]


def test_pdf_blocks_become_sections() -> None:
    sections = pdf_sections(
        text_pdf(
            ["CHUONG I", "Nhung quy dinh chung"], ["Dieu 1. Pham vi", "ap dung cho dang vien."]
        )
    )
    assert [s.kind for s in sections][:1] == ["heading"]
    assert "Nhung quy dinh chung" in " ".join(s.text for s in sections)
    assert any("ap dung cho dang vien" in s.text for s in sections)


async def test_extraction_of_pdf_and_docx_in_order(
    session: AsyncSession, tree: Tree, worker: Worker, storage: LocalStorage
) -> None:
    document_id = await _published(
        session,
        storage,
        tree,
        [
            (PDF, text_pdf(["Mo dau nghi quyet"])),
            ("image/png", samples.png()),
            (DOCX, docx_file()),
        ],
    )
    await worker.run_once()
    session.expire_all()
    document = await session.get(Document, document_id)
    assert document is not None
    assert document.extraction_status == "done"
    sections = await _sections(session, document_id)
    assert sections[0] == ("paragraph", "Mo dau nghi quyet")
    assert sections[1:] == [
        ("heading", "Chương I. Những quy định chung"),
        ("paragraph", "Nghị quyết này quy định về phát triển khoa học, công nghệ."),
        ("paragraph", "Đảng viên có trách nhiệm nghiên cứu, quán triệt."),
    ]


@needs_ocr
async def test_a_scan_is_read_by_ocr(
    session: AsyncSession, tree: Tree, worker: Worker, storage: LocalStorage
) -> None:
    document_id = await _published(
        session,
        storage,
        tree,
        [(PDF, scanned_pdf("NGHỊ QUYẾT VỀ XÂY DỰNG ĐẢNG", "", "Đảng viên có trách nhiệm."))],
    )
    with pytest.raises(Scanned):
        pdf_sections(scanned_pdf("NGHỊ QUYẾT"))  # no text layer: only OCR reads it
    await worker.run_once()
    session.expire_all()
    document = await session.get(Document, document_id)
    assert document is not None
    assert document.extraction_status == "done"
    sections = await _sections(session, document_id)
    assert sections[0] == ("heading", "NGHỊ QUYẾT VỀ XÂY DỰNG ĐẢNG")
    assert ("paragraph", "Đảng viên có trách nhiệm.") in sections


@pytest.mark.parametrize(
    "ocr",
    [
        pytest.param(OcrSettings(mode="off"), id="without-ocr"),
        pytest.param(OCR, id="ocr-finds-nothing", marks=needs_ocr),
    ],
)
async def test_a_scan_without_text_is_marked_once_and_not_retried(
    session: AsyncSession,
    tree: Tree,
    worker: Worker,
    storage: LocalStorage,
    resources: Resources,
    ocr: OcrSettings,
) -> None:
    """Without OCR (not installed, or `OCR__MODE=off`) a scan is marked `scanned`; with OCR, a
    scan in which it finds no text is too. Either way the job is done, not retried."""
    resources.settings = resources.settings.model_copy(update={"ocr": ocr})
    lines = ("NGHỊ QUYẾT",) if ocr.mode == "off" else ()
    document_id = await _published(session, storage, tree, [(PDF, scanned_pdf(*lines))])
    await worker.run_once()
    session.expire_all()
    document = await session.get(Document, document_id)
    assert document is not None
    assert document.extraction_status == "scanned"
    job = await session.scalar(select(Job).where(Job.kind == EXTRACT_JOB))
    assert job is not None
    assert job.status == "done"


async def test_a_broken_file_is_recorded_and_retried(
    session: AsyncSession, tree: Tree, worker: Worker, storage: LocalStorage
) -> None:
    document_id = await _published(session, storage, tree, [(PDF, samples.pdf())])
    await worker.run_once()
    session.expire_all()
    document = await session.get(Document, document_id)
    assert document is not None
    assert document.extraction_status == "failed"
    assert document.extraction_error is not None
    assert "PdfReadError" in document.extraction_error
    job = await session.scalar(select(Job).where(Job.kind == EXTRACT_JOB))
    assert job is not None
    assert job.status == "failed"  # retried at its run_after
    assert job.attempts == 1
    assert job.last_error
