"""Shapes of the meetings area: meetings, attendance, comments, motions, minutes, ratings, tasks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.models.meeting import (
    Attendance,
    AttendeeKind,
    CheckInMethod,
    MeetingKind,
    MeetingRating,
    MeetingStatus,
    MotionStatus,
    TaskStatus,
    VoteChoice,
)
from app.models.member import MemberStatus
from app.schemas.common import (
    Flag,
    IsoDate,
    IsoDateTime,
    NotNull,
    ObjectId,
    ReadModel,
    StrictInt,
    StrictModel,
)

Title = Annotated[str, Field(min_length=1, max_length=255)]
RESIDENCE_ATTENDEES = (
    "Whether the members attached to the branch for residence (sinh hoạt nơi cư trú) are "
    "summoned too, as `residence` attendees: listed at announce and kept up to date until the "
    "start, they read the meeting, check in and comment, but are never counted in the quorum "
    "and never vote there (they vote in their own branch)."
)
Reason = Annotated[str, Field(min_length=1, max_length=500)]
OnlineUrl = Annotated[str, Field(max_length=500, pattern=r"^https?://[^\s]+$")]

_MEETING_EXAMPLE: dict[str, Any] = {
    "kind": "regular",
    "title": "Sinh hoạt chi bộ định kỳ tháng 01/2027",
    "starts_at": "2027-01-08T19:30:00+07:00",
    "ends_at": "2027-01-08T21:00:00+07:00",
    "place": "Nhà văn hóa Khu phố 1",
    "agenda": [
        {"title": "Đánh giá kết quả thực hiện nhiệm vụ tháng 12/2026", "description": None},
        {"title": "Học tập Nghị quyết 57-NQ/TW", "description": "Đồng chí bí thư trình bày"},
    ],
    "attachment_upload_ids": [],
    "document_ids": [],
}


class AgendaItem(StrictModel):
    title: Title
    description: Annotated[str | None, Field(max_length=2000)] = None


class AgendaItemRead(ReadModel):
    title: str
    description: str | None = None


class MeetingCreate(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_MEETING_EXAMPLE]})

    kind: MeetingKind = MeetingKind.REGULAR
    title: Title
    starts_at: IsoDateTime
    ends_at: IsoDateTime
    place: Annotated[str | None, Field(max_length=255)] = None
    online_url: OnlineUrl | None = None
    agenda: Annotated[list[AgendaItem], Field(max_length=30, default_factory=list)]
    attachment_upload_ids: Annotated[
        list[ObjectId],
        Field(
            max_length=20,
            default_factory=list,
            description="Your own `document` uploads (POST /uploads).",
        ),
    ]
    document_ids: Annotated[
        list[ObjectId],
        Field(
            max_length=20,
            default_factory=list,
            description="Published documents to study for the meeting: the branch's own or a "
            "committee's above it.",
        ),
    ]
    has_residence_attendees: Annotated[
        Flag | None,
        Field(
            description=RESIDENCE_ATTENDEES
            + " Omitted or null: the branch's setting (`GET /orgs/{org_id}/meeting-settings`)."
        ),
    ] = None


class MeetingUpdate(StrictModel):
    """Only the fields sent change. The time of an announced meeting changes by `reschedule`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "place": "Hội trường Tổ dân phố 3",
                    "agenda": [
                        {
                            "title": "Đánh giá kết quả thực hiện nhiệm vụ tháng 12/2026",
                            "description": None,
                        },
                        {
                            "title": "Quán triệt Nghị quyết số 57-NQ/TW",
                            "description": "Đồng chí bí thư chi bộ trình bày",
                        },
                    ],
                }
            ]
        }
    )

    kind: NotNull[MeetingKind] = None
    title: NotNull[Title] = None
    starts_at: NotNull[IsoDateTime] = None
    ends_at: NotNull[IsoDateTime] = None
    place: Annotated[str | None, Field(max_length=255)] = None
    online_url: OnlineUrl | None = None
    agenda: NotNull[Annotated[list[AgendaItem], Field(max_length=30)]] = None
    attachment_upload_ids: Annotated[
        NotNull[Annotated[list[ObjectId], Field(max_length=20)]],
        Field(description="More uploads to attach (added to the existing)."),
    ] = None
    document_ids: Annotated[
        NotNull[Annotated[list[ObjectId], Field(max_length=20)]],
        Field(description="More documents to attach (added to the existing)."),
    ] = None
    has_residence_attendees: Annotated[
        NotNull[Flag],
        Field(
            description=RESIDENCE_ATTENDEES
            + " Changing it on an announced meeting updates the list at once."
        ),
    ] = None


