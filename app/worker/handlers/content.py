"""Content jobs: text extraction of a published document's files."""

from __future__ import annotations

from app.services.content import extraction
from app.services.content.documents import EXTRACT_JOB
from app.worker.registry import JobContext, Later, PermanentError, registry


@registry.handler(EXTRACT_JOB)
async def extract_document(ctx: JobContext) -> Later | None:
    """Sections of the document's PDF/DOCX files; a failure is recorded on the document and
    retried with backoff (the job's attempts); a scan without text is marked once."""
    document_id = ctx.payload.get("document_id")
    if not isinstance(document_id, int) or isinstance(document_id, bool):
        raise PermanentError("document_id missing")
    await extraction.extract_document(
        ctx.db.write, ctx.resources.storage, document_id, ctx.resources.settings.ocr
    )
    return None
