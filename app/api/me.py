"""The member's own data: profile and the app's home screen."""

from __future__ import annotations

from typing import Any

from app.api.deps import CurrentActor, HomeActor, ResourcesDep, SessionDep
from app.api.responses import problems
from app.api.routing import area_router
from app.schemas.me import HomeRead
from app.schemas.member import MemberRead
from app.services import me as me_service
from app.services import members as member_service
from app.services import rules as rule_service

router = area_router(prefix="/me", tags=["me"])


@router.get("", response_model=MemberRead, responses=problems(401))
async def get_me(actor: CurrentActor, session: SessionDep) -> MemberRead:
    """My full profile, with the roles I hold."""
    return await member_service.read_member(session, actor.member_id)


@router.get("/home", response_model=HomeRead, responses=problems(401))
async def get_home(home: HomeActor, resources: ResourcesDep, session: SessionDep) -> dict[str, Any]:
    """The app's first screen in one call: who I am, my branch, my roles, my unread
    notifications, my study points this year against the target.

    Served from the query that authenticates the request: no further round trip.
    """
    # The rules come from the per-process cache: no round trip once read.
    rules = await rule_service.current(session, resources.app_config, resources.settings.rules)
    return me_service.home(
        home.actor,
        unread_notifications=home.unread_notifications,
        study={
            "year": home.year,
            "points": home.year_points,
            "target": rules.study_points_target,
        },
    )
