"""Authorization rows: study (points, quizzes, attempts, leaderboards)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.resources import Resources
from tests.authz.harness import (
    MANAGE_CREATE,
    SELF,
    Call,
    Context,
    Row,
    member_target,
    org_targets,
    table,
)
from tests.study_factories import make_attempt, make_open_quiz

branch = org_targets("b1", "b2", "b4")
QUIZ = "quiz.not_found"
ATTEMPT = "quiz_attempt.not_found"
NOT_ELIGIBLE = "403:quiz.not_eligible"


async def setup(ctx: Context, session: AsyncSession, _resources: Resources) -> None:
    """An open quiz of B1, B3 and B4, each with an attempt by a member without roles there."""
    t = ctx.tree
    quizzes: dict[str, int] = {}
    attempts: dict[str, int] = {}
    for target, org, taker in (
        ("own", t.b1, t.exempt),
        ("near", t.b3, t.teacher),
        ("far", t.b4, t.outsider),
    ):
        quiz, question = await make_open_quiz(session, org, title=f"Kiểm tra {target}")
        attempt = await make_attempt(session, quiz, question, taker.id, org.id)
        quizzes[target] = quiz.id
        attempts[target] = attempt.id
    ctx.extra["quizzes"] = quizzes
    ctx.extra["attempts"] = attempts


def _quiz(ctx: Context, target: str) -> int:
    return int(ctx.extra["quizzes"][target])


def _attempt(ctx: Context, target: str) -> int:
    return int(ctx.extra["attempts"][target])


# Leaderboards and statistics: leadership and organisation officers of the org or above.
STATS = table(
    member="403 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="200 200 404",
    officer_c1="200 200 404",
    approver="403 403 404",
    officer_root="200 200 200",
    editor="403 403 403",
    admin="200 200 200",
)
# Quizzes and surveys of an org (targets B1, B2, B4): editors and leadership.
STUDY_MANAGE = table(
    member="403 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="200 200 404",
    officer_c1="403 403 404",
    approver="403 403 404",
    officer_root="403 403 403",
    editor="200 200 200",
    admin="200 200 200",
)
STUDY_MANAGE_CREATE = {role: cells.replace("200", "201") for role, cells in STUDY_MANAGE.items()}
# A quiz of B1, B3, B4: members see those of their branch and above, managers their subtree.
QUIZ_VIEW = table(
    member="200 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="200 200 404",
    officer_c1="200 200 404",
    approver="403 200 404",
    officer_root="200 200 200",
    editor="200 200 200",
    admin="200 200 200",
)
QUIZ_RESULTS = table(
    member="403 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="200 200 404",
    officer_c1="403 403 404",
    approver="403 403 404",
    officer_root="403 403 403",
    editor="200 200 200",
    admin="200 200 200",
)
# Only members of a branch below the quiz's org take it.
QUIZ_TAKE = table(
    member="201 404 404",
    secretary="201 404 404",
    deputy="201 404 404",
    committee=f"{NOT_ELIGIBLE} {NOT_ELIGIBLE} 404",
    officer_c1=f"{NOT_ELIGIBLE} {NOT_ELIGIBLE} 404",
    approver="403 201 404",
    officer_root=f"{NOT_ELIGIBLE} {NOT_ELIGIBLE} 201",
    editor=f"{NOT_ELIGIBLE} {NOT_ELIGIBLE} {NOT_ELIGIBLE}",
    admin=f"{NOT_ELIGIBLE} {NOT_ELIGIBLE} 201",
)
# Attempts of members without roles in B1, B3, B4: their owners only (tests/api/test_study.py),
# and deployment admins may read them.
OTHERS_ATTEMPTS = table(
    member="403 404 404",
    secretary="403 404 404",
    deputy="403 404 404",
    committee="403 403 404",
    officer_c1="403 403 404",
    approver="403 403 404",
    officer_root="403 403 403",
    editor="403 403 403",
    admin="200 200 200",
)
NOT_YOURS = "403:quiz.not_your_attempt"
OTHERS_SUBMIT = {**OTHERS_ATTEMPTS, "admin": f"{NOT_YOURS} {NOT_YOURS} {NOT_YOURS}"}

ROWS = {
    "get_my_points": Row(lambda c, t: Call("GET", "/api/v1/me/points"), SELF),
    "list_my_point_entries": Row(lambda c, t: Call("GET", "/api/v1/me/points/entries"), SELF),
    "get_my_rank": Row(lambda c, t: Call("GET", "/api/v1/me/leaderboard"), SELF),
    "list_my_quizzes": Row(lambda c, t: Call("GET", "/api/v1/me/quizzes"), SELF),
    "list_member_point_entries": Row(
        lambda c, t: Call("GET", f"/api/v1/members/{member_target(c, t)}/points"),
        table(
            member="403 404 404",
            secretary="200 404 404",
            deputy="200 404 404",
            committee="200 200 404",
            officer_c1="200 200 404",
            approver="403 403 404",
            officer_root="200 200 200",
            editor="403 403 403",
            admin="200 200 200",
        ),
        "member.not_found",
    ),
    "award_member_points": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/members/{member_target(c, t)}/points",
            {"points": 5, "note": "Giải nhì hội thi"},
        ),
        MANAGE_CREATE,
        "member.not_found",
    ),
    "list_org_leaderboard": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/leaderboard"),
        STATS,
        "org.not_found",
    ),
    "get_org_unit_leaderboard": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/leaderboard/units"),
        STATS,
        "org.not_found",
    ),
    "create_quiz": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/orgs/{branch(c, t)}/quizzes",
            {
                "title": "Kiểm tra nhanh",
                "opens_at": "2026-01-01T08:00:00+07:00",
                "closes_at": "2099-01-01T08:00:00+07:00",
                "time_limit_s": 300,
                "questions": [
                    {
                        "kind": "single",
                        "text": "Câu hỏi?",
                        "options": ["Đúng", "Sai"],
                        "correct": [0],
                    }
                ],
            },
        ),
        STUDY_MANAGE_CREATE,
        "org.not_found",
    ),
    "list_org_quizzes": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/quizzes"),
        STUDY_MANAGE,
        "org.not_found",
    ),
    "get_quiz": Row(lambda c, t: Call("GET", f"/api/v1/quizzes/{_quiz(c, t)}"), QUIZ_VIEW, QUIZ),
    "get_quiz_results": Row(
        lambda c, t: Call("GET", f"/api/v1/quizzes/{_quiz(c, t)}/results"), QUIZ_RESULTS, QUIZ
    ),
    "start_quiz_attempt": Row(
        lambda c, t: Call("POST", f"/api/v1/quizzes/{_quiz(c, t)}/attempts"), QUIZ_TAKE, QUIZ
    ),
    "get_quiz_attempt": Row(
        lambda c, t: Call("GET", f"/api/v1/quiz-attempts/{_attempt(c, t)}"),
        OTHERS_ATTEMPTS,
        ATTEMPT,
    ),
    "submit_quiz_attempt": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/quiz-attempts/{_attempt(c, t)}/submit", {"answers": []}
        ),
        OTHERS_SUBMIT,
        ATTEMPT,
    ),
}
