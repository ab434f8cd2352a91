"""Passwords: login with lockout, NIST 800-63B style policy, set and change.

Wrong passwords are counted per phone number (known or not, so the lockout does not reveal the
roster) in `login_failure`; wrong current passwords count the same way. The lockout lasts at most
`password_lock_s` (≤ 1 hour), covers password login only (SMS-code login and refresh stay open),
and a correct SMS code for the phone wipes it.

Setting or replacing a password needs the current one or a fresh OTP step-up (the login proved
the phone by an SMS code in the last `step_up_ttl_s`), never an access token alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import AuthSettings
from app.core.errors import Forbidden, TooManyRequests, Unauthorized, Unprocessable
from app.models import AuthSession, LoginFailure, Member
from app.models.base import utcnow
from app.services.access import Actor
from app.services.auth import sessions
from app.services.auth.common import (
    Auth,
    ClientInfo,
    IssuedTokens,
    ensure_not_locked,
    limit,
    serialise_phone,
)

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


async def login_with_password(
    session: AsyncSession, auth: Auth, *, phone: str, password: str, client: ClientInfo
) -> IssuedTokens:
    cfg = auth.settings
    await limit(auth, f"login:ip:{client.ip}", cfg.login_attempts_per_ip_per_hour, 3600)
    now = utcnow()
    await serialise_phone(session, phone)
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
    ensure_not_locked(member)
    if new_hash:
        member.password_hash = new_hash
    await forget_password_failures(session, phone)
    return await sessions.start_session(
        session, auth, member, method="password", client=client, now=now
    )


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


async def forget_password_failures(session: AsyncSession, phone: str) -> None:
    """The phone's owner proved themselves (right password or SMS code): past wrong tries go."""
    await session.execute(delete(LoginFailure).where(LoginFailure.phone == phone))


async def set_password(
    session: AsyncSession,
    auth: Auth,
    actor: Actor,
    *,
    current_password: str | None,
    new_password: str,
) -> None:
    """Set or replace the member's password, proven one of two ways:

    - `current_password`, when one is set (wrong guesses count towards the phone's lockout);
    - otherwise a fresh OTP step-up: this login proved the phone by an SMS code within
      `step_up_ttl_s` (used once). So an access token alone never sets a password, and a member
      who proves their phone can always replace one, forgotten or set by someone else.

    Every other login of the member ends; this one stays.
    """
    member = await session.get(Member, actor.member_id, with_for_update=True)
    if member is None:
        raise Unauthorized(code="auth.session_revoked")
    now = utcnow()
    if current_password is not None and member.password_hash is not None:
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
    else:
        await _use_step_up(session, auth.settings, actor.session_id, now)
    _check_password_policy(new_password, member, auth.settings)
    member.password_hash = await auth.hasher.hash(new_password)
    member.password_changed_at = now
    if member.phone:
        await forget_password_failures(session, member.phone)
    # A new password ends every other login of this member (the current one stays).
    await sessions.revoke_sessions(
        session, member.id, reason="password_changed", keep=actor.session_id
    )


async def _use_step_up(
    session: AsyncSession, cfg: AuthSettings, session_id: str, now: datetime
) -> None:
    """This login proved the phone by an SMS code in the last `step_up_ttl_s`: use that proof."""
    auth_session = await session.get(AuthSession, session_id, with_for_update=True)
    verified_at = auth_session.otp_verified_at if auth_session is not None else None
    if (
        auth_session is None
        or verified_at is None
        or verified_at <= now - timedelta(seconds=cfg.step_up_ttl_s)
    ):
        raise Forbidden(
            "Vui lòng nhập mật khẩu hiện tại, hoặc xác thực lại bằng mã OTP gửi qua SMS rồi đặt "
            "mật khẩu mới ngay sau đó.",
            code="auth.step_up_required",
        )
    auth_session.otp_verified_at = None  # one password per proof


def _check_password_policy(password: str, member: Member, cfg: AuthSettings) -> None:
    digits = "".join(ch for ch in (member.phone or "") if ch.isdigit())
    folded = password.strip().lower()
    too_short = len(password) < cfg.password_min_length
    if (
        too_short
        or folded in COMMON_PASSWORDS
        or (digits and digits[-9:] in folded)
        or (len(set(password)) < 4)
        or _contains_birth_date(folded, member)
    ):
        raise Unprocessable(
            f"Mật khẩu quá yếu: cần ít nhất {cfg.password_min_length} ký tự, không dùng số điện "
            "thoại, ngày sinh hay mật khẩu phổ biến.",
            code="auth.password_weak",
        )


def _contains_birth_date(folded: str, member: Member) -> bool:
    """The member's birth date in a usual written form (19/05/1980, 1980-05-19, 190580 …)."""
    born = member.date_of_birth
    if born is None:
        return False
    bare = "".join(ch for ch in folded if ch not in "/-. ")
    forms = {born.strftime(f) for f in ("%d%m%Y", "%Y%m%d", "%d%m%y", "%m%d%Y")}
    forms.add(f"{born.day}{born.month}{born.year}")
    return any(form in bare for form in forms)
