"""Quizzes: created by editors or leadership for an org's subtree, taken by its members.

- Attempts draw their questions at random from the bank; the correct answers stay on the server
  until the attempt is submitted (or the quiz closes, with `reveal_after="close"`).
- An attempt ends at its deadline (the time limit, or the quiz's close, whichever is first);
  answers after it are refused. A submit locks the attempt row: double submits score once.
- Passing awards the quiz's points once per member and quiz (`points.award`, source key
  `quiz:<id>:member:<id>`), whichever attempt passes first.
"""

from __future__ import annotations

import secrets
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Select,
    Table,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import FastQuery, Reader, Row, Statements
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.models import (
    Org,
    PointSource,
    QuestionKind,
    Quiz,
    QuizAnswer,
    QuizAttempt,
    QuizQuestion,
    RevealAfter,
)
from app.models.base import utcnow
from app.schemas.study import AttemptSubmit, QuizCreate
from app.services import access, audit, points, study
from app.services.access import Actor
from app.services.auth import actor as actor_service
from app.services.orgs import OrgTarget

# A submit may arrive this much after the deadline (network latency), never more.
SUBMIT_GRACE = timedelta(seconds=5)

_quiz = Quiz.__table__
_org = Org.__table__
_attempt = typing.cast(Table, QuizAttempt.__table__)
_question = QuizQuestion.__table__
_answer = typing.cast(Table, QuizAnswer.__table__)

_SYSTEM_RANDOM = secrets.SystemRandom()


