"""The deployment's rules: read by every member, set by the deployment admin."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from app.api.deps import CurrentActor, ResourcesDep, SessionDep
from app.api.responses import IfMatchDep, Needs, problems, with_etag_of
from app.api.routing import area_router
from app.schemas.rules import RulesRead, RulesUpdate
from app.services import rules as rules_service
from app.services.access import Permission

router = area_router(prefix="/rules", tags=["rules"])


@router.get("", response_model=RulesRead, responses=problems(401))
async def get_rules(
    _actor: CurrentActor, session: SessionDep, resources: ResourcesDep, response: Response
) -> dict[str, Any]:
    """The rules in force: quorum, passing threshold, reminder times, absence flag, yearly
    study target."""
    rules = await rules_service.read(session, resources.app_config, resources.settings.rules)
    return with_etag_of(response, rules)


@router.put(
    "",
    response_model=RulesRead,
    responses=problems(
        401,
        412,
        413,
        422,
        codes={404: ["org.not_found"]},
        needs=[Needs(Permission.DEPLOYMENT_ADMIN, "root")],
    ),
)
async def replace_rules(
    body: RulesUpdate,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: IfMatchDep,
) -> dict[str, Any]:
    """Set the rules (deployment admin); audited. Send the `ETag` you read as `If-Match`.
    Meetings already closed keep the result they had."""
    rules = await rules_service.replace(
        session,
        actor,
        body,
        settings=resources.settings.rules,
        if_match=if_match,
        cache=resources.app_config,
    )
    return with_etag_of(response, rules)
