"""Branch meetings: plan, announce, start, close; attendance; comments; motions; minutes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import (
    CurrentActor,
    JoinedTarget,
    LeanUnitDep,
    ObjectScope,
    OrgScope,
    ReaderDep,
    ResourcesDep,
    SessionDep,
)
from app.api.idempotency import Idempotent
from app.api.responses import IfMatchDep, plain_json, problems, with_etag_of
from app.api.routing import area_router
from app.core.config import RulesSettings
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.models import MeetingStatus
from app.schemas.common import MAX_ID, Digits, IsoDateText, Page, QueryFlag
from app.schemas.meeting import (
    AbsenceRead,
    AttendanceMark,
    AttendanceSummary,
    AttendeeRead,
    BallotCreate,
    BallotRead,
    BranchMeetingSettings,
    BranchMeetingSettingsUpdate,
    CheckInRead,
    CommentCreate,
    CommentRead,
    ExcuseCreate,
    MeetingCancel,
    MeetingCreate,
    MeetingRead,
    MeetingReschedule,
    MeetingSummary,
    MeetingUpdate,
    MinutesUpdate,
    MotionCreate,
    MotionRead,
    OfflineBatch,
    OfflineBatchResult,
    QrCheckIn,
    QrCodeRead,
    RatingUpdate,
    ShowOfHands,
    SubtreeMeeting,
)
from app.services import rules as rules_service
from app.services.access import Actor, Permission
from app.services.meetings import attendance as attendance_service
from app.services.meetings import guests as guest_service
from app.services.meetings import lifecycle as meeting_service
from app.services.meetings import motions as motion_service
from app.services.meetings import offline as offline_service
from app.services.meetings.attendance import CheckInTarget, CountedMeeting
from app.services.meetings.lifecycle import MeetingTarget
from app.services.meetings.motions import MotionTarget
from app.services.orgs import OrgTarget

router = area_router(tags=["meetings"])


async def meeting_rules(resources: ResourcesDep) -> RulesSettings:
    """The rules in force: the deployment's rules document (quorum, passing, reminders,
    absences: `GET /rules`) over the `RULES__*` settings (time zone, check-in window, QR).
    Read on the lean path, never through the request's session: a dependency that queried the
    session before `Idempotent` claims its key would hold SQLite's write lock the claim waits
    for."""
    current = await rules_service.in_force(
        resources.reader, resources.app_config, resources.settings.rules
    )
    return rules_service.with_settings(current, resources.settings.rules)


MeetingRules = Annotated[RulesSettings, Depends(meeting_rules)]


def MeetingScope(permission: Permission) -> ObjectScope[MeetingTarget]:
    return ObjectScope(
        meeting_service.load_target,
        permission,
        id_param="meeting_id",
        not_found_code="meeting.not_found",
        description="Meeting id.",
        visible=meeting_service.hide_draft,
        joined=JoinedTarget(meeting_service.with_target, meeting_service.joined_target),
    )


def MotionScope(permission: Permission) -> ObjectScope[MotionTarget]:
    return ObjectScope(
        motion_service.load_target,
        permission,
        id_param="motion_id",
        not_found_code="motion.not_found",
        description="Motion id.",
    )


ViewMeeting = Annotated[MeetingTarget, Depends(MeetingScope(Permission.MEETING_VIEW))]
# The same guard, its target read with the meeting's live attendance counts, in the actor's
# query (the live attendance in one round trip).
ViewCountedMeeting = Annotated[
    CountedMeeting,
    Depends(
        ObjectScope(
            attendance_service.load_counted_target,
            Permission.MEETING_VIEW,
            id_param="meeting_id",
            not_found_code="meeting.not_found",
            description="Meeting id.",
            visible=meeting_service.hide_draft,
            joined=JoinedTarget(
                attendance_service.with_counted_target, attendance_service.counted_target_of
            ),
        )
    ),
]
AttendMeeting = Annotated[MeetingTarget, Depends(MeetingScope(Permission.MEETING_ATTEND))]


def CheckInScope(permission: Permission, *, joined: bool = False) -> ObjectScope[CheckInTarget]:
    """The meeting guard whose target carries what a check-in decides on (its start, the QR
    secret): a check-in reads its meeting once; a member's own check-in (`joined`, a burst on
    meeting night) reads it in the actor's query."""
    return ObjectScope(
        attendance_service.load_check_in_target,
        permission,
        id_param="meeting_id",
        not_found_code="meeting.not_found",
        description="Meeting id.",
        visible=meeting_service.hide_draft,
        joined=JoinedTarget(
            attendance_service.with_check_in_target, attendance_service.check_in_target_of
        )
        if joined
        else None,
    )


