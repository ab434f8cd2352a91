"""Branch meetings (sinh hoạt chi bộ): the meeting, its summoned members and their attendance,
attachments, comments, motions with their votes, and tasks.

Secret ballots are stored apart from participation: `motion_vote` says *who* voted (its `choice`
is NULL on a secret motion), `secret_ballot` holds the choices with a random id, no voter and no
time, so no row links a ballot to its voter.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    select,
    table,
    text,
)
from sqlalchemy import column as sql_column
from sqlalchemy.engine import Connection
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, ByteText, TimestampMixin, UTCDateTime, utcnow


class MeetingKind(StrEnum):
    REGULAR = "regular"  # sinh hoạt định kỳ
    THEMATIC = "thematic"  # sinh hoạt chuyên đề


class MeetingStatus(StrEnum):
    DRAFT = "draft"
    ANNOUNCED = "announced"
    STARTED = "started"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Attendance(StrEnum):
    PENDING = "pending"  # summoned, nothing recorded yet
    PRESENT = "present"
    EXCUSED = "excused"  # vắng có lý do
    ABSENT = "absent"  # set at close for the summoned who neither came nor excused themselves


class AttendeeKind(StrEnum):
    """Why a member is on a meeting's list. Only the branch's own members count: quorum,
    eligibility to vote, absences and study points read `member` rows alone."""

    MEMBER = "member"  # a member of the branch (summoned at announce)
    GUEST = "guest"  # đại biểu cấp trên: an officer of an org above, invited by the secretary
    RESIDENCE = "residence"  # sinh hoạt nơi cư trú: attached to the branch where they live


class CheckInMethod(StrEnum):
    APP = "app"
    QR = "qr"
    PROXY = "proxy"  # by the secretary, for a member without a smartphone


class MeetingRating(StrEnum):
    GOOD = "good"
    FAIR = "fair"
    AVERAGE = "average"
    POOR = "poor"


class VoteChoice(StrEnum):
    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


class MotionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


_org_paths = table("org", sql_column("id"), sql_column("path"))


def _branch_path(context: DefaultExecutionContext) -> str:
    """The path of the meeting's org, for a meeting written without its copy."""
    connection: Connection = context.connection
    org_id = context.get_current_parameters()["org_id"]  # type: ignore[no-untyped-call]
    path = connection.scalar(select(_org_paths.c.path).where(_org_paths.c.id == org_id))
    return str(path)


class Meeting(TimestampMixin, Base):
    __tablename__ = "meeting"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="RESTRICT"))
    # A copy of the branch's path (`orgs.PATH_COPIES` keeps it right when the tree changes): a
    # committee's meetings across its subtree in one index scan. Taken from the org when a
    # meeting is written without it.
    org_path: Mapped[str] = mapped_column(ByteText(512), default=_branch_path)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=MeetingStatus.DRAFT)
    title: Mapped[str] = mapped_column(String(255))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    place: Mapped[str | None] = mapped_column(String(255))
    online_url: Mapped[str | None] = mapped_column(String(500))
    # [{"title": "...", "description": "..."}]: comments name an item by its index.
    agenda: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The per-meeting secret of the rotating QR code (never sent to anyone).
    qr_secret: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    reschedule_reason: Mapped[str | None] = mapped_column(String(500))
    minutes_upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("upload.id", ondelete="SET NULL")
    )
    minutes_text: Mapped[str | None] = mapped_column(Text)
    minutes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rating: Mapped[str | None] = mapped_column(String(16))  # the branch's own rating
    upper_rating: Mapped[str | None] = mapped_column(String(16))  # by leadership above
    upper_rated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    # The members attached to the branch for residence are summoned too (as `residence`
    # attendees); chosen per meeting, by default the branch's `has_residence_attendees`.
    has_residence_attendees: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # Row version: bumped by every ORM update, exposed as the ETag (`If-Match` on edits).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declaration

    __table_args__ = (
        Index("ix_meeting_org_id_starts_at", "org_id", "starts_at", "id"),
        # A ward's (1) or grassroots committee's (2) meetings, latest first, on PostgreSQL: see
        # `access.unit_key` (the expression is spelled out: the index must match it exactly).
        *(
            Index(
                f"ix_meeting_unit{depth}_starts_at",
                text(f"split_part(org_path, '/', {depth + 2})"),
                "starts_at",
                "id",
                info={"dialects": ("postgresql",)},
            ).ddl_if(dialect="postgresql")
            for depth in (1, 2)
        ),
    )