class MeetingCancel(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "Hoãn do mưa bão; chi bộ sẽ thông báo lịch sinh hoạt mới."}]
        }
    )

    reason: Reason


class MeetingReschedule(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "starts_at": "2027-01-15T19:30:00+07:00",
                    "ends_at": "2027-01-15T21:00:00+07:00",
                    "reason": "Trùng lịch hội nghị của Đảng ủy phường",
                }
            ]
        }
    )

    starts_at: IsoDateTime
    ends_at: IsoDateTime
    reason: Reason


class AttachmentRead(BaseModel):
    upload_id: int
    filename: str
    content_type: str
    size: int | None


class MeetingDocumentRead(BaseModel):
    """A document attached to the meeting (read it at `GET /documents/{id}`)."""

    document_id: int
    number: str | None
    title: str
    issuing_body: str | None


class MinutesRead(BaseModel):
    upload_id: int | None
    text: str | None
    recorded_at: datetime | None


class MeetingSummary(ReadModel):
    id: int
    org_id: int
    org_name: str
    kind: MeetingKind
    status: MeetingStatus
    title: str
    starts_at: datetime
    ends_at: datetime
    place: str | None
    my_attendance: Attendance | None = Field(
        None, description="My attendance when I am summoned to this meeting."
    )
    attending_as: AttendeeKind | None = Field(
        None,
        description="Why I am on this meeting's list: `member` of the branch (counted in the "
        "quorum, votes when a full, non-exempt member), `guest` from an upper level (đại biểu "
        "cấp trên) or `residence` attendee; null when I am not on it.",
    )


class SubtreeMeeting(MeetingSummary):
    """A meeting in the list an upper level reads across its subtree."""

    closed_at: datetime | None
    has_minutes: bool
    minutes_at: datetime | None
    rating: MeetingRating | None
    upper_rating: MeetingRating | None


class AbsenceRead(BaseModel):
    """A member's unexcused absences in a year: a warning at 1 and 2, a flag for the secretary
    from `RULES__ABSENCE_FLAG_AFTER` (never an automatic sanction)."""

    member_id: int
    full_name: str
    absences: int
    level: Literal["warning", "flag"]


class GuestRead(BaseModel):
    """A guest from an upper level (đại biểu cấp trên): checks in and comments, never counted
    in the quorum, never votes."""

    member_id: int
    full_name: str
    attendance: Attendance


class MeetingRead(MeetingSummary):
    online_url: str | None
    agenda: list[AgendaItemRead]
    attachments: list[AttachmentRead]
    documents: list[MeetingDocumentRead]
    guests: list[GuestRead] = Field(
        description="Officers of upper levels invited by the branch (`PUT "
        "/meetings/{meeting_id}/guests/{member_id}`), in the order of their ids."
    )
    has_residence_attendees: bool = Field(description=RESIDENCE_ATTENDEES)
    announced_at: datetime | None
    started_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    reschedule_reason: str | None
    minutes: MinutesRead | None
    rating: MeetingRating | None
    upper_rating: MeetingRating | None
    created_at: datetime
    version: int


class AttendanceSummary(BaseModel):
    """Live attendance against the snapshot of summoned members."""

    summoned: int
    exempt: int
    present: int
    excused: int
    absent: int
    pending: int
    quorum_base: int = Field(description="Summoned members who are not exempt.")
    quorum_needed: int = Field(description="Present non-exempt members needed for quorum.")
    is_quorate: bool
    guests: int = Field(description="Guests from upper levels: never in the counts above.")
    guests_present: int
    residents: int = Field(
        description="Residence attendees (sinh hoạt nơi cư trú): never in the counts above."
    )
    residents_present: int