@dataclass(frozen=True, slots=True)
class QuizTarget:
    id: int
    org_id: int
    path: str  # the path of the org that published it

    @property
    def owner_id(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class AttemptTarget:
    id: int
    quiz_id: int
    path: str  # the quiz's org
    member_id: int

    @property
    def owner_id(self) -> int:
        return self.member_id


_TARGET = FastQuery(
    select(_quiz.c.id, _quiz.c.org_id, _org.c.path)
    .join(_org, _org.c.id == _quiz.c.org_id)
    .where(_quiz.c.id == bindparam("quiz_id", type_=BigInteger))
)
_ATTEMPT_TARGET = FastQuery(
    select(_attempt.c.id, _attempt.c.quiz_id, _attempt.c.member_id, _org.c.path)
    .join(_quiz, _quiz.c.id == _attempt.c.quiz_id)
    .join(_org, _org.c.id == _quiz.c.org_id)
    .where(_attempt.c.id == bindparam("attempt_id", type_=BigInteger))
)


async def load_target(reader: Reader, quiz_id: int) -> QuizTarget | None:
    rows = await reader.fetch(_TARGET, {"quiz_id": quiz_id})
    if not rows:
        return None
    return QuizTarget(id=rows[0]["id"], org_id=rows[0]["org_id"], path=rows[0]["path"])


async def load_attempt_target(reader: Reader, attempt_id: int) -> AttemptTarget | None:
    rows = await reader.fetch(_ATTEMPT_TARGET, {"attempt_id": attempt_id})
    return attempt_target_of(rows[0]) if rows else None


_target_attempt = _attempt.alias("target_attempt")
_target_quiz = _quiz.alias("target_quiz")
_target_org = _org.alias("target_org")


def with_attempt_target(actor_query: Select[Any]) -> Select[Any]:
    """The attempt's guard target read in the actor's own query (`api.deps.JoinedTarget`)."""
    return actor_query.outerjoin(
        _target_attempt.join(_target_quiz, _target_quiz.c.id == _target_attempt.c.quiz_id).join(
            _target_org, _target_org.c.id == _target_quiz.c.org_id
        ),
        _target_attempt.c.id == actor_service.target_id(),
    ).add_columns(
        _target_attempt.c.id.label("target_id"),
        _target_attempt.c.quiz_id.label("target_quiz_id"),
        _target_attempt.c.member_id.label("target_member_id"),
        _target_org.c.path.label("target_path"),
    )


def attempt_target_of(row: Row) -> AttemptTarget | None:
    """An `AttemptTarget` from a row of `_ATTEMPT_TARGET` or of `with_attempt_target`."""
    prefix = "target_" if "target_id" in row else ""
    if row[prefix + "id"] is None:
        return None
    return AttemptTarget(
        id=row[prefix + "id"],
        quiz_id=row[prefix + "quiz_id"],
        path=row[prefix + "path"],
        member_id=row[prefix + "member_id"],
    )


# --- quizzes -----------------------------------------------------------------------------------


def _summary(quiz: Quiz | Mapping[str, Any], bank_size: int) -> dict[str, Any]:
    get = quiz.__getitem__ if isinstance(quiz, Mapping) else quiz.__getattribute__
    draw = get("draw_count")
    return {
        "id": get("id"),
        "org_id": get("org_id"),
        "title": get("title"),
        "document_id": get("document_id"),
        "opens_at": get("opens_at"),
        "closes_at": get("closes_at"),
        "time_limit_s": get("time_limit_s"),
        "attempts_allowed": get("attempts_allowed"),
        "question_count": min(draw, bank_size) if draw else bank_size,
        "pass_percent": get("pass_percent"),
        "points": get("points"),
    }


def _read(quiz: Quiz, bank_size: int) -> dict[str, Any]:
    return {
        **_summary(quiz, bank_size),
        "description": quiz.description,
        "reveal_after": quiz.reveal_after,
        "bank_size": bank_size,
        "created_at": quiz.created_at,
    }


async def create_quiz(
    session: AsyncSession,
    actor: Actor,
    org: OrgTarget,
    data: QuizCreate,
    *,
    default_points: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or utcnow()
    study.require_future_close(data.closes_at, now, "quiz")
    quiz = Quiz(
        org_id=org.id,
        title=data.title,
        description=data.description,
        document_id=data.document_id,
        opens_at=data.opens_at,
        closes_at=data.closes_at,
        time_limit_s=data.time_limit_s,
        attempts_allowed=data.attempts_allowed,
        draw_count=data.draw_count,
        pass_percent=data.pass_percent,
        points=default_points if data.points is None else data.points,
        reveal_after=data.reveal_after,
        created_by_id=actor.member_id,
        created_at=now,
    )
    session.add(quiz)
    await session.flush()
    for position, q in enumerate(data.questions, start=1):
        session.add(
            QuizQuestion(
                quiz_id=quiz.id,
                position=position,
                kind=q.kind,
                text=q.text,
                options=list(q.options),
                correct=sorted(q.correct),
                explanation=q.explanation,
            )
        )
    await session.flush()
    await audit.record(
        session,
        actor,
        "quiz.create",
        target=("quiz", quiz.id),
        org_id=org.id,
        detail={"title": quiz.title, "questions": len(data.questions)},
    )
    # Members of the subtree hear of it when it opens.
    await study.announce(
        session,
        "quiz",
        quiz.id,
        org_id=org.id,
        title=quiz.title,
        opens_at=quiz.opens_at,
        closes_at=quiz.closes_at,
        created_by_id=actor.member_id,
        now=now,
    )
    return _read(quiz, len(data.questions))


_BANK_SIZE = (
    select(func.count())
    .where(_question.c.quiz_id == _quiz.c.id)
    .scalar_subquery()
    .label("bank_size")
)


async def _page(
    session: AsyncSession, where: Any, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    page, next_cursor = await study.page_newest(
        session,
        select(_quiz, _BANK_SIZE).where(where),
        _quiz.c.id,
        sort="quizzes",
        limit=limit,
        cursor=cursor,
    )
    return [_summary(r._mapping, int(r.bank_size)) for r in page], next_cursor


async def list_org_quizzes(
    session: AsyncSession, org: OrgTarget, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The quizzes an org published, newest first."""
    return await _page(session, _quiz.c.org_id == org.id, limit=limit, cursor=cursor)


async def list_my_quizzes(
    session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The quizzes for my branch: published by it or an org above it, newest first."""
    ancestors = access.ancestor_ids(actor.branch_path)
    return await _page(session, _quiz.c.org_id.in_(ancestors), limit=limit, cursor=cursor)


async def _bank_size(session: AsyncSession, quiz_id: int) -> int:
    return int(
        await session.scalar(select(func.count()).where(_question.c.quiz_id == quiz_id)) or 0
    )


async def read_quiz(session: AsyncSession, target: QuizTarget) -> dict[str, Any]:
    quiz = await session.get(Quiz, target.id)
    if quiz is None:
        raise NotFound(code="quiz.not_found")
    return _read(quiz, await _bank_size(session, quiz.id))


# --- attempts ----------------------------------------------------------------------------------


def _revealed(quiz: Quiz, now: datetime) -> bool:
    return quiz.reveal_after == RevealAfter.SUBMIT or now >= quiz.closes_at


async def _attempt_read(
    session: AsyncSession,
    quiz: Quiz,
    attempt: QuizAttempt,
    *,
    now: datetime,
    points_awarded: int = 0,
) -> dict[str, Any]:
    ids = [int(i) for i in attempt.question_ids]
    rows = (await session.scalars(select(QuizQuestion).where(QuizQuestion.id.in_(ids)))).all()
    by_id = {q.id: q for q in rows}
    questions = [by_id[i] for i in ids if i in by_id]
    result = None
    if attempt.submitted_at is not None:
        answers = {
            a.question_id: a
            for a in (
                await session.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id == attempt.id))
            ).all()
        }
        reveal = _revealed(quiz, now)
        result = {
            "correct_count": attempt.correct_count or 0,
            "total": len(questions),
            "score_percent": attempt.score_percent or 0,
            "is_passed": attempt.is_passed,
            "points_awarded": points_awarded,
            "answers": [
                {
                    "question_id": q.id,
                    "chosen": answers[q.id].chosen if q.id in answers else [],
                    "is_correct": answers[q.id].is_correct if q.id in answers else False,
                    "correct": q.correct if reveal else None,
                    "explanation": q.explanation if reveal else None,
                }
                for q in questions
            ],
        }
    return {
        "id": attempt.id,
        "quiz_id": attempt.quiz_id,
        "number": attempt.number,
        "started_at": attempt.started_at,
        "deadline_at": attempt.deadline_at,
        "submitted_at": attempt.submitted_at,
        # Never the correct answers: those are only in `result`, after submit.
        "questions": [
            {"id": q.id, "kind": q.kind, "text": q.text, "options": q.options} for q in questions
        ],
        "result": result,
    }


async def start_attempt(
    session: AsyncSession, actor: Actor, target: QuizTarget, *, now: datetime | None = None
) -> dict[str, Any]:
    """Start an attempt (or hand back the one still running)."""
    now = now or utcnow()
    study.require_taker(actor, target.path, "quiz")
    quiz = await session.get(Quiz, target.id)
    if quiz is None:
        raise NotFound(code="quiz.not_found")
    study.require_open(quiz.opens_at, quiz.closes_at, now, "quiz")
    previous = (
        await session.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.quiz_id == quiz.id, QuizAttempt.member_id == actor.member_id)
            .order_by(QuizAttempt.number)
            .with_for_update()
        )
    ).all()
    running = [a for a in previous if a.submitted_at is None and a.deadline_at > now]
    if running:
        return await _attempt_read(session, quiz, running[-1], now=now)
    if any(a.is_passed for a in previous):
        raise Conflict("Bạn đã đạt bài kiểm tra này.", code="quiz.already_passed")
    if len(previous) >= quiz.attempts_allowed:
        raise Conflict("Bạn đã dùng hết số lượt làm bài.", code="quiz.no_attempts_left")
    bank = list(
        (
            await session.scalars(
                select(QuizQuestion.id)
                .where(QuizQuestion.quiz_id == quiz.id)
                .order_by(QuizQuestion.position)
            )
        ).all()
    )
    drawn = _SYSTEM_RANDOM.sample(bank, min(quiz.draw_count or len(bank), len(bank)))
    attempt = QuizAttempt(
        quiz_id=quiz.id,
        member_id=actor.member_id,
        branch_id=actor.branch_id,
        number=len(previous) + 1,
        question_ids=drawn,
        started_at=now,
        deadline_at=min(now + timedelta(seconds=quiz.time_limit_s), quiz.closes_at),
    )
    session.add(attempt)
    await session.flush()
    return await _attempt_read(session, quiz, attempt, now=now)


