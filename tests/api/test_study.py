"""Study: quizzes scored on the server without leaking answers, the points ledger, /me/home,
leaderboards."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, Notice, PointBalance, PointEntry, PointSource, QuizAttempt
from app.models.base import utcnow
from app.schemas.study import AttemptRead, UnitLeaderboard
from app.services import leaderboards, points
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem


def quiz_body(**overrides: Any) -> dict[str, Any]:
    now = utcnow()
    body: dict[str, Any] = {
        "title": "Học tập Nghị quyết 57-NQ/TW",
        "description": "Đọc nghị quyết rồi làm bài.",
        "document_id": 4242,
        "opens_at": (now - timedelta(minutes=1)).isoformat(),
        "closes_at": (now + timedelta(days=7)).isoformat(),
        "time_limit_s": 600,
        "attempts_allowed": 2,
        "pass_percent": 50,
        "points": 15,
        "questions": [
            {
                "kind": "single",
                "text": "Nghị quyết 57 bàn về lĩnh vực nào?",
                "options": ["Khoa học, công nghệ", "Nông nghiệp", "Du lịch"],
                "correct": [0],
                "explanation": "Đột phá phát triển khoa học, công nghệ, đổi mới sáng tạo.",
            },
            {
                "kind": "multiple",
                "text": "Những nội dung nào thuộc Nghị quyết?",
                "options": ["Chuyển đổi số", "Đổi mới sáng tạo", "Xây dựng nông thôn"],
                "correct": [0, 1],
                "explanation": "Chuyển đổi số và đổi mới sáng tạo.",
            },
        ],
    }
    body.update(overrides)
    return body


async def _create_quiz(
    client: httpx.AsyncClient, headers: dict[str, str], org_id: int, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/orgs/{org_id}/quizzes", json=quiz_body(**overrides), headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _right_answers(attempt: dict[str, Any]) -> list[dict[str, Any]]:
    """The correct answers, known to the test from `quiz_body` (by question text)."""
    right = {q["text"]: q["correct"] for q in quiz_body()["questions"]}
    return [{"question_id": q["id"], "chosen": right[q["text"]]} for q in attempt["questions"]]


async def test_quiz_flow_scores_on_the_server_and_awards_points_once(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    editor = await as_actor(tree.editor.id)
    quiz = await _create_quiz(client, editor, tree.c1.id)
    assert quiz["bank_size"] == 2
    assert quiz["question_count"] == 2
    assert quiz["document_id"] == 4242
    # Members of the subtree are told (the worker fans the notice out).
    notice = await session.scalar(select(Notice).order_by(Notice.id.desc()))
    assert notice is not None
    assert notice.audience_org_id == tree.c1.id
    assert notice.data == {"quiz_id": str(quiz["id"])}

    member = await as_actor(tree.member.id)
    mine = (await client.get("/api/v1/me/quizzes", headers=member)).json()["items"]
    assert [q["id"] for q in mine] == [quiz["id"]]
    started = await client.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=member)
    assert started.status_code == 201, started.text
    attempt = started.json()
    assert attempt["result"] is None
    assert "correct" not in started.text
    assert "explanation" not in started.text
    # Reading it back leaks nothing either; starting again hands back the running attempt.
    again = await client.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=member)
    assert again.json()["id"] == attempt["id"]
    read = await client.get(f"/api/v1/quiz-attempts/{attempt['id']}", headers=member)
    assert read.status_code == 200
    assert "correct" not in read.text

    headers = {**member, "Idempotency-Key": "submit-1"}
    submitted = await client.post(
        f"/api/v1/quiz-attempts/{attempt['id']}/submit",
        json={"answers": _right_answers(attempt)},
        headers=headers,
    )
    assert submitted.status_code == 200, submitted.text
    result = submitted.json()["result"]
    assert result["correct_count"] == 2
    assert result["score_percent"] == 100
    assert result["is_passed"] is True
    assert result["points_awarded"] == 15
    assert all(a["correct"] is not None and a["explanation"] for a in result["answers"])
    # Written from plain values (`plain_json`): exactly what the documented model would write.
    page = submitted.json()
    assert AttemptRead.model_validate(page).model_dump(mode="json") == page
    # The same key replays; another submit is refused; either way points count once.
    replay = await client.post(
        f"/api/v1/quiz-attempts/{attempt['id']}/submit",
        json={"answers": _right_answers(attempt)},
        headers=headers,
    )
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    second = await client.post(
        f"/api/v1/quiz-attempts/{attempt['id']}/submit", json={"answers": []}, headers=member
    )
    assert_problem(second, 409, "quiz.attempt_submitted")
    entries = (
        await session.scalars(select(PointEntry).where(PointEntry.member_id == tree.member.id))
    ).all()
    assert [(e.points, e.source, e.source_key) for e in entries] == [
        (15, "quiz", f"quiz:{quiz['id']}:member:{tree.member.id}")
    ]
    # Passed: no further attempt.
    more = await client.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=member)
    assert_problem(more, 409, "quiz.already_passed")

    mine_points = (await client.get("/api/v1/me/points", headers=member)).json()
    assert mine_points["points"] == 15
    assert mine_points["target"] == 200
    assert mine_points["remaining"] == 185
    home = (await client.get("/api/v1/me/home", headers=member)).json()
    assert home["study"] == {"year": mine_points["year"], "points": 15, "target": 200}
    history = (await client.get("/api/v1/me/points/entries", headers=member)).json()
    assert [(e["points"], e["source"]) for e in history["items"]] == [(15, "quiz")]

    results = await client.get(f"/api/v1/quizzes/{quiz['id']}/results", headers=editor)
    assert results.status_code == 200, results.text
    body = results.json()
    assert (body["attempts"], body["members"], body["passed"]) == (1, 1, 1)
    assert body["by_unit"] == [
        {
            "org_id": tree.b1.id,
            "name": "Chi bộ Khu phố 1",
            "members": 1,
            "passed": 1,
            "average_percent": 100.0,
        }
    ]
    assert [q["correct_rate"] for q in body["by_question"]] == [1.0, 1.0]


async def test_wrong_answers_fail_and_use_up_attempts(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    quiz = await _create_quiz(
        client, await as_actor(tree.secretary.id), tree.b1.id, attempts_allowed=1
    )
    member = await as_actor(tree.member.id)
    attempt = (await client.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=member)).json()
    wrong = [{"question_id": q["id"], "chosen": [2]} for q in attempt["questions"]]
    submitted = await client.post(
        f"/api/v1/quiz-attempts/{attempt['id']}/submit", json={"answers": wrong}, headers=member
    )
    result = submitted.json()["result"]
    assert (result["correct_count"], result["is_passed"], result["points_awarded"]) == (0, False, 0)
    assert await session.scalar(select(func.count()).select_from(PointEntry)) == 0
    refused = await client.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=member)
    assert_problem(refused, 409, "quiz.no_attempts_left")


async def test_answers_are_revealed_only_at_close_when_configured(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    quiz = await _create_quiz(
        client, await as_actor(tree.editor.id), tree.c1.id, reveal_after="close"
    )
    member = await as_actor(tree.member.id)
    attempt = (await client.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=member)).json()
    submitted = await client.post(
        f"/api/v1/quiz-attempts/{attempt['id']}/submit",
        json={"answers": _right_answers(attempt)},
        headers=member,
    )
    assert submitted.status_code == 200
    answers = submitted.json()["result"]["answers"]
    assert all(a["correct"] is None and a["explanation"] is None for a in answers)
    assert all(a["is_correct"] for a in answers)


async def test_late_and_foreign_answers_are_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    quiz = await _create_quiz(client, await as_actor(tree.editor.id), tree.c1.id)
    member = await as_actor(tree.member.id)
    attempt = (await client.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=member)).json()
    url = f"/api/v1/quiz-attempts/{attempt['id']}/submit"
    foreign = await client.post(
        url, json={"answers": [{"question_id": 999_999, "chosen": [0]}]}, headers=member
    )
    assert_problem(foreign, 422, "quiz.question_not_in_attempt")
    first = attempt["questions"][0]["id"]
    bad_choice = await client.post(
        url, json={"answers": [{"question_id": first, "chosen": [7]}]}, headers=member
    )
    assert_problem(bad_choice, 422, "quiz.invalid_choice")
    twice = await client.post(
        url,
        json={"answers": [{"question_id": first, "chosen": [0]}] * 2},
        headers=member,
    )
    assert_problem(twice, 422, "quiz.duplicate_answer")
    # Someone else cannot submit it (nor see it).
    other = await as_actor(tree.secretary.id)
    assert_problem(
        await client.post(url, json={"answers": []}, headers=other), 404, "quiz_attempt.not_found"
    )
    await session.execute(
        update(QuizAttempt)
        .where(QuizAttempt.id == attempt["id"])
        .values(deadline_at=utcnow() - timedelta(minutes=1))
    )
    await session.commit()
    late = await client.post(url, json={"answers": _right_answers(attempt)}, headers=member)
    assert_problem(late, 409, "quiz.attempt_expired")
    row = await session.get(QuizAttempt, attempt["id"], populate_existing=True)
    assert row is not None
    assert row.submitted_at is None
    assert await session.scalar(select(func.count()).select_from(PointEntry)) == 0


async def test_quiz_rules_are_checked(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    editor = await as_actor(tree.editor.id)
    later = utcnow() + timedelta(days=1)
    closed = await client.post(
        f"/api/v1/orgs/{tree.c1.id}/quizzes",
        json=quiz_body(closes_at=(utcnow() - timedelta(days=1)).isoformat()),
        headers=editor,
    )
    assert closed.status_code == 422
    draws = await client.post(
        f"/api/v1/orgs/{tree.c1.id}/quizzes", json=quiz_body(draw_count=5), headers=editor
    )
    assert draws.status_code == 422
    single = quiz_body()
    single["questions"][0]["correct"] = [0, 1]
    assert (
        await client.post(f"/api/v1/orgs/{tree.c1.id}/quizzes", json=single, headers=editor)
    ).status_code == 422
    # Not open yet; members of other branches are not eligible.
    quiz = await _create_quiz(client, editor, tree.b2.id, opens_at=later.isoformat())
    not_open = await client.post(
        f"/api/v1/quizzes/{quiz['id']}/attempts", headers=await as_actor(tree.committee.id)
    )
    assert_problem(not_open, 409, "quiz.not_open")
    officer = await as_actor(tree.officer_c1.id)
    assert_problem(
        await client.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=officer),
        409,
        "quiz.not_open",
    )
    open_quiz = await _create_quiz(client, editor, tree.b2.id)
    ineligible = await client.post(
        f"/api/v1/quizzes/{open_quiz['id']}/attempts", headers=await as_actor(tree.editor.id)
    )
    assert ineligible.status_code == 201  # the editor's own branch is B2
    hidden = await client.post(
        f"/api/v1/quizzes/{open_quiz['id']}/attempts", headers=await as_actor(tree.member.id)
    )
    assert_problem(hidden, 404, "quiz.not_found")
    # A manager above sees it but may not take it for another branch.
    outside = await client.post(
        f"/api/v1/quizzes/{open_quiz['id']}/attempts", headers=await as_actor(tree.admin.id)
    )
    assert_problem(outside, 403, "quiz.not_eligible")


async def test_random_draw_takes_the_configured_number(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    questions = [
        {"kind": "single", "text": f"Câu hỏi số {i}", "options": ["Đúng", "Sai"], "correct": [0]}
        for i in range(10)
    ]
    quiz = await _create_quiz(
        client, await as_actor(tree.editor.id), tree.c1.id, questions=questions, draw_count=3
    )
    assert (quiz["bank_size"], quiz["question_count"]) == (10, 3)
    attempt = (
        await client.post(
            f"/api/v1/quizzes/{quiz['id']}/attempts", headers=await as_actor(tree.member.id)
        )
    ).json()
    ids = [q["id"] for q in attempt["questions"]]
    assert len(ids) == len(set(ids)) == 3


async def test_award_is_idempotent_by_source_key_and_keeps_the_balance(
    session: AsyncSession, tree: Tree
) -> None:
    for _ in range(3):
        await points.award(
            session,
            member_id=tree.member.id,
            points=10,
            source=PointSource.MEETING,
            source_key=f"meeting:1:member:{tree.member.id}",
            reason="Dự sinh hoạt chi bộ",
        )
    first = await points.award(
        session,
        member_id=tree.member.id,
        points=-4,
        source=PointSource.MANUAL,
        source_key="manual:correction-1",
        reason="Điều chỉnh",
    )
    assert first is not None
    entries = (
        await session.scalars(
            select(PointEntry.points).where(PointEntry.member_id == tree.member.id)
        )
    ).all()
    assert sorted(entries) == [-4, 10]
    balance = await session.scalar(
        select(PointBalance.points).where(PointBalance.member_id == tree.member.id)
    )
    assert balance == 6


async def test_documents_studied_are_capped_per_day(session: AsyncSession, tree: Tree) -> None:
    for i in range(15):
        await points.award(
            session,
            member_id=tree.member.id,
            points=2,
            source=PointSource.DOCUMENT,
            source_key=f"document:{i}:member:{tree.member.id}",
            reason="Đọc văn bản",
        )
    total = await session.scalar(
        select(func.sum(PointEntry.points)).where(PointEntry.member_id == tree.member.id)
    )
    assert total == 20  # RULES__STUDY_POINTS_DOCUMENT_DAILY_CAP


async def test_manual_award_needs_a_note_a_sane_value_and_is_audited(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    url = f"/api/v1/members/{tree.member.id}/points"
    absurd = await client.post(url, json={"points": 1_000_000, "note": "Thử"}, headers=officer)
    assert_problem(absurd, 422, "points.out_of_range")
    zero = await client.post(url, json={"points": 0, "note": "Thử"}, headers=officer)
    assert_problem(zero, 422, "points.out_of_range")
    no_note = await client.post(url, json={"points": 5}, headers=officer)
    assert no_note.status_code == 422
    assert await session.scalar(select(func.count()).select_from(PointEntry)) == 0
    awarded = await client.post(
        url, json={"points": 20, "note": "Giải nhất hội thi tìm hiểu"}, headers=officer
    )
    assert awarded.status_code == 201, awarded.text
    body = awarded.json()
    assert (body["points"], body["source"], body["created_by_id"]) == (
        20,
        "manual",
        tree.officer_c1.id,
    )
    corrected = await client.post(url, json={"points": -5, "note": "Nhập thừa"}, headers=officer)
    assert corrected.status_code == 201
    event = await session.scalar(
        select(AuditEvent).where(AuditEvent.action == "points.award").order_by(AuditEvent.id)
    )
    assert event is not None
    assert event.actor_id == tree.officer_c1.id
    history = await client.get(url, headers=officer)
    assert [e["points"] for e in history.json()["items"]] == [-5, 20]
    member = await as_actor(tree.member.id)
    assert (await client.get("/api/v1/me/points", headers=member)).json()["points"] == 15
    # Out of scope: the commune officer cannot award a member of C2.
    far = await client.post(
        f"/api/v1/members/{tree.outsider.id}/points",
        json={"points": 5, "note": "Thử"},
        headers=officer,
    )
    assert_problem(far, 404, "member.not_found")


async def test_leaderboards_show_my_neighbours_and_units(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    for member, value in ((tree.member, 30), (tree.secretary, 50), (tree.teacher, 10)):
        await points.award(
            session,
            member_id=member.id,
            points=value,
            source=PointSource.OPENING,
            source_key=f"opening:{member.id}",
            reason="Số dư đầu kỳ",
        )
    await session.commit()
    mine = await client.get("/api/v1/me/leaderboard", headers=await as_actor(tree.member.id))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["me"]["rank"] == 2
    assert body["members"] == 5
    assert [n["member_id"] for n in body["neighbours"]][:2] == [tree.secretary.id, tree.member.id]
    committee = await as_actor(tree.committee.id)
    board = await client.get(f"/api/v1/orgs/{tree.c1.id}/leaderboard", headers=committee)
    assert [(r["member_id"], r["points"]) for r in board.json()["items"]] == [
        (tree.secretary.id, 50),
        (tree.member.id, 30),
        (tree.teacher.id, 10),
    ]
    units = await client.get(f"/api/v1/orgs/{tree.c1.id}/leaderboard/units", headers=committee)
    assert units.status_code == 200, units.text
    by_id = {u["org_id"]: u for u in units.json()["items"]}
    # B1: 80 points over 4 eligible members (the exempt member is not counted).
    assert (by_id[tree.b1.id]["points"], by_id[tree.b1.id]["members"]) == (80, 4)
    assert by_id[tree.b1.id]["average"] == 20.0
    assert by_id[tree.g1.id]["points"] == 10
    assert units.json()["items"][0]["org_id"] == tree.b1.id
    # The worker's totals give the same answer, with the time they were counted.
    await leaderboards.refresh_unit_totals(session, year=units.json()["year"])
    await session.commit()
    counted = await client.get(f"/api/v1/orgs/{tree.c1.id}/leaderboard/units", headers=committee)
    assert counted.json()["as_of"] is not None
    assert counted.json()["items"] == units.json()["items"]
    # Written from plain values (`plain_json`): exactly what the documented model would write.
    for body in (units.json(), counted.json()):
        assert UnitLeaderboard.model_validate(body).model_dump(mode="json") == body
    assert units.json()["as_of"] is None
    plain = await client.get(
        f"/api/v1/orgs/{tree.b1.id}/leaderboard", headers=await as_actor(tree.member.id)
    )
    assert_problem(plain, 403, "scope.forbidden")
    assert json.loads(plain.text)["status"] == 403
