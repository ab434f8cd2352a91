"""Study: points, quizzes and their attempts, leaderboards."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response, status

from app.api.deps import (
    ActorWith,
    CurrentActor,
    JoinedTarget,
    LeanUnitDep,
    MemberScope,
    ObjectScope,
    OrgScope,
    ReaderDep,
    ResourcesDep,
    SessionDep,
    get_resources,
)
from app.api.idempotency import Idempotent
from app.api.responses import plain_json, problems
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.models import PointSource
from app.models.base import utcnow
from app.schemas.common import Digits, Page
from app.schemas.study import (
    AttemptRead,
    AttemptSubmit,
    MyPointsRead,
    MyRankRead,
    PointAwardCreate,
    PointEntryRead,
    QuizCreate,
    QuizRead,
    QuizResults,
    QuizSummary,
    RankedMember,
    UnitLeaderboard,
)
from app.services import leaderboards
from app.services import points as point_service
from app.services import quizzes as quiz_service
from app.services import rules as rule_service
from app.services.access import Permission
from app.services.auth.actor import ActorRows
from app.services.members import MemberTarget
from app.services.orgs import OrgTarget
from app.services.quizzes import AttemptTarget, QuizTarget

router = area_router(tags=["study"])

FIRST_YEAR, LAST_YEAR = 2000, 2100
Year = Annotated[
    int | None,
    Query(ge=FIRST_YEAR, le=LAST_YEAR, description="A local year; the current one by default."),
    Digits,
]

# Members see the quizzes published for their branch or above it; creators and leadership those
# of their subtree.
QuizScope = ObjectScope(
    quiz_service.load_target,
    Permission.STUDY_VIEW,
    id_param="quiz_id",
    not_found_code="quiz.not_found",
    description="Quiz id.",
    upward=True,
)
QuizManageScope = ObjectScope(
    quiz_service.load_target,
    Permission.STUDY_MANAGE,
    id_param="quiz_id",
    not_found_code="quiz.not_found",
    description="Quiz id.",
    ancestors_visible=True,
)
AttemptScope = ObjectScope(
    quiz_service.load_attempt_target,
    Permission.ATTEMPT_VIEW,
    id_param="attempt_id",
    not_found_code="quiz_attempt.not_found",
    description="Quiz attempt id.",
)
# The same guard for the submit (a burst of writes): the attempt read in the actor's query.
SubmitAttemptScope = ObjectScope(
    quiz_service.load_attempt_target,
    Permission.ATTEMPT_VIEW,
    id_param="attempt_id",
    not_found_code="quiz_attempt.not_found",
    description="Quiz attempt id.",
    joined=JoinedTarget(quiz_service.with_attempt_target, quiz_service.attempt_target_of),
)


def _year(resources: ResourcesDep, year: int | None) -> int:
    return year or point_service.local_year(utcnow(), resources.settings.rules.timezone)


# --- points ------------------------------------------------------------------------------------


def _year_param(request: Request) -> dict[str, object]:
    """The year `Year` will validate (the current one by default), bound in the actor's query
    (`ActorWith`) before it is validated; the handler checks it got the same."""
    raw = request.query_params.get("year") or ""
    # Four digits at most: never int() of an arbitrarily long string (the route answers 422).
    if len(raw) <= 4 and raw.isascii() and raw.isdigit() and FIRST_YEAR <= int(raw) <= LAST_YEAR:
        return {"year": int(raw)}
    return {"year": _year(get_resources(request), None)}


# My points and my rank are read in the query that authenticates the request.
PointsActor = Annotated[ActorRows, Depends(ActorWith(point_service.with_balances))]
RankActor = Annotated[
    ActorRows, Depends(ActorWith(leaderboards.with_branch_ranking, params=_year_param))
]


@router.get("/me/points", response_model=MyPointsRead, responses=problems(401, 422))
async def get_my_points(
    me: PointsActor,
    resources: ResourcesDep,
    year: Year = None,
) -> dict[str, Any]:
    """My study points this year (or `year`) against the yearly target, and every year's total."""
    rules = await rule_service.in_force(
        resources.reader, resources.app_config, resources.settings.rules
    )
    return point_service.my_points(
        me.rows,
        timezone=resources.settings.rules.timezone,
        target=rules.study_points_target,
        year=year,
    )


