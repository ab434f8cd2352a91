"""The study area's demo objects: an open quiz for the whole province (to take after reading a
resolution), a points history for the members of the first branch, an open survey."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.models import (
    Member,
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
from app.services import leaderboards, points

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


async def seed_province_study(conn: AsyncConnection, province: Any) -> int:
    """A year of study for the generated province (`province.AREA_SEEDERS`), at realistic
    shares: a province quiz each month (about 30% of members attempt it, 80% of those pass), a
    meeting attended most months (80%), each with its ledger entry; the yearly balances and the
    units' totals (leaderboards by unit); an open anonymous survey. Bulk-written (COPY on
    PostgreSQL) in the province's transaction. Returns the rows written."""
    from app.services.province import copy_rows

    rng = random.Random(province.seed)  # noqa: S311 - generated data, not secrets
    now = utcnow()
    year_start = datetime(now.year, 1, 1, 3, 0, tzinfo=UTC)
    months = max(1, (now - year_start).days // 30)
    root = province.orgs[0]
    quizzes: list[tuple[int, list[int]]] = []
    for month in range(months):
        opens = year_start + timedelta(days=30 * month)
        quiz_id = await conn.scalar(
            insert(Quiz)
            .values(
                org_id=root.id,
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
            question_id = await conn.scalar(
                insert(QuizQuestion)
                .values(quiz_id=quiz_id, position=position, **q)
                .returning(QuizQuestion.id)
            )
            question_ids.append(int(question_id or 0))
        quizzes.append((int(quiz_id or 0), question_ids))
    members = (
        await conn.execute(
            select(Member.id, Member.branch_id).where(
                Member.id >= province.first_member_id, Member.is_exempt.is_(False)
            )
        )
    ).all()
    tables: tuple[tuple[Any, tuple[str, ...], list[tuple[Any, ...]]], ...] = (
        (QuizAttempt.__table__, ATTEMPT_COLUMNS, []),
        (PointEntry.__table__, ENTRY_COLUMNS, []),
        (PointBalance.__table__, ("member_id", "year", "points"), []),
    )
    attempts, entries, balances = (rows for _table, _columns, rows in tables)
    written = 0

    async def flush(final: bool = False) -> None:
        nonlocal written
        for table, columns, rows in tables:
            if rows and (final or len(rows) >= CHUNK):
                await copy_rows(conn, table, columns, rows)
                written += len(rows)
                rows.clear()

    for member_id, branch_id in members:
        total = 0
        for month in range(months):
            at = year_start + timedelta(days=30 * month + 10)
            if rng.random() < 0.8:
                entries.append(_entry(member_id, "meeting", f"meeting:{month}", at, now.year))
                total += 10
            if rng.random() < 0.3:
                quiz_id, questions = quizzes[month]
                passed = rng.random() < 0.8
                attempts.append(
                    (
                        quiz_id,
                        member_id,
                        branch_id,
                        1,
                        questions,
                        at,
                        at + timedelta(minutes=10),
                        at + timedelta(minutes=6),
                        3 if passed else 1,
                        100 if passed else 33,
                        passed,
                    )
                )
                if passed:
                    entries.append(_entry(member_id, "quiz", f"quiz:{quiz_id}", at, now.year))
                    total += 10
        if total:
            balances.append((member_id, now.year, total))
        await flush()
    await flush(final=True)
    session = AsyncSession(bind=conn)
    orgs = [
        {
            "id": o.id,
            "code": o.code,
            "kind": o.kind.value,
            "parent_id": o.parent.id if o.parent else None,
        }
        for o in province.orgs
    ]
    await seed_survey(session, orgs)
    written += await leaderboards.refresh_unit_totals(session, year=now.year)
    await session.flush()
    return written


ATTEMPT_COLUMNS = (
    "quiz_id",
    "member_id",
    "branch_id",
    "number",
    "question_ids",
    "started_at",
    "deadline_at",
    "submitted_at",
    "correct_count",
    "score_percent",
    "is_passed",
)
ENTRY_COLUMNS = ("member_id", "points", "year", "source", "source_key", "reason", "created_at")


def _entry(member_id: int, source: str, key: str, at: datetime, year: int) -> tuple[Any, ...]:
    return (
        member_id,
        10,
        year,
        source,
        f"gen:{key}:member:{member_id}",
        "Dự sinh hoạt chi bộ" if source == "meeting" else "Đạt bài kiểm tra",
        at,
    )