# Checking in: every reader of the meeting passes the guard (the branch's members, guests from
# upper levels and residence attendees read it from their own scopes); being on the meeting's
# list decides (403 `meeting.not_summoned` otherwise).
CheckInMeeting = Annotated[
    CheckInTarget, Depends(CheckInScope(Permission.MEETING_VIEW, joined=True))
]
ProxyCheckInMeeting = Annotated[CheckInTarget, Depends(CheckInScope(Permission.MEETING_MANAGE))]
ManageMeeting = Annotated[MeetingTarget, Depends(MeetingScope(Permission.MEETING_MANAGE))]
ReviewMeeting = Annotated[MeetingTarget, Depends(MeetingScope(Permission.MEETING_REVIEW))]
AttendMotion = Annotated[MotionTarget, Depends(MotionScope(Permission.MEETING_ATTEND))]
ManageMotion = Annotated[MotionTarget, Depends(MotionScope(Permission.MEETING_MANAGE))]


async def _read(
    response: Response, session: AsyncSession, actor: Actor, meeting_id: int
) -> dict[str, Any]:
    return with_etag_of(response, await meeting_service.read_meeting(session, actor, meeting_id))


# --- meetings -------------------------------------------------------------------------------------


@router.post(
    "/orgs/{org_id}/meetings",
    status_code=status.HTTP_201_CREATED,
    response_model=MeetingRead,
    responses=problems(
        401,
        403,
        404,
        413,
        codes={
            409: ["upload.already_attached"],
            422: [
                "meeting.document_unavailable",
                "meeting.in_past",
                "meeting.invalid_time",
                "meeting.not_branch",
            ],
        },
    ),
)
async def create_meeting(
    body: MeetingCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEETING_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Plan a branch meeting (a draft: members see it once it is announced). Attach your own
    `document` uploads by id. Send an `Idempotency-Key` to retry safely."""
    meeting_id = await meeting_service.create_meeting(session, actor, org, body)
    return await _read(response, session, actor, meeting_id)


@router.get(
    "/orgs/{org_id}/meetings",
    response_model=Page[MeetingSummary],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_meetings(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEETING_VIEW))],
    actor: CurrentActor,
    session: SessionDep,
    status: MeetingStatus | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[MeetingSummary]:
    """A branch's meetings, latest first (drafts only for its secretary and deputy)."""
    items, next_cursor = await meeting_service.list_org_meetings(
        session, actor, org, status=status, limit=limit, cursor=cursor
    )
    return Page(items=[MeetingSummary(**i) for i in items], next_cursor=next_cursor)


@router.get(
    "/orgs/{org_id}/subtree-meetings",
    response_model=Page[SubtreeMeeting],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_subtree_meetings(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEETING_VIEW))],
    reader: ReaderDep,
    rules: MeetingRules,
    since: Annotated[
        date | None, Query(description="Meetings starting on or after this day."), IsoDateText
    ] = None,
    until: Annotated[
        date | None, Query(description="Meetings starting on or before this day."), IsoDateText
    ] = None,
    status: MeetingStatus | None = None,
    minutes_missing: Annotated[
        bool,
        Query(description="Only closed meetings without minutes `RULES__MINUTES_DUE_H` h on."),
        QueryFlag,
    ] = False,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Meetings of every branch below this org (for upper levels: minutes, ratings, who has not
    uploaded minutes), latest first. Local days (`RULES__TIMEZONE`)."""
    items, next_cursor = await meeting_service.list_subtree_meetings(
        reader,
        org,
        since=since,
        until=until,
        status=status,
        minutes_missing=minutes_missing,
        rules=rules,
        limit=limit,
        cursor=cursor,
    )
    # A hot read (the bench's ward meetings): written from its plain values (`plain_json`).
    return plain_json({"items": items, "next_cursor": next_cursor})


@router.get(
    "/orgs/{org_id}/absences",
    response_model=Page[AbsenceRead],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_branch_absences(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEETING_MANAGE))],
    session: SessionDep,
    rules: MeetingRules,
    year: Annotated[int, Query(ge=2000, le=2100, description="The (local) year."), Digits],
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AbsenceRead]:
    """Members with unexcused absences at the branch's meetings of a year: a warning at 1 and 2,
    a flag for the secretary from `RULES__ABSENCE_FLAG_AFTER` (never a sanction)."""
    items, next_cursor = await attendance_service.list_absences(
        session,
        org.id,
        year=year,
        settings=rules,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[AbsenceRead(**i) for i in items], next_cursor=next_cursor)


@router.get("/me/meetings", response_model=Page[MeetingSummary], responses=problems(400, 401, 422))
async def list_my_meetings(
    actor: CurrentActor,
    reader: ReaderDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The meetings I am on the list of, latest first, with my attendance and why I am on it
    (`attending_as`: a member of the branch, a guest from an upper level, or a residence
    attendee)."""
    items, next_cursor = await meeting_service.list_my_meetings(
        reader, actor, limit=limit, cursor=cursor
    )
    # A hot read (the bench's /me/meetings): written from its plain values (`plain_json`).
    return plain_json({"items": items, "next_cursor": next_cursor})


