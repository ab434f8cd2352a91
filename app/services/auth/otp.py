"""SMS one-time codes: request and verify.

- 6 digits, `otp_ttl_s`, single use, at most `otp_max_attempts` tries a code, sends limited per
  phone (cooldown, a sliding hour) in the database and per IP in the rate limiter; wrong codes
  lock verification for the phone for at most an hour. None of these touches password login or
  a live session's refresh.
- Unknown numbers get the same answer and a challenge row of their own, but no SMS.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import ServiceUnavailable, TooManyRequests, Unauthorized
from app.core.security import new_id, new_otp_code, otp_hash, otp_matches
from app.integrations.sms import SmsMessage
from app.models import Member, OtpChallenge
from app.models.base import utcnow
from app.services import sms_budget
from app.services.auth import passwords, sessions
from app.services.auth.common import (
    Auth,
    ClientInfo,
    IssuedTokens,
    ensure_not_locked,
    limit,
    serialise_phone,
)
from app.services.sms_budget import SmsPurpose


@dataclass(frozen=True, slots=True)
class OtpIssued:
    challenge_id: str
    expires_in: int
    resend_after: int
    message: SmsMessage | None  # sent after the transaction commits; None for unknown numbers


def _sms_budget_spent() -> ServiceUnavailable:
    return ServiceUnavailable(
        "Hệ thống tạm thời không gửi được tin nhắn. Vui lòng đăng nhập bằng mật khẩu hoặc thử "
        "lại sau.",
        code="sms.budget_exhausted",
    )


def _invalid_otp() -> Unauthorized:
    return Unauthorized("Mã xác thực không đúng.", code="auth.otp_invalid", keep_changes=True)


async def request_otp(
    session: AsyncSession, auth: Auth, *, phone: str, client: ClientInfo
) -> OtpIssued:
    cfg = auth.settings
    await limit(auth, f"otp-request:ip:{client.ip}", cfg.otp_requests_per_ip_per_hour, 3600)
    await serialise_phone(session, phone)
    now = utcnow()
    hour_ago = now - timedelta(hours=1)
    hour_count, newest, oldest = (
        await session.execute(
            select(
                func.count(), func.max(OtpChallenge.created_at), func.min(OtpChallenge.created_at)
            ).where(OtpChallenge.phone == phone, OtpChallenge.created_at > hour_ago)
        )
    ).one()
    if newest is not None and (elapsed := (now - newest).total_seconds()) < cfg.otp_cooldown_s:
        raise TooManyRequests(
            "Vui lòng chờ trước khi yêu cầu mã mới.",
            code="auth.otp_cooldown",
            retry_after_s=int(cfg.otp_cooldown_s - elapsed) + 1,
        )
    # A sliding hour and nothing longer: a number pumped all day gets a code again as soon as
    # the last hour holds fewer than `otp_per_hour` requests.
    if hour_count >= cfg.otp_per_hour and oldest is not None:
        raise TooManyRequests(
            "Đã gửi quá nhiều mã cho số này. Vui lòng thử lại sau.",
            code="auth.otp_hourly_limit",
            retry_after_s=int((oldest + timedelta(hours=1) - now).total_seconds()) + 1,
        )

    # The daily SMS budget's OTP share (checked for every number alike, known or not).
    left = await sms_budget.remaining(
        session, auth.sms_settings, SmsPurpose.OTP, now=now, timezone=auth.timezone
    )
    if left is not None and left <= 0:
        raise _sms_budget_spent()
    member_id = await session.scalar(
        select(Member.id).where(Member.phone == phone, Member.is_locked.is_(False))
    )
    if member_id is not None:
        granted = await sms_budget.charge(
            session, auth.sms_settings, SmsPurpose.OTP, 1, now=now, timezone=auth.timezone
        )
        if not granted:
            raise _sms_budget_spent()
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
    await limit(auth, f"login:ip:{client.ip}", cfg.login_attempts_per_ip_per_hour, 3600)
    now = utcnow()
    phone = await session.scalar(select(OtpChallenge.phone).where(OtpChallenge.id == challenge_id))
    if phone is None:
        raise _invalid_otp()
    await serialise_phone(session, phone)
    challenge = await session.scalar(
        select(OtpChallenge).where(OtpChallenge.id == challenge_id).with_for_update()
    )
    if challenge is None or challenge.consumed_at is not None:
        raise _invalid_otp()
    if challenge.expires_at <= now:
        raise Unauthorized("Mã xác thực đã hết hạn.", code="auth.otp_expired")
    failures, oldest_failed = (
        await session.execute(
            select(
                func.coalesce(func.sum(OtpChallenge.attempts), 0),
                func.min(case((OtpChallenge.attempts > 0, OtpChallenge.created_at))),
            ).where(
                OtpChallenge.phone == challenge.phone,
                OtpChallenge.created_at > now - timedelta(hours=1),
            )
        )
    ).one()
    if (failures or 0) >= cfg.otp_failures_per_hour:
        # Counted over the codes of the last hour: the lock lifts within the hour (password
        # login and live sessions are not affected).
        wait = (oldest_failed + timedelta(hours=1) - now).total_seconds() if oldest_failed else 0
        raise TooManyRequests(
            "Nhập sai quá nhiều lần. Vui lòng thử lại sau hoặc đăng nhập bằng mật khẩu.",
            code="auth.otp_locked",
            retry_after_s=min(3600, int(wait) + 1),
        )
    if not any(
        otp_matches(
            key,
            challenge_id=challenge.id,
            phone=challenge.phone,
            code=code,
            expected=challenge.code_hash,
        )
        for key in auth.codec.otp_keys
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
    ensure_not_locked(member)
    # The code was fresh and correct: earlier failed tries of this phone stop counting, the
    # wrong codes and the wrong passwords alike (whoever typed them, it was not this member).
    await session.execute(
        update(OtpChallenge)
        .where(OtpChallenge.phone == challenge.phone, OtpChallenge.attempts > 0)
        .values(attempts=0)
    )
    await passwords.forget_password_failures(session, challenge.phone)
    return await sessions.start_session(session, auth, member, method="otp", client=client, now=now)


async def close_open_codes(session: AsyncSession, member_id: int) -> None:
    """Codes already sent to this member stop working (their phone changed, or they are locked)."""
    await session.execute(
        update(OtpChallenge)
        .where(OtpChallenge.member_id == member_id, OtpChallenge.consumed_at.is_(None))
        .values(consumed_at=utcnow())
    )
