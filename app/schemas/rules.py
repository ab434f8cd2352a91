"""The deployment's rules: what meetings, reminders and study points follow."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from app.schemas.common import LocalTime, LocalTimeRead, StrictModel

# A JSON number (1 and 0.5 alike); never a string or a boolean.
Ratio = Annotated[StrictFloat, Field(gt=0, le=1)]
# A share from 0 to 1 (a statistics target); a JSON number.
Share = Annotated[StrictFloat, Field(ge=0, le=1)]


class RulesRead(BaseModel):
    """The rules in force. Set by `handbook init` from `RULES__*` and edited by the deployment
    admin afterwards; every edit is in the audit log."""

    quorum_ratio: float = Field(
        description="Share of the summoned (exempt members excluded) who must attend for a "
        "meeting to be valid.",
        examples=[0.6667],
    )
    pass_ratio: float = Field(
        description="A motion passes with more than this share of the valid votes.",
        examples=[0.5],
    )
    reminder_day_before_at: LocalTimeRead = Field(
        description="Local time of the reminder sent the day before a meeting."
    )
    reminder_hours_before: int = Field(
        description="Hours before a meeting for the second reminder; 0 = none."
    )
    absence_flag_after: int = Field(
        description="Consecutive absences after which the secretary sees a member flagged."
    )
    study_points_target: int = Field(description="Study points a member should earn a year.")
    study_points_document: int = Field(description="Points for a document studied to the end.")
    study_points_meeting: int = Field(description="Points for a branch meeting attended.")
    study_points_quiz: int = Field(
        description="Points for passing a quiz that does not set its own."
    )
    study_points_document_daily_cap: int = Field(
        description="Most points documents studied earn a member in one local day."
    )
    study_points_manual_max: int = Field(
        description="Largest manual award or correction (±) an officer may enter at once."
    )
    stats_target_activation: float = Field(
        description="Statistics target: share of eligible members with an activated account "
        "(`activation_rate`), e.g. 0.95."
    )
    stats_target_monthly_active: float = Field(
        description="Statistics target: share of eligible members active in the month "
        "(`monthly_active_rate`), e.g. 0.90."
    )
    stats_target_branches_meeting: float = Field(
        description="Statistics target: share of branches holding a meeting in the app in the "
        "period (`branches_meeting_rate`), e.g. 1.0."
    )
    stats_target_study: float = Field(
        description="Statistics target: share of eligible members reaching the prorated study "
        "points target (`target_share`), e.g. 0.80."
    )
    version: int = Field(description='Row version (0: the defaults); the `ETag` is `"v{version}"`.')


class RulesUpdate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "quorum_ratio": 0.6667,
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
                    "stats_target_activation": 0.95,
                    "stats_target_monthly_active": 0.9,
                    "stats_target_branches_meeting": 1.0,
                    "stats_target_study": 0.8,
                }
            ]
        }
    )

    quorum_ratio: Ratio
    pass_ratio: Ratio
    reminder_day_before_at: LocalTime
    reminder_hours_before: Annotated[StrictInt, Field(ge=0, le=48)]
    absence_flag_after: Annotated[StrictInt, Field(ge=1, le=12)]
    study_points_target: Annotated[StrictInt, Field(ge=0, le=100_000)]
    study_points_document: Annotated[StrictInt, Field(ge=0, le=1000)]
    study_points_meeting: Annotated[StrictInt, Field(ge=0, le=1000)]
    study_points_quiz: Annotated[StrictInt, Field(ge=0, le=1000)]
    study_points_document_daily_cap: Annotated[StrictInt, Field(ge=0, le=10_000)]
    study_points_manual_max: Annotated[StrictInt, Field(ge=1, le=10_000)]
    # Statistics targets: left out (or null), the value in force is kept.
    stats_target_activation: Share | None = None
    stats_target_monthly_active: Share | None = None
    stats_target_branches_meeting: Share | None = None
    stats_target_study: Share | None = None
