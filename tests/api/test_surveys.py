"""Surveys: answered once; anonymous answers cannot be linked to a member; results."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import httpx
import openpyxl
from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import IdempotencyKey, SurveyParticipation, SurveyResponse
from app.models.base import utcnow
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem


def survey_body(**overrides: Any) -> dict[str, Any]:
    now = utcnow()
    body: dict[str, Any] = {
        "title": "Khảo sát chất lượng sinh hoạt chi bộ",
        "opens_at": (now - timedelta(minutes=1)).isoformat(),
        "closes_at": (now + timedelta(days=7)).isoformat(),
        "is_anonymous": True,
        "questions": [
            {
                "kind": "single",
                "text": "Sinh hoạt chi bộ có thiết thực không?",
                "options": ["Có", "Không"],
            },
            {
                "kind": "multiple",
                "text": "Nội dung nào cần tăng cường?",
                "options": ["Chuyên đề", "Tự phê bình", "Học tập nghị quyết"],
            },
            {"kind": "scale", "text": "Chấm điểm buổi sinh hoạt", "scale_max": 5},
            {"kind": "text", "text": "Góp ý khác"},
        ],
    }
    body.update(overrides)
    return body


async def _create(
    client: httpx.AsyncClient, headers: dict[str, str], org_id: int, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/orgs/{org_id}/surveys", json=survey_body(**overrides), headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _answers(survey: dict[str, Any], choice: int = 0) -> list[dict[str, Any]]:
    q = survey["questions"]
    return [
        {"question_id": q[0]["id"], "choices": [choice]},
        {"question_id": q[1]["id"], "choices": [0, 2]},
        {"question_id": q[2]["id"], "choices": [4]},
        {"question_id": q[3]["id"], "text": "Nên sinh hoạt đúng giờ hơn."},
    ]


async def test_anonymous_answers_are_stored_apart_from_the_member(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    survey = await _create(client, await as_actor(tree.secretary.id), tree.b1.id)
    member = await as_actor(tree.member.id)
    mine = (await client.get("/api/v1/me/surveys", headers=member)).json()["items"]
    assert [s["id"] for s in mine] == [survey["id"]]
    url = f"/api/v1/surveys/{survey['id']}/responses"
    answered = await client.post(url, json={"answers": _answers(survey)}, headers=member)
    assert answered.status_code == 204, answered.text
    again = await client.post(url, json={"answers": _answers(survey)}, headers=member)
    assert_problem(again, 409, "survey.already_answered")
    participation = (await session.scalars(select(SurveyParticipation))).all()
    assert [(p.survey_id, p.member_id) for p in participation] == [(survey["id"], tree.member.id)]
    response = await session.scalar(select(SurveyResponse))
    assert response is not None
    assert response.member_id is None
    assert len(response.id) == 32  # random, not a sequence
    # Neither row carries a time, and no idempotency record keeps the body beside the member.
    assert {c.key for c in inspect(SurveyParticipation).columns} == {"survey_id", "member_id"}
    assert not any("_at" in c.key for c in inspect(SurveyResponse).columns)
    assert await session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0

    # One answer is below the group size: results are withheld.
    secretary = await as_actor(tree.secretary.id)
    results = (
        await client.get(f"/api/v1/surveys/{survey['id']}/results", headers=secretary)
    ).json()
    assert results["responses"] == 1
    assert all(q["counts"] is None and q["texts"] is None for q in results["by_question"])
    assert results["by_unit"] == []
    # The spreadsheet withholds the same figures, and has no free-text sheet.
    book = await _export(client, survey["id"], secretary)
    assert "Ý kiến" not in book.sheetnames
    assert _rows(book, "Tổng hợp")[1:] == [
        ["Hình thức", "Ẩn danh"],
        ["Số phiếu trả lời", 1],
        ["Chưa đủ 5 phiếu: kết quả khảo sát ẩn danh chưa được hiển thị."],
    ]
    assert [row[4:] for row in _rows(book, "Theo câu hỏi")[1:]] == [[]] * 4  # no figures
    assert _rows(book, "Theo đơn vị") == [["Mã đơn vị", "Đơn vị", "Số phiếu"]]


async def test_named_survey_results_per_question_and_unit(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    survey = await _create(client, await as_actor(tree.editor.id), tree.c1.id, is_anonymous=False)
    for who, choice in ((tree.member, 0), (tree.secretary, 1), (tree.teacher, 0)):
        response = await client.post(
            f"/api/v1/surveys/{survey['id']}/responses",
            json={"answers": _answers(survey, choice)},
            headers=await as_actor(who.id),
        )
        assert response.status_code == 204, response.text
    stored = (await session.scalars(select(SurveyResponse.member_id))).all()
    assert set(stored) == {tree.member.id, tree.secretary.id, tree.teacher.id}
    results = await client.get(
        f"/api/v1/surveys/{survey['id']}/results", headers=await as_actor(tree.committee.id)
    )
    assert results.status_code == 200, results.text
    body = results.json()
    assert body["responses"] == 3
    single, multiple, scale, text = body["by_question"]
    assert single["counts"] == [2, 1]
    assert multiple["counts"] == [3, 0, 3]
    assert scale["counts"] == [0, 0, 0, 3, 0]
    assert scale["average"] == 4.0
    assert text["texts"] == ["Nên sinh hoạt đúng giờ hơn."] * 3
    assert {u["org_id"]: u["responses"] for u in body["by_unit"]} == {tree.b1.id: 2, tree.b3.id: 1}

    book = await _export(client, survey["id"], await as_actor(tree.committee.id))
    assert _rows(book, "Tổng hợp")[0][0] == "Khảo sát chất lượng sinh hoạt chi bộ"
    single_q, multiple_q, scale_q, text_q = (q["text"] for q in survey["questions"])
    assert _rows(book, "Theo câu hỏi") == [
        ["STT", "Câu hỏi", "Loại", "Phương án", "Số lượt chọn", "Tỷ lệ (%)"],
        [1, single_q, "Một lựa chọn", "Có", 2, 66.7],
        [1, single_q, "Một lựa chọn", "Không", 1, 33.3],
        [2, multiple_q, "Nhiều lựa chọn", "Chuyên đề", 3, 100],
        [2, multiple_q, "Nhiều lựa chọn", "Tự phê bình", 0, 0],
        [2, multiple_q, "Nhiều lựa chọn", "Học tập nghị quyết", 3, 100],
        *(
            [3, scale_q, "Thang điểm", f"Mức {n}", 3 if n == 4 else 0, 100 if n == 4 else 0]
            for n in range(1, 6)
        ),
        [3, scale_q, "Thang điểm", "Điểm trung bình", 4],
        [4, text_q, "Ý kiến tự do", None, 3],
    ]
    units = {row[0]: row[1:] for row in _rows(book, "Theo đơn vị")[1:]}
    assert units == {tree.b1.id: [tree.b1.name, 2], tree.b3.id: [tree.b3.name, 1]}
    assert _rows(book, "Ý kiến")[1:] == [[4, text_q, "Nên sinh hoạt đúng giờ hơn."]] * 3


async def _export(
    client: httpx.AsyncClient, survey_id: int, headers: dict[str, str]
) -> openpyxl.Workbook:
    response = await client.get(f"/api/v1/surveys/{survey_id}/results/export", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response.headers["content-disposition"]
    return openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)


def _rows(book: openpyxl.Workbook, sheet: str) -> list[list[Any]]:
    """The sheet's rows as written (a spreadsheet keeps no trailing empty cells)."""
    rows = []
    for row in book[sheet].iter_rows(values_only=True):
        cells = list(row)
        while cells and cells[-1] is None:
            cells.pop()
        rows.append(cells)
    return rows