async def read_attempt(
    session: AsyncSession, target: AttemptTarget, *, now: datetime | None = None
) -> dict[str, Any]:
    now = now or utcnow()
    attempt = await session.get(QuizAttempt, target.id)
    quiz = await session.get(Quiz, target.quiz_id)
    if attempt is None or quiz is None:
        raise NotFound(code="quiz_attempt.not_found")
    return await _attempt_read(session, quiz, attempt, now=now)


@dataclass(frozen=True, slots=True)
class _Question:
    """A drawn question as the submit reads it (with its correct answers: server side only)."""

    id: int
    kind: str
    text: str
    options: list[str]
    correct: list[int]
    explanation: str | None


def _check_answers(data: AttemptSubmit, questions: Sequence[_Question]) -> dict[int, list[int]]:
    by_id = {q.id: q for q in questions}
    chosen: dict[int, list[int]] = {}
    for answer in data.answers:
        question = by_id.get(answer.question_id)
        if question is None:
            raise Unprocessable(
                "Câu hỏi không thuộc lượt làm bài này.", code="quiz.question_not_in_attempt"
            )
        if answer.question_id in chosen:
            raise Unprocessable("Một câu hỏi được trả lời hai lần.", code="quiz.duplicate_answer")
        picks = sorted(set(answer.chosen))
        if any(i >= len(question.options) for i in picks) or (
            question.kind == QuestionKind.SINGLE and len(picks) > 1
        ):
            raise Unprocessable("Phương án trả lời không hợp lệ.", code="quiz.invalid_choice")
        chosen[answer.question_id] = picks
    return chosen


