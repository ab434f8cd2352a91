"""The member's own data: profile and the app's home screen."""

from __future__ import annotations

from typing import Any

from app.api.deps import CurrentActor, HomeActor, ResourcesDep, SessionDep
from app.api.responses import problems
from app.api.routing import area_router
from app.models.base import utcnow
from app.schemas.me import HomeRead
from app.schemas.member import MemberRead
from app.schemas.member_data import MemberDataExport
from app.services import me as me_service
from app.services import member_data
from app.services import members as member_service
from app.services import rules as rule_service
from app.services.points import local_year

router = area_router(prefix="/me", tags=["me"])


@router.get("", response_model=MemberRead, responses=problems(401))
async def get_me(actor: CurrentActor, session: SessionDep) -> MemberRead:
    """My full profile, with the roles I hold."""
    return await member_service.read_member(session, actor.member_id)


@router.get("/home", response_model=HomeRead, responses=problems(401))
async def get_home(home: HomeActor, resources: ResourcesDep) -> dict[str, Any]:
    """The app's first screen in one call: who I am, my branch, my roles, my unread
    notifications and the documents I have not opened yet, my next meeting (and whether I have
    checked in or excused myself), my open tasks, my study points this year against the target.

    Served from the query that authenticates the request (the rules from the per-process cache):
    no further round trip.
    """
    actor, row = home
    rules = await rule_service.in_force(
        resources.reader, resources.app_config, resources.settings.rules
    )
    study = {
        "year": local_year(utcnow(), resources.settings.rules.timezone),
        "points": int(row["year_points"] or 0),
        "target": rules.study_points_target,
    }
    return me_service.home(actor, row, study=study)


@router.get("/data", response_model=MemberDataExport, responses=problems(401))
async def get_my_data(actor: CurrentActor, session: SessionDep) -> dict[str, Any]:
    """Everything the deployment holds about me, as JSON (my profile, roles, logins, devices,
    activity, notifications, audit entries and each area's records of me)."""
    return await member_data.collect(session, actor.member_id)