class MeetingAttendee(Base):
    """A summoned member: the snapshot of their status and exemption (taken at announce,
    refreshed until the start) and their one attendance row. `kind` says why they are on the
    list (`AttendeeKind`): guests and residence attendees check in and comment, but only
    `member` rows are counted (quorum, votes, absences, points, statistics)."""

    __tablename__ = "meeting_attendee"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(
        String(16), default=AttendeeKind.MEMBER, server_default=AttendeeKind.MEMBER.value
    )
    member_status: Mapped[str] = mapped_column(String(16))
    is_exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    attendance: Mapped[str] = mapped_column(String(16), default=Attendance.PENDING)
    excuse_reason: Mapped[str | None] = mapped_column(String(500))
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    method: Mapped[str | None] = mapped_column(String(16))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    # Recorded on the secretary's phone without a connection and sent later in a batch.
    is_offline: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_meeting_attendee_member_id", "member_id", "meeting_id"),)


class MeetingAttachment(Base):
    __tablename__ = "meeting_attachment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"))
    upload_id: Mapped[int] = mapped_column(ForeignKey("upload.id", ondelete="CASCADE"), unique=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_meeting_attachment_meeting_id", "meeting_id", "id"),)


class MeetingDocument(Base):
    """A published document attached to a meeting's agenda (one that reaches the branch: issued
    by it or by a committee above it)."""

    __tablename__ = "meeting_document"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True
    )
    document_id: Mapped[int] = mapped_column(
        ForeignKey("document.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_meeting_document_document_id", "document_id"),)


class MeetingComment(Base):
    """A comment or written opinion (ý kiến bằng văn bản), optionally on an agenda item."""

    __tablename__ = "meeting_comment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    agenda_item: Mapped[int | None] = mapped_column(Integer)
    is_written_opinion: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    is_offline: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_meeting_comment_meeting_id", "meeting_id", "id"),)


class MeetingOfflineEntry(Base):
    """An entry of an offline batch, by the client's id: a batch sent again changes nothing."""

    __tablename__ = "meeting_offline_entry"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(64))  # "applied" or the refusal's code
    client_time: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))


class Motion(Base):
    """A motion put to the vote (biểu quyết). Counts are written when it closes."""

    __tablename__ = "motion"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    is_secret: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=MotionStatus.OPEN)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A show of hands counted by the secretary (open motions only), instead of app ballots.
    is_show_of_hands: Mapped[bool] = mapped_column(Boolean, default=False)
    yes_count: Mapped[int | None] = mapped_column(Integer)
    no_count: Mapped[int | None] = mapped_column(Integer)
    abstain_count: Mapped[int | None] = mapped_column(Integer)
    eligible_count: Mapped[int | None] = mapped_column(Integer)
    is_quorate: Mapped[bool | None] = mapped_column(Boolean)
    has_passed: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (Index("ix_motion_meeting_id", "meeting_id", "id"),)


class MotionVote(Base):
    """Participation: one row per voter and motion. `choice` only on open motions."""

    __tablename__ = "motion_vote"

    motion_id: Mapped[int] = mapped_column(
        ForeignKey("motion.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    choice: Mapped[str | None] = mapped_column(String(16))


class SecretBallot(Base):
    """A secret ballot's choice: a random id, the motion, the choice; nothing about the voter."""

    __tablename__ = "secret_ballot"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    motion_id: Mapped[int] = mapped_column(ForeignKey("motion.id", ondelete="CASCADE"))
    choice: Mapped[str] = mapped_column(String(16))

    __table_args__ = (Index("ix_secret_ballot_motion_id", "motion_id"),)


class Task(TimestampMixin, Base):
    """A task (giao nhiệm vụ) of a branch, for a member or the whole branch, maybe of a meeting."""

    __tablename__ = "task"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="RESTRICT"))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meeting.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(500))
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.OPEN)
    progress: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declaration

    __table_args__ = (
        Index("ix_task_org_id", "org_id", "id"),
        Index("ix_task_assignee_id_status", "assignee_id", "status", "due_date", "id"),
    )