def _drawn(dialect: str) -> Any:
    """The attempt's drawn question ids (its JSON array) as rows, correlated to the attempt."""
    if dialect == "postgresql":
        drawn = select(cast(func.json_array_elements_text(_attempt.c.question_ids), BigInteger))
    else:
        each = func.json_each(_attempt.c.question_ids).table_valued("value")
        drawn = select(each.c.value)
    return drawn.correlate(_attempt).scalar_subquery()


@cache
def _submit_load(dialect: str) -> FastQuery:
    """One statement for the submit: the attempt (locked: double submits wait and then see it
    submitted), its quiz's rules and its drawn questions with their correct answers, one row per
    question."""
    return FastQuery(
        select(
            _attempt.c.number,
            _attempt.c.question_ids,
            _attempt.c.started_at,
            _attempt.c.deadline_at,
            _attempt.c.submitted_at,
            _quiz.c.title,
            _quiz.c.pass_percent,
            _quiz.c.points,
            _quiz.c.reveal_after,
            _quiz.c.closes_at,
            _question.c.id.label("question_id"),
            _question.c.kind,
            _question.c.text,
            _question.c.options,
            _question.c.correct,
            _question.c.explanation,
        )
        .select_from(
            _attempt.join(_quiz, _quiz.c.id == _attempt.c.quiz_id).outerjoin(
                _question,
                and_(
                    _question.c.quiz_id == _attempt.c.quiz_id,
                    _question.c.id.in_(_drawn(dialect)),
                ),
            )
        )
        .where(_attempt.c.id == bindparam("attempt_id", type_=BigInteger))
        .with_for_update(of=_attempt)
    )


