"""Surveys (khảo sát): created by editors or leadership for an org's subtree, answered once.

Anonymous answers cannot be linked to a member by anyone: that a member answered is one row
(`survey_participation`: survey and member, nothing else), the answers another (`survey_response`
with a random id, the branch for results per unit, no member and no time). The answer route takes
no `Idempotency-Key` (its store would keep the body beside the member) and writes no audit row.
Results of an anonymous survey are shown only for groups of at least `RULES__SURVEY_MIN_GROUP`
answers, and its free-text answers are never listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import BigInteger, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import FastQuery, Reader, dialect_insert
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.security import new_id
from app.models import (
    Org,
    Survey,
    SurveyAnswer,
    SurveyParticipation,
    SurveyQuestion,
    SurveyQuestionKind,
    SurveyResponse,
)
from app.models.base import utcnow
from app.schemas.study import SurveyAnswerSubmit, SurveyCreate
from app.services import access, audit, spreadsheets, study
from app.services.access import Actor
from app.services.orgs import OrgTarget

MAX_TEXTS = 100

_survey = Survey.__table__
_org = Org.__table__
_question = SurveyQuestion.__table__
_response = SurveyResponse.__table__
_answer = SurveyAnswer.__table__
_participation = SurveyParticipation.__table__


@dataclass(frozen=True, slots=True)
class SurveyTarget:
    id: int
    org_id: int
    path: str

    @property
    def owner_id(self) -> None:
        return None


_TARGET = FastQuery(
    select(_survey.c.id, _survey.c.org_id, _org.c.path)
    .join(_org, _org.c.id == _survey.c.org_id)
    .where(_survey.c.id == bindparam("survey_id", type_=BigInteger))
)


async def load_target(reader: Reader, survey_id: int) -> SurveyTarget | None:
    rows = await reader.fetch(_TARGET, {"survey_id": survey_id})
    if not rows:
        return None
    return SurveyTarget(id=rows[0]["id"], org_id=rows[0]["org_id"], path=rows[0]["path"])


def _summary(survey: Any) -> dict[str, Any]:
    return {
        "id": survey.id,
        "org_id": survey.org_id,
        "title": survey.title,
        "opens_at": survey.opens_at,
        "closes_at": survey.closes_at,
        "is_anonymous": survey.is_anonymous,
    }


def _read(survey: Survey, questions: Sequence[SurveyQuestion]) -> dict[str, Any]:
    return {
        **_summary(survey),
        "description": survey.description,
        "questions": [
            {
                "id": q.id,
                "kind": q.kind,
                "text": q.text,
                "options": q.options,
                "scale_max": q.scale_max,
            }
            for q in questions
        ],
    }


async def create_survey(
    session: AsyncSession,
    actor: Actor,
    org: OrgTarget,
    data: SurveyCreate,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or utcnow()
    study.require_future_close(data.closes_at, now, "survey")
    survey = Survey(
        org_id=org.id,
        title=data.title,
        description=data.description,
        opens_at=data.opens_at,
        closes_at=data.closes_at,
        is_anonymous=data.is_anonymous,
        created_by_id=actor.member_id,
        created_at=now,
    )
    session.add(survey)
    await session.flush()
    questions = [
        SurveyQuestion(
            survey_id=survey.id,
            position=position,
            kind=q.kind,
            text=q.text,
            options=list(q.options) if q.options is not None else None,
            scale_max=q.scale_max,
        )
        for position, q in enumerate(data.questions, start=1)
    ]
    session.add_all(questions)
    await session.flush()
    await audit.record(
        session,
        actor,
        "survey.create",
        target=("survey", survey.id),
        org_id=org.id,
        detail={"title": survey.title, "is_anonymous": survey.is_anonymous},
    )
    await study.announce(
        session,
        "survey",
        survey.id,
        org_id=org.id,
        title=survey.title,
        opens_at=survey.opens_at,
        closes_at=survey.closes_at,
        created_by_id=actor.member_id,
        now=now,
    )
    return _read(survey, questions)


async def _page(
    session: AsyncSession, where: Any, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    page, next_cursor = await study.page_newest(
        session,
        select(_survey).where(where),
        _survey.c.id,
        sort="surveys",
        limit=limit,
        cursor=cursor,
    )
    return [_summary(r) for r in page], next_cursor


async def list_org_surveys(
    session: AsyncSession, org: OrgTarget, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    return await _page(session, _survey.c.org_id == org.id, limit=limit, cursor=cursor)


async def list_my_surveys(
    session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    ancestors = access.ancestor_ids(actor.branch_path)
    return await _page(session, _survey.c.org_id.in_(ancestors), limit=limit, cursor=cursor)


async def _questions(session: AsyncSession, survey_id: int) -> Sequence[SurveyQuestion]:
    return (
        await session.scalars(
            select(SurveyQuestion)
            .where(SurveyQuestion.survey_id == survey_id)
            .order_by(SurveyQuestion.position)
        )
    ).all()


async def read_survey(session: AsyncSession, target: SurveyTarget) -> dict[str, Any]:
    survey = await session.get(Survey, target.id)
    if survey is None:
        raise NotFound(code="survey.not_found")
    return _read(survey, await _questions(session, survey.id))


def _checked(
    answer: SurveyAnswerSubmit, question: SurveyQuestion
) -> tuple[list[int] | None, str | None]:
    bad = Unprocessable("Câu trả lời không hợp lệ.", code="survey.invalid_answer")
    choices = answer.choices
    if question.kind == SurveyQuestionKind.TEXT:
        if choices is not None or answer.text is None:
            raise bad
        return None, answer.text
    if answer.text is not None or not choices or len(set(choices)) != len(choices):
        raise bad
    if question.kind == SurveyQuestionKind.SCALE:
        if len(choices) != 1 or not 1 <= choices[0] <= (question.scale_max or 0):
            raise bad
        return choices, None
    if any(i >= len(question.options or []) for i in choices) or (
        question.kind == SurveyQuestionKind.SINGLE and len(choices) != 1
    ):
        raise bad
    return sorted(choices), None


async def answer_survey(
    session: AsyncSession,
    actor: Actor,
    target: SurveyTarget,
    answers: Sequence[SurveyAnswerSubmit],
    *,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    study.require_taker(actor, target.path, "survey")
    survey = await session.get(Survey, target.id)
    if survey is None:
        raise NotFound(code="survey.not_found")
    study.require_open(survey.opens_at, survey.closes_at, now, "survey")
    questions = {q.id: q for q in await _questions(session, survey.id)}
    checked: dict[int, tuple[list[int] | None, str | None]] = {}
    for answer in answers:
        question = questions.get(answer.question_id)
        if question is None:
            raise Unprocessable(
                "Câu hỏi không thuộc khảo sát này.", code="survey.question_not_in_survey"
            )
        if answer.question_id in checked:
            raise Unprocessable("Một câu hỏi được trả lời hai lần.", code="survey.duplicate_answer")
        checked[answer.question_id] = _checked(answer, question)
    joined = await session.scalar(
        dialect_insert(session, _participation)
        .values(survey_id=survey.id, member_id=actor.member_id)
        .on_conflict_do_nothing(index_elements=["survey_id", "member_id"])
        .returning(_participation.c.member_id)
    )
    if joined is None:
        raise Conflict("Bạn đã trả lời khảo sát này.", code="survey.already_answered")
    response_id = new_id()
    await session.execute(
        insert(SurveyResponse).values(
            id=response_id,
            survey_id=survey.id,
            branch_id=actor.branch_id,
            member_id=None if survey.is_anonymous else actor.member_id,
        )
    )
    await session.execute(
        insert(SurveyAnswer),
        [
            {"response_id": response_id, "question_id": qid, "choices": c, "text": t}
            for qid, (c, t) in checked.items()
        ],
    )


async def results(session: AsyncSession, target: SurveyTarget, *, min_group: int) -> dict[str, Any]:
    survey = await session.get(Survey, target.id)
    if survey is None:
        raise NotFound(code="survey.not_found")
    total = int(
        await session.scalar(
            select(func.count()).select_from(_response).where(_response.c.survey_id == survey.id)
        )
        or 0
    )
    hidden = survey.is_anonymous and total < min_group
    units = (
        await session.execute(
            select(_org.c.id, _org.c.name, func.count().label("responses"))
            .select_from(_response.join(_org, _org.c.id == _response.c.branch_id))
            .where(_response.c.survey_id == survey.id)
            .group_by(_org.c.id, _org.c.name)
            .order_by(_org.c.id)
        )
    ).all()
    by_unit = [
        {"org_id": u.id, "name": u.name, "responses": int(u.responses)}
        for u in units
        if not survey.is_anonymous or u.responses >= min_group
    ]
    rows = (
        await session.execute(
            select(_answer.c.question_id, _answer.c.choices, _answer.c.text)
            .join(_response, _response.c.id == _answer.c.response_id)
            .where(_response.c.survey_id == survey.id)
        )
    ).all()
    by_question = []
    for question in await _questions(session, survey.id):
        mine = [r for r in rows if r.question_id == question.id]
        counts: list[int] | None = None
        average: float | None = None
        texts: list[str] | None = None
        if question.kind in (SurveyQuestionKind.SINGLE, SurveyQuestionKind.MULTIPLE):
            counts = [0] * len(question.options or [])
            for r in mine:
                for i in r.choices or []:
                    if 0 <= i < len(counts):
                        counts[i] += 1
        elif question.kind == SurveyQuestionKind.SCALE:
            counts = [0] * (question.scale_max or 0)
            values = [int(r.choices[0]) for r in mine if r.choices]
            for v in values:
                if 1 <= v <= len(counts):
                    counts[v - 1] += 1
            average = round(sum(values) / len(values), 2) if values else None
        elif not survey.is_anonymous:
            texts = [r.text for r in mine if r.text][:MAX_TEXTS]
        if hidden:
            counts, average = None, None
        by_question.append(
            {
                "question_id": question.id,
                "kind": question.kind,
                "text": question.text,
                "answered": len(mine) if not hidden else 0,
                "counts": counts,
                "average": average,
                "texts": texts,
            }
        )
    return {
        "survey_id": survey.id,
        "is_anonymous": survey.is_anonymous,
        "responses": total,
        "min_group": min_group,
        "by_question": by_question,
        "by_unit": by_unit,
    }


# --- the results as a spreadsheet ------------------------------------------------------------

KIND_LABELS = {
    SurveyQuestionKind.SINGLE: "Một lựa chọn",
    SurveyQuestionKind.MULTIPLE: "Nhiều lựa chọn",
    SurveyQuestionKind.SCALE: "Thang điểm",
    SurveyQuestionKind.TEXT: "Ý kiến tự do",
}


async def results_xlsx(
    session: AsyncSession, target: SurveyTarget, *, min_group: int
) -> tuple[str, bytes]:
    """The results as .xlsx (the survey's title, the file): the same figures as `results`, with
    the options named, and every free-text answer of a named survey."""
    data = await results(session, target, min_group=min_group)
    survey = await session.get(Survey, target.id)
    if survey is None:
        raise NotFound(code="survey.not_found")
    questions = {q.id: q for q in await _questions(session, survey.id)}
    texts: list[tuple[int, str]] = []
    if not survey.is_anonymous:
        texts = [
            (row.question_id, row.text)
            for row in (
                await session.execute(
                    select(_answer.c.question_id, _answer.c.text)
                    .join(_response, _response.c.id == _answer.c.response_id)
                    .where(_response.c.survey_id == survey.id, _answer.c.text.is_not(None))
                    .order_by(_answer.c.question_id, _answer.c.response_id)
                )
            ).all()
        ]
    return survey.title, _workbook(survey, data, questions, texts)


def _workbook(
    survey: Survey,
    data: dict[str, Any],
    questions: dict[int, SurveyQuestion],
    texts: list[tuple[int, str]],
) -> bytes:
    workbook = Workbook(write_only=True)
    summary = workbook.create_sheet("Tổng hợp")
    summary.append([spreadsheets.safe(survey.title)])
    summary.append(["Hình thức", "Ẩn danh" if survey.is_anonymous else "Ghi danh"])
    summary.append(["Số phiếu trả lời", data["responses"]])
    hidden = survey.is_anonymous and data["responses"] < data["min_group"]
    if hidden:
        summary.append(
            [f"Chưa đủ {data['min_group']} phiếu: kết quả khảo sát ẩn danh chưa được hiển thị."]
        )
    sheet = workbook.create_sheet("Theo câu hỏi")
    spreadsheets.header(sheet, ["STT", "Câu hỏi", "Loại", "Phương án", "Số lượt chọn", "Tỷ lệ (%)"])
    position = {question_id: n for n, question_id in enumerate(questions, start=1)}
    for item in data["by_question"]:
        question = questions[item["question_id"]]
        number, text = position[question.id], spreadsheets.safe(question.text)
        kind = KIND_LABELS[SurveyQuestionKind(question.kind)]
        answered = item["answered"]
        counts = item["counts"]
        if counts is None:
            sheet.append([number, text, kind, "", answered or None, None])
            continue
        labels = (
            list(question.options or [])
            if question.kind != SurveyQuestionKind.SCALE
            else [f"Mức {level}" for level in range(1, len(counts) + 1)]
        )
        for label, count in zip(labels, counts, strict=False):
            share = round(100 * count / answered, 1) if answered else None
            sheet.append([number, text, kind, spreadsheets.safe(label), count, share])
        if item["average"] is not None:
            sheet.append([number, text, kind, "Điểm trung bình", item["average"], None])
    units = workbook.create_sheet("Theo đơn vị")
    spreadsheets.header(units, ["Mã đơn vị", "Đơn vị", "Số phiếu"])
    for unit in data["by_unit"]:
        units.append([unit["org_id"], spreadsheets.safe(unit["name"]), unit["responses"]])
    if texts:
        opinions = workbook.create_sheet("Ý kiến")
        spreadsheets.header(opinions, ["STT câu hỏi", "Câu hỏi", "Ý kiến"])
        for question_id, answer in texts:
            opinions.append(
                [
                    position[question_id],
                    spreadsheets.safe(questions[question_id].text),
                    spreadsheets.safe(answer),
                ]
            )
    return spreadsheets.to_bytes(workbook)
