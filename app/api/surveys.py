"""Surveys (khảo sát): created for an org's subtree, answered once, optionally anonymous."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Response, status

from app.api.deps import CurrentActor, ObjectScope, OrgScope, ResourcesDep, SessionDep
from app.api.idempotency import Idempotent
from app.api.responses import problems
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.integrations.storage import content_disposition
from app.schemas.common import Page
from app.schemas.study import (
    SurveyCreate,
    SurveyRead,
    SurveyResponseCreate,
    SurveyResults,
    SurveySummary,
)
from app.services import spreadsheets
from app.services import surveys as survey_service
from app.services.access import Permission
from app.services.orgs import OrgTarget
from app.services.surveys import SurveyTarget

router = area_router(tags=["surveys"])

SurveyScope = ObjectScope(
    survey_service.load_target,
    Permission.STUDY_VIEW,
    id_param="survey_id",
    not_found_code="survey.not_found",
    description="Survey id.",
    upward=True,
)
SurveyManageScope = ObjectScope(
    survey_service.load_target,
    Permission.STUDY_MANAGE,
    id_param="survey_id",
    not_found_code="survey.not_found",
    description="Survey id.",
    ancestors_visible=True,
)


@router.post(
    "/orgs/{org_id}/surveys",
    status_code=status.HTTP_201_CREATED,
    response_model=SurveyRead,
    responses=problems(401, 403, 404, 409, 413, 422),
)
async def create_survey(
    body: SurveyCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.STUDY_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Create a survey for this org's subtree (editors and leadership). Its members are notified
    when it opens. Send an `Idempotency-Key` to retry safely."""
    return await survey_service.create_survey(session, actor, org, body)


@router.get(
    "/orgs/{org_id}/surveys",
    response_model=Page[SurveySummary],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_surveys(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.STUDY_MANAGE))],
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[Any]:
    """The surveys this org published, newest first."""
    items, next_cursor = await survey_service.list_org_surveys(
        session, org, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/me/surveys", response_model=Page[SurveySummary], responses=problems(400, 401, 422))
async def list_my_surveys(
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[Any]:
    """Surveys for my branch (published by it or an org above it), newest first."""
    items, next_cursor = await survey_service.list_my_surveys(
        session, actor, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/surveys/{survey_id}", response_model=SurveyRead, responses=problems(401, 403, 404, 422)
)
async def get_survey(
    survey: Annotated[SurveyTarget, Depends(SurveyScope)], session: SessionDep
) -> dict[str, Any]:
    """A survey and its questions."""
    return await survey_service.read_survey(session, survey)


@router.post(
    "/surveys/{survey_id}/responses",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(
        401,
        404,
        413,
        codes={
            403: ["survey.not_eligible"],
            409: ["survey.already_answered", "survey.not_open"],
            422: [
                "survey.duplicate_answer",
                "survey.invalid_answer",
                "survey.question_not_in_survey",
            ],
        },
    ),
)
async def answer_survey(
    body: SurveyResponseCreate,
    survey: Annotated[SurveyTarget, Depends(SurveyScope)],
    actor: CurrentActor,
    session: SessionDep,
) -> None:
    """Answer a survey, once (409 `survey.already_answered` after). Anonymous answers are
    stored apart from the fact that I answered, so nobody can link them to me; no
    `Idempotency-Key` is taken here for that reason (a retry gets 409 instead)."""
    await survey_service.answer_survey(session, actor, survey, body.answers)


@router.get(
    "/surveys/{survey_id}/results",
    response_model=SurveyResults,
    responses=problems(401, 403, 404, 422),
)
async def get_survey_results(
    survey: Annotated[SurveyTarget, Depends(SurveyManageScope)],
    session: SessionDep,
    resources: ResourcesDep,
) -> dict[str, Any]:
    """Results per question and per unit (creators and leadership). Anonymous surveys show
    only groups of at least `min_group` answers and never list free text."""
    return await survey_service.results(
        session, survey, min_group=resources.settings.rules.survey_min_group
    )


@router.get(
    "/surveys/{survey_id}/results/export",
    response_class=Response,
    responses={
        200: {
            "description": "The results as a spreadsheet: a summary, per question (each option "
            "with its count and share), per unit, and the free-text answers of a named survey.",
            "content": {spreadsheets.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        **problems(401, 403, 404, 422),
    },
)
async def export_survey_results(
    survey: Annotated[SurveyTarget, Depends(SurveyManageScope)],
    session: SessionDep,
    resources: ResourcesDep,
) -> Response:
    """`GET /surveys/{id}/results` as .xlsx (Vietnamese headers), for the same readers and with
    the same anonymity rule (groups under `min_group` answers are not shown)."""
    title, body = await survey_service.results_xlsx(
        session, survey, min_group=resources.settings.rules.survey_min_group
    )
    return Response(
        body,
        media_type=spreadsheets.XLSX_TYPE,
        headers={
            "Content-Disposition": content_disposition(f"Kết quả khảo sát - {title[:80]}.xlsx"),
            "Cache-Control": "private, no-store",
        },
    )
