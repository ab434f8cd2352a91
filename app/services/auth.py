"""Login: SMS OTP, password, refresh-token rotation, logout, and turning a token into an Actor.

Rules (numbers come from `settings.auth`):
- OTP: 6 digits, `otp_ttl_s`, single use, at most `otp_max_attempts` tries a code, sends limited
  per phone (cooldown, per hour, per day) in the database and per IP in the rate limiter. Unknown
  numbers get the same answer and a challenge row of their own, but no SMS.
- Refresh tokens rotate on every use; presenting one that was already used revokes the whole
  session (the token family), and so every access token minted from it.
- Failed attempts are committed even though the request fails (`keep_changes`), so they count.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core.config import AuthSettings, SmsSettings
from app.core.db import FastQuery, Reader
from app.core.errors import (
    Forbidden,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from app.core.ratelimit import RateLimiter
from app.core.security import (
    AccessClaims,
    PasswordHasher,
    TokenCodec,
    digest,
    new_id,
    new_otp_code,
    new_refresh_token,
    otp_hash,
    otp_matches,
)
from app.integrations.sms import SmsMessage
from app.models import (
    AuthSession,
    LoginFailure,
    Member,
    Org,
    OtpChallenge,
    RefreshToken,
    Role,
    RoleGrant,
)
from app.models.base import utcnow
from app.services.access import Actor, RoleHolding

log = logging.getLogger("app.auth")

COMMON_PASSWORDS = frozenset(
    {
        "12345678",
        "123456789",
        "1234567890",
        "password",
        "matkhau1",
        "11111111",
        "88888888",
        "00000000",
        "12341234",
        "abc12345",
        "password1",
        "qwertyui",
        "iloveyou",
        "66668888",
    }
)


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


@dataclass(frozen=True, slots=True)
class OtpIssued:
    challenge_id: str
    expires_in: int
    resend_after: int
    message: SmsMessage | None  # sent after the transaction commits; None for unknown numbers


class Auth:
    """What the login flows need: settings, token codec, password hasher and rate limiter."""

    def __init__(
        self,
        settings: AuthSettings,
        sms_settings: SmsSettings,
        codec: TokenCodec,
        hasher: PasswordHasher,
        limiter: RateLimiter,
    ) -> None:
        self.settings = settings
        self.sms_settings = sms_settings
        self.codec = codec
        self.hasher = hasher
        self.limiter = limiter


def _invalid_otp() -> Unauthorized:
    return Unauthorized("Mã xác thực không đúng.", code="auth.otp_invalid", keep_changes=True)


async def _limit(auth: Auth, key: str, limit: int, window_s: int) -> None:
    try:
        wait_ms = await auth.limiter.hit(key, limit=limit, window_s=window_s)
    except Exception as exc:  # the shared limiter is down: fail closed for logins
        log.error("rate limiter unavailable: %s", type(exc).__name__)
        raise ServiceUnavailable(code="rate.unavailable") from exc
    if wait_ms:
        raise TooManyRequests(retry_after_s=(wait_ms + 999) // 1000)


# --- OTP ----------------------------------------------------------------------------------------


async def _serialise_phone(session: AsyncSession, phone: str) -> None:
    """One login step per phone at a time (OTP request, OTP verification, password), until the
    transaction ends: limits are counted from rows, and two requests must not both count
    before either writes.
    (SQLite writers are already serial: BEGIN IMMEDIATE.)"""
    if session.get_bind().dialect.name == "postgresql":
        key = func.hashtextextended(literal("phone:") + phone, 0)
        await session.execute(select(func.pg_advisory_xact_lock(key)))


async def request_otp(
    session: AsyncSession, auth: Auth, *, phone: str, client: ClientInfo
) -> OtpIssued:
    cfg = auth.settings
    await _limit(auth, f"otp-request:ip:{client.ip}", cfg.otp_requests_per_ip_per_hour, 3600)
    await _serialise_phone(session, phone)
    now = utcnow()
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(days=1)
    row = (
        await session.execute(
            select(
                func.count(),
                func.sum(case((OtpChallenge.created_at > hour_ago, 1), else_=0)),
                func.max(OtpChallenge.created_at),
                func.min(OtpChallenge.created_at),
                func.min(case((OtpChallenge.created_at > hour_ago, OtpChallenge.created_at))),
            ).where(OtpChallenge.phone == phone, OtpChallenge.created_at > day_ago)
        )
    ).one()
    day_count, hour_count, newest, oldest_day, oldest_hour = row
    if newest is not None and (elapsed := (now - newest).total_seconds()) < cfg.otp_cooldown_s:
        raise TooManyRequests(
            "Vui lòng chờ trước khi yêu cầu mã mới.",
            code="auth.otp_cooldown",
            retry_after_s=int(cfg.otp_cooldown_s - elapsed) + 1,
        )
    if (hour_count or 0) >= cfg.otp_per_hour and oldest_hour is not None:
        raise TooManyRequests(
            code="auth.otp_hourly_limit",
            retry_after_s=int((oldest_hour + timedelta(hours=1) - now).total_seconds()) + 1,
        )
    if day_count >= cfg.otp_per_day and oldest_day is not None:
        raise TooManyRequests(
            code="auth.otp_daily_limit",
            retry_after_s=int((oldest_day + timedelta(days=1) - now).total_seconds()) + 1,
        )

    member_id = await session.scalar(
        select(Member.id).where(Member.phone == phone, Member.is_locked.is_(False))
    )
    # A new code replaces any open one for this phone.
    await session.execute(
        update(OtpChallenge)
        .where(OtpChallenge.phone == phone, OtpChallenge.consumed_at.is_(None))
        .values(consumed_at=now)
    )
    challenge_id = new_id()
    code = new_otp_code() if member_id is not None else secrets.token_hex(16)
    session.add(
        OtpChallenge(
            id=challenge_id,
            phone=phone,
            member_id=member_id,
            code_hash=otp_hash(
                auth.codec.otp_key, challenge_id=challenge_id, phone=phone, code=code
            ),
            created_at=now,
            expires_at=now + timedelta(seconds=cfg.otp_ttl_s),
        )
    )
    await session.flush()
    message = None
    if member_id is not None:
        text = auth.sms_settings.template.format(code=code, minutes=max(1, cfg.otp_ttl_s // 60))
        message = SmsMessage(to=phone, text=text, reference=challenge_id)
    return OtpIssued(
        challenge_id=challenge_id,
        expires_in=cfg.otp_ttl_s,
        resend_after=cfg.otp_cooldown_s,
        message=message,
    )


async def verify_otp(
    session: AsyncSession, auth: Auth, *, challenge_id: str, code: str, client: ClientInfo
) -> IssuedTokens:
    cfg = auth.settings
    await _limit(auth, f"login:ip:{client.ip}", cfg.login_attempts_per_ip_per_hour, 3600)
    now = utcnow()
    phone = await session.scalar(select(OtpChallenge.phone).where(OtpChallenge.id == challenge_id))
    if phone is None:
        raise _invalid_otp()
    await _serialise_phone(session, phone)
    challenge = await session.scalar(
        select(OtpChallenge).where(OtpChallenge.id == challenge_id).with_for_update()
    )
    if challenge is None or challenge.consumed_at is not None:
        raise _invalid_otp()
    if challenge.expires_at <= now:
        raise Unauthorized("Mã xác thực đã hết hạn.", code="auth.otp_expired")
    failures = await session.scalar(
        select(func.coalesce(func.sum(OtpChallenge.attempts), 0)).where(
            OtpChallenge.phone == challenge.phone,
            OtpChallenge.created_at > now - timedelta(hours=1),
        )
    )
    if (failures or 0) >= cfg.otp_failures_per_hour:
        raise TooManyRequests(
            "Nhập sai quá nhiều lần. Vui lòng thử lại sau.",
            code="auth.otp_locked",
            retry_after_s=3600,
        )
    if not otp_matches(
        auth.codec.otp_key,
        challenge_id=challenge.id,
        phone=challenge.phone,
        code=code,
        expected=challenge.code_hash,
    ):
        # Count the failed try atomically; the last allowed one kills the code.
        attempts = (challenge.attempts or 0) + 1
        values: dict[str, object] = {"attempts": OtpChallenge.attempts + 1}
        if attempts >= cfg.otp_max_attempts:
            values["consumed_at"] = now
        await session.execute(
            update(OtpChallenge).where(OtpChallenge.id == challenge.id).values(**values)
        )
        if attempts >= cfg.otp_max_attempts:
            raise TooManyRequests(
                "Nhập sai quá số lần cho phép. Vui lòng yêu cầu mã mới.",
                code="auth.otp_too_many_attempts",
                retry_after_s=cfg.otp_cooldown_s,
                keep_changes=True,
            )
        raise _invalid_otp()
    consumed = await session.execute(
        update(OtpChallenge)
        .where(OtpChallenge.id == challenge.id, OtpChallenge.consumed_at.is_(None))
        .values(consumed_at=now)
    )
    if consumed.rowcount != 1 or challenge.member_id is None:  # type: ignore[attr-defined]
        raise _invalid_otp()
    member = await session.get(Member, challenge.member_id)
    if member is None or member.phone != challenge.phone:
        # The number was reassigned since the code was sent: the code belonged to the old one.
        raise _invalid_otp()
    _ensure_not_locked(member)
    # The code was fresh and correct: earlier failed tries of this phone stop counting.
    await session.execute(
        update(OtpChallenge)
        .where(OtpChallenge.phone == challenge.phone, OtpChallenge.attempts > 0)
        .values(attempts=0)
    )
    return await _start_session(session, auth, member, method="otp", client=client, now=now)


# --- passwords ----------------------------------------------------------------------------------


async def login_with_password(
    session: AsyncSession, auth: Auth, *, phone: str, password: str, client: ClientInfo
) -> IssuedTokens:
    cfg = auth.settings
    await _limit(auth, f"login:ip:{client.ip}", cfg.login_attempts_per_ip_per_hour, 3600)
    now = utcnow()
    await _serialise_phone(session, phone)
    await _ensure_password_not_locked(session, cfg, phone, now)
    member = await session.scalar(select(Member).where(Member.phone == phone))
    ok, new_hash = await auth.hasher.verify(password, member.password_hash if member else None)
    if member is None or not ok:
        session.add(LoginFailure(phone=phone, created_at=now))
        raise Unauthorized(
            "Số điện thoại hoặc mật khẩu không đúng.",
            code="auth.invalid_credentials",
            keep_changes=True,
        )
    _ensure_not_locked(member)
    if new_hash:
        member.password_hash = new_hash
    await _forget_password_failures(session, phone)
    return await _start_session(session, auth, member, method="password", client=client, now=now)


async def _ensure_password_not_locked(
    session: AsyncSession, cfg: AuthSettings, phone: str, now: datetime
) -> None:
    """Too many wrong passwords for this phone in the window: refuse for a while. Counted the
    same way for numbers on the roster and numbers that are not (no enumeration)."""
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(LoginFailure.created_at)).where(
                LoginFailure.phone == phone,
                LoginFailure.created_at > now - timedelta(seconds=cfg.password_lock_s),
            )
        )
    ).one()
    if count >= cfg.password_failures_before_lock and oldest is not None:
        raise TooManyRequests(
            "Nhập sai mật khẩu quá nhiều lần. Vui lòng thử lại sau hoặc đăng nhập bằng mã OTP.",
            code="auth.password_locked",
            retry_after_s=int(
                (oldest + timedelta(seconds=cfg.password_lock_s) - now).total_seconds()
            )
            + 1,
        )


async def _forget_password_failures(session: AsyncSession, phone: str) -> None:
    await session.execute(delete(LoginFailure).where(LoginFailure.phone == phone))


async def set_password(
    session: AsyncSession,
    auth: Auth,
    actor: Actor,
    *,
    current_password: str | None,
    new_password: str,
) -> None:
    member = await session.get(Member, actor.member_id, with_for_update=True)
    if member is None:
        raise Unauthorized(code="auth.session_revoked")
    now = utcnow()
    if member.password_hash is not None:
        if current_password is None:
            raise Unprocessable(
                "Cần nhập mật khẩu hiện tại.", code="auth.current_password_required"
            )
        # A stolen access token must not become a way to guess the password: the same
        # lockout as the login counts these tries.
        phone = member.phone or f"member:{member.id}"
        await _ensure_password_not_locked(session, auth.settings, phone, now)
        ok, _ = await auth.hasher.verify(current_password, member.password_hash)
        if not ok:
            session.add(LoginFailure(phone=phone, created_at=now))
            raise Forbidden(
                "Mật khẩu hiện tại không đúng.", code="auth.wrong_password", keep_changes=True
            )
    _check_password_policy(new_password, member, auth.settings)
    member.password_hash = await auth.hasher.hash(new_password)
    member.password_changed_at = now
    if member.phone:
        await _forget_password_failures(session, member.phone)
    # A new password ends every other login of this member (the current one stays).
    await revoke_sessions(session, member.id, reason="password_changed", keep=actor.session_id)


def _check_password_policy(password: str, member: Member, cfg: AuthSettings) -> None:
    digits = "".join(ch for ch in (member.phone or "") if ch.isdigit())
    folded = password.strip().lower()
    too_short = len(password) < cfg.password_min_length
    if (
        too_short
        or folded in COMMON_PASSWORDS
        or (digits and digits[-9:] in folded)
        or (len(set(password)) < 4)
    ):
        raise Unprocessable(
            f"Mật khẩu quá yếu: cần ít nhất {cfg.password_min_length} ký tự, không dùng số điện "
            "thoại hay mật khẩu phổ biến.",
            code="auth.password_weak",
        )


# --- sessions and refresh tokens ----------------------------------------------------------------


def _ensure_not_locked(member: Member) -> None:
    if member.is_locked:
        raise Forbidden(
            "Tài khoản đã bị khóa. Vui lòng liên hệ bí thư chi bộ hoặc Ban Tổ chức.",
            code="auth.account_locked",
        )


async def _start_session(
    session: AsyncSession,
    auth: Auth,
    member: Member,
    *,
    method: str,
    client: ClientInfo,
    now: datetime,
) -> IssuedTokens:
    cfg = auth.settings
    auth_session = AuthSession(
        id=new_id(),
        member_id=member.id,
        method=method,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=cfg.session_max_age_s),
        user_agent=(client.user_agent or "")[:255] or None,
        ip=client.ip[:64],
    )
    session.add(auth_session)
    await session.flush()
    # Keep at most `max_sessions` live logins: the oldest go first.
    stale = (
        select(AuthSession.id)
        .where(AuthSession.member_id == member.id, AuthSession.revoked_at.is_(None))
        .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
        .offset(cfg.max_sessions)
    )
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id.in_(stale.scalar_subquery()))
        .values(revoked_at=now, revoke_reason="session_limit")
        .execution_options(synchronize_session=False)
    )
    return await _issue_tokens(session, auth, member.id, auth_session, now)


async def _issue_tokens(
    session: AsyncSession, auth: Auth, member_id: int, auth_session: AuthSession, now: datetime
) -> IssuedTokens:
    refresh = new_refresh_token()
    expires_at = min(now + timedelta(seconds=auth.settings.refresh_ttl_s), auth_session.expires_at)
    session.add(
        RefreshToken(
            session_id=auth_session.id,
            token_hash=digest(refresh),
            created_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return IssuedTokens(
        access_token=auth.codec.issue_access(
            member_id=member_id, session_id=auth_session.id, now=now
        ),
        expires_in=auth.settings.access_ttl_s,
        refresh_token=refresh,
        refresh_expires_in=int((expires_at - now).total_seconds()),
        member_id=member_id,
    )


async def refresh_tokens(session: AsyncSession, auth: Auth, *, refresh_token: str) -> IssuedTokens:
    now = utcnow()
    token = await session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == digest(refresh_token))
        .with_for_update()
    )
    if token is None:
        raise Unauthorized("Phiên đăng nhập không hợp lệ.", code="auth.refresh_invalid")
    auth_session = await session.get(AuthSession, token.session_id, with_for_update=True)
    if auth_session is None or auth_session.revoked_at is not None:
        raise Unauthorized("Phiên đăng nhập đã kết thúc.", code="auth.session_revoked")
    if token.used_at is not None:
        # A rotated token came back: someone holds a copy. End the whole family.
        auth_session.revoked_at = now
        auth_session.revoke_reason = "refresh_reuse"
        log.warning("refresh token reuse; session revoked", extra={"session": auth_session.id})
        raise Unauthorized(
            "Phiên đăng nhập đã bị thu hồi vì lý do an toàn. Vui lòng đăng nhập lại.",
            code="auth.refresh_reused",
            keep_changes=True,
        )
    if token.expires_at <= now or auth_session.expires_at <= now:
        raise Unauthorized("Phiên đăng nhập đã hết hạn.", code="auth.session_expired")
    member = await session.get(Member, auth_session.member_id)
    if member is None:
        raise Unauthorized("Phiên đăng nhập không hợp lệ.", code="auth.refresh_invalid")
    _ensure_not_locked(member)
    token.used_at = now
    auth_session.last_used_at = now
    return await _issue_tokens(session, auth, member.id, auth_session, now)


async def revoke_sessions(
    session: AsyncSession, member_id: int, *, reason: str, keep: str | None = None
) -> None:
    condition = and_(AuthSession.member_id == member_id, AuthSession.revoked_at.is_(None))
    if keep is not None:
        condition = and_(condition, AuthSession.id != keep)
    await session.execute(
        update(AuthSession).where(condition).values(revoked_at=utcnow(), revoke_reason=reason)
    )


async def close_open_codes(session: AsyncSession, member_id: int) -> None:
    """Codes already sent to this member stop working (their phone changed, or they are locked)."""
    await session.execute(
        update(OtpChallenge)
        .where(OtpChallenge.member_id == member_id, OtpChallenge.consumed_at.is_(None))
        .values(consumed_at=utcnow())
    )


async def logout(session: AsyncSession, actor: Actor) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == actor.session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason="logout")
    )


# --- the actor of a request ---------------------------------------------------------------------

_session_t = AuthSession.__table__
_member_t = Member.__table__
_grant_t = RoleGrant.__table__
_branch_t = aliased(Org.__table__, name="branch")
_role_org_t = aliased(Org.__table__, name="role_org")

_ACTOR_QUERY = (
    select(
        _member_t.c.id,
        _member_t.c.full_name,
        _member_t.c.phone,
        _member_t.c.status,
        _member_t.c.is_exempt,
        _member_t.c.is_locked,
        _member_t.c.branch_id,
        _branch_t.c.name,
        _branch_t.c.path,
        _session_t.c.expires_at,
        _grant_t.c.id,
        _grant_t.c.role,
        _role_org_t.c.id,
        _role_org_t.c.name,
        _role_org_t.c.kind,
        _role_org_t.c.path,
    )
    .select_from(_session_t)
    .join(_member_t, _member_t.c.id == _session_t.c.member_id)
    .join(_branch_t, _branch_t.c.id == _member_t.c.branch_id)
    .outerjoin(
        _grant_t,
        and_(_grant_t.c.member_id == _member_t.c.id, _grant_t.c.revoked_at.is_(None)),
    )
    .outerjoin(_role_org_t, _role_org_t.c.id == _grant_t.c.org_id)
    .where(
        _session_t.c.id == bindparam("sid", type_=String),
        _session_t.c.member_id == bindparam("sub", type_=BigInteger),
        _session_t.c.revoked_at.is_(None),
    )
    .order_by(_grant_t.c.id)
)
_ACTOR = FastQuery(_ACTOR_QUERY)


async def load_actor(reader: Reader, claims: AccessClaims) -> Actor:
    """One round trip: the member, their branch, live roles, and whether the session still holds."""
    rows = await reader.fetch(_ACTOR, {"sid": claims.session_id, "sub": claims.member_id})
    if not rows:
        raise Unauthorized("Phiên đăng nhập đã kết thúc.", code="auth.session_revoked")
    first = rows[0]
    if first[9] <= utcnow():
        raise Unauthorized("Phiên đăng nhập đã hết hạn.", code="auth.session_expired")
    if first[5]:
        raise Unauthorized(
            "Tài khoản đã bị khóa. Vui lòng liên hệ bí thư chi bộ hoặc Ban Tổ chức.",
            code="auth.account_locked",
        )
    roles = [
        RoleHolding(
            grant_id=row[10],
            role=Role(row[11]),
            org_id=row[12],
            org_name=row[13],
            org_kind=row[14],
            org_path=row[15],
        )
        for row in rows
        if row[10] is not None
    ]
    return Actor.build(
        member_id=first[0],
        session_id=claims.session_id,
        full_name=first[1],
        phone=first[2],
        status=first[3],
        is_exempt=first[4],
        branch_id=first[6],
        branch_name=first[7],
        branch_path=first[8],
        roles=roles,
    )
