"""Login with a Firebase Phone Auth ID token: the phone Firebase verified is the member's login.

A number that is not on the roster (or a token that does not verify) gets the same answer,
401 `auth.firebase_invalid`, as a wrong OTP code does for an unknown number: the endpoint does
not reveal who is a member. Tries count against the same per-IP login limit as OTP codes.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound, ServiceUnavailable, Unauthorized
from app.core.phone import normalise_phone
from app.integrations.firebase_auth import (
    CertificatesUnavailable,
    FirebaseDisabled,
    InvalidFirebaseToken,
    PhoneTokenVerifier,
)
from app.models import Member
from app.models.base import utcnow
from app.services.auth import sessions
from app.services.auth.common import Auth, ClientInfo, IssuedTokens, ensure_not_locked, limit


def _invalid() -> Unauthorized:
    return Unauthorized("Xác thực Firebase không hợp lệ.", code="auth.firebase_invalid")


async def login_with_firebase(
    session: AsyncSession,
    auth: Auth,
    verifier: PhoneTokenVerifier,
    *,
    id_token: str,
    client: ClientInfo,
) -> IssuedTokens:
    cfg = auth.settings
    await limit(auth, f"login:ip:{client.ip}", cfg.login_attempts_per_ip_per_hour, 3600)
    try:
        verified = await verifier.verify(id_token)
    except FirebaseDisabled as exc:
        raise NotFound(
            "Đăng nhập bằng Firebase chưa được bật.", code="auth.firebase_disabled"
        ) from exc
    except CertificatesUnavailable as exc:
        raise ServiceUnavailable(
            "Tạm thời không xác thực được với Firebase. Vui lòng thử lại sau.",
            code="auth.firebase_unavailable",
        ) from exc
    except InvalidFirebaseToken as exc:
        raise _invalid() from exc
    try:
        phone = normalise_phone(verified.phone)
    except ValueError as exc:
        raise _invalid() from exc
    member = await session.scalar(select(Member).where(Member.phone == phone))
    if member is None:
        raise _invalid()
    ensure_not_locked(member)
    return await sessions.start_session(
        session, auth, member, method="firebase", client=client, now=utcnow()
    )
