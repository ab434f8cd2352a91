"""The mobile apps' configuration, read at start without a login."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from app.api.deps import CurrentActor, ResourcesDep, SessionDep
from app.api.responses import IfMatchDep, Needs, problems, with_etag_of
from app.api.routing import area_router
from app.schemas.app_config import AppConfigRead, AppConfigUpdate
from app.services import app_config as app_config_service
from app.services.access import Permission

router = area_router(prefix="/app-config", tags=["app"])


@router.get("", response_model=AppConfigRead, openapi_extra={"security": []})
async def get_app_config(
    session: SessionDep, resources: ResourcesDep, response: Response
) -> dict[str, Any]:
    """Minimum supported app versions, the deployment's name and support contact, feature
    switches. No login needed; cache it for a minute."""
    config = await app_config_service.read(session, resources.app_config)
    response.headers["Cache-Control"] = "public, max-age=60"
    return with_etag_of(response, config)


@router.put(
    "",
    response_model=AppConfigRead,
    responses=problems(
        401,
        412,
        413,
        422,
        codes={404: ["org.not_found"]},
        needs=[Needs(Permission.DEPLOYMENT_ADMIN, "root")],
    ),
)
async def replace_app_config(
    body: AppConfigUpdate,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: IfMatchDep,
) -> dict[str, Any]:
    """Set the apps' configuration (deployment admin). Send the `ETag` you read as `If-Match`."""
    config = await app_config_service.replace(
        session, actor, body, if_match=if_match, cache=resources.app_config
    )
    return with_etag_of(response, config)
