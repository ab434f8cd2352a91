"""Statistics shapes. Every metric's one definition is its field's description: the API, the
.xlsx report and the dashboards compute it the same way (`services/stats.py`), and
docs/statistics.md repeats them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from app.models.stats_report import ReportStatus
from app.schemas.common import IsoDate, StrictModel
from app.schemas.member_import import FileLink


class PeriodKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    CUSTOM = "custom"


class StatsSort(StrEnum):
    NAME = "name"
    ELIGIBLE = "eligible"
    ACTIVATION_RATE = "activation_rate"
    MONTHLY_ACTIVE_RATE = "monthly_active_rate"
    BRANCHES_MEETING_RATE = "branches_meeting_rate"
    ATTENDANCE_RATE = "attendance_rate"
    READ_RATE = "read_rate"
    POINTS_AVERAGE = "points_average"
    TARGET_SHARE = "target_share"


Rate = float | None


class StatsPeriodRead(BaseModel):
    kind: PeriodKind
    start: date = Field(description="First local day of the period.")
    end: date = Field(description="Last local day of the period (inclusive).")
    as_of: date = Field(
        description="The day whose tree and membership the counts use: the period's last day, "
        "or today while the period is running. Later transfers, moves and merges never change "
        "the figures of a past period."
    )


class MemberStats(BaseModel):
    eligible: int = Field(
        description="Eligible members: full and probationary members of the subtree on `as_of`, "
        "minus the exempt; archived members are in no unit (history as of `as_of`)."
    )
    activated: int = Field(
        description="Accounts activated: eligible members who logged in or refreshed a token at "
        "least once up to the month of `as_of` (the per-month activity record)."
    )
    activation_rate: Rate = Field(description="activated ÷ eligible; null when eligible is 0.")
    monthly_active: int = Field(
        description="Monthly active members: eligible members who logged in or refreshed a "
        "token in the month of `as_of`."
    )
    monthly_active_rate: Rate = Field(description="monthly_active ÷ eligible.")
    active_in_period: int = Field(
        description="Eligible members active (login or token refresh) in any month of the period."
    )


class Ratings(BaseModel):
    good: int
    fair: int
    average: int
    poor: int
    unrated: int


class MeetingStats(BaseModel):
    branches: int = Field(description="Branches of the subtree on `as_of`.")
    branches_meeting: int = Field(
        description="Branches with at least one meeting held in the app (closed) in the period."
    )
    branches_meeting_rate: Rate = Field(description="branches_meeting ÷ branches.")
    planned: int = Field(
        description="Meetings planned: meetings of the subtree's branches starting in the period, "
        "announced or later (drafts and cancelled meetings excluded)."
    )
    held: int = Field(description="Meetings held in the app: of those, the closed ones.")
    with_minutes: int = Field(description="Held meetings whose minutes were uploaded or written.")
    attendance_rate: Rate = Field(
        description="Present ÷ summoned over held meetings, exempt members excluded from both; "
        "the branch's own members only (guests and residence attendees are not counted)."
    )
    ratings: Ratings = Field(description="Held meetings by the branch's own rating.")


class ContentStats(BaseModel):
    documents_published: int = Field(
        description="Documents published in the period by orgs of the subtree (counted at the "
        "org that published them, even after a merge moved them)."
    )
    articles_published: int = Field(
        description="Articles published in the period by orgs of the subtree (counted at the "
        "org that published them, even after a merge moved them)."
    )
    readers: int = Field(description="Eligible members who opened a document in the period.")
    read_rate: Rate = Field(description="readers ÷ eligible.")
    studiers: int = Field(
        description="Eligible members who studied (read to the end) a document in the period."
    )
    studied_rate: Rate = Field(description="studiers ÷ eligible.")


class StudyStats(BaseModel):
    points_total: int = Field(
        description="Study points entered in the period for eligible members (ledger entries, "
        "corrections included)."
    )
    points_average: Rate = Field(description="points_total ÷ eligible.")
    target_points: int = Field(
        description="The yearly study target prorated to the period's days, rounded up (the "
        "whole target for a year)."
    )
    reaching_target: int = Field(
        description="Eligible members whose points in the period reach target_points."
    )
    target_share: Rate = Field(description="reaching_target ÷ eligible.")


class SurveyStats(BaseModel):
    answered: int = Field(
        description="Answers to surveys opening in the period given by eligible members (one "
        "per member and survey; anonymous answers count, their content stays hidden)."
    )


class TargetRead(BaseModel):
    metric: str = Field(examples=["activation_rate"])
    target: float = Field(
        description="The deployment's target (deployment rules `stats_target_*`, edited by the "
        "deployment admin; `RULES__STATS_TARGET_*` are the defaults)."
    )
    value: Rate
    met: bool | None = Field(description="null when the metric has no value.")


class StatsFigures(BaseModel):
    members: MemberStats
    meetings: MeetingStats
    content: ContentStats
    study: StudyStats
    surveys: SurveyStats
    targets: list[TargetRead]


class StatsSource(StrEnum):
    ROLLUP = "rollup"
    LIVE = "live"


AS_OF = (
    "When the figures were counted. `source=rollup`: the worker's last refresh of the "
    "period's rollup (the running month every `WORKER__STATS_ROLLUP_EVERY_S`, 5 minutes by "
    "default; the running quarter and year hourly); the figures are those of that moment, "
    "writes since are not in them. `source=live`: counted for this request (custom periods, "
    "or a period the worker has not rolled up yet), fresh to the last committed write."
)
SOURCE = (
    "rollup: summed from the worker's rollup (month, quarter, year); live: counted from "
    "committed data for this request. Both give the same figures for the same data."
)


class OrgStats(StatsFigures):
    org_id: int
    org_name: str
    period: StatsPeriodRead
    computed_at: datetime = Field(description="When this response was made.")
    as_of: datetime = Field(description=AS_OF)
    source: StatsSource = Field(description=SOURCE)


class ChildStats(StatsFigures):
    org_id: int
    org_name: str
    org_kind: str


class ChildStatsList(BaseModel):
    org_id: int
    period: StatsPeriodRead
    computed_at: datetime = Field(description="When this response was made.")
    as_of: datetime = Field(description=AS_OF)
    source: StatsSource = Field(description=SOURCE)
    items: list[ChildStats] = Field(
        description="One row per child unit (as of `as_of`), ordered by `sort`; not paginated: "
        "a unit's children are few."
    )


class AttentionReason(StrEnum):
    NO_MEETING = "no_meeting"
    LOW_ATTENDANCE = "low_attendance"
    MINUTES_MISSING = "minutes_missing"
    RATED_LOWER_ABOVE = "rated_lower_above"


class BranchSignals(BaseModel):
    """A branch's meeting-quality signals over the meetings it held in the period."""

    org_id: int
    org_name: str
    planned: int = Field(description="As in the org statistics: meetings planned.")
    held: int = Field(description="Meetings held in the app (closed).")
    agenda_on_time: int = Field(
        description="Held meetings announced at least `RULES__STATS_AGENDA_DAYS_AHEAD` days "
        "before their start."
    )
    with_documents: int = Field(description="Held meetings with at least one attached document.")
    attendance_rate: Rate = Field(
        description="Present ÷ summoned over held meetings, exempt members excluded; the "
        "branch's own members only."
    )
    comments_per_member: Rate = Field(
        description="Comments and written opinions on held meetings ÷ members present."
    )
    with_votes: int = Field(description="Held meetings where at least one motion was voted.")
    minutes_on_time: int = Field(
        description="Held meetings whose minutes were recorded within `RULES__MINUTES_DUE_H` "
        "hours of the close."
    )
    tasks_due: int = Field(description="The branch's tasks due in the period (not cancelled).")
    tasks_done_on_time: int = Field(
        description="Of those, done by their due day (last change of a done task on or before "
        "the due day, local calendar)."
    )
    rated_by_upper: int = Field(description="Held meetings the upper level rated.")
    rated_lower_above: int = Field(
        description="Held meetings the upper level rated lower than the branch rated itself."
    )
    needs_attention: bool
    reasons: list[AttentionReason] = Field(
        description="no_meeting: none held in the period; low_attendance: attendance_rate below "
        "`RULES__STATS_ATTENTION_ATTENDANCE`; minutes_missing: a held meeting without minutes; "
        "rated_lower_above: the upper level rated a meeting lower than the branch did."
    )


class BranchSignalsPage(BaseModel):
    org_id: int
    period: StatsPeriodRead
    computed_at: datetime = Field(description="When this response was made.")
    as_of: datetime = Field(description=AS_OF)
    source: StatsSource = Field(description=SOURCE)
    items: list[BranchSignals] = Field(
        description="Branches of the subtree (as of `as_of`), by id."
    )
    next_cursor: str | None


class ReportCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"period": "quarter", "from": "2026-10-01"}]}
    )

    period: PeriodKind = PeriodKind.MONTH
    from_: IsoDate | None = Field(
        None,
        alias="from",
        description="A day of the period (local calendar); custom: its first day.",
        examples=["2026-03-01"],
    )
    to: IsoDate | None = Field(None, description="custom only: the period's last day.")


class ReportRead(BaseModel):
    id: int
    org_id: int
    period: StatsPeriodRead
    status: ReportStatus
    created_at: datetime
    finished_at: datetime | None
    download: FileLink | None = Field(description="Once `done`: the .xlsx file.")
    error_detail: str | None