class AttendeeRead(BaseModel):
    member_id: int
    full_name: str
    kind: AttendeeKind = Field(
        description="`member` of the branch (the only kind counted in the quorum and votes), "
        "`guest` from an upper level, or `residence` attendee."
    )
    member_status: MemberStatus
    is_exempt: bool
    attendance: Attendance
    method: CheckInMethod | None
    checked_in_at: datetime | None
    excuse_reason: str | None
    recorded_by_id: int | None


class CheckInRead(BaseModel):
    meeting_id: int
    member_id: int
    attendance: Attendance
    method: CheckInMethod | None
    checked_in_at: datetime | None


class QrCheckIn(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "K7Q2M4XA"}]})

    code: Annotated[str, Field(min_length=1, max_length=32)]


class QrCodeRead(BaseModel):
    code: str = Field(description="Show as a QR code; members scan it to check in.")
    valid_until: datetime
    step_s: int


class AttendanceMark(StrictModel):
    """The secretary records a member's attendance (proxy check-in, or an excuse)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": 12,
                    "attendance": "excused",
                    "reason": "Đi công tác tại Thành phố Hồ Chí Minh",
                }
            ]
        }
    )

    member_id: ObjectId
    attendance: Literal["present", "excused"]
    reason: Reason | None = None


class ExcuseCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "Ốm, đang điều trị tại Bệnh viện Đa khoa tỉnh"}]}
    )

    reason: Reason


class CommentCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "body": (
                        "Đề nghị chi bộ phân công đảng viên trẻ hướng dẫn người cao "
                        "tuổi sử dụng dịch vụ công trực tuyến."
                    ),
                    "agenda_item": 1,
                    "is_written_opinion": False,
                }
            ]
        }
    )

    body: Annotated[str, Field(min_length=1, max_length=4000)]
    agenda_item: Annotated[StrictInt | None, Field(ge=0, le=29)] = None
    is_written_opinion: Flag = False


class CommentRead(BaseModel):
    id: int
    member_id: int
    full_name: str
    agenda_item: int | None
    is_written_opinion: bool
    body: str
    created_at: datetime


class OfflineEntry(StrictModel):
    """One thing recorded on the secretary's phone without a connection."""

    client_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
    kind: Literal["check_in", "excuse", "comment", "hand_count"]
    client_time: IsoDateTime = Field(description="When it happened, by the phone's clock.")
    member_id: ObjectId | None = Field(
        None, description="Whose check-in, excuse or written opinion (check-in, excuse: needed)."
    )
    text: Annotated[str | None, Field(max_length=4000)] = Field(
        None, description="The excuse's reason or the comment."
    )
    agenda_item: Annotated[StrictInt | None, Field(ge=0, le=29)] = None
    motion_id: ObjectId | None = Field(None, description="hand_count: the motion counted.")
    yes: Annotated[StrictInt | None, Field(ge=0, le=10_000)] = None
    no: Annotated[StrictInt | None, Field(ge=0, le=10_000)] = None
    abstain: Annotated[StrictInt | None, Field(ge=0, le=10_000)] = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> OfflineEntry:
        if self.kind in ("check_in", "excuse") and self.member_id is None:
            raise ValueError("check_in and excuse need member_id")
        if self.kind in ("excuse", "comment") and not self.text:
            raise ValueError("excuse and comment need text")
        if self.kind == "hand_count" and (
            self.motion_id is None or None in (self.yes, self.no, self.abstain)
        ):
            raise ValueError("hand_count needs motion_id, yes, no and abstain")
        return self


class OfflineBatch(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entries": [
                        {
                            "client_id": "c1f3a9e2-0001",
                            "kind": "check_in",
                            "client_time": "2027-01-08T19:28:41+07:00",
                            "member_id": 12,
                        },
                        {
                            "client_id": "c1f3a9e2-0002",
                            "kind": "excuse",
                            "client_time": "2027-01-08T19:31:05+07:00",
                            "member_id": 14,
                            "text": "Đi công tác tại Thành phố Hồ Chí Minh",
                        },
                        {
                            "client_id": "c1f3a9e2-0003",
                            "kind": "comment",
                            "client_time": "2027-01-08T20:05:17+07:00",
                            "member_id": 15,
                            "text": "Ý kiến bằng văn bản: thống nhất với dự thảo nghị quyết.",
                            "agenda_item": 1,
                        },
                        {
                            "client_id": "c1f3a9e2-0004",
                            "kind": "hand_count",
                            "client_time": "2027-01-08T20:40:00+07:00",
                            "motion_id": 3,
                            "yes": 18,
                            "no": 0,
                            "abstain": 1,
                        },
                    ]
                }
            ]
        }
    )

    entries: Annotated[list[OfflineEntry], Field(min_length=1, max_length=500)]