@router.get(
    "/meetings/{meeting_id}", response_model=MeetingRead, responses=problems(401, 403, 404, 422)
)
async def get_meeting(
    meeting: ViewMeeting, actor: CurrentActor, reader: ReaderDep, response: Response
) -> dict[str, Any]:
    """A meeting: agenda, documents, place or link, status, minutes, ratings, my attendance.
    The `ETag` goes into `If-Match` of an edit."""
    # Through its model, not `plain_json`: the stored agenda items leave out what the model
    # fills in (an item's absent `description` is written as null).
    return with_etag_of(
        response, await meeting_service.read_meeting_lean(reader, actor, meeting.id)
    )


@router.patch(
    "/meetings/{meeting_id}",
    response_model=MeetingRead,
    responses=problems(
        401,
        403,
        404,
        412,
        codes={
            409: [
                "meeting.cancelled",
                "meeting.closed",
                "meeting.invalid_status",
                "meeting.use_reschedule",
            ],
            422: ["meeting.document_unavailable", "meeting.in_past", "meeting.invalid_time"],
        },
    ),
)
async def update_meeting(
    body: MeetingUpdate,
    meeting: ManageMeeting,
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
    if_match: IfMatchDep,
    response: Response,
) -> dict[str, Any]:
    """Edit a draft or announced meeting (the time of an announced one changes by
    `reschedule`). Closed and cancelled meetings cannot be edited (409)."""
    await meeting_service.update_meeting(session, actor, meeting, body, if_match, rules)
    return await _read(response, session, actor, meeting.id)


@router.post(
    "/meetings/{meeting_id}/announce",
    response_model=MeetingRead,
    responses=problems(
        401,
        403,
        404,
        422,
        codes={409: ["meeting.cancelled", "meeting.closed", "meeting.invalid_status"]},
    ),
)
async def announce_meeting(
    meeting: ManageMeeting,
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
    response: Response,
) -> dict[str, Any]:
    """Announce: the branch's members are summoned (their status and exemption recorded),
    notified, and reminded the day before and hours before the start. The meeting's guests
    from upper levels are invited by a notice of their own; with `has_residence_attendees`,
    the members attached to the branch for residence are summoned as `residence` attendees.
    The list follows the branch until the start, then is frozen."""
    await meeting_service.announce_meeting(session, actor, meeting, rules)
    return await _read(response, session, actor, meeting.id)


@router.post(
    "/meetings/{meeting_id}/start",
    response_model=MeetingRead,
    responses=problems(
        401,
        403,
        404,
        422,
        codes={
            409: [
                "meeting.cancelled",
                "meeting.closed",
                "meeting.invalid_status",
                "meeting.too_early",
            ]
        },
    ),
)
async def start_meeting(
    meeting: ManageMeeting,
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
    response: Response,
) -> dict[str, Any]:
    """Start the meeting: the summoned members are frozen from here on."""
    await meeting_service.start_meeting(session, actor, meeting, rules)
    return await _read(response, session, actor, meeting.id)


@router.post(
    "/meetings/{meeting_id}/close",
    response_model=MeetingRead,
    responses=problems(
        401,
        403,
        404,
        422,
        codes={409: ["meeting.cancelled", "meeting.closed", "meeting.invalid_status"]},
    ),
)
async def close_meeting(
    meeting: ManageMeeting,
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
    response: Response,
) -> dict[str, Any]:
    """Close the meeting: open motions close with their results; the summoned who neither came
    nor excused themselves are recorded absent (exempt members never are). Final."""
    await meeting_service.close_meeting(session, actor, meeting, rules)
    return await _read(response, session, actor, meeting.id)