@router.get(
    "/me/points/entries",
    response_model=Page[PointEntryRead],
    responses=problems(400, 401, 422),
)
async def list_my_point_entries(
    actor: CurrentActor,
    session: SessionDep,
    year: Year = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[Any]:
    """My points history, newest first: what earned each entry."""
    items, next_cursor = await point_service.list_entries(
        session, actor.member_id, year=year, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/members/{member_id}/points",
    response_model=Page[PointEntryRead],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_member_point_entries(
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_VIEW))],
    session: SessionDep,
    year: Year = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[Any]:
    """A member's points history, newest first."""
    items, next_cursor = await point_service.list_entries(
        session, member.id, year=year, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post(
    "/members/{member_id}/points",
    status_code=status.HTTP_201_CREATED,
    response_model=PointEntryRead,
    responses=problems(401, 403, 404, 409, 413, codes={422: ["points.out_of_range"]}),
)
async def award_member_points(
    body: PointAwardCreate,
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.POINTS_AWARD))],
    actor: CurrentActor,
    session: SessionDep,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Award points by hand, or correct them with negative points (organisation officers).
    A note is required; the entry is audited and never edited. Send an `Idempotency-Key` to
    retry safely."""
    return await point_service.award_manual(
        session, actor, member, points=body.points, note=body.note, reason=body.reason
    )


# --- leaderboards ------------------------------------------------------------------------------


@router.get(
    "/me/leaderboard",
    response_model=MyRankRead,
    responses=problems(401, 422, codes={404: ["member.not_found"]}),
)
async def get_my_rank(me: RankActor, resources: ResourcesDep, year: Year = None) -> dict[str, Any]:
    """My rank in my branch and the members just around me (not a ranking of everyone)."""
    return await leaderboards.my_rank(resources.reader, me, year=_year(resources, year))


@router.get(
    "/orgs/{org_id}/leaderboard",
    response_model=Page[RankedMember],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_leaderboard(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.STUDY_STATS))],
    reader: ReaderDep,
    resources: ResourcesDep,
    year: Year = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Members of the org's subtree by points in the year, most first (leadership and
    organisation officers). `rank` is 0: pages are ordered, not ranked."""
    items, next_cursor = await leaderboards.org_members(
        reader, org, year=_year(resources, year), limit=limit, cursor=cursor
    )
    # A hot read (the bench's branch leaderboard): written from its plain values (`plain_json`).
    return plain_json({"items": items, "next_cursor": next_cursor})


@router.get(
    "/orgs/{org_id}/leaderboard/units",
    response_model=UnitLeaderboard,
    responses=problems(401, 403, 404, 422),
)
async def get_org_unit_leaderboard(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.STUDY_STATS))],
    reader: ReaderDep,
    resources: ResourcesDep,
    year: Year = None,
) -> Any:
    """The org's direct units by average points per eligible (not exempt) member."""
    # Hundreds of units at a province's root: written as `UnitLeaderboard` from plain values.
    return plain_json(await leaderboards.org_units(reader, org, year=_year(resources, year)))


# --- quizzes -----------------------------------------------------------------------------------


