"""Text extraction: a document's PDF and DOCX files into ordered sections (headings and
paragraphs) for the apps' reading and read-aloud mode. Run by the worker (`document.extract`).

- PDF (pypdf): the text layer, page by page, split into paragraphs at blank lines; short lines
  that look like titles ("CHƯƠNG I", "Điều 3.", all capitals) are headings.
- DOCX (python-docx): paragraphs in order, "Heading"/"Title" styles as headings.
- A PDF without a text layer is a scan: where Tesseract and its language data are installed
  (`OcrSettings`), its pages are rendered (pdfium) and read by OCR into the same sections;
  otherwise, or when OCR finds no text, the document is marked `scanned` once and the job does
  not retry it.
- A file that fails to parse marks the document `failed` with the reason and the job retries
  it with backoff; the files and the document are never lost.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import OcrSettings
from app.integrations.storage import Storage
from app.models import Document, DocumentFile, DocumentSection, ExtractionStatus

log = logging.getLogger("app.content.extraction")

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MAX_SECTIONS = 5000
MAX_SECTION_CHARS = 20_000
MAX_FILE_BYTES = 60 * 1024 * 1024


class Scanned(Exception):
    """A PDF with pages but no text layer."""


@dataclass(frozen=True, slots=True)
class Section:
    kind: str  # heading | paragraph
    text: str


_HEADING = re.compile(
    r"^(PHẦN|CHƯƠNG|MỤC|Chương|Mục|Phần|Điều\s+\d+|[IVXLC]+\.|[IVXLC]+\s*[-–])", re.UNICODE
)


def _looks_like_heading(text: str) -> bool:
    if len(text) > 160:
        return False
    letters = [c for c in text if c.isalpha()]
    shouting = bool(letters) and sum(c.isupper() for c in letters) / len(letters) > 0.8
    return shouting or bool(_HEADING.match(text))


def _clean(text: str) -> str:
    return " ".join(text.split())[:MAX_SECTION_CHARS]


def _text_sections(text: str) -> list[Section]:
    """A page's text, split into paragraphs at blank lines, title lines as headings."""
    sections: list[Section] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        # A title line at the top of a block is its own section.
        if len(lines) > 1 and _looks_like_heading(lines[0]):
            sections.append(Section("heading", _clean(lines[0])))
            lines = lines[1:]
        joined = _clean(" ".join(lines))
        kind = "heading" if _looks_like_heading(joined) else "paragraph"
        sections.append(Section(kind, joined))
    return sections


def pdf_sections(data: bytes) -> list[Section]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    sections: list[Section] = []
    pages = 0
    for page in reader.pages:
        pages += 1
        sections += _text_sections(page.extract_text() or "")
    if pages and not sections:
        raise Scanned()
    return sections