@router.post(
    "/meetings/{meeting_id}/cancel",
    response_model=MeetingRead,
    responses=problems(
        401,
        403,
        404,
        422,
        codes={409: ["meeting.cancelled", "meeting.closed", "meeting.invalid_status"]},
    ),
)
async def cancel_meeting(
    body: MeetingCancel,
    meeting: ManageMeeting,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
) -> dict[str, Any]:
    """Cancel a draft or announced meeting, with a reason; members are told, reminders removed."""
    await meeting_service.cancel_meeting(session, actor, meeting, body.reason)
    return await _read(response, session, actor, meeting.id)


@router.post(
    "/meetings/{meeting_id}/reschedule",
    response_model=MeetingRead,
    responses=problems(
        401,
        403,
        404,
        412,
        codes={
            409: ["meeting.cancelled", "meeting.closed", "meeting.invalid_status"],
            422: ["meeting.in_past", "meeting.invalid_time"],
        },
    ),
)
async def reschedule_meeting(
    body: MeetingReschedule,
    meeting: ManageMeeting,
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
    if_match: IfMatchDep,
    response: Response,
) -> dict[str, Any]:
    """Move a draft or announced meeting, with a reason; members are told, reminders move."""
    await meeting_service.reschedule_meeting(session, actor, meeting, body, if_match, rules)
    return await _read(response, session, actor, meeting.id)


@router.put(
    "/meetings/{meeting_id}/minutes",
    response_model=MeetingRead,
    responses=problems(
        401,
        403,
        412,
        codes={
            404: ["upload.not_found"],
            409: ["meeting.cancelled", "meeting.invalid_status"],
            422: ["meeting.minutes_empty"],
        },
    ),
)
async def set_meeting_minutes(
    body: MinutesUpdate,
    meeting: ManageMeeting,
    actor: CurrentActor,
    session: SessionDep,
    if_match: IfMatchDep,
    response: Response,
) -> dict[str, Any]:
    """The minutes (biên bản) and draft resolution: a `document` upload and/or text."""
    await meeting_service.set_minutes(session, actor, meeting, body, if_match)
    return await _read(response, session, actor, meeting.id)


@router.put(
    "/meetings/{meeting_id}/rating",
    response_model=MeetingRead,
    responses=problems(401, 403, 404, 422, codes={409: ["meeting.not_closed"]}),
)
async def rate_meeting(
    body: RatingUpdate,
    meeting: ManageMeeting,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
) -> dict[str, Any]:
    """The branch's own rating of a closed meeting (good / fair / average / poor)."""
    await meeting_service.rate_meeting(session, actor, meeting, body.rating, upper=False)
    return await _read(response, session, actor, meeting.id)


@router.put(
    "/meetings/{meeting_id}/upper-rating",
    response_model=MeetingRead,
    responses=problems(
        401, 404, 422, codes={403: ["meeting.not_upper_level"], 409: ["meeting.not_closed"]}
    ),
)
async def rate_meeting_from_above(
    body: RatingUpdate,
    meeting: ReviewMeeting,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
) -> dict[str, Any]:
    """The upper level's rating of a branch's closed meeting (leadership of a committee above;
    403 `meeting.not_upper_level` for the branch's own leadership)."""
    await meeting_service.rate_meeting(session, actor, meeting, body.rating, upper=True)
    return await _read(response, session, actor, meeting.id)


# --- guests from upper levels ---------------------------------------------------------------------

GuestId = Annotated[
    int,
    Path(ge=1, le=MAX_ID, description="The guest's member id."),
    Digits,
]