@router.post(
    "/orgs/{org_id}/quizzes",
    status_code=status.HTTP_201_CREATED,
    response_model=QuizRead,
    responses=problems(401, 403, 404, 409, 413, codes={422: ["quiz.closes_in_past"]}),
)
async def create_quiz(
    body: QuizCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.STUDY_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Create a quiz for this org's subtree (editors and leadership). Its members are notified
    when it opens. Send an `Idempotency-Key` to retry safely."""
    return await quiz_service.create_quiz(
        session,
        actor,
        org,
        body,
        default_points=point_service.rule_points(
            await rule_service.fresh(session, resources.settings.rules), PointSource.QUIZ
        ),
    )


@router.get(
    "/orgs/{org_id}/quizzes",
    response_model=Page[QuizSummary],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_quizzes(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.STUDY_MANAGE))],
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[Any]:
    """The quizzes this org published, newest first."""
    items, next_cursor = await quiz_service.list_org_quizzes(
        session, org, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/me/quizzes", response_model=Page[QuizSummary], responses=problems(400, 401, 422))
async def list_my_quizzes(
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[Any]:
    """Quizzes for my branch (published by it or an org above it), newest first."""
    items, next_cursor = await quiz_service.list_my_quizzes(
        session, actor, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/quizzes/{quiz_id}", response_model=QuizRead, responses=problems(401, 403, 404, 422))
async def get_quiz(
    quiz: Annotated[QuizTarget, Depends(QuizScope)], session: SessionDep
) -> dict[str, Any]:
    """A quiz's rules (never its questions: those come with an attempt)."""
    return await quiz_service.read_quiz(session, quiz)


@router.get(
    "/quizzes/{quiz_id}/results",
    response_model=QuizResults,
    responses=problems(401, 403, 404, 422),
)
async def get_quiz_results(
    quiz: Annotated[QuizTarget, Depends(QuizManageScope)], session: SessionDep
) -> dict[str, Any]:
    """Results per unit and per question, most missed first (creators and leadership)."""
    return await quiz_service.results(session, quiz)


@router.post(
    "/quizzes/{quiz_id}/attempts",
    status_code=status.HTTP_201_CREATED,
    response_model=AttemptRead,
    responses=problems(
        401,
        404,
        422,
        codes={
            403: ["quiz.not_eligible"],
            409: ["quiz.already_passed", "quiz.no_attempts_left", "quiz.not_open"],
        },
    ),
)
async def start_quiz_attempt(
    quiz: Annotated[QuizTarget, Depends(QuizScope)],
    actor: CurrentActor,
    session: SessionDep,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Start an attempt: its questions (drawn at random, without the answers) and its deadline.
    An attempt still running is handed back instead of a new one."""
    return await quiz_service.start_attempt(session, actor, quiz)


@router.get(
    "/quiz-attempts/{attempt_id}",
    response_model=AttemptRead,
    responses=problems(401, 403, 404, 422),
)
async def get_quiz_attempt(
    attempt: Annotated[AttemptTarget, Depends(AttemptScope)], session: SessionDep
) -> dict[str, Any]:
    """One of my attempts; after submit with its result (and the correct answers once the
    quiz's reveal rule allows)."""
    return await quiz_service.read_attempt(session, attempt)


@router.post(
    "/quiz-attempts/{attempt_id}/submit",
    response_model=AttemptRead,
    responses=problems(
        401,
        404,
        413,
        codes={
            403: ["quiz.not_your_attempt"],
            409: ["quiz.attempt_expired", "quiz.attempt_submitted"],
            422: ["quiz.duplicate_answer", "quiz.invalid_choice", "quiz.question_not_in_attempt"],
        },
    ),
)
async def submit_quiz_attempt(
    body: AttemptSubmit,
    attempt: Annotated[AttemptTarget, Depends(SubmitAttemptScope)],
    actor: CurrentActor,
    unit: LeanUnitDep,
    _idempotency: Idempotent,
) -> Response:
    """Submit my answers; scored on the server. Late answers (after the deadline) are refused;
    a second submit is 409 `quiz.attempt_submitted` (with the same `Idempotency-Key`, the first
    answer again). Passing adds the quiz's points once."""
    # The quiz-submit burst's write: written from its plain values (`plain_json`).
    return plain_json(await quiz_service.submit_attempt(unit, actor, attempt, body))
