"""What statistics keep after login rows are pruned: SMS spent per day, members active per month."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime


class MemberActivity(Base):
    """A member used the app in a month (logged in or refreshed a token): one row, upserted."""

    __tablename__ = "member_activity"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # the 1st, local time
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    logins: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    __table_args__ = (Index("ix_member_activity_month", "month"),)


class SmsUsage(Base):
    """SMS handed to the gateway per local day and purpose (`otp`, `notice`): the budget fuse."""

    __tablename__ = "sms_usage"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
