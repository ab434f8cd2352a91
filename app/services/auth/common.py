"""What every login step shares: the `Auth` bundle, client info, issued tokens, the per-IP limit
and the per-phone serialisation.

Rules (numbers come from `settings.auth`) are stated in each module; failed attempts are committed
even though the request fails (`keep_changes`), so they count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import ratelimit
from app.core.config import AuthSettings, SmsSettings
from app.core.errors import Forbidden
from app.core.ratelimit import RateLimiter
from app.core.security import PasswordHasher, TokenCodec
from app.integrations.geoip import GeoIP, NoGeoIP
from app.models import Member

log = logging.getLogger("app.auth")


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    member_id: int


class Auth:
    """What the login flows need: settings, token codec, password hasher, rate limiter and the
    GeoIP database that places a login."""

    def __init__(
        self,
        settings: AuthSettings,
        sms_settings: SmsSettings,
        codec: TokenCodec,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        *,
        timezone: str = "Asia/Ho_Chi_Minh",
        geoip: GeoIP | None = None,
    ) -> None:
        self.settings = settings
        self.geoip: GeoIP = geoip if geoip is not None else NoGeoIP()
        self.timezone = timezone  # the deployment's (rules.timezone): local days and months
        self.sms_settings = sms_settings
        self.codec = codec
        self.hasher = hasher
        self.limiter = limiter


async def limit(auth: Auth, key: str, limit: int, window_s: int) -> None:
    """Count a hit on `key` in the shared limiter; 429 past `limit` in `window_s`."""
    await ratelimit.enforce(auth.limiter, key, limit=limit, window_s=window_s)


async def serialise_phone(session: AsyncSession, phone: str) -> None:
    """One login step per phone at a time (OTP request, OTP verification, password), until the
    transaction ends: limits are counted from rows, and two requests must not both count
    before either writes.
    (SQLite writers are already serial: BEGIN IMMEDIATE.)"""
    if session.get_bind().dialect.name == "postgresql":
        key = func.hashtextextended(literal("phone:") + phone, 0)
        await session.execute(select(func.pg_advisory_xact_lock(key)))


def ensure_not_locked(member: Member) -> None:
    if member.is_locked:
        raise Forbidden(
            "Tài khoản đã bị khóa. Vui lòng liên hệ bí thư chi bộ hoặc Ban Tổ chức.",
            code="auth.account_locked",
        )
