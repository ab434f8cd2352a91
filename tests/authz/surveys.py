"""Authorization rows: surveys."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Survey, SurveyQuestion
from app.models.base import utcnow
from app.resources import Resources
from tests.authz.harness import SELF, Call, Context, Row, org_targets, table
from tests.authz.study import QUIZ_RESULTS, QUIZ_VIEW, STUDY_MANAGE, STUDY_MANAGE_CREATE

branch = org_targets("b1", "b2", "b4")
SURVEY = "survey.not_found"
NOT_ELIGIBLE = "403:survey.not_eligible"


async def setup(ctx: Context, session: AsyncSession, _resources: Resources) -> None:
    """An open survey of B1, B3 and B4, each with one question."""
    now = utcnow()
    surveys: dict[str, int] = {}
    questions: dict[str, int] = {}
    for target, org in (("own", ctx.tree.b1), ("near", ctx.tree.b3), ("far", ctx.tree.b4)):
        survey = Survey(
            org_id=org.id,
            title=f"Khảo sát {target}",
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(days=1),
            is_anonymous=True,
        )
        session.add(survey)
        await session.flush()
        question = SurveyQuestion(
            survey_id=survey.id,
            position=1,
            kind="single",
            text="Hài lòng?",
            options=["Có", "Không"],
        )
        session.add(question)
        await session.flush()
        surveys[target] = survey.id
        questions[target] = question.id
    ctx.extra["surveys"] = surveys
    ctx.extra["survey_questions"] = questions


def _survey(ctx: Context, target: str) -> int:
    return int(ctx.extra["surveys"][target])


SURVEY_ANSWER = table(
    member="204 404 404",
    secretary="204 404 404",
    deputy="204 404 404",
    committee=f"{NOT_ELIGIBLE} {NOT_ELIGIBLE} 404",
    officer_c1=f"{NOT_ELIGIBLE} {NOT_ELIGIBLE} 404",
    approver="403 204 404",
    officer_root=f"{NOT_ELIGIBLE} {NOT_ELIGIBLE} 204",
    editor=f"{NOT_ELIGIBLE} {NOT_ELIGIBLE} {NOT_ELIGIBLE}",
    admin=f"{NOT_ELIGIBLE} {NOT_ELIGIBLE} 204",
)

ROWS = {
    "list_my_surveys": Row(lambda c, t: Call("GET", "/api/v1/me/surveys"), SELF),
    "create_survey": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/orgs/{branch(c, t)}/surveys",
            {
                "title": "Khảo sát nhanh",
                "opens_at": "2026-01-01T08:00:00+07:00",
                "closes_at": "2099-01-01T08:00:00+07:00",
                "is_anonymous": False,
                "questions": [{"kind": "text", "text": "Góp ý?"}],
            },
        ),
        STUDY_MANAGE_CREATE,
        "org.not_found",
    ),
    "list_org_surveys": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/surveys"),
        STUDY_MANAGE,
        "org.not_found",
    ),
    "get_survey": Row(
        lambda c, t: Call("GET", f"/api/v1/surveys/{_survey(c, t)}"), QUIZ_VIEW, SURVEY
    ),
    "get_survey_results": Row(
        lambda c, t: Call("GET", f"/api/v1/surveys/{_survey(c, t)}/results"),
        QUIZ_RESULTS,
        SURVEY,
    ),
    "export_survey_results": Row(
        lambda c, t: Call("GET", f"/api/v1/surveys/{_survey(c, t)}/results/export"),
        QUIZ_RESULTS,
        SURVEY,
    ),
    "answer_survey": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/surveys/{_survey(c, t)}/responses",
            {"answers": [{"question_id": c.extra["survey_questions"][t], "choices": [0]}]},
        ),
        SURVEY_ANSWER,
        SURVEY,
    ),
}