@router.put(
    "/meetings/{meeting_id}/guests/{member_id}",
    response_model=MeetingRead,
    responses=problems(
        401,
        403,
        404,
        codes={
            409: [
                "meeting.cancelled",
                "meeting.closed",
                "meeting.guest_is_member",
                "meeting.invalid_status",
            ],
            422: ["meeting.guest_not_upper_level"],
        },
    ),
)
async def add_meeting_guest(
    member_id: GuestId,
    meeting: ManageMeeting,
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
    response: Response,
) -> dict[str, Any]:
    """Invite a guest from an upper level (đại biểu cấp trên) to a draft or announced meeting:
    a member holding a live role on an org above the branch that reads its meetings
    (secretary, deputy, committee member or organisation officer of a committee above; 422
    `meeting.guest_not_upper_level` otherwise, or for an unknown member), not a member of the
    branch (409 `meeting.guest_is_member`). Idempotent: inviting a guest again changes nothing
    and answers 200. The guest is invited by a notice when the meeting is announced (at once
    when it already is), reminded like the members, reads the meeting, comments and checks in;
    never counted in the quorum, never votes. Started, closed and cancelled meetings take no
    guests (409)."""
    await guest_service.add_guest(session, actor, meeting, member_id, rules)
    return await _read(response, session, actor, meeting.id)


@router.delete(
    "/meetings/{meeting_id}/guests/{member_id}",
    response_model=MeetingRead,
    responses=problems(
        401,
        403,
        422,
        codes={
            404: ["meeting.guest_not_found"],
            409: [
                "meeting.cancelled",
                "meeting.closed",
                "meeting.guest_checked_in",
                "meeting.invalid_status",
            ],
        },
    ),
)
async def remove_meeting_guest(
    member_id: GuestId,
    meeting: ManageMeeting,
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
    response: Response,
) -> dict[str, Any]:
    """Withdraw a guest's invitation while the meeting is a draft or announced (told by a
    notice when it was announced); 404 `meeting.guest_not_found` when the member is not a
    guest, 409 `meeting.guest_checked_in` once they checked in."""
    await guest_service.remove_guest(session, actor, meeting, member_id, rules)
    return await _read(response, session, actor, meeting.id)


@router.get(
    "/orgs/{org_id}/meeting-settings",
    response_model=BranchMeetingSettings,
    responses=problems(401, 403, 404, codes={422: ["meeting.not_branch"]}),
)
async def get_branch_meeting_settings(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEETING_VIEW))], session: SessionDep
) -> dict[str, Any]:
    """A branch's defaults for its meetings: whether they summon the members attached to it for
    residence."""
    return await guest_service.branch_settings(session, org)


@router.put(
    "/orgs/{org_id}/meeting-settings",
    response_model=BranchMeetingSettings,
    responses=problems(401, 403, 404, codes={422: ["meeting.not_branch"]}),
)
async def set_branch_meeting_settings(
    body: BranchMeetingSettingsUpdate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEETING_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
) -> dict[str, Any]:
    """Set the branch's defaults for its next meetings (its secretary or deputy): with
    `has_residence_attendees`, a new meeting summons the members attached to the branch for
    residence unless it says otherwise; meetings already planned keep their own choice."""
    return await guest_service.set_branch_settings(
        session, actor, org, has_residence_attendees=body.has_residence_attendees
    )


# --- attendance -----------------------------------------------------------------------------------


@router.get(
    "/meetings/{meeting_id}/attendance",
    response_model=AttendanceSummary,
    responses=problems(401, 403, 404, 422),
)
async def get_meeting_attendance(
    meeting: ViewCountedMeeting, rules: MeetingRules
) -> dict[str, Any]:
    """Live counts (present / excused / absent / exempt) and the quorum against the summoned,
    non-exempt members of the branch; guests and residence attendees are counted apart and
    never in the quorum."""
    return attendance_service.summary(meeting.counts, rules)


