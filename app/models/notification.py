"""Notifications: notices (the outbox), the members' inbox, devices, preferences, deliveries.

- `Notice`: "notify these members (or every member of this org's subtree) about this", written
  in the same transaction as the change that causes it; the worker fans it out.
- `Notification`: one row per member and notice, the in-app inbox: nothing is lost for members
  whose push fails or who have no device.
- `Device`: an FCM registration token of one app install. The token has to be sent, so it is
  stored, but only its digest is indexed or ever logged.
- `Delivery`: one push (per device) or one SMS (per member) of a notice, with its outcome; its id
  is the message's idempotency key, so a retry after a crash carries the same key.
"""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class NoticeKind(StrEnum):
    """What a notice is about: members mute push per kind (the inbox always gets it)."""

    GENERAL = "general"  # thông báo chung
    MEETING_REMINDER = "meeting_reminder"  # nhắc lịch sinh hoạt
    MEETING = "meeting"  # meeting announced, moved, cancelled
    DOCUMENT = "document"  # văn bản mới
    ARTICLE = "article"  # tin bài
    TASK = "task"  # nhiệm vụ
    STUDY = "study"  # học tập, khảo sát
    ACCOUNT = "account"  # account events (always pushed)


class NoticeStatus(StrEnum):
    PENDING = "pending"  # written; the fan-out job has not split it yet
    FANNED_OUT = "fanned_out"  # delivery jobs exist for every chunk of the audience
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Notice(Base):
    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # What the push shows: a title and a short body, never confidential text.
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(String(240))
    # Ids for the app to open the right screen ({"meeting_id": "42"}): strings only (FCM data).
    data: Mapped[dict[str, str]] = mapped_column(JSON)
    # The audience: every member of an org's subtree, and/or listed members.
    audience_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    audience_member_ids: Mapped[list[int] | None] = mapped_column(JSON)
    is_urgent: Mapped[bool] = mapped_column(Boolean, default=False)  # ignores quiet hours
    # False: the inbox only, no push (news and documents not marked important).
    has_push: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    has_sms: Mapped[bool] = mapped_column(Boolean, default=False)  # SMS fallback wanted
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.PENDING)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_notice_created_at", "created_at"),)


class Notification(Base):
    """A member's inbox entry."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(String(240))
    data: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # A notice reaches a member's inbox once, however often its delivery job runs.
        UniqueConstraint("notice_id", "member_id"),
        Index("ix_notification_member_id_id", "member_id", "id"),
        Index("ix_notification_member_id_read_at", "member_id", "read_at"),
        Index("ix_notification_created_at", "created_at"),
    )


class DevicePlatform(StrEnum):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


class Device(Base):
    __tablename__ = "device"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(4096))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    app_version: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_device_member_id", "member_id"),)


class NotificationPreference(Base):
    """A member's choices; no row means the defaults (every kind pushed, no quiet hours)."""

    __tablename__ = "notification_preference"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    muted_kinds: Mapped[list[str]] = mapped_column(JSON)  # kinds not pushed (inbox only)
    # Local times (rules.timezone); non-urgent pushes wait until quiet_end. May wrap midnight.
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    # "Reach me by SMS": set by the member or their secretary (members without a smartphone).
    is_sms_preferred: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))


class DeliveryChannel(StrEnum):
    PUSH = "push"
    SMS = "sms"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to send at next_attempt_at
    SENT = "sent"
    PRUNED = "pruned"  # the token was dead (unregistered or invalid): the device is gone
    FAILED = "failed"  # attempts exhausted or refused for good
    SKIPPED = "skipped"  # nothing to send to any more (device removed, budget fuse, expired)


class Delivery(Base):
    __tablename__ = "delivery"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    # The device id for a push, the member id for an SMS: one delivery per target and notice.
    target_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("notice_id", "channel", "target_id"),
        Index("ix_delivery_notice_id_member_id", "notice_id", "member_id"),
        Index("ix_delivery_next_attempt_at", "next_attempt_at"),
    )
