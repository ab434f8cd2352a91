"""Login state: OTP challenges, sessions (refresh-token families) and refresh tokens.

Nothing secret is stored in clear: OTP codes as an HMAC, refresh tokens as a SHA-256 digest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class OtpChallenge(Base):
    __tablename__ = "otp_challenge"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    # Null for numbers that are not on the roster: they get a challenge too (same answer, no SMS).
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16), default="login")
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_otp_challenge_phone_created_at", "phone", "created_at"),)


class AuthSession(Base):
    """One login on one device: the family of refresh tokens that rotate from it."""

    __tablename__ = "auth_session"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(String(32))
    # When this login last proved the phone by an SMS code (the step-up that lets a password be
    # set or replaced without the current one); cleared once used.
    otp_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(64))
    # A coarse place for `ip` from the deployment's GeoIP database (`GEOIP__DATABASE`), looked
    # up when the login starts or refreshes from a new address; null when unknown.
    place_city: Mapped[str | None] = mapped_column(String(100))
    place_region: Mapped[str | None] = mapped_column(String(100))
    place_country: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_auth_session_member_id", "member_id", "created_at"),)


class RefreshToken(Base):
    __tablename__ = "refresh_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("auth_session.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_refresh_token_session_id", "session_id"),)


class LoginFailure(Base):
    """A wrong password for a phone, known or not, so the lockout looks the same for both."""

    __tablename__ = "login_failure"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_login_failure_phone_created_at", "phone", "created_at"),)
