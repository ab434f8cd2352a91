"""The deployment's rules (quorum, passing, reminders, absences, the study target and points,
the statistics targets).

They live in the database from `handbook init` on, as a deployment settings document edited by
the deployment admin (audited); `RULES__*` settings are only the defaults `init` starts from and
what applies until then. Request handlers read them with `await rules.in_force(reader, cache,
settings)` (the lean path: never the request's session), jobs and CLI with `rules.current`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings
from app.core.db import Reader
from app.core.etag import IfMatch
from app.schemas.rules import RulesUpdate
from app.services import deployment_settings
from app.services.access import Actor
from app.services.deployment_settings import Cache

KEY = "rules"
FIELDS = (
    "quorum_ratio",
    "pass_ratio",
    "reminder_day_before_at",
    "reminder_hours_before",
    "absence_flag_after",
    "study_points_target",
    "study_points_document",
    "study_points_meeting",
    "study_points_quiz",
    "study_points_document_daily_cap",
    "study_points_manual_max",
    "stats_target_activation",
    "stats_target_monthly_active",
    "stats_target_branches_meeting",
    "stats_target_study",
)
# Fields added after deployments stored their rules: an edit that leaves them out keeps the
# value in force (an admin app that does not know them yet never resets them).
KEEP_WHEN_ABSENT = (
    "stats_target_activation",
    "stats_target_monthly_active",
    "stats_target_branches_meeting",
    "stats_target_study",
)


@dataclass(frozen=True, slots=True)
class Rules:
    quorum_ratio: float
    pass_ratio: float
    reminder_day_before_at: time
    reminder_hours_before: int
    absence_flag_after: int
    study_points_target: int
    study_points_document: int
    study_points_meeting: int
    study_points_quiz: int
    study_points_document_daily_cap: int
    study_points_manual_max: int
    stats_target_activation: float
    stats_target_monthly_active: float
    stats_target_branches_meeting: float
    stats_target_study: float
    version: int = 0


@dataclass(frozen=True, slots=True)
class StatsTargets:
    """The deployment's statistics targets (shares, 0-1), keyed by the metric they apply to."""

    activation_rate: float
    monthly_active_rate: float
    branches_meeting_rate: float
    target_share: float

    def items(self) -> list[tuple[str, float]]:
        return [
            ("activation_rate", self.activation_rate),
            ("monthly_active_rate", self.monthly_active_rate),
            ("branches_meeting_rate", self.branches_meeting_rate),
            ("target_share", self.target_share),
        ]


def stats_targets(rules: Rules) -> StatsTargets:
    """The statistics targets in force (deployment rules, edited by the deployment admin)."""
    return StatsTargets(
        activation_rate=rules.stats_target_activation,
        monthly_active_rate=rules.stats_target_monthly_active,
        branches_meeting_rate=rules.stats_target_branches_meeting,
        target_share=rules.stats_target_study,
    )


def defaults(settings: RulesSettings) -> dict[str, Any]:
    data = settings.model_dump(mode="json", include=set(FIELDS))
    data["reminder_day_before_at"] = settings.reminder_day_before_at.strftime("%H:%M")
    return data


def _typed(document: dict[str, Any]) -> Rules:
    values = {name: document[name] for name in FIELDS}
    values["reminder_day_before_at"] = time.fromisoformat(str(values["reminder_day_before_at"]))
    return Rules(**values, version=int(document["version"]))


async def read(session: AsyncSession, cache: Cache, settings: RulesSettings) -> dict[str, Any]:
    return await deployment_settings.read(session, cache, KEY, defaults(settings))


async def current(session: AsyncSession, cache: Cache, settings: RulesSettings) -> Rules:
    """The rules in force, typed, for the areas that apply them."""
    return _typed(await read(session, cache, settings))


async def fresh(session: AsyncSession, settings: RulesSettings) -> Rules:
    """The rules in force read inside a write transaction, past the process cache (one
    primary-key read): what a write applies, such as the points it awards, is never stale."""
    return _typed(
        await deployment_settings.read(
            session, deployment_settings.new_cache(), KEY, defaults(settings)
        )
    )


# The cached document last typed, and its typing: the cache hands back the same dict until its
# time runs out, so the hot reads (`/me/home` on every app start) type it once per cache time.
_last_typed: dict[str, tuple[dict[str, Any], Rules]] = {}


async def in_force(reader: Reader, cache: Cache, settings: RulesSettings) -> Rules:
    """`current` on the lean read path: for request handlers and their dependencies (served
    from the per-process cache; a miss is one indexed read, outside the request's transaction)."""
    document = await deployment_settings.read_lean(reader, cache, KEY, lambda: defaults(settings))
    last = _last_typed.get(KEY)
    if last is not None and last[0] is document:
        return last[1]
    rules = _typed(document)
    _last_typed[KEY] = (document, rules)
    return rules


# The last merge of `with_settings` (the same rules and settings give the same result).
_last_merged: list[tuple[Rules, RulesSettings, RulesSettings]] = []


def with_settings(rules: Rules, settings: RulesSettings) -> RulesSettings:
    """The `RULES__*` settings (time zone, check-in window, QR) with the rules document's
    fields over them. The last merge is kept: a request's dependency asks for it every time."""
    if _last_merged and _last_merged[0][0] is rules and _last_merged[0][1] is settings:
        return _last_merged[0][2]
    merged = settings.model_copy(update={name: getattr(rules, name) for name in FIELDS})
    _last_merged[:] = [(rules, settings, merged)]
    return merged


def _stored(data: RulesUpdate, in_force: Rules) -> dict[str, Any]:
    value = data.model_dump(mode="json")
    value["reminder_day_before_at"] = data.reminder_day_before_at.strftime("%H:%M")
    for name in KEEP_WHEN_ABSENT:
        if value.get(name) is None:
            value[name] = getattr(in_force, name)
    return value


async def replace(
    session: AsyncSession,
    actor: Actor | None,
    data: RulesUpdate,
    *,
    settings: RulesSettings,
    if_match: IfMatch | None,
    cache: Cache,
) -> dict[str, Any]:
    """Set the rules: the deployment admin through the API, or the operator's `handbook init`
    (`actor=None`)."""
    return await deployment_settings.replace(
        session,
        actor,
        KEY,
        _stored(data, await fresh(session, settings)),
        default=defaults(settings),
        if_match=if_match,
        cache=cache,
    )
