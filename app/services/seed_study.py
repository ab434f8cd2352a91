"""The study area's demo objects: an open quiz for the whole province (to take after reading a
resolution), a points history for the members of the first branch, an open survey."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PointSource, Quiz, QuizQuestion, Survey, SurveyQuestion
from app.models.base import utcnow
from app.services import points

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
    """An open, anonymous survey for the first ward's members."""
    now = utcnow()
    ward = next(o for o in orgs if o["code"] == "LV-HB")
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