@functools.cache
def _ocr_ready(command: str, languages: str) -> bool:
    """The Tesseract command runs here and has every language asked for (checked once)."""
    path = shutil.which(command)
    if path is None:
        return False
    try:
        listed = subprocess.run(  # noqa: S603 - the configured command, no shell, no input
            [path, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    # `--list-langs` prints a header line, then one language per line (to stdout or stderr).
    have = set((listed.stdout + listed.stderr).split())
    return listed.returncode == 0 and all(lang in have for lang in languages.split("+"))


def ocr_available(settings: OcrSettings) -> bool:
    return settings.mode == "auto" and _ocr_ready(settings.command, settings.languages)


def ocr_sections(data: bytes, settings: OcrSettings) -> list[Section]:
    """A scanned PDF's pages rendered (pdfium) and read by Tesseract, page by page."""
    import pypdfium2

    command = shutil.which(settings.command) or settings.command
    sections: list[Section] = []
    pdf = pypdfium2.PdfDocument(data)
    try:
        pages = len(pdf)
        for index in range(min(pages, settings.max_pages)):
            page = pdf[index]
            try:
                image = page.render(scale=settings.dpi / 72, grayscale=True).to_pil()
            finally:
                page.close()
            png = io.BytesIO()
            image.save(png, "PNG")
            result = subprocess.run(  # noqa: S603 - the configured command, no shell
                [command, "stdin", "stdout", "-l", settings.languages, "--dpi", str(settings.dpi)],
                input=png.getvalue(),
                capture_output=True,
                timeout=settings.page_timeout_s,
                check=False,
            )
            if result.returncode != 0:
                message = result.stderr.decode("utf-8", "replace").strip()[-300:]
                raise RuntimeError(f"tesseract exited {result.returncode}: {message}")
            sections += _text_sections(result.stdout.decode("utf-8", "replace"))
        if pages > settings.max_pages:
            log.info("OCR read the first %d of %d pages of a scan", settings.max_pages, pages)
    finally:
        pdf.close()
    return sections


def _file_sections(content_type: str, data: bytes, ocr: OcrSettings) -> list[Section]:
    """`sections_of`, with a scan read by OCR where it is available (else `Scanned`)."""
    try:
        return sections_of(content_type, data)
    except Scanned:
        if not ocr_available(ocr):
            raise
    found = ocr_sections(data, ocr)
    if not found:
        raise Scanned()
    return found


def docx_sections(data: bytes) -> list[Section]:
    from docx import Document as Docx

    sections: list[Section] = []
    for paragraph in Docx(io.BytesIO(data)).paragraphs:
        text = _clean(paragraph.text)
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        heading = style.startswith(("Heading", "Title")) or _looks_like_heading(text)
        sections.append(Section("heading" if heading else "paragraph", text))
    return sections


def sections_of(content_type: str, data: bytes) -> list[Section]:
    if content_type == PDF:
        return pdf_sections(data)
    if content_type == DOCX:
        return docx_sections(data)
    return []


async def _read(storage: Storage, key: str) -> bytes:
    stream = await storage.open(key, None)
    if stream.length > MAX_FILE_BYTES:
        await stream.aclose()
        raise ValueError("tệp quá lớn để trích xuất")
    return await stream.read()


async def _set_status(
    maker: async_sessionmaker[AsyncSession],
    document_id: int,
    status: ExtractionStatus,
    error: str | None,
) -> None:
    async with maker.begin() as session:
        document = await session.get(Document, document_id, with_for_update=True)
        if document is not None:
            document.extraction_status = status
            document.extraction_error = error


async def extract_document(
    maker: async_sessionmaker[AsyncSession],
    storage: Storage,
    document_id: int,
    ocr: OcrSettings,
) -> ExtractionStatus | None:
    """Extract, store the sections (replacing any earlier ones) and set the status. Raises on
    a failure after recording it (the worker retries); None when the document is gone."""
    async with maker.begin() as session:
        if await session.get(Document, document_id) is None:
            return None
        files = (
            await session.execute(
                select(DocumentFile.storage_key, DocumentFile.content_type)
                .where(DocumentFile.document_id == document_id)
                .order_by(DocumentFile.position, DocumentFile.id)
            )
        ).all()
    found: list[Section] = []
    try:
        for key, content_type in files:
            if content_type not in (PDF, DOCX):
                continue
            data = await _read(storage, key)
            found += await anyio.to_thread.run_sync(_file_sections, content_type, data, ocr)
    except Scanned:
        await _set_status(maker, document_id, ExtractionStatus.SCANNED, "PDF không có lớp chữ.")
        return ExtractionStatus.SCANNED
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("extraction of document %s failed: %s", document_id, reason)
        await _set_status(maker, document_id, ExtractionStatus.FAILED, reason)
        raise
    async with maker.begin() as session:
        document = await session.get(Document, document_id, with_for_update=True)
        if document is None:
            return None
        await session.execute(
            delete(DocumentSection).where(DocumentSection.document_id == document_id)
        )
        session.add_all(
            DocumentSection(document_id=document_id, position=i, kind=s.kind, text=s.text)
            for i, s in enumerate(found[:MAX_SECTIONS], start=1)
        )
        document.extraction_status = ExtractionStatus.DONE if found else ExtractionStatus.NONE
        document.extraction_error = None
    return ExtractionStatus.DONE if found else ExtractionStatus.NONE
