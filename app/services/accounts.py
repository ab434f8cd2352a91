"""A member's account over time: changing the phone (by the member proving the new number by an
SMS code, or by an officer with a reason) and the member's logins (list, end one; officers end
all of a member's logins).

A new phone ends the member's logins and kills every code still open for them: the phone is
how a member logs in, and whoever holds the old number must not keep a way in.
"""

from __future__ import annotations

import ipaddress
import re

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound
from app.integrations.geoip import Place
from app.models import AuthSession, Member
from app.models.base import utcnow
from app.schemas.membership import LoginList, LoginRead
from app.services import audit, history
from app.services import members as member_service
from app.services.access import Actor
from app.services.auth import otp as otp_service
from app.services.auth import sessions as session_service
from app.services.auth.common import Auth, ClientInfo


def _unchanged() -> Conflict:
    return Conflict("Số điện thoại mới trùng với số hiện tại.", code="member.phone_unchanged")


async def change_phone_by_officer(
    session: AsyncSession, actor: Actor, member_id: int, *, phone: str, reason: str
) -> None:
    """An officer gives the member a new number (lost SIM, the member cannot receive codes on
    the old one), with a reason for the audit log."""
    member = await member_service.lock_for_account_change(session, actor, member_id)
    if member.archived_on is not None:
        raise history.archived_error()
    await _set_phone(session, actor, member, phone, by="officer", reason=reason, keep=None)


async def request_phone_code(
    session: AsyncSession, auth: Auth, actor: Actor, *, phone: str, client: ClientInfo
) -> otp_service.OtpIssued:
    """Send a code to the number the member wants to use (the same limits as login codes)."""
    if phone == actor.phone:
        raise _unchanged()
    await member_service.ensure_unique(session, phone=phone, card=None, member_id=actor.member_id)
    return await otp_service.request_otp(
        session, auth, phone=phone, client=client, for_member=actor.member_id
    )


async def confirm_phone(
    session: AsyncSession,
    auth: Auth,
    actor: Actor,
    *,
    challenge_id: str,
    code: str,
    client: ClientInfo,
) -> None:
    """The member proved the new number: it becomes theirs. Their other logins end; this one
    stays (it is the device that just proved the number)."""
    challenge = await otp_service.consume_code(
        session,
        auth,
        challenge_id=challenge_id,
        code=code,
        client=client,
        purpose=otp_service.PHONE_CHANGE,
        member_id=actor.member_id,
    )
    member = await session.get(
        Member, actor.member_id, with_for_update=True, populate_existing=True
    )
    if member is None:
        raise NotFound(code="member.not_found")
    await _set_phone(
        session, actor, member, challenge.phone, by="member", reason=None, keep=actor.session_id
    )


async def _set_phone(
    session: AsyncSession,
    actor: Actor,
    member: Member,
    phone: str,
    *,
    by: str,
    reason: str | None,
    keep: str | None,
) -> None:
    if phone == member.phone:
        raise _unchanged()
    await member_service.ensure_unique(session, phone=phone, card=None, member_id=member.id)
    before = member.phone
    member.phone = phone
    member.updated_at = utcnow()
    await session_service.revoke_sessions(session, member.id, reason="phone_changed", keep=keep)
    await otp_service.close_open_codes(session, member.id)
    await session.flush()
    await audit.record(
        session,
        actor,
        "member.phone_change",
        target=("member", member.id),
        org_id=member.branch_id,
        changes=audit.changes({"phone": before}, {"phone": phone}),
        detail={"by": by, "reason": reason},
    )


# --- logins ---------------------------------------------------------------------------------------

# "SoTayDangVien/2.3.1 (Android 14; Samsung SM-A546E)": the apps' User-Agent.
_AGENT = re.compile(r"^\s*([^\s/()]+)/([^\s()]+)\s*(?:\(([^)]*)\))?")


def describe_agent(user_agent: str | None) -> tuple[str | None, str | None]:
    """(device, app) from a User-Agent, when it says them."""
    if not user_agent:
        return None, None
    match = _AGENT.match(user_agent)
    if match is None:
        return None, None
    name, version, device = match.groups()
    return (device.strip() or None) if device else None, f"{name} {version}"


def coarse_place(ip: str | None, place: Place | None = None) -> str | None:
    """A coarse place for an address: the one the GeoIP database gave when the login started
    or refreshed (`integrations/geoip.py`, stored on the session), "internal network" for the
    deployment's own networks, else unknown."""
    if place is not None and place.describe():
        return place.describe()
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if address.is_loopback or address.is_private or address.is_link_local:
        return "Mạng nội bộ"
    return None


async def list_logins(session: AsyncSession, actor: Actor) -> LoginList:
    now = utcnow()
    rows = await session.scalars(
        select(AuthSession)
        .where(
            AuthSession.member_id == actor.member_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
    )
    items = []
    for row in rows:
        device, app = describe_agent(row.user_agent)
        place = Place(city=row.place_city, region=row.place_region, country=row.place_country)
        items.append(
            LoginRead(
                id=row.id,
                method=row.method,
                device=device,
                app=app,
                place=coarse_place(row.ip, place),
                city=place.city,
                region=place.region,
                country=place.country,
                created_at=row.created_at,
                last_used_at=row.last_used_at,
                is_current=row.id == actor.session_id,
            )
        )
    return LoginList(items=items)


async def end_login(session: AsyncSession, actor: Actor, login_id: str) -> None:
    """End one of the actor's logins (a lost phone): its tokens stop working at once."""
    ended = await session.execute(
        update(AuthSession)
        .where(
            AuthSession.id == login_id,
            AuthSession.member_id == actor.member_id,
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoke_reason="ended_by_member")
    )
    if ended.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound("Không tìm thấy phiên đăng nhập.", code="login.not_found")


async def end_member_logins(session: AsyncSession, actor: Actor, member_id: int) -> None:
    """An officer ends every login of a member (a stolen phone) and the codes sent to them."""
    member = await member_service.lock_for_account_change(session, actor, member_id)
    await session_service.revoke_sessions(session, member.id, reason="ended_by_officer")
    await otp_service.close_open_codes(session, member.id)
    await audit.record(
        session,
        actor,
        "member.logout_all",
        target=("member", member.id),
        org_id=member.branch_id,
    )
