"""Reorganising the tree: move a subtree, merge orgs, dissolve an empty org (organisation
officers, audited; renames are `PATCH /orgs/{org_id}`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response

from app.api.deps import CurrentActor, OrgScope, ResourcesDep, SessionDep, TodayDep
from app.api.responses import IfMatchDep, Needs, problems, with_etag
from app.api.routing import area_router
from app.schemas.membership import OrgDissolve, OrgMerge, OrgMove
from app.schemas.org import OrgRead
from app.services import orgs as org_service
from app.services import reorganisation as reorganisation_service
from app.services.access import Permission
from app.services.orgs import OrgTarget

router = area_router(prefix="/orgs", tags=["reorganisation"])

ManagedOrg = Annotated[OrgTarget, Depends(OrgScope(Permission.ORG_MANAGE))]
_WRITES = (401, 403, 404, 409, 412, 413, 422)


@router.post(
    "/{org_id}/move",
    response_model=OrgRead,
    responses=problems(
        *_WRITES,
        codes={
            409: [
                "org.changed",
                "org.date_before_current",
                "org.parent_is_branch",
                "org.same_parent",
            ],
            422: ["org.move_into_itself"],
        },
        needs=[Needs(Permission.ORG_MANAGE, "body.parent_id")],
    ),
)
async def move_org(
    body: OrgMove,
    org: ManagedOrg,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: IfMatchDep,
    today: TodayDep,
) -> OrgRead:
    """Move an org and its whole subtree under another parent (you need `org.manage` on both)
    from a day: every path below is rewritten in this one transaction, the tree's history
    keeps where each org was before. Other API processes may authorise against the old paths
    for at most 30 s."""
    await reorganisation_service.move_org(
        session,
        actor,
        org.id,
        body.parent_id,
        on=body.effective_date,
        today=today,
        if_match=if_match,
    )
    resources.org_targets.clear()
    return with_etag(response, await org_service.read_org(session, org.id))


@router.post(
    "/{org_id}/merge",
    response_model=OrgRead,
    responses=problems(
        *_WRITES,
        codes={
            409: ["org.changed", "org.date_before_current", "org.inactive"],
            422: ["org.merge_kind_mismatch", "org.move_into_itself"],
        },
        needs=[Needs(Permission.ORG_MANAGE, "body.into_id")],
    ),
)
async def merge_org(
    body: OrgMerge,
    org: ManagedOrg,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: IfMatchDep,
    today: TodayDep,
) -> OrgRead:
    """Merge an org into another of the same level from a day: a branch's members (their
    history says where they were before), a committee's child orgs, the roles held on it, its
    documents, articles, relays, packets, quizzes and surveys move; its meetings not yet held
    are cancelled (the members summoned are told why); held meetings and the rest of its past
    stay with the merged org, inactive, so past statistics do not change. Answers the org
    merged into."""
    await reorganisation_service.merge_org(
        session,
        actor,
        org.id,
        body.into_id,
        on=body.effective_date,
        today=today,
        if_match=if_match,
        timezone=resources.settings.rules.timezone,
    )
    resources.org_targets.clear()
    return with_etag(response, await org_service.read_org(session, body.into_id))


@router.post(
    "/{org_id}/dissolve",
    response_model=OrgRead,
    responses=problems(
        *_WRITES,
        codes={409: ["org.date_before_current", "org.inactive", "org.is_root", "org.not_empty"]},
    ),
)
async def dissolve_org(
    body: OrgDissolve,
    org: ManagedOrg,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    if_match: IfMatchDep,
    today: TodayDep,
) -> OrgRead:
    """Dissolve an org that has no active child org and no member left, from a day; it stays,
    inactive, for the history, and the roles held on it end."""
    await reorganisation_service.dissolve_org(
        session, actor, org.id, on=body.effective_date, today=today, if_match=if_match
    )
    return with_etag(response, await org_service.read_org(session, org.id))
