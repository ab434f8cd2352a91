"""The study area's demo objects: an open quiz for the whole province (to take after reading a
resolution), a points history for the members of the first branch, an open survey."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.models import (
    PointBalance,
    PointEntry,
    PointSource,
    Quiz,
    QuizAttempt,
    QuizQuestion,
    Survey,
    SurveyQuestion,
)
from app.models.base import utcnow
from app.services import points

CHUNK = 5000

QUESTIONS: list[dict[str, Any]] = [
    {
        "kind": "single",
        "text": "Nghị quyết 57-NQ/TW của Bộ Chính trị bàn về lĩnh vực nào?",
        "options": [
            "Đột phá phát triển khoa học, công nghệ, đổi mới sáng tạo và chuyển đổi số",
            "Phát triển kinh tế tư nhân",
            "Hội nhập quốc tế",
        ],
        "correct": [0],
        "explanation": "Nghị quyết 57-NQ/TW ngày 22/12/2024 về đột phá phát triển khoa học, "
        "công nghệ, đổi mới sáng tạo và chuyển đổi số quốc gia.",
    },
    {
        "kind": "multiple",
        "text": "Những nội dung nào là nhiệm vụ của đảng viên trong chuyển đổi số?",
        "options": [
            "Sử dụng thành thạo các ứng dụng số của Đảng",
            "Tuyên truyền, vận động nhân dân cùng thực hiện",
            "Không cần thay đổi cách làm việc",
        ],
        "correct": [0, 1],
        "explanation": "Đảng viên gương mẫu đi đầu và vận động nhân dân.",
    },
    {
        "kind": "single",
        "text": "Chi bộ sinh hoạt định kỳ bao lâu một lần?",
        "options": ["Mỗi tuần", "Mỗi tháng", "Mỗi quý"],
        "correct": [1],
        "explanation": "Chi bộ sinh hoạt định kỳ mỗi tháng một lần.",
    },
]


async def seed(
    session: AsyncSession, orgs: list[dict[str, Any]], members: list[dict[str, Any]]
) -> None:
    now = utcnow()
    root = orgs[0]
    quiz = Quiz(
        org_id=root["id"],
        title="Tìm hiểu Nghị quyết 57-NQ/TW",
        description="Đọc Nghị quyết 57-NQ/TW rồi làm bài kiểm tra nhanh (3 câu, 10 phút).",
        # The content area's demo resolution, once it seeds one; no id is assumed here.
        document_id=None,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=30),
        time_limit_s=600,
        attempts_allowed=2,
        draw_count=None,
        pass_percent=60,
        points=20,
        reveal_after="submit",
        created_at=now,
    )
    session.add(quiz)
    await session.flush()
    for position, q in enumerate(QUESTIONS, start=1):
        session.add(QuizQuestion(quiz_id=quiz.id, position=position, **q))
    await seed_survey(session, orgs)
    first_branch = next(o for o in orgs if o["kind"] == "branch" and o["code"] == "LV-HB-KP1")
    history = [
        (PointSource.OPENING, 40, "Số dư đầu năm", 200),
        (PointSource.MEETING, 10, "Dự sinh hoạt chi bộ tháng 10", 45),
        (PointSource.DOCUMENT, 2, "Đọc Nghị quyết 57-NQ/TW", 30),
        (PointSource.MEETING, 10, "Dự sinh hoạt chi bộ tháng 11", 15),
    ]
    for index, member in enumerate(m for m in members if m["branch_id"] == first_branch["id"]):
        for step, (source, value, reason, days_ago) in enumerate(history):
            if step and (index + step) % 4 == 0:
                continue  # not everyone did everything
            at = now - timedelta(days=days_ago)
            if at.year != now.year and source != PointSource.OPENING:
                continue
            await points.award(
                session,
                member_id=member["id"],
                points=value,
                source=source,
                source_key=f"demo:{source}:{step}:member:{member['id']}",
                reason=reason,
                at=at if source != PointSource.OPENING else now.replace(month=1, day=1),
            )


async def seed_survey(session: AsyncSession, orgs: list[dict[str, Any]]) -> None:
    """An open, anonymous survey for the first ward's (commune's) members."""
    now = utcnow()
    ward = next(
        (o for o in orgs if o["code"] == "LV-HB"),
        next((o for o in orgs if o["kind"] == "commune_committee"), orgs[0]),
    )
    survey = Survey(
        org_id=ward["id"],
        title="Khảo sát chất lượng sinh hoạt chi bộ năm 2026",
        description="Khảo sát ẩn danh: không ai biết câu trả lời của đồng chí.",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=20),
        is_anonymous=True,
        created_at=now,
    )
    session.add(survey)
    await session.flush()
    for position, (kind, text, options, scale_max) in enumerate(
        (
            ("single", "Sinh hoạt chi bộ có thiết thực không?", ["Có", "Chưa"], None),
            (
                "multiple",
                "Nội dung nào cần tăng cường?",
                ["Sinh hoạt chuyên đề", "Tự phê bình và phê bình", "Học tập nghị quyết"],
                None,
            ),
            ("scale", "Đồng chí chấm buổi sinh hoạt gần nhất bao nhiêu điểm?", None, 5),
            ("text", "Góp ý khác", None, None),
        ),
        start=1,
    ):
        session.add(
            SurveyQuestion(
                survey_id=survey.id,
                position=position,
                kind=kind,
                text=text,
                options=options,
                scale_max=scale_max,
            )
        )
    await session.flush()


async def seed_generated(
    engine: AsyncEngine, orgs: list[dict[str, Any]], members: list[dict[str, Any]], seed: int
) -> dict[str, int]:
    """A year of study for a generated province, at realistic shares: a province quiz each
    month (about 30% of members attempt it, 80% of those pass), a meeting attended most months
    (80%), each with its ledger entry; the yearly balances; an open anonymous survey. Bulk Core
    inserts, one transaction per chunk."""
    rng = random.Random(seed)  # noqa: S311 - generated data, not secrets
    now = utcnow()
    year_start = datetime(now.year, 1, 1, 3, 0, tzinfo=UTC)
    months = max(1, (now - year_start).days // 30)
    root = orgs[0]
    quizzes: list[dict[str, Any]] = []
    async with engine.begin() as conn:
        for month in range(months):
            opens = year_start + timedelta(days=30 * month)
            quiz_id = await conn.scalar(
                insert(Quiz)
                .values(
                    org_id=root["id"],
                    title=f"Kiểm tra học tập tháng {month + 1}",
                    opens_at=opens,
                    closes_at=opens + timedelta(days=30),
                    time_limit_s=600,
                    attempts_allowed=2,
                    pass_percent=60,
                    points=10,
                    reveal_after="submit",
                    created_at=opens,
                )
                .returning(Quiz.id)
            )
            question_ids = []
            for position, q in enumerate(QUESTIONS, start=1):
                question_ids.append(
                    await conn.scalar(
                        insert(QuizQuestion)
                        .values(quiz_id=quiz_id, position=position, **q)
                        .returning(QuizQuestion.id)
                    )
                )
            quizzes.append({"id": quiz_id, "opens": opens, "questions": question_ids})
    entries: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    balances: list[dict[str, Any]] = []
    for member in members:
        if member["is_exempt"]:
            continue
        total = 0
        for month in range(months):
            at = year_start + timedelta(days=30 * month + 10)
            if rng.random() < 0.8:
                entries.append(_entry(member, 10, "meeting", f"meeting:{month}", at, now.year))
                total += 10
            quiz = quizzes[month]
            if rng.random() < 0.3:
                passed = rng.random() < 0.8
                attempts.append(
                    {
                        "quiz_id": quiz["id"],
                        "member_id": member["id"],
                        "branch_id": member["branch_id"],
                        "number": 1,
                        "question_ids": quiz["questions"],
                        "started_at": at,
                        "deadline_at": at + timedelta(minutes=10),
                        "submitted_at": at + timedelta(minutes=6),
                        "correct_count": 3 if passed else 1,
                        "score_percent": 100 if passed else 33,
                        "is_passed": passed,
                    }
                )
                if passed:
                    entries.append(_entry(member, 10, "quiz", f"quiz:{quiz['id']}", at, now.year))
                    total += 10
        if total:
            balances.append({"member_id": member["id"], "year": now.year, "points": total})
    tables: tuple[tuple[type[Any], list[dict[str, Any]]], ...] = (
        (QuizAttempt, attempts),
        (PointEntry, entries),
        (PointBalance, balances),
    )
    for table, rows in tables:
        for start in range(0, len(rows), CHUNK):
            async with engine.begin() as conn:
                await conn.execute(insert(table), rows[start : start + CHUNK])
    async with async_sessionmaker(engine, expire_on_commit=False).begin() as session:
        await seed_survey(session, orgs)
    return {"quizzes": len(quizzes), "attempts": len(attempts), "point_entries": len(entries)}


def _entry(
    member: dict[str, Any], points: int, source: str, key: str, at: datetime, year: int
) -> dict[str, Any]:
    return {
        "member_id": member["id"],
        "points": points,
        "year": year,
        "source": source,
        "source_key": f"gen:{key}:member:{member['id']}",
        "reason": "Dự sinh hoạt chi bộ" if source == "meeting" else "Đạt bài kiểm tra",
        "created_at": at,
    }
