"""Branch meetings: plan, announce (snapshot, notices, reminders), edit, reschedule, cancel,
check-in (app, QR, proxy), excuses, quorum, motions and ballots, close, minutes, ratings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings
from app.models import (
    AuditEvent,
    Document,
    DocumentStatus,
    IdempotencyKey,
    Job,
    JobStatus,
    Meeting,
    MeetingAttendee,
    MeetingDocument,
    Member,
    MemberStatus,
    MotionVote,
    Notice,
    NoticeStatus,
    SecretBallot,
)
from app.models.base import utcnow
from app.models.study import PointEntry
from app.schemas.common import Page
from app.schemas.meeting import MeetingRead, MeetingSummary, SubtreeMeeting
from app.services.meetings import attendance as attendance_service
from app.services.meetings import lifecycle
from app.services.meetings import rules as meeting_rules
from tests import samples
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem, assert_written_as, collect


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


async def plan(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    org_id: int,
    *,
    starts_in: timedelta = timedelta(minutes=10),
    **extra: Any,
) -> dict[str, Any]:
    starts = utcnow() + starts_in
    body = {
        "kind": "regular",
        "title": "Sinh hoạt chi bộ tháng 12",
        "starts_at": iso(starts),
        "ends_at": iso(starts + timedelta(hours=2)),
        "place": "Nhà văn hóa Khu phố 1",
        "agenda": [{"title": "Đánh giá tháng 11"}, {"title": "Học Nghị quyết 57-NQ/TW"}],
        **extra,
    }
    response = await client.post(f"/api/v1/orgs/{org_id}/meetings", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["ETag"] == '"v1"'
    meeting: dict[str, Any] = response.json()
    return meeting


async def announced(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, **kwargs: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    secretary = await as_actor(tree.secretary.id)
    meeting = await plan(client, secretary, tree.b1.id, **kwargs)
    response = await client.post(f"/api/v1/meetings/{meeting['id']}/announce", headers=secretary)
    assert response.status_code == 200, response.text
    return response.json(), secretary


async def started(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> tuple[dict[str, Any], dict[str, str]]:
    meeting, secretary = await announced(client, tree, as_actor)
    response = await client.post(f"/api/v1/meetings/{meeting['id']}/start", headers=secretary)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "started"
    return meeting, secretary


async def _attendees(session: AsyncSession, meeting_id: int) -> dict[int, MeetingAttendee]:
    rows = await session.scalars(
        select(MeetingAttendee)
        .where(MeetingAttendee.meeting_id == meeting_id)
        .execution_options(populate_existing=True)
    )
    return {row.member_id: row for row in rows}


# --- planning and announcing ----------------------------------------------------------------------


async def test_a_draft_is_the_secretarys_until_announced_then_members_are_summoned(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    secretary = await as_actor(tree.secretary.id)
    member = await as_actor(tree.member.id)
    meeting = await plan(client, secretary, tree.b1.id, starts_in=timedelta(days=3))
    assert meeting["status"] == "draft"
    assert meeting["agenda"][1]["title"] == "Học Nghị quyết 57-NQ/TW"
    url = f"/api/v1/meetings/{meeting['id']}"
    assert_problem(await client.get(url, headers=member), 404, "meeting.not_found")
    listed = await collect(client, f"/api/v1/orgs/{tree.b1.id}/meetings", member)
    assert listed == []
    assert not await _attendees(session, meeting["id"])

    response = await client.post(f"{url}/announce", headers=secretary)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "announced"
    assert response.headers["ETag"] == '"v2"'

    seen = await client.get(url, headers=member)
    assert seen.status_code == 200
    assert seen.json()["my_attendance"] == "pending"
    summoned = await _attendees(session, meeting["id"])
    assert set(summoned) == {
        tree.member.id,
        tree.secretary.id,
        tree.deputy.id,
        tree.exempt.id,
        tree.probationary.id,
    }
    assert summoned[tree.exempt.id].is_exempt
    assert summoned[tree.probationary.id].member_status == MemberStatus.PROBATIONARY
    notice = (await session.scalars(select(Notice).where(Notice.kind == "meeting"))).one()
    assert set(notice.audience_member_ids or []) == set(summoned)
    assert notice.data == {"meeting_id": str(meeting["id"])}
    reminders = (
        await session.scalars(
            select(Job).where(Job.key.like(f"meeting:{meeting['id']}:reminder:%"))
        )
    ).all()
    assert {job.key.rsplit(":", 1)[1] for job in reminders if job.key} == {
        "day-before",
        "hours-before",
    }
    hours_before = next(j for j in reminders if j.key and j.key.endswith("hours-before"))
    assert hours_before.run_after == datetime.fromisoformat(meeting["starts_at"]) - timedelta(
        hours=2
    )
    actions = set(
        await session.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "meeting"))
    )
    assert {"meeting.create", "meeting.announce"} <= actions
    mine = await collect(client, "/api/v1/me/meetings", member)
    assert [m["id"] for m in mine] == [meeting["id"]]
    assert mine[0]["my_attendance"] == "pending"
    # Written from plain values (`plain_json`): exactly what the documented model would write.
    page = (await client.get("/api/v1/me/meetings", headers=member)).json()
    assert Page[MeetingSummary].model_validate(page).model_dump(mode="json") == page


async def test_the_snapshot_is_refreshed_until_the_start_then_frozen(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await announced(client, tree, as_actor)
    probationary = await session.get(Member, tree.probationary.id)
    assert probationary is not None
    probationary.status = MemberStatus.FULL
    await session.commit()
    response = await client.post(f"/api/v1/meetings/{meeting['id']}/start", headers=secretary)
    assert response.status_code == 200
    assert (await _attendees(session, meeting["id"]))[
        tree.probationary.id
    ].member_status == MemberStatus.FULL
    member = await session.get(Member, tree.member.id, populate_existing=True)
    assert member is not None
    member.is_exempt = True
    await session.commit()
    assert not (await _attendees(session, meeting["id"]))[tree.member.id].is_exempt


async def test_only_branches_hold_meetings_and_times_must_make_sense(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    admin = await as_actor(tree.admin.id)
    starts = utcnow() + timedelta(days=1)
    body = {"title": "Họp", "starts_at": iso(starts), "ends_at": iso(starts + timedelta(hours=1))}
    assert_problem(
        await client.post(f"/api/v1/orgs/{tree.c1.id}/meetings", json=body, headers=admin),
        422,
        "meeting.not_branch",
    )
    backwards = {**body, "ends_at": iso(starts - timedelta(hours=1))}
    assert_problem(
        await client.post(f"/api/v1/orgs/{tree.b1.id}/meetings", json=backwards, headers=admin),
        422,
        "meeting.invalid_time",
    )
    past = {
        **body,
        "starts_at": iso(utcnow() - timedelta(hours=3)),
        "ends_at": iso(utcnow() - timedelta(hours=2)),
    }
    assert_problem(
        await client.post(f"/api/v1/orgs/{tree.b1.id}/meetings", json=past, headers=admin),
        422,
        "meeting.in_past",
    )


async def test_documents_are_attached_from_the_secretarys_uploads(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    secretary = await as_actor(tree.secretary.id)
    uploaded = await client.post(
        "/api/v1/uploads",
        params={"purpose": "document", "filename": "Nghị quyết 57.pdf"},
        content=samples.pdf(),
        headers={**secretary, "Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 201, uploaded.text
    upload_id = uploaded.json()["id"]
    meeting = await plan(client, secretary, tree.b1.id, attachment_upload_ids=[upload_id])
    assert [a["upload_id"] for a in meeting["attachments"]] == [upload_id]
    assert meeting["attachments"][0]["filename"] == "Nghị quyết 57.pdf"
    again = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/meetings",
        json={
            "title": "Họp lần hai",
            "starts_at": meeting["starts_at"],
            "ends_at": meeting["ends_at"],
            "attachment_upload_ids": [upload_id],
        },
        headers=secretary,
    )
    assert_problem(again, 409, "upload.already_attached")


async def test_edits_need_the_current_version_and_stop_when_closed(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    secretary = await as_actor(tree.secretary.id)
    meeting = await plan(client, secretary, tree.b1.id)
    url = f"/api/v1/meetings/{meeting['id']}"
    edited = await client.patch(
        url, json={"title": "Sinh hoạt chuyên đề"}, headers={**secretary, "If-Match": '"v1"'}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["title"] == "Sinh hoạt chuyên đề"
    assert edited.headers["ETag"] == '"v2"'
    stale = await client.patch(
        url, json={"title": "Lỗi"}, headers={**secretary, "If-Match": '"v1"'}
    )
    assert_problem(stale, 412, "resource.etag_mismatch")
    assert (await client.get(url, headers=secretary)).json()["title"] == "Sinh hoạt chuyên đề"
    for step in ("announce", "start", "close"):
        assert (await client.post(f"{url}/{step}", headers=secretary)).status_code == 200
    closed = await client.patch(url, json={"title": "Sau khi họp"}, headers=secretary)
    assert_problem(closed, 409, "meeting.closed")
    assert (await client.get(url, headers=secretary)).json()["title"] == "Sinh hoạt chuyên đề"


async def test_an_announced_meeting_moves_by_reschedule_and_its_reminders_move(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await announced(client, tree, as_actor, starts_in=timedelta(days=3))
    url = f"/api/v1/meetings/{meeting['id']}"
    later = utcnow() + timedelta(days=5)
    assert_problem(
        await client.patch(url, json={"starts_at": iso(later)}, headers=secretary),
        409,
        "meeting.use_reschedule",
    )
    backwards = await client.post(
        f"{url}/reschedule",
        json={"starts_at": iso(later), "ends_at": iso(later), "reason": "Nhầm giờ"},
        headers=secretary,
    )
    assert_problem(backwards, 422, "meeting.invalid_time")
    assert (await client.get(url, headers=secretary)).json()["starts_at"] == meeting["starts_at"]
    moved = await client.post(
        f"{url}/reschedule",
        json={
            "starts_at": iso(later),
            "ends_at": iso(later + timedelta(hours=1)),
            "reason": "Trùng lịch họp của phường",
        },
        headers=secretary,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["reschedule_reason"] == "Trùng lịch họp của phường"
    job = (
        await session.scalars(
            select(Job)
            .where(Job.key == f"meeting:{meeting['id']}:reminder:hours-before")
            .execution_options(populate_existing=True)
        )
    ).one()
    assert job.run_after == later - timedelta(hours=2)
    kinds = [
        n.title
        for n in await session.scalars(
            select(Notice).where(Notice.kind == "meeting").order_by(Notice.id)
        )
    ]
    assert kinds[-1].startswith("Dời lịch")

    cancelled = await client.post(f"{url}/cancel", json={"reason": "Mưa bão"}, headers=secretary)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "Mưa bão"
    jobs = (
        await session.scalars(
            select(Job)
            .where(Job.key.like(f"meeting:{meeting['id']}:reminder:%"))
            .execution_options(populate_existing=True)
        )
    ).all()
    assert {job.status for job in jobs} == {JobStatus.CANCELLED}
    reminders = (
        await session.scalars(
            select(Notice)
            .where(Notice.kind == "meeting_reminder")
            .execution_options(populate_existing=True)
        )
    ).all()
    assert reminders
    assert {n.status for n in reminders} == {NoticeStatus.CANCELLED}
    assert_problem(await client.post(f"{url}/start", headers=secretary), 409, "meeting.cancelled")


def test_reminders_go_the_day_before_at_eight_local_and_hours_before() -> None:
    rules = RulesSettings()
    starts = datetime(2026, 12, 4, 12, 30, tzinfo=UTC)  # 19:30 in Hà Nội
    times = lifecycle.reminder_times(starts, rules)
    assert times["day-before"] == datetime(2026, 12, 3, 1, 0, tzinfo=UTC)  # 08:00 +07
    assert times["hours-before"] == datetime(2026, 12, 4, 10, 30, tzinfo=UTC)


# --- attendance -----------------------------------------------------------------------------------


async def test_a_member_checks_in_once_whatever_the_retries(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, _ = await announced(client, tree, as_actor)
    member = await as_actor(tree.member.id)
    url = f"/api/v1/meetings/{meeting['id']}/check-in"
    first = await client.post(url, headers=member)
    assert first.status_code == 200, first.text
    assert first.json()["attendance"] == "present"
    assert first.json()["method"] == "app"
    again = await client.post(url, headers=member)
    assert again.status_code == 200
    assert again.json()["checked_in_at"] == first.json()["checked_in_at"]
    row = (await _attendees(session, meeting["id"]))[tree.member.id]
    assert row.attendance == "present"
    summary = (
        await client.get(f"/api/v1/meetings/{meeting['id']}/attendance", headers=member)
    ).json()
    assert summary == {
        "summoned": 5,
        "exempt": 1,
        "present": 1,
        "excused": 0,
        "absent": 0,
        "pending": 4,
        "quorum_base": 4,
        "quorum_needed": 3,
        "is_quorate": False,
        "guests": 0,
        "guests_present": 0,
        "residents": 0,
        "residents_present": 0,
    }


async def test_check_in_outside_the_window_or_not_summoned_is_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, _ = await announced(client, tree, as_actor, starts_in=timedelta(days=2))
    member = await as_actor(tree.member.id)
    assert_problem(
        await client.post(f"/api/v1/meetings/{meeting['id']}/check-in", headers=member),
        409,
        "meeting.checkin_outside_window",
    )
    soon, _ = await announced(client, tree, as_actor)
    admin = await as_actor(tree.admin.id)  # may see everything, is summoned nowhere in B1
    assert_problem(
        await client.post(f"/api/v1/meetings/{soon['id']}/check-in", headers=admin),
        403,
        "meeting.not_summoned",
    )
    assert (await _attendees(session, meeting["id"]))[tree.member.id].attendance == "pending"


async def test_the_qr_code_rotates_and_a_stale_or_forged_code_is_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await started(client, tree, as_actor)
    screen = await client.get(f"/api/v1/meetings/{meeting['id']}/qr", headers=secretary)
    assert screen.status_code == 200, screen.text
    code = screen.json()["code"]
    member = await as_actor(tree.member.id)
    url = f"/api/v1/meetings/{meeting['id']}/check-in/qr"
    assert_problem(
        await client.post(url, json={"code": "AAAAAAAA"}, headers=member), 422, "meeting.qr_invalid"
    )
    assert (await _attendees(session, meeting["id"]))[tree.member.id].attendance == "pending"
    scanned = await client.post(url, json={"code": code}, headers=member)
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["method"] == "qr"
    # A code from two steps ago (a screenshot) no longer passes.
    rules = RulesSettings()
    secret = await session.scalar(select(Meeting.qr_secret).where(Meeting.id == meeting["id"]))
    assert secret
    old_step = int(utcnow().timestamp()) // rules.qr_step_s - 2
    stale = attendance_service.qr_code(meeting["id"], secret, old_step)
    deputy = await as_actor(tree.deputy.id)
    assert_problem(
        await client.post(url, json={"code": stale}, headers=deputy), 422, "meeting.qr_invalid"
    )


async def test_the_secretary_checks_in_a_member_without_a_smartphone(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await started(client, tree, as_actor)
    response = await client.post(
        f"/api/v1/meetings/{meeting['id']}/attendance",
        json={"member_id": tree.exempt.id, "attendance": "present"},
        headers=secretary,
    )
    assert response.status_code == 200, response.text
    row = (await _attendees(session, meeting["id"]))[tree.exempt.id]
    assert (row.attendance, row.method, row.recorded_by_id) == (
        "present",
        "proxy",
        tree.secretary.id,
    )
    event = (
        await session.scalars(select(AuditEvent).where(AuditEvent.action == "meeting.attendance"))
    ).one()
    assert event.on_behalf_of_id == tree.exempt.id


async def test_members_excuse_themselves_before_the_start_only(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await announced(client, tree, as_actor)
    member = await as_actor(tree.member.id)
    url = f"/api/v1/meetings/{meeting['id']}/excuse"
    response = await client.post(url, json={"reason": "Đi công tác"}, headers=member)
    assert response.status_code == 200, response.text
    assert response.json()["attendance"] == "excused"
    row = (await _attendees(session, meeting["id"]))[tree.member.id]
    assert (row.attendance, row.excuse_reason) == ("excused", "Đi công tác")
    assert (
        await client.post(f"/api/v1/meetings/{meeting['id']}/start", headers=secretary)
    ).status_code == 200
    deputy = await as_actor(tree.deputy.id)
    assert_problem(
        await client.post(url, json={"reason": "Ốm"}, headers=deputy), 409, "meeting.excuse_closed"
    )
    assert (await _attendees(session, meeting["id"]))[tree.deputy.id].attendance == "pending"


async def test_a_check_in_is_never_undone_by_an_excuse_but_an_excuse_is_by_a_check_in(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await announced(client, tree, as_actor)
    base = f"/api/v1/meetings/{meeting['id']}"
    member = await as_actor(tree.member.id)
    checked = await client.post(f"{base}/check-in", headers=member)
    assert checked.status_code == 200, checked.text
    assert_problem(
        await client.post(f"{base}/excuse", json={"reason": "Ốm"}, headers=member),
        409,
        "meeting.already_checked_in",
    )
    assert_problem(
        await client.post(
            f"{base}/attendance",
            json={"member_id": tree.member.id, "attendance": "excused", "reason": "Ốm"},
            headers=secretary,
        ),
        409,
        "meeting.already_checked_in",
    )
    row = (await _attendees(session, meeting["id"]))[tree.member.id]
    assert (row.attendance, row.method, row.excuse_reason) == ("present", "app", None)
    assert row.checked_in_at is not None
    assert row.checked_in_at.isoformat() == checked.json()["checked_in_at"].replace("Z", "+00:00")
    # An excused member who comes after all is checked in.
    deputy = await as_actor(tree.deputy.id)
    excused = await client.post(f"{base}/excuse", json={"reason": "Bận"}, headers=deputy)
    assert excused.json()["attendance"] == "excused"
    came = await client.post(f"{base}/check-in", headers=deputy)
    assert came.status_code == 200, came.text
    assert (came.json()["attendance"], came.json()["method"]) == ("present", "app")
    assert (await _attendees(session, meeting["id"]))[tree.deputy.id].attendance == "present"


async def test_the_secretary_checks_in_only_summoned_members_inside_the_window(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    later, secretary = await announced(client, tree, as_actor, starts_in=timedelta(days=2))
    assert_problem(
        await client.post(
            f"/api/v1/meetings/{later['id']}/attendance",
            json={"member_id": tree.member.id, "attendance": "present"},
            headers=secretary,
        ),
        409,
        "meeting.checkin_outside_window",
    )
    meeting, _ = await announced(client, tree, as_actor)
    url = f"/api/v1/meetings/{meeting['id']}/attendance"
    for member_id in (tree.admin.id, tree.outsider.id):
        assert_problem(
            await client.post(
                url, json={"member_id": member_id, "attendance": "present"}, headers=secretary
            ),
            403,
            "meeting.not_summoned",
        )
    assert_problem(
        await client.post(
            url,
            json={"member_id": tree.outsider.id, "attendance": "excused", "reason": "Ốm"},
            headers=secretary,
        ),
        403,
        "meeting.not_summoned",
    )
    rows = await _attendees(session, meeting["id"])
    assert tree.admin.id not in rows
    assert tree.outsider.id not in rows
    assert {r.attendance for r in rows.values()} == {"pending"}
    assert (await _attendees(session, later["id"]))[tree.member.id].attendance == "pending"


async def test_a_retried_check_in_gets_the_first_answer_and_a_refused_one_keeps_no_key(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, _ = await announced(client, tree, as_actor)
    url = f"/api/v1/meetings/{meeting['id']}/check-in"
    member = {**await as_actor(tree.member.id), "Idempotency-Key": "check-in-1"}
    first = await client.post(url, headers=member)
    again = await client.post(url, headers=member)
    assert first.status_code == again.status_code == 200, first.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    stored = (
        await session.execute(
            select(IdempotencyKey.state, IdempotencyKey.status_code).where(
                IdempotencyKey.member_id == tree.member.id
            )
        )
    ).all()
    assert [tuple(r) for r in stored] == [("done", 200)]
    admin = {**await as_actor(tree.admin.id), "Idempotency-Key": "check-in-2"}
    assert_problem(await client.post(url, headers=admin), 403, "meeting.not_summoned")
    keys = await session.scalar(
        select(func.count())
        .select_from(IdempotencyKey)
        .where(IdempotencyKey.member_id == tree.admin.id)
    )
    assert keys == 0


# --- comments -------------------------------------------------------------------------------------


async def test_members_and_upper_levels_comment_others_cannot(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    meeting, _ = await announced(client, tree, as_actor)
    url = f"/api/v1/meetings/{meeting['id']}/comments"
    member = await as_actor(tree.member.id)
    opinion = await client.post(
        url,
        json={
            "body": "Tôi vắng, xin góp ý bằng văn bản.",
            "agenda_item": 1,
            "is_written_opinion": True,
        },
        headers=member,
    )
    assert opinion.status_code == 201, opinion.text
    committee = await as_actor(tree.committee.id)
    upper = await client.post(url, json={"body": "Đề nghị chi bộ bổ sung."}, headers=committee)
    assert upper.status_code == 201, upper.text
    assert_problem(
        await client.post(url, json={"body": "x", "agenda_item": 5}, headers=member),
        422,
        "meeting.no_such_agenda_item",
    )
    items = await collect(client, url, member)
    assert [(i["member_id"], i["agenda_item"], i["is_written_opinion"]) for i in items] == [
        (tree.member.id, 1, True),
        (tree.committee.id, None, False),
    ]


# --- votes ----------------------------------------------------------------------------------------


async def _present(
    client: httpx.AsyncClient, as_actor: ActorLogin, meeting_id: int, *members: Member
) -> None:
    for m in members:
        response = await client.post(
            f"/api/v1/meetings/{meeting_id}/check-in", headers=await as_actor(m.id)
        )
        assert response.status_code == 200, response.text


async def test_open_vote_eligibility_once_per_voter_and_result_by_the_rule(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await started(client, tree, as_actor)
    await _present(
        client,
        as_actor,
        meeting["id"],
        tree.member,
        tree.secretary,
        tree.deputy,
        tree.probationary,
        tree.exempt,
    )
    opened = await client.post(
        f"/api/v1/meetings/{meeting['id']}/motions",
        json={"text": "Thông qua nghị quyết tháng 12"},
        headers=secretary,
    )
    assert opened.status_code == 201, opened.text
    motion = opened.json()
    url = f"/api/v1/motions/{motion['id']}/ballots"
    for voter, choice in ((tree.member, "yes"), (tree.secretary, "yes"), (tree.deputy, "no")):
        cast = await client.post(url, json={"choice": choice}, headers=await as_actor(voter.id))
        assert cast.status_code == 200, cast.text
        assert cast.json() == {"motion_id": motion["id"], "recorded": True}
    member = await as_actor(tree.member.id)
    assert_problem(
        await client.post(url, json={"choice": "no"}, headers=member), 409, "motion.already_voted"
    )
    for ineligible in (tree.probationary, tree.exempt):
        assert_problem(
            await client.post(url, json={"choice": "yes"}, headers=await as_actor(ineligible.id)),
            403,
            "motion.not_eligible",
        )
    assert_problem(
        await client.post(
            f"/api/v1/motions/{motion['id']}/secret-ballots",
            json={"choice": "yes"},
            headers=member,
        ),
        409,
        "motion.not_secret",
    )
    closed = await client.post(f"/api/v1/motions/{motion['id']}/close", headers=secretary)
    assert closed.status_code == 200, closed.text
    # Summoned voting members: member, secretary, deputy (probationary and exempt excluded).
    assert closed.json()["result"] == {
        "yes": 2,
        "no": 1,
        "abstain": 0,
        "eligible": 3,
        "is_quorate": True,
        "has_passed": True,
    }
    assert_problem(
        await client.post(url, json={"choice": "yes"}, headers=member), 409, "motion.closed"
    )
    votes = (
        await session.scalars(select(MotionVote).where(MotionVote.motion_id == motion["id"]))
    ).all()
    assert sorted(v.choice or "" for v in votes) == ["no", "yes", "yes"]


async def test_a_secret_ballot_cannot_be_linked_to_its_voter_and_is_hidden_until_close(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await started(client, tree, as_actor)
    await _present(client, as_actor, meeting["id"], tree.member, tree.secretary, tree.deputy)
    motion = (
        await client.post(
            f"/api/v1/meetings/{meeting['id']}/motions",
            json={"text": "Bầu đại biểu dự đại hội", "is_secret": True},
            headers=secretary,
        )
    ).json()
    url = f"/api/v1/motions/{motion['id']}/secret-ballots"
    for voter, choice in ((tree.member, "no"), (tree.secretary, "yes"), (tree.deputy, "no")):
        cast = await client.post(url, json={"choice": choice}, headers=await as_actor(voter.id))
        assert cast.status_code == 200, cast.text
        assert "choice" not in cast.text
        assert choice not in cast.text
    assert_problem(
        await client.post(
            f"/api/v1/motions/{motion['id']}/ballots",
            json={"choice": "yes"},
            headers=await as_actor(tree.member.id),
        ),
        409,
        "motion.secret",
    )
    listed = await collect(client, f"/api/v1/meetings/{meeting['id']}/motions", secretary)
    assert listed[0]["result"] is None
    assert listed[0]["votes_cast"] == 3
    participation = (
        await session.scalars(select(MotionVote).where(MotionVote.motion_id == motion["id"]))
    ).all()
    assert {v.choice for v in participation} == {None}
    assert sorted(SecretBallot.__table__.columns.keys()) == ["choice", "id", "motion_id"]
    ballots = (
        await session.scalars(select(SecretBallot).where(SecretBallot.motion_id == motion["id"]))
    ).all()
    assert sorted(b.choice for b in ballots) == ["no", "no", "yes"]
    closed = (await client.post(f"/api/v1/motions/{motion['id']}/close", headers=secretary)).json()
    assert closed["result"]["yes"] == 1
    assert closed["result"]["no"] == 2
    assert closed["result"]["has_passed"] is False


async def test_a_show_of_hands_is_counted_by_the_secretary(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    meeting, secretary = await started(client, tree, as_actor)
    motion = (
        await client.post(
            f"/api/v1/meetings/{meeting['id']}/motions",
            json={"text": "Thông qua chương trình"},
            headers=secretary,
        )
    ).json()
    url = f"/api/v1/motions/{motion['id']}/show-of-hands"
    assert_problem(
        await client.post(url, json={"yes": 4, "no": 0, "abstain": 0}, headers=secretary),
        422,
        "motion.too_many_votes",
    )
    counted = await client.post(url, json={"yes": 3, "no": 0, "abstain": 0}, headers=secretary)
    assert counted.status_code == 200, counted.text
    assert counted.json()["is_show_of_hands"]
    closed = (await client.post(f"/api/v1/motions/{motion['id']}/close", headers=secretary)).json()
    # Nobody checked in: not quorate, so it does not pass whatever the hands.
    assert closed["result"]["is_quorate"] is False
    assert closed["result"]["has_passed"] is False


def test_quorum_and_pass_rules_follow_the_configured_ratios() -> None:
    assert meeting_rules.quorum_needed(4, 2 / 3) == 3
    assert meeting_rules.quorum_needed(3, 2 / 3) == 2
    assert meeting_rules.quorum_needed(6, 2 / 3) == 4
    assert meeting_rules.is_quorate(4, 6, 2 / 3)
    assert not meeting_rules.is_quorate(3, 6, 2 / 3)
    assert not meeting_rules.is_quorate(0, 0, 2 / 3)
    # More than half of the summoned voting members: 2 of 4 is not enough, 3 of 4 is.
    assert not meeting_rules.has_passed(2, 4, 0.5, quorate=True)
    assert meeting_rules.has_passed(3, 4, 0.5, quorate=True)
    assert not meeting_rules.has_passed(4, 4, 0.5, quorate=False)


# --- closing and after ----------------------------------------------------------------------------


async def test_closing_records_absences_but_never_for_exempt_members(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await started(client, tree, as_actor)
    await _present(client, as_actor, meeting["id"], tree.member, tree.secretary)
    url = f"/api/v1/meetings/{meeting['id']}"
    assert_problem(
        await client.put(f"{url}/rating", json={"rating": "good"}, headers=secretary),
        409,
        "meeting.not_closed",
    )
    closed = await client.post(f"{url}/close", headers=secretary)
    assert closed.status_code == 200, closed.text
    rows = await _attendees(session, meeting["id"])
    assert {m: r.attendance for m, r in rows.items()} == {
        tree.member.id: "present",
        tree.secretary.id: "present",
        tree.deputy.id: "absent",
        tree.probationary.id: "absent",
        tree.exempt.id: "pending",
    }
    assert await lifecycle.attended_member_ids(session, meeting["id"]) == sorted(
        [tree.member.id, tree.secretary.id]
    )
    # Those who attended earn the meeting's study points, once each.
    awarded = await session.execute(
        select(PointEntry.member_id, PointEntry.points, PointEntry.source).where(
            PointEntry.source_key.like(f"meeting:{meeting['id']}:member:%")
        )
    )
    meeting_points = RulesSettings().study_points_meeting
    assert sorted(awarded.all()) == sorted(
        [
            (tree.member.id, meeting_points, "meeting"),
            (tree.secretary.id, meeting_points, "meeting"),
        ]
    )
    assert_problem(
        await client.post(f"{url}/check-in", headers=await as_actor(tree.deputy.id)),
        409,
        "meeting.checkin_closed",
    )
    rated = await client.put(f"{url}/rating", json={"rating": "good"}, headers=secretary)
    assert rated.status_code == 200
    assert rated.json()["rating"] == "good"
    assert_problem(
        await client.put(f"{url}/upper-rating", json={"rating": "fair"}, headers=secretary),
        403,
        "meeting.not_upper_level",
    )
    upper = await client.put(
        f"{url}/upper-rating", json={"rating": "fair"}, headers=await as_actor(tree.committee.id)
    )
    assert upper.status_code == 200, upper.text
    assert (upper.json()["rating"], upper.json()["upper_rating"]) == ("good", "fair")


async def test_minutes_are_an_upload_or_text(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    meeting, secretary = await started(client, tree, as_actor)
    url = f"/api/v1/meetings/{meeting['id']}/minutes"
    assert_problem(await client.put(url, json={}, headers=secretary), 422, "meeting.minutes_empty")
    uploaded = await client.post(
        "/api/v1/uploads",
        params={"purpose": "document", "filename": "Biên bản.pdf"},
        content=samples.pdf("Bien ban"),
        headers={**secretary, "Content-Type": "application/pdf"},
    )
    upload_id = uploaded.json()["id"]
    saved = await client.put(
        url, json={"upload_id": upload_id, "text": "Dự thảo nghị quyết"}, headers=secretary
    )
    assert saved.status_code == 200, saved.text
    minutes = saved.json()["minutes"]
    assert (minutes["upload_id"], minutes["text"]) == (upload_id, "Dự thảo nghị quyết")
    committee = await as_actor(tree.committee.id)
    seen = await client.get(f"/api/v1/meetings/{meeting['id']}", headers=committee)
    assert assert_written_as(MeetingRead, seen)["minutes"]["upload_id"] == upload_id
    assert seen.headers["ETag"] == saved.headers["ETag"]


# --- tasks ----------------------------------------------------------------------------------------


async def test_tasks_are_assigned_and_reported_on_by_their_assignee(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    secretary = await as_actor(tree.secretary.id)
    member = await as_actor(tree.member.id)
    created = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/tasks",
        json={
            "title": "Vận động đoàn viên ưu tú",
            "assignee_id": tree.member.id,
            "due_date": "2026-12-31",
        },
        headers=secretary,
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert_problem(
        await client.post(
            f"/api/v1/orgs/{tree.b1.id}/tasks",
            json={"title": "Sai", "assignee_id": tree.outsider.id},
            headers=secretary,
        ),
        422,
        "task.assignee_not_member",
    )
    url = f"/api/v1/tasks/{task['id']}"
    reported = await client.patch(
        url, json={"progress": "Đã gặp 2 đoàn viên", "status": "done"}, headers=member
    )
    assert reported.status_code == 200, reported.text
    assert (reported.json()["status"], reported.json()["progress"]) == (
        "done",
        "Đã gặp 2 đoàn viên",
    )
    assert_problem(
        await client.patch(url, json={"due_date": "2027-01-31"}, headers=member),
        403,
        "task.due_date_forbidden",
    )
    assert_problem(
        await client.patch(
            url,
            json={"status": "open"},
            headers=await as_actor(tree.deputy.id) | {"If-Match": '"v1"'},
        ),
        412,
        "resource.etag_mismatch",
    )
    mine = await collect(client, "/api/v1/me/tasks", member)
    assert [t["id"] for t in mine] == [task["id"]]
    assert mine[0]["status"] == "done"


async def test_home_shows_my_next_meeting_my_attendance_and_open_tasks(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    member = await as_actor(tree.member.id)
    empty = (await client.get("/api/v1/me/home", headers=member)).json()
    assert (empty["next_meeting"], empty["open_tasks"]) == (None, 0)
    later, secretary = await announced(client, tree, as_actor, starts_in=timedelta(days=3))
    soon = await plan(client, secretary, tree.b1.id, title="Họp đột xuất")
    assert (
        await client.post(f"/api/v1/meetings/{soon['id']}/announce", headers=secretary)
    ).status_code == 200
    draft = await plan(client, secretary, tree.b1.id, starts_in=timedelta(minutes=5))
    await client.post(
        f"/api/v1/orgs/{tree.b1.id}/tasks",
        json={"title": "Báo cáo tình hình", "assignee_id": tree.member.id},
        headers=secretary,
    )
    await client.post(f"/api/v1/meetings/{soon['id']}/check-in", headers=member)
    home = (await client.get("/api/v1/me/home", headers=member)).json()
    assert home["next_meeting"]["id"] == soon["id"] != draft["id"]
    assert home["next_meeting"]["my_attendance"] == "present"
    assert home["open_tasks"] == 1
    await client.post(
        f"/api/v1/meetings/{soon['id']}/cancel", json={"reason": "Hoãn"}, headers=secretary
    )
    home = (await client.get("/api/v1/me/home", headers=member)).json()
    assert home["next_meeting"]["id"] == later["id"]
    assert home["next_meeting"]["my_attendance"] == "pending"
    outsider = (
        await client.get("/api/v1/me/home", headers=await as_actor(tree.outsider.id))
    ).json()
    assert outsider["next_meeting"] is None


async def _job(session: AsyncSession, key: str) -> Job | None:
    job: Job | None = await session.scalar(
        select(Job).where(Job.key == key).execution_options(populate_existing=True)
    )
    return job


async def test_missing_minutes_remind_the_secretary_until_they_arrive(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await started(client, tree, as_actor)
    url = f"/api/v1/meetings/{meeting['id']}"
    closed = (await client.post(f"{url}/close", headers=secretary)).json()
    job = await _job(session, f"meeting:{meeting['id']}:minutes-due")
    assert job is not None
    assert job.status == JobStatus.QUEUED
    assert job.run_after == datetime.fromisoformat(closed["closed_at"]) + timedelta(hours=48)
    notice = await session.get(Notice, job.payload["notice_id"])
    assert notice is not None
    assert set(notice.audience_member_ids or []) == {tree.secretary.id, tree.deputy.id}
    saved = await client.put(f"{url}/minutes", json={"text": "Biên bản"}, headers=secretary)
    assert saved.status_code == 200
    job = await _job(session, f"meeting:{meeting['id']}:minutes-due")
    assert job is not None
    assert job.status == JobStatus.CANCELLED


async def test_a_task_due_tomorrow_reminds_its_assignee_until_done(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    secretary = await as_actor(tree.secretary.id)
    due = (utcnow() + timedelta(days=5)).date()
    task = (
        await client.post(
            f"/api/v1/orgs/{tree.b1.id}/tasks",
            json={"title": "Báo cáo", "assignee_id": tree.member.id, "due_date": due.isoformat()},
            headers=secretary,
        )
    ).json()
    job = await _job(session, f"task:{task['id']}:due")
    assert job is not None
    assert job.status == JobStatus.QUEUED
    local = job.run_after.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert (local.date(), local.hour, local.minute) == (due - timedelta(days=1), 8, 0)
    done = await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"status": "done"},
        headers=await as_actor(tree.member.id),
    )
    assert done.status_code == 200
    job = await _job(session, f"task:{task['id']}:due")
    assert job is not None
    assert job.status == JobStatus.CANCELLED


async def test_upper_levels_list_their_subtrees_meetings_and_missing_minutes(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await started(client, tree, as_actor)
    await plan(client, secretary, tree.b1.id, title="Bản nháp")  # drafts are never listed
    url = f"/api/v1/meetings/{meeting['id']}"
    assert (await client.post(f"{url}/close", headers=secretary)).status_code == 200
    committee = await as_actor(tree.committee.id)
    listed = await collect(client, f"/api/v1/orgs/{tree.c1.id}/subtree-meetings", committee)
    assert [(m["id"], m["has_minutes"]) for m in listed] == [(meeting["id"], False)]
    # Written from plain values (`plain_json`): exactly what the documented model would write.
    page = (
        await client.get(f"/api/v1/orgs/{tree.c1.id}/subtree-meetings", headers=committee)
    ).json()
    assert Page[SubtreeMeeting].model_validate(page).model_dump(mode="json") == page
    assert all(type(m["has_minutes"]) is bool for m in page["items"])  # not 0/1 (SQLite)
    missing_url = f"/api/v1/orgs/{tree.c1.id}/subtree-meetings"
    late = {"minutes_missing": "true"}
    assert await collect(client, missing_url, committee, late) == []
    row = await session.get(Meeting, meeting["id"], populate_existing=True)
    assert row is not None
    row.closed_at = utcnow() - timedelta(hours=49)
    await session.commit()
    assert [m["id"] for m in await collect(client, missing_url, committee, late)] == [meeting["id"]]
    outsider_view = await client.get(
        f"/api/v1/orgs/{tree.c2.id}/subtree-meetings", headers=committee
    )
    assert outsider_view.status_code in (403, 404)
    far = await collect(
        client, f"/api/v1/orgs/{tree.c2.id}/subtree-meetings", await as_actor(tree.officer_root.id)
    )
    assert far == []


async def test_a_committees_meetings_page_through_the_whole_year_latest_first(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    # The province's list looks in the last two months first and falls back to every meeting
    # when they do not fill the page: the pages must be those of the whole list all the same.
    offsets = [3, -1, -10, -61, -63, -70, -130, -200, -365, -400]
    ids = []
    for days in offsets:
        meeting, _ = await announced(client, tree, as_actor)
        row = await session.get(Meeting, meeting["id"])
        assert row is not None
        row.starts_at = utcnow() + timedelta(days=days)
        row.ends_at = row.starts_at + timedelta(hours=2)
        ids.append(meeting["id"])
    await session.commit()
    latest_first = [i for _, i in sorted(zip(offsets, ids, strict=True), reverse=True)]
    committee = await as_actor(tree.committee.id)
    url = f"/api/v1/orgs/{tree.c1.id}/subtree-meetings"
    # The commune's and the branch's lists are one scan of their unit's index (depths 1 and 2);
    # the province's looks at two months first.
    province = await as_actor(tree.officer_root.id)
    lists = [
        (url, committee),
        (f"/api/v1/orgs/{tree.b1.id}/subtree-meetings", committee),
        (f"/api/v1/orgs/{tree.p.id}/subtree-meetings", province),
    ]
    assert await collect(client, f"/api/v1/orgs/{tree.g1.id}/subtree-meetings", committee) == []
    for list_url, caller in lists:
        for size in (1, 2, 3, 7, 20):
            listed = await collect(client, list_url, caller, page_size=size)
            assert [m["id"] for m in listed] == latest_first, (list_url, size)
    since = (utcnow() - timedelta(days=100)).date().isoformat()
    recent = await collect(client, url, committee, {"since": since}, page_size=2)
    assert [m["id"] for m in recent] == latest_first[:6]


async def test_unexcused_absences_warn_then_flag_and_never_count_exempt_members(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    secretary = await as_actor(tree.secretary.id)
    for index in range(3):
        meeting, _ = await started(client, tree, as_actor)
        await _present(client, as_actor, meeting["id"], tree.member, tree.secretary)
        if index == 0:
            await client.post(
                f"/api/v1/meetings/{meeting['id']}/attendance",
                json={"member_id": tree.deputy.id, "attendance": "excused", "reason": "Ốm"},
                headers=secretary,
            )
        closed = await client.post(f"/api/v1/meetings/{meeting['id']}/close", headers=secretary)
        assert closed.status_code == 200
    year = utcnow().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).year
    items = await collect(client, f"/api/v1/orgs/{tree.b1.id}/absences", secretary, {"year": year})
    assert {(i["member_id"], i["absences"], i["level"]) for i in items} == {
        (tree.deputy.id, 2, "warning"),
        (tree.probationary.id, 3, "flag"),
    }
    assert_problem(
        await client.get(
            f"/api/v1/orgs/{tree.b1.id}/absences",
            params={"year": year},
            headers=await as_actor(tree.member.id),
        ),
        403,
        "scope.forbidden",
    )


async def test_an_offline_batch_merges_once_in_client_time_order(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    meeting, secretary = await started(client, tree, as_actor)
    starts = datetime.fromisoformat(meeting["starts_at"])
    now = utcnow()
    motion = (
        await client.post(
            f"/api/v1/meetings/{meeting['id']}/motions",
            json={"text": "Thông qua"},
            headers=secretary,
        )
    ).json()
    entries = [
        # Listed out of order: the check-in (earlier) applies before the later excuse.
        {
            "client_id": "e-2",
            "kind": "excuse",
            "client_time": iso(now - timedelta(minutes=3)),
            "member_id": tree.exempt.id,
            "text": "Ốm",
        },
        {
            "client_id": "c-1",
            "kind": "check_in",
            "client_time": iso(now - timedelta(minutes=2)),
            "member_id": tree.deputy.id,
        },
        {
            "client_id": "e-1",
            "kind": "excuse",
            "client_time": iso(now - timedelta(minutes=1)),
            "member_id": tree.deputy.id,
            "text": "Về sớm",
        },
        {
            "client_id": "c-2",
            "kind": "check_in",
            "client_time": iso(now + timedelta(hours=1)),
            "member_id": tree.member.id,
        },
        {
            "client_id": "c-3",
            "kind": "check_in",
            "client_time": iso(starts - timedelta(hours=5)),
            "member_id": tree.member.id,
        },
        {
            "client_id": "m-1",
            "kind": "comment",
            "client_time": iso(now),
            "member_id": tree.member.id,
            "text": "Ý kiến ghi trên giấy",
            "agenda_item": 0,
        },
        {
            "client_id": "h-1",
            "kind": "hand_count",
            "client_time": iso(now),
            "motion_id": motion["id"],
            "yes": 2,
            "no": 0,
            "abstain": 1,
        },
    ]
    url = f"/api/v1/meetings/{meeting['id']}/offline-batch"
    response = await client.post(url, json={"entries": entries}, headers=secretary)
    assert response.status_code == 200, response.text
    outcomes = {r["client_id"]: r["outcome"] for r in response.json()["results"]}
    assert outcomes == {
        "e-2": "applied",
        "c-1": "applied",
        "e-1": "meeting.already_checked_in",  # a check-in is never undone
        "c-2": "meeting.client_time_in_future",
        "c-3": "meeting.checkin_outside_window",
        "m-1": "applied",
        "h-1": "applied",
    }
    rows = await _attendees(session, meeting["id"])
    deputy = rows[tree.deputy.id]
    assert (deputy.attendance, deputy.is_offline, deputy.method) == ("present", True, "proxy")
    assert (rows[tree.exempt.id].attendance, rows[tree.exempt.id].is_offline) == ("excused", True)
    assert rows[tree.member.id].attendance == "pending"
    again = await client.post(url, json={"entries": entries}, headers=secretary)
    assert again.status_code == 200
    assert {r["client_id"]: r["outcome"] for r in again.json()["results"]} == outcomes
    assert all(r["is_replay"] for r in again.json()["results"])
    comments = await collect(client, f"/api/v1/meetings/{meeting['id']}/comments", secretary)
    assert [c["body"] for c in comments] == ["Ý kiến ghi trên giấy"]
    counted = await collect(client, f"/api/v1/meetings/{meeting['id']}/motions", secretary)
    assert counted[0]["result"]["yes"] == 2


async def test_quorum_follows_the_deployments_rules_in_force(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    meeting, secretary = await announced(client, tree, as_actor)
    url = f"/api/v1/meetings/{meeting['id']}/attendance"
    assert (await client.get(url, headers=secretary)).json()["quorum_needed"] == 3  # 2/3 of 4
    rules = {
        "quorum_ratio": 0.5,
        "pass_ratio": 0.5,
        "reminder_day_before_at": "08:00",
        "reminder_hours_before": 2,
        "absence_flag_after": 3,
        "study_points_target": 200,
        "study_points_document": 2,
        "study_points_meeting": 10,
        "study_points_quiz": 10,
        "study_points_document_daily_cap": 20,
        "study_points_manual_max": 100,
    }
    admin = await as_actor(tree.admin.id)
    assert (await client.put("/api/v1/rules", json=rules, headers=admin)).status_code == 200
    assert (await client.get(url, headers=secretary)).json()["quorum_needed"] == 2  # 1/2 of 4


async def _document(session: AsyncSession, org_id: int, title: str, *, published: bool) -> int:
    document = Document(
        org_id=org_id,
        type="resolution",
        title=title,
        title_folded=title.lower(),
        status=DocumentStatus.PUBLISHED if published else DocumentStatus.DRAFT,
        published_at=utcnow() if published else None,
    )
    session.add(document)
    await session.flush()
    await session.commit()
    return document.id


async def test_documents_that_reach_the_branch_are_attached_to_its_meeting(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    province = await _document(session, tree.p.id, "Nghị quyết 01 của Tỉnh ủy", published=True)
    ward = await _document(session, tree.c1.id, "Kế hoạch 05 của Đảng ủy phường", published=True)
    elsewhere = await _document(session, tree.c2.id, "Kế hoạch của xã Tân Lập", published=True)
    draft = await _document(session, tree.c1.id, "Dự thảo kế hoạch", published=False)
    secretary = await as_actor(tree.secretary.id)
    url = f"/api/v1/orgs/{tree.b1.id}/meetings"
    before = await session.scalar(select(func.count()).select_from(Meeting))
    for unavailable in (elsewhere, draft, 999_999):
        refused = await client.post(
            url,
            json={
                "title": "Sinh hoạt chi bộ",
                "starts_at": iso(utcnow() + timedelta(days=1)),
                "ends_at": iso(utcnow() + timedelta(days=1, hours=2)),
                "document_ids": [province, unavailable],
            },
            headers=secretary,
        )
        body = assert_problem(refused, 422, "meeting.document_unavailable")
        assert str(unavailable) in body["detail"]
    assert await session.scalar(select(func.count()).select_from(Meeting)) == before

    meeting = await plan(client, secretary, tree.b1.id, document_ids=[province, province])
    assert [d["document_id"] for d in meeting["documents"]] == [province]
    assert meeting["documents"][0]["title"] == "Nghị quyết 01 của Tỉnh ủy"
    patched = await client.patch(
        f"/api/v1/meetings/{meeting['id']}",
        json={"document_ids": [ward, province]},
        headers={**secretary, "If-Match": '"v1"'},
    )
    assert patched.status_code == 200, patched.text
    assert [d["document_id"] for d in patched.json()["documents"]] == [province, ward]
    announce = await client.post(f"/api/v1/meetings/{meeting['id']}/announce", headers=secretary)
    assert announce.status_code == 200, announce.text
    member_view = await client.get(
        f"/api/v1/meetings/{meeting['id']}", headers=await as_actor(tree.member.id)
    )
    assert [d["document_id"] for d in member_view.json()["documents"]] == [province, ward]
    stored = (
        await session.scalars(
            select(MeetingDocument.document_id).where(MeetingDocument.meeting_id == meeting["id"])
        )
    ).all()
    assert sorted(stored) == sorted([province, ward])