# The submit's writes, built once: the attempt's result and its answers (on PostgreSQL in one
# statement, the answers bound as one JSON array).
_SCORED = (
    update(_attempt)
    .where(_attempt.c.id == bindparam("attempt_id", type_=BigInteger))
    .values(
        submitted_at=bindparam("s_submitted_at"),
        correct_count=bindparam("s_correct"),
        score_percent=bindparam("s_score"),
        is_passed=bindparam("s_passed"),
    )
)
_ANSWERS_IN = (
    func.json_to_recordset(bindparam("answers", type_=JSON))
    .table_valued(
        column("question_id", BigInteger),
        column("chosen", JSON),
        column("is_correct", Boolean),
    )
    .render_derived(with_types=True)
)
_ANSWER = FastQuery(insert(_answer))
_SCORED_ONLY = FastQuery(_SCORED)
_ANSWERED = insert(_answer).from_select(
    ["attempt_id", "question_id", "chosen", "is_correct"],
    select(
        bindparam("attempt_id", type_=BigInteger),
        _ANSWERS_IN.c.question_id,
        _ANSWERS_IN.c.chosen,
        _ANSWERS_IN.c.is_correct,
    ),
)
_SCORE_PG = FastQuery(_ANSWERED.add_cte(_SCORED.cte("scored")))


def _score_and_award_pg() -> FastQuery:
    """PostgreSQL: the answers, the attempt's result and the pass's ledger entry with its
    balance in one round trip (the award's `p_*` parameters; the entry's id, or no row when the
    quiz's source key was awarded before)."""
    if not _SCORE_AWARD_PG:
        new_entry, new_balance = points.award_ctes()
        _SCORE_AWARD_PG.append(
            FastQuery(
                select(new_entry.c.id)
                .add_cte(_SCORED.cte("scored"))
                .add_cte(_ANSWERED.cte("answered"))
                .add_cte(new_balance)
            )
        )
    return _SCORE_AWARD_PG[0]


_SCORE_AWARD_PG: list[FastQuery] = []