class OfflineOutcome(BaseModel):
    client_id: str
    outcome: str = Field(description="`applied`, or the stable code of why it was not.")
    is_replay: bool = Field(description="This entry was received before: nothing changed now.")


class OfflineBatchResult(BaseModel):
    results: list[OfflineOutcome]


class MotionCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"text": "Thông qua Nghị quyết sinh hoạt chi bộ tháng 01/2027", "is_secret": False}
            ]
        }
    )

    text: Annotated[str, Field(min_length=1, max_length=2000)]
    is_secret: Flag = False


class MotionResult(BaseModel):
    yes: int
    no: int
    abstain: int
    eligible: int = Field(description="Summoned voting members (full, not exempt).")
    is_quorate: bool | None
    has_passed: bool | None


class MotionRead(BaseModel):
    id: int
    meeting_id: int
    text: str
    is_secret: bool
    status: MotionStatus
    opened_at: datetime
    closed_at: datetime | None
    is_show_of_hands: bool
    votes_cast: int
    result: MotionResult | None = Field(
        description="Counts: live for open ballots, only after closing for secret ones."
    )


class BallotCreate(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"choice": "yes"}]})

    choice: VoteChoice


class BallotRead(BaseModel):
    """A ballot was recorded. The choice is never echoed."""

    motion_id: int
    recorded: bool


class ShowOfHands(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"yes": 18, "no": 0, "abstain": 1}]})

    yes: Annotated[StrictInt, Field(ge=0, le=10_000)]
    no: Annotated[StrictInt, Field(ge=0, le=10_000)]
    abstain: Annotated[StrictInt, Field(ge=0, le=10_000)]


class MinutesUpdate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": (
                        "Biên bản sinh hoạt chi bộ tháng 01/2027: 19/21 đảng viên có "
                        "mặt (2 vắng có lý do); chi bộ thống nhất thông qua nghị "
                        "quyết tháng."
                    )
                }
            ]
        }
    )

    upload_id: ObjectId | None = None
    text: Annotated[str | None, Field(max_length=100_000)] = None


class RatingUpdate(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"rating": "good"}]})

    rating: MeetingRating


class TaskCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": (
                        "Vận động các hộ gia đình trong tổ dân phố cài đặt và kích "
                        "hoạt ứng dụng VNeID"
                    ),
                    "assignee_id": 12,
                    "due_date": "2027-01-31",
                    "meeting_id": 3,
                }
            ]
        }
    )

    title: Annotated[str, Field(min_length=1, max_length=500)]
    assignee_id: ObjectId | None = Field(None, description="A member; none = the whole branch.")
    due_date: IsoDate | None = None
    meeting_id: ObjectId | None = None


class TaskUpdate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "done",
                    "progress": (
                        "Đã hướng dẫn 142/142 hộ kích hoạt tài khoản định danh điện tử mức 2."
                    ),
                }
            ]
        }
    )

    status: NotNull[TaskStatus] = None
    progress: Annotated[str | None, Field(max_length=4000)] = None
    due_date: IsoDate | None = None


class TaskRead(BaseModel):
    id: int
    org_id: int
    meeting_id: int | None
    assignee_id: int | None
    title: str
    due_date: date | None
    status: TaskStatus
    progress: str | None
    created_at: datetime
    version: int


class BranchMeetingSettings(BaseModel):
    """A branch's defaults for its meetings."""

    org_id: int
    has_residence_attendees: bool = Field(
        description="The default of a new meeting's `has_residence_attendees`. "
        + RESIDENCE_ATTENDEES
    )


class BranchMeetingSettingsUpdate(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"has_residence_attendees": True}]})

    has_residence_attendees: Annotated[
        Flag,
        Field(
            description="The default of the branch's next meetings (those already planned keep "
            "their own choice). " + RESIDENCE_ATTENDEES
        ),
    ]
