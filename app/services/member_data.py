"""A member's data on request: everything the deployment holds about one member, as JSON.

One section per kind of data, each a function of (session, member id) in `SECTIONS`. An area
that stores personal data adds its section here (meetings: attendance; study: points and named
survey answers; …) so the export stays complete. Secrets never appear: no password hash, no
token or code hashes, no device push tokens. Deletion is archival (party rules), not here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.integrations.geoip import Place
from app.models import AuditEvent, AuthSession, Device, Member, Notification, RoleGrant
from app.models.activity import MemberActivity
from app.models.base import utcnow
from app.models.meeting import Meeting, MeetingAttendee
from app.models.study import PointEntry, QuizAttempt, SurveyAnswer, SurveyResponse
from app.services import audit
from app.services.access import Actor

Section = Callable[[AsyncSession, int], Awaitable[Any]]
# Audit entries and notifications are capped: the newest this many of each.
MAX_ROWS = 5000


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def _profile(session: AsyncSession, member_id: int) -> dict[str, Any]:
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFound(code="member.not_found")
    fields = (
        "id", "branch_id", "full_name", "phone", "party_card_number", "status", "is_exempt",
        "exempt_since", "date_of_birth", "gender", "joined_date", "official_date", "is_locked",
        "password_changed_at",
    )  # fmt: skip
    profile = {name: _plain(getattr(member, name)) for name in fields}
    profile["has_password"] = member.password_hash is not None
    return profile


async def _roles(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(RoleGrant).where(RoleGrant.member_id == member_id).order_by(RoleGrant.id)
    )
    return [
        {
            "role": grant.role,
            "org_id": grant.org_id,
            "granted_at": _plain(grant.granted_at),
            "granted_by_id": grant.granted_by_id,
            "revoked_at": _plain(grant.revoked_at),
            "revoked_by_id": grant.revoked_by_id,
        }
        for grant in rows
    ]


async def _logins(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(AuthSession)
        .where(AuthSession.member_id == member_id)
        .order_by(AuthSession.created_at)
    )
    return [
        {
            "method": login.method,
            "created_at": _plain(login.created_at),
            "last_used_at": _plain(login.last_used_at),
            "ended_at": _plain(login.revoked_at),
            "end_reason": login.revoke_reason,
            "user_agent": login.user_agent,
            "ip": login.ip,
            "place": Place(login.place_city, login.place_region, login.place_country).describe(),
        }
        for login in rows
    ]


async def _devices(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(Device).where(Device.member_id == member_id).order_by(Device.id)
    )
    return [
        {
            "platform": device.platform,
            "app_version": device.app_version,
            "locale": device.locale,
            "created_at": _plain(device.created_at),
            "last_seen_at": _plain(device.last_seen_at),
        }
        for device in rows
    ]


async def _activity(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(MemberActivity)
        .where(MemberActivity.member_id == member_id)
        .order_by(MemberActivity.month)
    )
    return [{"month": _plain(row.month), "logins": row.logins} for row in rows]


async def _notifications(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(Notification)
        .where(Notification.member_id == member_id)
        .order_by(Notification.id.desc())
        .limit(MAX_ROWS)
    )
    return [
        {
            "kind": row.kind,
            "title": row.title,
            "body": row.body,
            "created_at": _plain(row.created_at),
            "read_at": _plain(row.read_at),
        }
        for row in rows
    ]


async def _audit(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    """Entries about the member (as target or on whose behalf) and entries by them."""
    rows = await session.scalars(
        select(AuditEvent)
        .where(
            or_(
                AuditEvent.actor_id == member_id,
                AuditEvent.on_behalf_of_id == member_id,
                (AuditEvent.target_type == "member") & (AuditEvent.target_id == str(member_id)),
            )
        )
        .order_by(AuditEvent.id.desc())
        .limit(MAX_ROWS)
    )
    return [
        {
            "at": _plain(event.at),
            "action": event.action,
            "actor_id": event.actor_id,
            "on_behalf_of_id": event.on_behalf_of_id,
            "target": f"{event.target_type}:{event.target_id}",
            "org_id": event.org_id,
            "changes": event.changes,
        }
        for event in rows
    ]


async def _attendance(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    """Meetings the member was on the list of (as a member, a guest or a residence attendee),
    and what they did."""
    rows = await session.execute(
        select(MeetingAttendee, Meeting.title, Meeting.starts_at)
        .join(Meeting, Meeting.id == MeetingAttendee.meeting_id)
        .where(MeetingAttendee.member_id == member_id)
        .order_by(Meeting.starts_at)
    )
    return [
        {
            "meeting_id": attendee.meeting_id,
            "title": title,
            "starts_at": _plain(starts_at),
            "attending_as": attendee.kind,
            "attendance": attendee.attendance,
            "excuse_reason": attendee.excuse_reason,
            "checked_in_at": _plain(attendee.checked_in_at),
            "method": attendee.method,
        }
        for attendee, title, starts_at in rows
    ]


async def _points(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(PointEntry).where(PointEntry.member_id == member_id).order_by(PointEntry.id)
    )
    return [
        {
            "points": entry.points,
            "year": entry.year,
            "source": entry.source,
            "reason": entry.reason,
            "note": entry.note,
            "created_at": _plain(entry.created_at),
        }
        for entry in rows
    ]


async def _quiz_attempts(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(QuizAttempt).where(QuizAttempt.member_id == member_id).order_by(QuizAttempt.id)
    )
    return [
        {
            "quiz_id": attempt.quiz_id,
            "started_at": _plain(attempt.started_at),
            "submitted_at": _plain(attempt.submitted_at),
            "score_percent": attempt.score_percent,
            "is_passed": attempt.is_passed,
        }
        for attempt in rows
    ]


async def _named_survey_answers(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    """Answers of named surveys only: anonymous answers are stored with no link to anyone."""
    rows = await session.execute(
        select(SurveyResponse.survey_id, SurveyAnswer.question_id, SurveyAnswer.choices)
        .add_columns(SurveyAnswer.text)
        .join(SurveyAnswer, SurveyAnswer.response_id == SurveyResponse.id)
        .where(SurveyResponse.member_id == member_id)
        .order_by(SurveyResponse.survey_id, SurveyAnswer.question_id)
    )
    return [
        {"survey_id": survey_id, "question_id": question_id, "choices": choices, "text": text}
        for survey_id, question_id, choices, text in rows
    ]


SECTIONS: dict[str, Section] = {
    "profile": _profile,
    "roles": _roles,
    "logins": _logins,
    "devices": _devices,
    "monthly_activity": _activity,
    "notifications": _notifications,
    "audit": _audit,
    "meeting_attendance": _attendance,
    "study_points": _points,
    "quiz_attempts": _quiz_attempts,
    "named_survey_answers": _named_survey_answers,
}


async def collect(session: AsyncSession, member_id: int) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "generated_at": utcnow().isoformat(),
        "sections": {name: await section(session, member_id) for name, section in SECTIONS.items()},
    }


async def export_for(session: AsyncSession, actor: Actor, member_id: int) -> dict[str, Any]:
    """The export an officer makes for a member's request: written to the audit log."""
    data = await collect(session, member_id)
    await audit.record(
        session,
        actor,
        "member.data_export",
        target=("member", member_id),
        org_id=data["sections"]["profile"]["branch_id"],
        on_behalf_of=member_id,
    )
    return data