@router.get(
    "/meetings/{meeting_id}/attendees",
    response_model=Page[AttendeeRead],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_meeting_attendees(
    meeting: ViewMeeting,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AttendeeRead]:
    """Everyone on the list in Vietnamese name order, with why they are on it (`kind`),
    status, exemption and attendance."""
    items, next_cursor = await attendance_service.list_attendees(
        session, meeting, limit=limit, cursor=cursor
    )
    return Page(items=[AttendeeRead(**i) for i in items], next_cursor=next_cursor)


@router.post(
    "/meetings/{meeting_id}/check-in",
    response_model=CheckInRead,
    responses=problems(
        401,
        404,
        422,
        codes={
            403: ["meeting.not_summoned"],
            409: ["meeting.checkin_closed", "meeting.checkin_outside_window"],
        },
    ),
)
async def check_in_meeting(
    meeting: CheckInMeeting,
    actor: CurrentActor,
    rules: MeetingRules,
    unit: LeanUnitDep,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Check in from the app, inside the window around the start (the server's clock decides).
    Open to everyone on the meeting's list: the branch's members, its guests from upper levels
    and its residence attendees (each recorded under their kind; only members count in the
    quorum); 403 `meeting.not_summoned` for anyone else. Exactly one attendance per member,
    whatever the retries."""
    return await attendance_service.check_in(unit, actor, meeting, rules)


@router.post(
    "/meetings/{meeting_id}/check-in/qr",
    response_model=CheckInRead,
    responses=problems(
        401,
        404,
        codes={
            403: ["meeting.not_summoned"],
            409: ["meeting.checkin_closed", "meeting.checkin_outside_window"],
            422: ["meeting.qr_invalid"],
        },
    ),
)
async def check_in_by_qr(
    body: QrCheckIn,
    meeting: CheckInMeeting,
    actor: CurrentActor,
    rules: MeetingRules,
    unit: LeanUnitDep,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Check in with the code of the QR shown on the secretary's screen (422
    `meeting.qr_invalid` when stale or wrong); open to the same list as `check_in_meeting`."""
    return await attendance_service.check_in(unit, actor, meeting, rules, qr=body.code)


@router.get(
    "/meetings/{meeting_id}/qr",
    response_model=QrCodeRead,
    responses=problems(401, 403, 404, 422, codes={409: ["meeting.checkin_closed"]}),
)
async def get_meeting_qr(
    meeting: ManageMeeting, session: SessionDep, rules: MeetingRules
) -> dict[str, Any]:
    """The current rotating check-in code for the secretary's screen (fetch it again each
    `step_s` seconds)."""
    return await attendance_service.qr_for_screen(session, meeting, rules)


@router.post(
    "/meetings/{meeting_id}/attendance",
    response_model=CheckInRead,
    responses=problems(
        401,
        404,
        codes={
            403: ["meeting.not_summoned"],
            409: [
                "meeting.already_checked_in",
                "meeting.checkin_closed",
                "meeting.checkin_outside_window",
                "meeting.excuse_closed",
            ],
            422: ["meeting.reason_required"],
        },
    ),
)
async def mark_attendance(
    body: AttendanceMark,
    meeting: ProxyCheckInMeeting,
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
) -> dict[str, Any]:
    """The secretary checks in a member without a smartphone (recorded as proxy, with who did
    it) or records their excuse."""
    return await attendance_service.mark_attendance(
        session,
        actor,
        meeting,
        member_id=body.member_id,
        attendance=body.attendance,
        reason=body.reason,
        settings=rules,
    )


@router.post(
    "/meetings/{meeting_id}/excuse",
    response_model=CheckInRead,
    responses=problems(
        401,
        404,
        422,
        codes={
            403: ["meeting.not_summoned"],
            409: ["meeting.already_checked_in", "meeting.excuse_closed"],
        },
    ),
)
async def file_excuse(
    body: ExcuseCreate,
    meeting: AttendMeeting,
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
) -> dict[str, Any]:
    """Excuse myself (vắng có lý do) with a reason, before the start."""
    return await attendance_service.file_excuse(session, actor, meeting, body.reason, rules)


@router.post(
    "/meetings/{meeting_id}/offline-batch",
    response_model=OfflineBatchResult,
    responses=problems(
        401,
        403,
        404,
        413,
        422,
        codes={409: ["resource.conflict"]},
        descriptions={
            409: "The batch met a concurrent write (each entry's own refusal is in its result)."
        },
    ),
)
async def merge_offline_batch(
    body: OfflineBatch,
    meeting: ManageMeeting,
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
) -> dict[str, Any]:
    """Check-ins, excuses, comments and hand counts the secretary's app recorded offline, each
    with its client id and time. Sending a batch again changes nothing; entries apply in client
    time order; a check-in is never undone; client times must fall inside the meeting's window
    and not after the server receives them. Each entry answers `applied` or a stable code."""
    results = await offline_service.merge_batch(session, actor, meeting, body.entries, rules)
    return {"results": results}


# --- comments -------------------------------------------------------------------------------------


@router.post(
    "/meetings/{meeting_id}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentRead,
    responses=problems(
        401,
        403,
        404,
        codes={
            409: ["meeting.cancelled", "meeting.invalid_status"],
            422: ["meeting.no_such_agenda_item"],
        },
    ),
)
async def create_meeting_comment(
    body: CommentCreate, meeting: ViewMeeting, actor: CurrentActor, session: SessionDep
) -> dict[str, Any]:
    """A comment or written opinion (also from members who will be absent), optionally on an
    agenda item (its index); leadership above comments on the minutes."""
    return await meeting_service.create_comment(session, actor, meeting, body)


@router.get(
    "/meetings/{meeting_id}/comments",
    response_model=Page[CommentRead],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_meeting_comments(
    meeting: ViewMeeting,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[CommentRead]:
    """Comments and written opinions, oldest first."""
    items, next_cursor = await meeting_service.list_comments(
        session, meeting, limit=limit, cursor=cursor
    )
    return Page(items=[CommentRead(**i) for i in items], next_cursor=next_cursor)


# --- motions --------------------------------------------------------------------------------------


@router.post(
    "/meetings/{meeting_id}/motions",
    status_code=status.HTTP_201_CREATED,
    response_model=MotionRead,
    responses=problems(401, 403, 404, 422, codes={409: ["meeting.not_started"]}),
)
async def open_motion(
    body: MotionCreate, meeting: ManageMeeting, actor: CurrentActor, session: SessionDep
) -> dict[str, Any]:
    """Put a motion to the vote (open or secret ballot) during the meeting."""
    return await motion_service.open_motion(
        session, actor, meeting, text=body.text, is_secret=body.is_secret
    )


@router.get(
    "/meetings/{meeting_id}/motions",
    response_model=Page[MotionRead],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_meeting_motions(
    meeting: ViewMeeting,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[MotionRead]:
    """The meeting's motions with their results (a secret ballot's only once closed)."""
    items, next_cursor = await motion_service.list_motions(
        session, meeting, limit=limit, cursor=cursor
    )
    return Page(items=[MotionRead(**i) for i in items], next_cursor=next_cursor)


@router.post(
    "/motions/{motion_id}/ballots",
    response_model=BallotRead,
    responses=problems(
        401,
        404,
        422,
        codes={
            403: ["meeting.not_summoned", "motion.not_eligible", "motion.not_present"],
            409: ["motion.already_voted", "motion.closed", "motion.secret", "motion.show_of_hands"],
        },
    ),
)
async def cast_ballot(
    body: BallotCreate,
    motion: AttendMotion,
    actor: CurrentActor,
    session: SessionDep,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Vote on an open-ballot motion (present, full, non-exempt members; once). Send an
    `Idempotency-Key` to retry safely."""
    return await motion_service.cast_ballot(session, actor, motion, body.choice, secret=False)


@router.post(
    "/motions/{motion_id}/secret-ballots",
    response_model=BallotRead,
    responses=problems(
        401,
        404,
        422,
        codes={
            403: ["meeting.not_summoned"],
            409: ["motion.already_voted", "motion.closed", "motion.not_secret"],
        },
    ),
)
async def cast_secret_ballot(
    body: BallotCreate, motion: AttendMotion, actor: CurrentActor, session: SessionDep
) -> dict[str, Any]:
    """Vote on a secret-ballot motion. No `Idempotency-Key` here: nothing may keep the choice
    beside the voter. A retry after a lost answer gets 409 `motion.already_voted`, which means
    the ballot counted."""
    return await motion_service.cast_ballot(session, actor, motion, body.choice, secret=True)


@router.post(
    "/motions/{motion_id}/show-of-hands",
    response_model=MotionRead,
    responses=problems(
        401,
        403,
        404,
        codes={
            409: ["motion.closed", "motion.has_ballots", "motion.show_of_hands"],
            422: ["motion.too_many_votes"],
        },
    ),
)
async def record_show_of_hands(
    body: ShowOfHands, motion: ManageMotion, actor: CurrentActor, session: SessionDep
) -> dict[str, Any]:
    """The secretary records the counts of an open vote held by a show of hands."""
    return await motion_service.record_show_of_hands(
        session, actor, motion, yes=body.yes, no=body.no, abstain=body.abstain
    )


@router.post(
    "/motions/{motion_id}/close",
    response_model=MotionRead,
    responses=problems(401, 403, 404, 422, codes={409: ["motion.closed"]}),
)
async def close_motion(
    motion: ManageMotion, actor: CurrentActor, session: SessionDep, rules: MeetingRules
) -> dict[str, Any]:
    """Close the vote: the result records quorum and passes only by the configured rule.
    Final."""
    return await motion_service.close_motion(session, actor, motion, rules)