async def test_bad_answers_change_nothing(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    survey = await _create(client, await as_actor(tree.secretary.id), tree.b1.id)
    member = await as_actor(tree.member.id)
    url = f"/api/v1/surveys/{survey['id']}/responses"
    q = survey["questions"]
    cases = [
        ([{"question_id": 999_999, "choices": [0]}], "survey.question_not_in_survey"),
        ([{"question_id": q[0]["id"], "choices": [0, 1]}], "survey.invalid_answer"),
        ([{"question_id": q[0]["id"], "choices": [5]}], "survey.invalid_answer"),
        ([{"question_id": q[2]["id"], "choices": [9]}], "survey.invalid_answer"),
        ([{"question_id": q[3]["id"], "choices": [0]}], "survey.invalid_answer"),
        ([{"question_id": q[0]["id"], "choices": [0]}] * 2, "survey.duplicate_answer"),
    ]
    for answers, code in cases:
        assert_problem(await client.post(url, json={"answers": answers}, headers=member), 422, code)
    assert await session.scalar(select(func.count()).select_from(SurveyParticipation)) == 0
    assert await session.scalar(select(func.count()).select_from(SurveyResponse)) == 0
    # Not eligible: a member of another branch who can see the survey's org.
    other = await _create(client, await as_actor(tree.editor.id), tree.b2.id)
    refused = await client.post(
        f"/api/v1/surveys/{other['id']}/responses",
        json={"answers": _answers(other)},
        headers=await as_actor(tree.admin.id),
    )
    assert_problem(refused, 403, "survey.not_eligible")
    later = await _create(
        client,
        await as_actor(tree.secretary.id),
        tree.b1.id,
        opens_at=(utcnow() + timedelta(days=1)).isoformat(),
    )
    not_open = await client.post(
        f"/api/v1/surveys/{later['id']}/responses",
        json={"answers": _answers(later)},
        headers=member,
    )
    assert_problem(not_open, 409, "survey.not_open")
    bad_shape = survey_body()
    bad_shape["questions"][2].pop("scale_max")
    created = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/surveys",
        json=bad_shape,
        headers=await as_actor(tree.secretary.id),
    )
    assert created.status_code == 422
