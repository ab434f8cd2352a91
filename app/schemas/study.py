"""Study shapes: points, quizzes and their attempts, leaderboards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.models.study import PointSource, QuestionKind, RevealAfter, SurveyQuestionKind
from app.schemas.common import Flag, IsoDateTime, NoNul, ObjectId, StrictInt, StrictModel

Title = Annotated[str, Field(min_length=1, max_length=200, examples=["Học tập Nghị quyết 57"])]
LongText = Annotated[str, Field(min_length=1, max_length=5000), NoNul]
Note = Annotated[str, Field(min_length=1, max_length=500, examples=["Giải nhất hội thi"])]

# Opening and closing times: within this century (no overflow converting far dates to UTC).
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _check_window(opens_at: datetime, closes_at: datetime) -> None:
    for moment in (opens_at, closes_at):
        if not _EARLIEST <= moment <= _LATEST:
            raise ValueError("Thời điểm phải trong khoảng năm 2000 đến 2100.")
    if closes_at <= opens_at:
        raise ValueError("Thời điểm đóng phải sau thời điểm mở.")


# --- points ------------------------------------------------------------------------------------


class PointEntryRead(BaseModel):
    id: int
    points: int = Field(description="Negative for a correction.")
    year: int = Field(description="The local year the points count for.")
    source: PointSource
    reason: str
    note: str | None
    created_at: datetime
    created_by_id: int | None = Field(description="The officer of a manual award.")


class YearPoints(BaseModel):
    year: int
    points: int


class MyPointsRead(BaseModel):
    year: int
    points: int = Field(description="Points in `year`.")
    target: int = Field(description="The deployment's yearly target per member.")
    remaining: int = Field(description="Points still missing to reach the target.")
    years: list[YearPoints] = Field(description="Every year with points, newest first.")


class PointAwardCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "points": 20,
                    "note": "Giải nhất Hội thi tìm hiểu Nghị quyết số 57-NQ/TW cấp phường",
                    "reason": "Khen thưởng hội thi",
                }
            ]
        }
    )

    points: StrictInt = Field(
        description="Non-zero, negative for a correction; at most RULES__STUDY_POINTS_MANUAL_MAX.",
        examples=[10],
    )
    note: Note
    reason: Annotated[str | None, Field(min_length=1, max_length=200)] = None


# --- quizzes -----------------------------------------------------------------------------------

Option = Annotated[str, Field(min_length=1, max_length=500), NoNul]


class QuizQuestionCreate(StrictModel):
    kind: QuestionKind
    text: LongText
    options: list[Option] = Field(min_length=2, max_length=10)
    correct: list[Annotated[StrictInt, Field(ge=0, le=9)]] = Field(
        min_length=1, max_length=10, description="Indexes of the correct options (from 0)."
    )
    explanation: Annotated[str | None, Field(max_length=5000)] = None

    @model_validator(mode="after")
    def _consistent(self) -> QuizQuestionCreate:
        if len(set(self.correct)) != len(self.correct) or max(self.correct) >= len(self.options):
            raise ValueError("Đáp án đúng phải là các chỉ số khác nhau của phương án.")
        if self.kind == QuestionKind.SINGLE and len(self.correct) != 1:
            raise ValueError("Câu hỏi một lựa chọn cần đúng một đáp án.")
        return self


class QuizCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Tìm hiểu Nghị quyết số 57-NQ/TW",
                    "description": (
                        "Cuộc thi trắc nghiệm sau hội nghị quán triệt; đọc văn bản "
                        "trước khi làm bài."
                    ),
                    "document_id": 3,
                    "opens_at": "2027-01-11T08:00:00+07:00",
                    "closes_at": "2027-01-29T17:00:00+07:00",
                    "time_limit_s": 900,
                    "attempts_allowed": 2,
                    "pass_percent": 80,
                    "points": 10,
                    "reveal_after": "close",
                    "questions": [
                        {
                            "kind": "single",
                            "text": "Nghị quyết số 57-NQ/TW được Bộ Chính trị ban hành ngày nào?",
                            "options": ["22/12/2024", "19/5/2024", "03/02/2025", "01/7/2025"],
                            "correct": [0],
                            "explanation": None,
                        },
                        {
                            "kind": "single",
                            "text": (
                                "Theo Nghị quyết, đến năm 2030 quy mô kinh tế số đạt tối "
                                "thiểu bao nhiêu phần trăm GDP?"
                            ),
                            "options": ["20%", "25%", "30%", "40%"],
                            "correct": [2],
                            "explanation": (
                                "Mục tiêu đến năm 2030: quy mô kinh tế số đạt tối thiểu 30% GDP."
                            ),
                        },
                        {
                            "kind": "multiple",
                            "text": (
                                "Nghị quyết xác định những lĩnh vực nào là đột phá quan "
                                "trọng hàng đầu?"
                            ),
                            "options": [
                                "Khoa học, công nghệ",
                                "Đổi mới sáng tạo",
                                "Chuyển đổi số quốc gia",
                                "Khai thác khoáng sản",
                            ],
                            "correct": [0, 1, 2],
                            "explanation": None,
                        },
                    ],
                }
            ]
        }
    )

    title: Title
    description: LongText | None = None
    document_id: ObjectId | None = Field(
        default=None, description="The document to study before taking the quiz."
    )
    opens_at: IsoDateTime
    closes_at: IsoDateTime
    time_limit_s: StrictInt = Field(ge=30, le=4 * 3600, examples=[900])
    attempts_allowed: StrictInt = Field(default=1, ge=1, le=10)
    draw_count: StrictInt | None = Field(
        default=None, ge=1, le=200, description="Questions drawn per attempt; all when null."
    )
    pass_percent: StrictInt = Field(default=80, ge=0, le=100)
    points: StrictInt | None = Field(
        default=None, ge=0, le=1000, description="Points for passing; the deployment's default."
    )
    reveal_after: RevealAfter = Field(
        default=RevealAfter.SUBMIT,
        description="Correct answers shown after each submit, or only once the quiz closes.",
    )
    questions: list[QuizQuestionCreate] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> QuizCreate:
        _check_window(self.opens_at, self.closes_at)
        if self.draw_count is not None and self.draw_count > len(self.questions):
            raise ValueError("Số câu rút mỗi lượt không được nhiều hơn ngân hàng câu hỏi.")
        return self


class QuizSummary(BaseModel):
    id: int
    org_id: int
    title: str
    document_id: int | None
    opens_at: datetime
    closes_at: datetime
    time_limit_s: int
    attempts_allowed: int
    question_count: int = Field(description="Questions in each attempt.")
    pass_percent: int
    points: int


class QuizRead(QuizSummary):
    description: str | None
    reveal_after: RevealAfter
    bank_size: int = Field(description="Questions in the bank.")
    created_at: datetime


class QuestionForAttempt(BaseModel):
    """A question as shown during an attempt: never its correct answers."""

    id: int
    kind: QuestionKind
    text: str
    options: list[str]


class AnswerResult(BaseModel):
    question_id: int
    chosen: list[int]
    is_correct: bool
    correct: list[int] | None = Field(description="Shown once the quiz's reveal rule allows.")
    explanation: str | None


class AttemptResult(BaseModel):
    correct_count: int
    total: int
    score_percent: int
    is_passed: bool
    points_awarded: int = Field(description="Points this attempt added to the ledger.")
    answers: list[AnswerResult]


class AttemptRead(BaseModel):
    id: int
    quiz_id: int
    number: int
    started_at: datetime
    deadline_at: datetime
    submitted_at: datetime | None
    questions: list[QuestionForAttempt]
    result: AttemptResult | None = Field(description="After submit.")


class AnswerSubmit(StrictModel):
    question_id: ObjectId
    chosen: list[Annotated[StrictInt, Field(ge=0, le=9)]] = Field(max_length=10)


class AttemptSubmit(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answers": [
                        {"question_id": 11, "chosen": [0]},
                        {"question_id": 12, "chosen": [2]},
                        {"question_id": 13, "chosen": [0, 1, 2]},
                    ]
                }
            ]
        }
    )

    answers: list[AnswerSubmit] = Field(max_length=200)


class UnitResult(BaseModel):
    org_id: int
    name: str
    members: int = Field(description="Members who submitted an attempt.")
    passed: int
    average_percent: float


class QuestionResult(BaseModel):
    question_id: int
    position: int
    text: str
    answered: int
    correct: int
    correct_rate: float = Field(description="Share of answers that were correct (0..1).")


class QuizResults(BaseModel):
    quiz_id: int
    attempts: int = Field(description="Submitted attempts.")
    members: int = Field(description="Members with a submitted attempt.")
    passed: int = Field(description="Members who passed.")
    by_unit: list[UnitResult]
    by_question: list[QuestionResult] = Field(description="Most missed first.")


# --- leaderboards ------------------------------------------------------------------------------


class RankedMember(BaseModel):
    rank: int
    member_id: int
    full_name: str
    points: int


class MyRankRead(BaseModel):
    year: int
    branch_id: int
    members: int = Field(description="Members of my branch.")
    me: RankedMember
    neighbours: list[RankedMember] = Field(description="Around me, me included.")


class UnitRank(BaseModel):
    org_id: int
    name: str
    members: int = Field(description="Eligible (not exempt) members.")
    points: int
    average: float = Field(description="Points per eligible member.")


class UnitLeaderboard(BaseModel):
    year: int
    org_id: int
    as_of: datetime | None = Field(
        description="When the worker last counted the totals; null: counted for this request."
    )
    items: list[UnitRank] = Field(description="The org's children, best average first.")


# --- surveys -----------------------------------------------------------------------------------


class SurveyQuestionCreate(StrictModel):
    kind: SurveyQuestionKind
    text: LongText
    options: list[Option] | None = Field(
        default=None, min_length=2, max_length=20, description="For single and multiple choice."
    )
    scale_max: StrictInt | None = Field(
        default=None, ge=2, le=10, description="For a scale: answers from 1 to `scale_max`."
    )

    @model_validator(mode="after")
    def _consistent(self) -> SurveyQuestionCreate:
        choice = self.kind in (SurveyQuestionKind.SINGLE, SurveyQuestionKind.MULTIPLE)
        if choice != (self.options is not None):
            raise ValueError("Chỉ câu hỏi lựa chọn mới có (và phải có) các phương án.")
        if (self.kind == SurveyQuestionKind.SCALE) != (self.scale_max is not None):
            raise ValueError("Chỉ câu hỏi thang điểm mới có (và phải có) `scale_max`.")
        return self


class SurveyCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Khảo sát chất lượng sinh hoạt chi bộ năm 2026",
                    "description": (
                        "Ý kiến của đảng viên giúp cấp ủy nâng cao chất lượng sinh "
                        "hoạt chi bộ năm 2027."
                    ),
                    "opens_at": "2027-01-05T08:00:00+07:00",
                    "closes_at": "2027-01-20T17:00:00+07:00",
                    "is_anonymous": True,
                    "questions": [
                        {
                            "kind": "single",
                            "text": "Đồng chí tham dự sinh hoạt chi bộ định kỳ như thế nào?",
                            "options": ["Đầy đủ", "Thỉnh thoảng vắng", "Thường xuyên vắng"],
                        },
                        {
                            "kind": "multiple",
                            "text": "Nội dung nào cần được tăng cường trong sinh hoạt chi bộ?",
                            "options": [
                                "Sinh hoạt chuyên đề",
                                "Học tập nghị quyết",
                                "Phê bình và tự phê bình",
                                "Công tác dân vận",
                            ],
                        },
                        {
                            "kind": "scale",
                            "text": (
                                "Đồng chí đánh giá chất lượng sinh hoạt chi bộ năm 2026 ở "
                                "mức nào (1 thấp nhất, 5 cao nhất)?"
                            ),
                            "scale_max": 5,
                        },
                        {
                            "kind": "text",
                            "text": "Đề xuất của đồng chí để sinh hoạt chi bộ thiết thực hơn.",
                        },
                    ],
                }
            ]
        }
    )

    title: Title
    description: LongText | None = None
    opens_at: IsoDateTime
    closes_at: IsoDateTime
    is_anonymous: Flag = Field(
        description="Answers cannot be linked to a member by anyone; results only for large groups."
    )
    questions: list[SurveyQuestionCreate] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> SurveyCreate:
        _check_window(self.opens_at, self.closes_at)
        return self


class SurveySummary(BaseModel):
    id: int
    org_id: int
    title: str
    opens_at: datetime
    closes_at: datetime
    is_anonymous: bool


class SurveyQuestionRead(BaseModel):
    id: int
    kind: SurveyQuestionKind
    text: str
    options: list[str] | None
    scale_max: int | None


class SurveyRead(SurveySummary):
    description: str | None
    questions: list[SurveyQuestionRead]


class SurveyAnswerSubmit(StrictModel):
    question_id: ObjectId
    choices: list[Annotated[StrictInt, Field(ge=0, le=19)]] | None = Field(
        default=None, max_length=20, description="Option indexes; for a scale, [value]."
    )
    text: Annotated[str | None, Field(min_length=1, max_length=2000)] = None


class SurveyResponseCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answers": [
                        {"question_id": 21, "choices": [0]},
                        {"question_id": 22, "choices": [0, 2]},
                        {"question_id": 23, "choices": [4]},
                        {
                            "question_id": 24,
                            "text": "Nên dành thời gian thảo luận các việc cụ thể của tổ dân phố.",
                        },
                    ]
                }
            ]
        }
    )

    answers: list[SurveyAnswerSubmit] = Field(min_length=1, max_length=100)


class SurveyQuestionResult(BaseModel):
    question_id: int
    kind: SurveyQuestionKind
    text: str
    answered: int
    counts: list[int] | None = Field(
        description="Answers per option (per scale value from 1); null when hidden."
    )
    average: float | None = Field(description="Scale questions.")
    texts: list[str] | None = Field(description="Free-text answers of named surveys (first 100).")


class SurveyUnitResult(BaseModel):
    org_id: int
    name: str
    responses: int


class SurveyResults(BaseModel):
    survey_id: int
    is_anonymous: bool
    responses: int
    min_group: int = Field(description="Anonymous surveys: groups smaller than this are not shown.")
    by_question: list[SurveyQuestionResult]
    by_unit: list[SurveyUnitResult] = Field(
        description="Anonymous surveys list only units with at least `min_group` responses."
    )
