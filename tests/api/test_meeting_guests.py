"""Who besides the branch's members is on a meeting's list: guests from upper levels (đại biểu
cấp trên), invited by the secretary, and residence attendees (sinh hoạt nơi cư trú), summoned
when the branch or the meeting says so. Both read, comment and check in; neither is counted in
the quorum, recorded absent, awarded points or allowed to vote."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    AttendeeKind,
    AuditEvent,
    MeetingAttendee,
    Notice,
    Role,
    RoleGrant,
)
from app.models.base import utcnow
from app.models.study import PointEntry
from tests.api.test_meetings import plan
from tests.conftest import ActorLogin
from tests.factories import Tree, grant
from tests.http import assert_problem, collect


async def _listed(session: AsyncSession, meeting_id: int) -> dict[int, MeetingAttendee]:
    rows = await session.scalars(
        select(MeetingAttendee)
        .where(MeetingAttendee.meeting_id == meeting_id)
        .execution_options(populate_existing=True)
    )
    return {row.member_id: row for row in rows}


async def _notices(session: AsyncSession, meeting_id: int) -> list[Notice]:
    rows = await session.scalars(select(Notice).where(Notice.kind == "meeting").order_by(Notice.id))
    return [n for n in rows if (n.data or {}).get("meeting_id") == str(meeting_id)]


def _guest_url(meeting: dict[str, Any], member_id: int) -> str:
    return f"/api/v1/meetings/{meeting['id']}/guests/{member_id}"


async def test_a_guest_from_the_commune_takes_part_but_never_counts_nor_votes(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    secretary = await as_actor(tree.secretary.id)
    guest = await as_actor(tree.committee.id)  # committee member of C1, a member of B2
    meeting = await plan(client, secretary, tree.b1.id)
    url = f"/api/v1/meetings/{meeting['id']}"

    added = await client.put(_guest_url(meeting, tree.committee.id), headers=secretary)
    assert added.status_code == 200, added.text
    assert added.json()["guests"] == [
        {"member_id": tree.committee.id, "full_name": "Tạ Văn Ủy", "attendance": "pending"}
    ]
    # Inviting again changes nothing.
    again = await client.put(_guest_url(meeting, tree.committee.id), headers=secretary)
    assert again.status_code == 200, again.text
    assert again.json()["guests"] == added.json()["guests"]
    listed = await _listed(session, meeting["id"])
    assert {m: r.kind for m, r in listed.items()} == {tree.committee.id: AttendeeKind.GUEST}
    # A draft is the secretary's: the guest sees it once announced, and is not told before.
    assert_problem(await client.get(url, headers=guest), 404, "meeting.not_found")
    assert await _notices(session, meeting["id"]) == []

    announced = await client.post(f"{url}/announce", headers=secretary)
    assert announced.status_code == 200, announced.text
    notices = await _notices(session, meeting["id"])
    members = {tree.member.id, tree.secretary.id, tree.deputy.id, tree.exempt.id}
    members |= {tree.probationary.id}
    assert [(n.title, set(n.audience_member_ids or [])) for n in notices] == [
        (f"Lịch sinh hoạt: {meeting['title']}", members),
        (f"Mời dự sinh hoạt: {meeting['title']}", {tree.committee.id}),
    ]
    listed = await _listed(session, meeting["id"])
    assert {m for m, r in listed.items() if r.kind == AttendeeKind.MEMBER} == members
    assert listed[tree.committee.id].kind == AttendeeKind.GUEST

    seen = await client.get(url, headers=guest)
    assert seen.status_code == 200, seen.text
    assert (seen.json()["attending_as"], seen.json()["my_attendance"]) == ("guest", "pending")
    assert [g["member_id"] for g in seen.json()["guests"]] == [tree.committee.id]
    mine = await collect(client, "/api/v1/me/meetings", guest)
    assert [(m["id"], m["attending_as"]) for m in mine] == [(meeting["id"], "guest")]
    member_view = await client.get(url, headers=await as_actor(tree.member.id))
    assert member_view.json()["attending_as"] == "member"

    checked = await client.post(f"{url}/check-in", headers=guest)
    assert checked.status_code == 200, checked.text
    assert checked.json()["attendance"] == "present"
    comment = await client.post(f"{url}/comments", json={"body": "Ý kiến chỉ đạo"}, headers=guest)
    assert comment.status_code == 201, comment.text
    # A second guest, invited once the meeting is announced: the deployment admin, who holds
    # every right (so only the list, not a guard, keeps them from voting).
    admin = await as_actor(tree.admin.id)
    assert (await client.put(_guest_url(meeting, tree.admin.id), headers=secretary)).is_success
    assert (await client.post(f"{url}/check-in", headers=admin)).status_code == 200
    counts = (await client.get(f"{url}/attendance", headers=secretary)).json()
    assert counts["summoned"] == 5
    assert counts["quorum_base"] == 4  # the exempt member is never in the base
    assert (counts["present"], counts["guests"], counts["guests_present"]) == (0, 2, 2)
    assert counts["is_quorate"] is False
    attendees = await collect(client, f"{url}/attendees", secretary)
    assert {a["member_id"]: a["kind"] for a in attendees}[tree.committee.id] == "guest"

    # Started: the guest is frozen on the list, never eligible to vote.
    assert (await client.post(f"{url}/start", headers=secretary)).status_code == 200
    for who in (tree.member, tree.secretary, tree.deputy):
        assert (await client.post(f"{url}/check-in", headers=await as_actor(who.id))).is_success
    motion = await client.post(f"{url}/motions", json={"text": "Thông qua"}, headers=secretary)
    assert motion.status_code == 201, motion.text
    ballots = f"/api/v1/motions/{motion.json()['id']}/ballots"
    # The committee member does not take part in B1's votes (no attending right there) …
    assert_problem(
        await client.post(ballots, json={"choice": "yes"}, headers=guest), 403, "scope.forbidden"
    )
    # … and a guest who holds every right does not vote as a guest either.
    assert_problem(
        await client.post(ballots, json={"choice": "yes"}, headers=admin),
        403,
        "motion.not_eligible",
    )
    for who in (tree.member, tree.secretary):
        vote = await client.post(ballots, json={"choice": "yes"}, headers=await as_actor(who.id))
        assert vote.status_code == 200, vote.text
    closed_motion = await client.post(
        f"/api/v1/motions/{motion.json()['id']}/close", headers=secretary
    )
    assert closed_motion.status_code == 200, closed_motion.text
    # Eligible: the full, non-exempt members of B1 (member, secretary, deputy): 2 of 3 pass,
    # quorate with 3 of the 4 non-exempt members present (the guests are not counted).
    result = closed_motion.json()["result"]
    assert (result["eligible"], result["is_quorate"], result["has_passed"]) == (3, True, True)

    closed = await client.post(f"{url}/close", headers=secretary)
    assert closed.status_code == 200, closed.text
    listed = await _listed(session, meeting["id"])
    assert listed[tree.committee.id].attendance == "present"
    assert listed[tree.probationary.id].attendance == "absent"
    awarded = set(
        await session.scalars(
            select(PointEntry.member_id).where(
                PointEntry.source_key.like(f"meeting:{meeting['id']}:member:%")
            )
        )
    )
    assert awarded == {tree.member.id, tree.secretary.id, tree.deputy.id}
    absences = await collect(
        client, f"/api/v1/orgs/{tree.b1.id}/absences", secretary, {"year": utcnow().year}
    )
    assert {a["member_id"] for a in absences} == {tree.probationary.id}
    actions = set(
        await session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("meeting.guest_%"))
        )
    )
    assert actions == {"meeting.guest_add"}


async def test_a_guest_of_an_announced_meeting_is_invited_at_once_and_told_when_withdrawn(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    secretary = await as_actor(tree.secretary.id)
    meeting = await plan(client, secretary, tree.b1.id, starts_in=timedelta(days=2))
    url = f"/api/v1/meetings/{meeting['id']}"
    assert (await client.post(f"{url}/announce", headers=secretary)).status_code == 200
    added = await client.put(_guest_url(meeting, tree.officer_c1.id), headers=secretary)
    assert added.status_code == 200, added.text
    invitation = (await _notices(session, meeting["id"]))[-1]
    assert invitation.title == f"Mời dự sinh hoạt: {meeting['title']}"
    assert invitation.audience_member_ids == [tree.officer_c1.id]

    removed = await client.delete(_guest_url(meeting, tree.officer_c1.id), headers=secretary)
    assert removed.status_code == 200, removed.text
    assert removed.json()["guests"] == []
    assert tree.officer_c1.id not in await _listed(session, meeting["id"])
    withdrawn = (await _notices(session, meeting["id"]))[-1]
    assert withdrawn.title == f"Thôi mời dự sinh hoạt: {meeting['title']}"
    assert withdrawn.audience_member_ids == [tree.officer_c1.id]
    assert_problem(
        await client.delete(_guest_url(meeting, tree.officer_c1.id), headers=secretary),
        404,
        "meeting.guest_not_found",
    )
    actions = list(
        await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("meeting.guest_%"))
            .order_by(AuditEvent.id)
        )
    )
    assert actions == ["meeting.guest_add", "meeting.guest_remove"]


async def test_guests_who_are_no_upper_level_officers_or_come_too_late_are_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    secretary = await as_actor(tree.secretary.id)
    meeting = await plan(client, secretary, tree.b1.id)
    revoked = await grant(session, tree.teacher, tree.c1, Role.COMMITTEE_MEMBER)
    await session.execute(
        update(RoleGrant).where(RoleGrant.id == revoked.id).values(revoked_at=utcnow())
    )
    await session.commit()
    refused = [
        tree.outsider.id,  # no role at all
        tree.teacher.id,  # a revoked role on the commune
        tree.editor.id,  # a role above that does not read meetings (the province's editor)
        tree.approver.id,  # the commune's approver, likewise
        999_999_999,  # no such member
    ]
    for member_id in refused:
        response = await client.put(_guest_url(meeting, member_id), headers=secretary)
        assert_problem(response, 422, "meeting.guest_not_upper_level")
    # A member of the branch is summoned as a member, not a guest.
    assert_problem(
        await client.put(_guest_url(meeting, tree.member.id), headers=secretary),
        409,
        "meeting.guest_is_member",
    )
    # A role on the branch itself is not an upper level (the deputy is a member anyway).
    assert_problem(
        await client.put(_guest_url(meeting, tree.deputy.id), headers=secretary),
        409,
        "meeting.guest_is_member",
    )
    assert await _listed(session, meeting["id"]) == {}

    url = f"/api/v1/meetings/{meeting['id']}"
    assert (await client.put(_guest_url(meeting, tree.committee.id), headers=secretary)).is_success
    assert (await client.post(f"{url}/announce", headers=secretary)).status_code == 200
    checked = await client.post(f"{url}/check-in", headers=await as_actor(tree.committee.id))
    assert checked.status_code == 200, checked.text
    assert_problem(
        await client.delete(_guest_url(meeting, tree.committee.id), headers=secretary),
        409,
        "meeting.guest_checked_in",
    )
    assert_problem(
        await client.delete(_guest_url(meeting, tree.member.id), headers=secretary),
        404,
        "meeting.guest_not_found",
    )
    assert (await client.post(f"{url}/start", headers=secretary)).status_code == 200
    assert_problem(
        await client.put(_guest_url(meeting, tree.officer_c1.id), headers=secretary),
        409,
        "meeting.invalid_status",
    )
    assert (await client.post(f"{url}/close", headers=secretary)).status_code == 200
    before = await _listed(session, meeting["id"])
    assert_problem(
        await client.put(_guest_url(meeting, tree.officer_c1.id), headers=secretary),
        409,
        "meeting.closed",
    )
    assert_problem(
        await client.delete(_guest_url(meeting, tree.committee.id), headers=secretary),
        409,
        "meeting.closed",
    )
    after = await _listed(session, meeting["id"])
    assert {m: (r.kind, r.attendance) for m, r in after.items()} == {
        m: (r.kind, r.attendance) for m, r in before.items()
    }
    cancelled = await plan(client, secretary, tree.b1.id)
    cancel = await client.post(
        f"/api/v1/meetings/{cancelled['id']}/cancel", json={"reason": "Mưa bão"}, headers=secretary
    )
    assert cancel.status_code == 200, cancel.text
    assert_problem(
        await client.put(_guest_url(cancelled, tree.committee.id), headers=secretary),
        409,
        "meeting.cancelled",
    )
    # Only the branch's runners invite guests.
    assert_problem(
        await client.put(
            _guest_url(cancelled, tree.committee.id), headers=await as_actor(tree.member.id)
        ),
        403,
        "scope.forbidden",
    )


async def test_residence_attendees_are_summoned_where_the_branch_says_so_and_never_counted(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    # The member (branch B1) lives in B4's area; the outsider runs B4.
    await grant(session, tree.outsider, tree.b4, Role.SECRETARY)
    await session.commit()
    officer = await as_actor(tree.officer_root.id)
    attached = await client.put(
        f"/api/v1/members/{tree.member.id}/residence",
        json={"branch_id": tree.b4.id},
        headers=officer,
    )
    assert attached.status_code == 200, attached.text
    runner = await as_actor(tree.outsider.id)
    resident = await as_actor(tree.member.id)
    settings_url = f"/api/v1/orgs/{tree.b4.id}/meeting-settings"
    current = await client.get(settings_url, headers=runner)
    assert current.json() == {"org_id": tree.b4.id, "has_residence_attendees": False}

    async def announce(meeting: dict[str, Any]) -> None:
        response = await client.post(f"/api/v1/meetings/{meeting['id']}/announce", headers=runner)
        assert response.status_code == 200, response.text

    # By default the branch does not summon its residents.
    plain = await plan(client, runner, tree.b4.id)
    assert plain["has_residence_attendees"] is False
    await announce(plain)
    assert tree.member.id not in await _listed(session, plain["id"])

    changed = await client.put(settings_url, json={"has_residence_attendees": True}, headers=runner)
    assert changed.status_code == 200, changed.text
    assert (await client.get(settings_url, headers=resident)).json()["has_residence_attendees"]
    assert_problem(
        await client.put(settings_url, json={"has_residence_attendees": False}, headers=resident),
        403,
        "scope.forbidden",
    )
    assert_problem(
        await client.put(
            f"/api/v1/orgs/{tree.c2.id}/meeting-settings",
            json={"has_residence_attendees": True},
            headers=await as_actor(tree.admin.id),
        ),
        422,
        "meeting.not_branch",
    )
    # A meeting may say otherwise than the branch.
    opted_out = await plan(client, runner, tree.b4.id, has_residence_attendees=False)
    await announce(opted_out)
    assert tree.member.id not in await _listed(session, opted_out["id"])
    # The branch's setting, taken by a new meeting.
    meeting = await plan(client, runner, tree.b4.id)
    assert meeting["has_residence_attendees"] is True
    await announce(meeting)
    listed = await _listed(session, meeting["id"])
    assert listed[tree.member.id].kind == AttendeeKind.RESIDENCE
    assert {m for m, r in listed.items() if r.kind == AttendeeKind.MEMBER} == {
        tree.outsider.id,
        tree.officer_root.id,
        tree.admin.id,
    }
    summoned = [n for n in await _notices(session, meeting["id"]) if n.title.startswith("Lịch")]
    assert tree.member.id in (summoned[0].audience_member_ids or [])
    # An announced meeting that changes its mind updates its list at once.
    edited = await client.patch(
        f"/api/v1/meetings/{plain['id']}", json={"has_residence_attendees": True}, headers=runner
    )
    assert edited.status_code == 200, edited.text
    assert (await _listed(session, plain["id"]))[tree.member.id].kind == AttendeeKind.RESIDENCE

    url = f"/api/v1/meetings/{meeting['id']}"
    mine = await collect(client, "/api/v1/me/meetings", resident)
    assert (meeting["id"], "residence") in {(m["id"], m["attending_as"]) for m in mine}
    checked = await client.post(f"{url}/check-in", headers=resident)
    assert checked.status_code == 200, checked.text
    counts = (await client.get(f"{url}/attendance", headers=runner)).json()
    assert (counts["summoned"], counts["present"]) == (3, 0)
    assert (counts["residents"], counts["residents_present"]) == (1, 1)
    # Excuses are the branch's members' (a resident who cannot come simply does not).
    assert_problem(
        await client.post(f"{url}/excuse", json={"reason": "Bận"}, headers=resident),
        403,
        "scope.forbidden",
    )
    assert (await client.post(f"{url}/start", headers=runner)).status_code == 200
    assert (await client.post(f"{url}/close", headers=runner)).status_code == 200
    listed = await _listed(session, meeting["id"])
    assert listed[tree.member.id].attendance == "present"
    assert {listed[m].attendance for m in (tree.outsider.id, tree.officer_root.id)} == {"absent"}
    awarded = await session.scalar(
        select(PointEntry.id).where(
            PointEntry.source_key == f"meeting:{meeting['id']}:member:{tree.member.id}"
        )
    )
    assert awarded is None