async def submit_attempt(
    tx: Statements,
    actor: Actor,
    target: AttemptTarget,
    data: AttemptSubmit,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Score and record a submit, in the request's lean unit of work (`tx`): one read (the
    locked attempt, its quiz and its questions), then the answers, the attempt's result and the
    ledger entry written with compiled statements; the answer is built from what was read and
    written, without reading again."""
    now = now or utcnow()
    if target.member_id != actor.member_id:
        raise Forbidden("Chỉ người làm bài mới nộp được bài.", code="quiz.not_your_attempt")
    rows = await tx.fetch(_submit_load(tx.dialect), {"attempt_id": target.id})
    if not rows:
        raise NotFound(code="quiz_attempt.not_found")
    attempt = rows[0]
    if attempt["submitted_at"] is not None:
        raise Conflict("Lượt làm bài này đã được nộp.", code="quiz.attempt_submitted")
    if now > attempt["deadline_at"] + SUBMIT_GRACE:
        raise Conflict("Đã hết thời gian làm bài.", code="quiz.attempt_expired")
    by_id = {
        r["question_id"]: _Question(
            r["question_id"], r["kind"], r["text"], r["options"], r["correct"], r["explanation"]
        )
        for r in rows
        if r["question_id"] is not None
    }
    questions = [by_id[i] for i in (int(i) for i in attempt["question_ids"]) if i in by_id]
    chosen = _check_answers(data, questions)
    answers = []
    correct = 0
    for question in questions:
        picks = chosen.get(question.id, [])
        is_correct = picks == sorted(question.correct)
        correct += is_correct
        answers.append(
            {
                "attempt_id": target.id,
                "question_id": question.id,
                "chosen": picks,
                "is_correct": is_correct,
            }
        )
    total = len(questions)
    score = round(100 * correct / total) if total else 0
    passed = score >= attempt["pass_percent"]
    params = {
        "attempt_id": target.id,
        "s_submitted_at": now,
        "s_correct": correct,
        "s_score": score,
        "s_passed": passed,
    }
    award = None
    if passed and attempt["points"]:
        award = {
            "member_id": actor.member_id,
            "points": attempt["points"],
            "source": PointSource.QUIZ,
            "source_key": f"quiz:{target.quiz_id}:member:{actor.member_id}",
            "reason": f"Đạt bài kiểm tra: {attempt['title']}",
            "at": now,
        }
    awarded = 0
    if tx.dialect == "postgresql":  # one round trip: answers, result and the award
        if award is None:
            await tx.execute(_SCORE_PG, {**params, "answers": answers})
        else:
            rows = await tx.fetch(
                _score_and_award_pg(),
                {**params, "answers": answers, **points.award_params(**award)},
            )
            awarded = attempt["points"] if rows else 0
    else:
        await tx.execute(_ANSWER, answers)
        await tx.execute(_SCORED_ONLY, params)
        if award is not None:
            entry = await points.award(tx, **award)
            awarded = attempt["points"] if entry is not None else 0
    reveal = attempt["reveal_after"] == RevealAfter.SUBMIT or now >= attempt["closes_at"]
    return {
        "id": target.id,
        "quiz_id": target.quiz_id,
        "number": attempt["number"],
        "started_at": attempt["started_at"],
        "deadline_at": attempt["deadline_at"],
        "submitted_at": now,
        "questions": [
            {"id": q.id, "kind": q.kind, "text": q.text, "options": q.options} for q in questions
        ],
        "result": {
            "correct_count": correct,
            "total": total,
            "score_percent": score,
            "is_passed": passed,
            "points_awarded": awarded,
            "answers": [
                {
                    "question_id": q.id,
                    "chosen": a["chosen"],
                    "is_correct": a["is_correct"],
                    "correct": q.correct if reveal else None,
                    "explanation": q.explanation if reveal else None,
                }
                for q, a in zip(questions, answers, strict=True)
            ],
        },
    }


# --- results -----------------------------------------------------------------------------------


async def results(session: AsyncSession, target: QuizTarget) -> dict[str, Any]:
    """Per unit (the branch each attempt was made in) and per question, most missed first."""
    submitted = _attempt.c.submitted_at.is_not(None)
    totals = (
        await session.execute(
            select(
                func.count(),
                func.count(func.distinct(_attempt.c.member_id)),
                func.count(func.distinct(case((_attempt.c.is_passed, _attempt.c.member_id)))),
            ).where(_attempt.c.quiz_id == target.id, submitted)
        )
    ).one()
    units = (
        await session.execute(
            select(
                _org.c.id,
                _org.c.name,
                func.count(func.distinct(_attempt.c.member_id)).label("members"),
                func.count(func.distinct(case((_attempt.c.is_passed, _attempt.c.member_id)))).label(
                    "passed"
                ),
                func.avg(_attempt.c.score_percent).label("average"),
            )
            .join(_org, _org.c.id == _attempt.c.branch_id)
            .where(_attempt.c.quiz_id == target.id, submitted)
            .group_by(_org.c.id, _org.c.name)
            .order_by(_org.c.id)
        )
    ).all()
    questions = (
        await session.execute(
            select(
                _question.c.id,
                _question.c.position,
                _question.c.text,
                func.count(_answer.c.attempt_id).label("answered"),
                func.coalesce(func.sum(case((_answer.c.is_correct, 1), else_=0)), 0).label(
                    "correct"
                ),
            )
            .outerjoin(_answer, _answer.c.question_id == _question.c.id)
            .where(_question.c.quiz_id == target.id)
            .group_by(_question.c.id, _question.c.position, _question.c.text)
        )
    ).all()
    by_question = [
        {
            "question_id": q.id,
            "position": q.position,
            "text": q.text,
            "answered": int(q.answered),
            "correct": int(q.correct),
            "correct_rate": round(int(q.correct) / int(q.answered), 4) if q.answered else 0.0,
        }
        for q in questions
    ]
    by_question.sort(key=lambda q: (q["correct_rate"] if q["answered"] else 2.0, q["position"]))
    return {
        "quiz_id": target.id,
        "attempts": int(totals[0]),
        "members": int(totals[1]),
        "passed": int(totals[2]),
        "by_unit": [
            {
                "org_id": u.id,
                "name": u.name,
                "members": int(u.members),
                "passed": int(u.passed),
                "average_percent": round(float(u.average or 0), 1),
            }
            for u in units
        ],
        "by_question": by_question,
    }
