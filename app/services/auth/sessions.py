"""Sessions: one login on one device, the family of refresh tokens that rotate from it.

- Refresh tokens rotate on every use; presenting one that was already used revokes the whole
  session (the token family), and so every access token minted from it.
- A member keeps at most `max_sessions` live logins: the oldest end first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Unauthorized
from app.core.security import digest, new_id, new_refresh_token
from app.models import AuthSession, Member, RefreshToken
from app.models.base import utcnow
from app.services import activity, audit
from app.services.access import Actor
from app.services.auth.common import Auth, ClientInfo, IssuedTokens, ensure_not_locked, log


async def start_session(
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
        otp_verified_at=now if method == "otp" else None,
        user_agent=(client.user_agent or "")[:255] or None,
    )
    _place(auth, auth_session, client.ip)
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
    await activity.record_activity(session, member.id, now=now, timezone=auth.timezone, login=True)
    return await _issue_tokens(session, auth, member.id, auth_session, now)


def _place(auth: Auth, auth_session: AuthSession, ip: str) -> None:
    """The login's address and its coarse place (looked up once per new address)."""
    ip = ip[:64]
    if auth_session.ip == ip and auth_session.place_country is not None:
        return
    auth_session.ip = ip
    place = auth.geoip.lookup(ip)
    auth_session.place_city = place.city if place else None
    auth_session.place_region = place.region if place else None
    auth_session.place_country = place.country if place else None


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


async def refresh_tokens(
    session: AsyncSession, auth: Auth, *, refresh_token: str, client: ClientInfo | None = None
) -> IssuedTokens:
    """A new pair for a refresh token; the login's address (and place) follow `client`."""
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
        branch_id = await session.scalar(
            select(Member.branch_id).where(Member.id == auth_session.member_id)
        )
        if branch_id is not None:
            await audit.record(
                session,
                None,
                "auth.refresh_reused",
                target=("member", auth_session.member_id),
                org_id=branch_id,
                detail={"session": auth_session.id},
            )
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
    ensure_not_locked(member)
    token.used_at = now
    auth_session.last_used_at = now
    if client is not None:
        _place(auth, auth_session, client.ip)
    await activity.record_activity(session, member.id, now=now, timezone=auth.timezone, login=False)
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


async def logout_everywhere(session: AsyncSession, actor: Actor) -> None:
    """End every login of the actor, on every device (audited: a security action)."""
    await revoke_sessions(session, actor.member_id, reason="logout_all")
    await audit.record(
        session,
        actor,
        "auth.logout_all",
        target=("member", actor.member_id),
        org_id=actor.branch_id,
    )


async def logout(session: AsyncSession, actor: Actor) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == actor.session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason="logout")
    )
