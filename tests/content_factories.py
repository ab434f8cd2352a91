"""Builders for published content and meetings at a given time (rows written directly, as the
authorization matrix's setups do): what statistics of a past period and scope checks need."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Article,
    ArticleStatus,
    Attendance,
    Document,
    DocumentStatus,
    Meeting,
    MeetingAttendee,
    MeetingStatus,
    Member,
    Org,
)
from app.models.base import utcnow


async def make_document(
    session: AsyncSession,
    org: Org,
    *,
    title: str = "Nghị quyết thử",
    published_at: datetime | None = None,
    status: DocumentStatus = DocumentStatus.PUBLISHED,
) -> Document:
    now = utcnow()
    document = Document(
        org_id=org.id,
        type="resolution",
        number=None,
        number_key=None,
        title=title,
        title_folded=title.lower(),
        summary="",
        summary_folded="",
        tags=[],
        is_confidential=False,
        is_important=False,
        status=status,
        extraction_status="none",
        created_at=now,
        updated_at=now,
        published_at=(published_at or now) if status == DocumentStatus.PUBLISHED else None,
    )
    session.add(document)
    await session.flush()
    return document


async def make_article(
    session: AsyncSession,
    org: Org,
    *,
    title: str = "Tin thử",
    published_at: datetime | None = None,
) -> Article:
    now = utcnow()
    article = Article(
        org_id=org.id,
        title=title,
        title_folded=title.lower(),
        summary="",
        summary_folded="",
        body="Nội dung",
        is_important=False,
        is_pinned=False,
        status=ArticleStatus.PUBLISHED,
        created_at=now,
        updated_at=now,
        published_at=published_at or now,
    )
    session.add(article)
    await session.flush()
    return article


async def make_meeting(
    session: AsyncSession,
    org: Org,
    status: MeetingStatus,
    *,
    starts_at: datetime,
    summoned: Sequence[Member] = (),
) -> Meeting:
    """A meeting of `org`; announced and later ones summon `summoned` (present when held)."""
    meeting = Meeting(
        org_id=org.id,
        kind="regular",
        status=status,
        title=f"Sinh hoạt chi bộ ({status})",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
        place="Hội trường",
        agenda=[{"title": "Thông qua nghị quyết", "description": None}],
        qr_secret=secrets.token_hex(32),
        announced_at=None if status == MeetingStatus.DRAFT else starts_at - timedelta(days=3),
        closed_at=starts_at + timedelta(hours=2) if status == MeetingStatus.CLOSED else None,
    )
    session.add(meeting)
    await session.flush()
    if status != MeetingStatus.DRAFT:
        held = status == MeetingStatus.CLOSED
        for member in summoned:
            session.add(
                MeetingAttendee(
                    meeting_id=meeting.id,
                    member_id=member.id,
                    member_status=member.status,
                    is_exempt=member.is_exempt,
                    attendance=Attendance.PRESENT if held else Attendance.PENDING,
                    checked_in_at=starts_at if held else None,
                    updated_at=starts_at,
                )
            )
        await session.flush()
    return meeting
