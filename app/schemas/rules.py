"""The deployment's rules: what meetings, reminders and study points follow."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictFloat, StrictInt

from app.schemas.common import LocalTime, LocalTimeRead, StrictModel

Ratio = Annotated[StrictFloat | StrictInt, Field(gt=0, le=1)]


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
    version: int = Field(description='Row version (0: the defaults); the `ETag` is `"v{version}"`.')


class RulesUpdate(StrictModel):
    quorum_ratio: Ratio
    pass_ratio: Ratio
    reminder_day_before_at: LocalTime
    reminder_hours_before: Annotated[StrictInt, Field(ge=0, le=48)]
    absence_flag_after: Annotated[StrictInt, Field(ge=1, le=12)]
    study_points_target: Annotated[StrictInt, Field(ge=0, le=100_000)]
