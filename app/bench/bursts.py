"""Write bursts: their targets, prepared fresh for every burst, and the check after it.

A burst is many members doing one write at once, each once (DESIGN.md §5: the meeting-night
check-in and the quiz-submit bursts). A write cannot be repeated on the same rows (a second
check-in changes nothing, a second submit is refused), so **each burst gets targets of its own,
made just before it is sent**, and they are removed again when the part ends:

- `checkin`: a meeting that started a minute ago (inside the check-in window, by the server's
  clock) in each of a run of branches taken across communes, every member of those branches
  summoned (as announcing does), pending; the burst is each app user among them (a phone, not
  locked) checking in once. Branches already used in this run are not taken again.
- `quiz_submit`: an open quiz of the province (created once for the run, the study seeder's
  questions), and for each member of the burst an attempt started a minute ago; the burst is
  each of them submitting their answers (all correct: every attempt passes and earns the quiz's
  points, so each must leave exactly one ledger entry). Members already used are not taken
  again.

After every burst, `check` counts in the database: exactly one attendance (`present`, by the
app, since the burst began) for every member who checked in and none for anyone else, no member
with two rows; or every attempt submitted and passed once, its answers scored once, exactly one
ledger entry per attempt and no member with two. `cleanup` deletes what the bursts made (marked
with `BURST_MARK`, so a run that crashed is cleaned by the next): the meetings (their attendance
goes with them), the quiz with its attempts and answers, and the quiz's ledger entries with the
balances they added, so the seeded province is as it was and the part can run again on a reused
database.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.models import (
    Meeting,
    MeetingAttendee,
    Quiz,
    QuizAttempt,
    QuizQuestion,
)
from app.models.base import utcnow

BURST_MARK = "handbook bench: burst"  # meeting.place / quiz.description of the bursts' rows
_meeting = cast(Table, Meeting.__table__)
_attendee = cast(Table, MeetingAttendee.__table__)
_quiz = cast(Table, Quiz.__table__)
_question = cast(Table, QuizQuestion.__table__)
_attempt = cast(Table, QuizAttempt.__table__)


@dataclass(frozen=True, slots=True)
class Write:
    """One member's write: their own path and body (JSON); the token and the Idempotency-Key
    are added when the request list is written."""

    member_id: int
    path: str
    body: dict[str, Any] | None = None

    def body_json(self) -> str | None:
        return None if self.body is None else json.dumps(self.body, separators=(",", ":"))


@dataclass
class Batch:
    """One burst's targets: the writes, and what the check needs to find their rows."""

    writes: list[Write]
    since: datetime
    description: str
    ids: dict[str, Any] = field(default_factory=dict)

    @property
    def members(self) -> list[int]:
        return [w.member_id for w in self.writes]


@dataclass(frozen=True, slots=True)
class Check:
    """What the database holds after a burst: `passed` when every count is as it must be."""

    passed: bool
    expected: int
    found: dict[str, int]
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "expected": self.expected,
            "found": self.found,
            "text": self.text,
        }


class BurstKind(Protocol):
    """A burst's targets, check and cleanup; one instance per bench run (it remembers which
    branches or members the run has used)."""

    async def prepare(self, conn: AsyncConnection, count: int) -> Batch: ...
    async def check(self, conn: AsyncConnection, batch: Batch) -> Check: ...
    async def cleanup(self, conn: AsyncConnection) -> int: ...


# Branches in an order that spreads over the province: the first branch of every commune, then
# the second of every commune … (the top-level org under the root stands for the commune).
_SPREAD = text(
    """
WITH b AS (
    SELECT o.id, split_part(o.path, '/', 3) AS top FROM org o
    WHERE o.kind = 'branch' AND o.is_active
)
SELECT id FROM (
    SELECT id, row_number() OVER (PARTITION BY top ORDER BY id) AS n FROM b
) ranked ORDER BY n, id
"""
)
# The app users of a branch: not locked, not archived, with a phone.
_APP_USERS = text(
    """
SELECT m.id, m.branch_id FROM member m
WHERE m.branch_id = ANY(:branches) AND NOT m.is_locked AND m.archived_on IS NULL
  AND m.phone IS NOT NULL
ORDER BY m.branch_id, m.id
"""
)


async def _spread_branches(conn: AsyncConnection) -> list[int]:
    return [int(r[0]) for r in await conn.execute(_SPREAD)]


class CheckinBurst:
    """Meeting night: members of many branches checking in to their branch's meeting at once."""

    def __init__(self) -> None:
        self._branches: list[int] | None = None

    async def prepare(self, conn: AsyncConnection, count: int) -> Batch:
        from app.services.meetings.demo import AGENDA
        from app.services.province import copy_rows

        if self._branches is None:
            self._branches = await _spread_branches(conn)
        now = utcnow()
        starts = now - timedelta(minutes=1)
        taken: list[int] = []
        users: list[tuple[int, int]] = []
        while self._branches and len(users) < count:
            chunk, self._branches = self._branches[:50], self._branches[50:]
            rows = await conn.execute(_APP_USERS, {"branches": chunk})
            by_branch: dict[int, list[int]] = {}
            for member_id, branch_id in rows:
                by_branch.setdefault(int(branch_id), []).append(int(member_id))
            left: list[int] = []  # for the next burst
            for branch_id in chunk:
                found = by_branch.get(branch_id, [])
                if len(users) >= count:
                    left.append(branch_id)
                elif found:
                    taken.append(branch_id)
                    users += [(m, branch_id) for m in found]
            self._branches = left + self._branches
        meetings: dict[int, int] = {}
        for branch_id in taken:
            meeting_id = await conn.scalar(
                insert(_meeting)
                .values(
                    org_id=branch_id,
                    kind="regular",
                    status="started",
                    title=f"Sinh hoạt chi bộ tháng {starts.month}/{starts.year}",
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=2),
                    place=BURST_MARK,
                    agenda=AGENDA,
                    qr_secret=secrets.token_hex(32),
                    announced_at=starts - timedelta(days=5),
                    started_at=starts,
                    created_at=starts - timedelta(days=6),
                    updated_at=starts,
                    version=1,
                )
                .returning(_meeting.c.id)
            )
            meetings[branch_id] = int(meeting_id or 0)
        # Every member of those branches is summoned (the snapshot announcing takes), pending.
        summoned = await conn.execute(
            text(
                "SELECT id, branch_id, status, is_exempt FROM member "
                "WHERE branch_id = ANY(:branches) AND archived_on IS NULL"
            ),
            {"branches": taken},
        )
        await copy_rows(
            conn,
            _attendee,
            (
                "meeting_id",
                "member_id",
                "member_status",
                "is_exempt",
                "attendance",
                "updated_at",
                "is_offline",
            ),
            [
                (meetings[int(b)], int(m), s, bool(e), "pending", starts, False)
                for m, b, s, e in summoned
            ],
        )
        writes = [
            Write(member_id, f"/api/v1/meetings/{meetings[branch_id]}/check-in")
            for member_id, branch_id in users[:count]
        ]
        return Batch(
            writes,
            since=now,
            description=(
                f"{len(writes):,} members of {len(taken):,} branches across communes, each "
                "checking in once to their branch's meeting (started a minute before)"
            ),
            ids={"meetings": sorted(meetings.values())},
        )

    async def check(self, conn: AsyncConnection, batch: Batch) -> Check:
        row = (
            await conn.execute(
                text(
                    """
SELECT
  count(*) FILTER (WHERE a.member_id = ANY(:members)) AS rows,
  count(DISTINCT a.member_id) FILTER (WHERE a.member_id = ANY(:members)) AS members,
  count(*) FILTER (WHERE a.member_id = ANY(:members) AND a.attendance = 'present'
                   AND a.method = 'app' AND a.checked_in_at >= :since) AS present,
  count(*) FILTER (WHERE NOT a.member_id = ANY(:members) AND a.attendance = 'present') AS others,
  (SELECT count(*) FROM (SELECT member_id FROM meeting_attendee
                         WHERE meeting_id = ANY(:meetings)
                         GROUP BY member_id HAVING count(*) > 1) d) AS doubled
FROM meeting_attendee a WHERE a.meeting_id = ANY(:meetings)
"""
                ),
                {"members": batch.members, "meetings": batch.ids["meetings"], "since": batch.since},
            )
        ).one()
        found = {k: int(v) for k, v in row._mapping.items()}
        expected = len(batch.writes)
        passed = (
            found["rows"] == found["members"] == found["present"] == expected
            and found["others"] == 0
            and found["doubled"] == 0
        )
        return Check(
            passed,
            expected,
            found,
            f"{found['present']:,} of {expected:,} members present once (by the app), "
            f"{found['others']} others present, {found['doubled']} members with two rows",
        )

    async def cleanup(self, conn: AsyncConnection) -> int:
        done = await conn.execute(delete(_meeting).where(_meeting.c.place == BURST_MARK))
        return int(done.rowcount or 0)


class QuizSubmitBurst:
    """Members submitting their started attempts of an open quiz at once."""

    POINTS = 10

    def __init__(self) -> None:
        self._branches: list[int] | None = None
        self._quiz: tuple[int, list[tuple[int, list[int]]]] | None = None

    async def _open_quiz(self, conn: AsyncConnection) -> tuple[int, list[tuple[int, list[int]]]]:
        from app.services.seed_study import QUESTIONS

        if self._quiz is None:
            now = utcnow()
            root = await conn.scalar(text("SELECT id FROM org WHERE parent_id IS NULL ORDER BY id"))
            quiz_id = int(
                await conn.scalar(
                    insert(_quiz)
                    .values(
                        org_id=root,
                        title="Kiểm tra nhanh: Nghị quyết 57-NQ/TW",
                        description=BURST_MARK,
                        opens_at=now - timedelta(hours=1),
                        closes_at=now + timedelta(days=1),
                        time_limit_s=3600,
                        attempts_allowed=1,
                        pass_percent=60,
                        points=self.POINTS,
                        reveal_after="submit",
                        created_at=now - timedelta(hours=1),
                    )
                    .returning(_quiz.c.id)
                )
                or 0
            )
            questions = []
            for position, q in enumerate(QUESTIONS, start=1):
                question_id = await conn.scalar(
                    insert(_question)
                    .values(quiz_id=quiz_id, position=position, **q)
                    .returning(_question.c.id)
                )
                questions.append((int(question_id or 0), list(q["correct"])))
            self._quiz = (quiz_id, questions)
        return self._quiz

    async def prepare(self, conn: AsyncConnection, count: int) -> Batch:
        from app.services.province import copy_rows

        quiz_id, questions = await self._open_quiz(conn)
        if self._branches is None:
            self._branches = await _spread_branches(conn)
        now = utcnow()
        started = now - timedelta(minutes=1)
        takers: list[tuple[int, int]] = []
        branches = 0
        while self._branches and len(takers) < count:
            chunk, self._branches = self._branches[:50], self._branches[50:]
            by_branch: dict[int, list[int]] = {}
            for member_id, branch_id in await conn.execute(_APP_USERS, {"branches": chunk}):
                by_branch.setdefault(int(branch_id), []).append(int(member_id))
            left: list[int] = []  # for the next burst
            for branch_id in chunk:
                found = by_branch.get(branch_id, [])
                if len(takers) >= count:
                    left.append(branch_id)
                elif found:
                    branches += 1
                    takers += [(m, branch_id) for m in found][: count - len(takers)]
            self._branches = left + self._branches
        question_ids = [q for q, _correct in questions]
        await copy_rows(
            conn,
            _attempt,
            (
                "quiz_id",
                "member_id",
                "branch_id",
                "number",
                "question_ids",
                "started_at",
                "deadline_at",
                "is_passed",
            ),
            [
                (quiz_id, m, b, 1, question_ids, started, started + timedelta(hours=1), False)
                for m, b in takers
            ],
        )
        attempts = {
            int(member): int(attempt)
            for attempt, member in await conn.execute(
                select(_attempt.c.id, _attempt.c.member_id).where(
                    _attempt.c.quiz_id == quiz_id,
                    _attempt.c.member_id.in_([m for m, _b in takers] or [0]),
                )
            )
        }
        body = {"answers": [{"question_id": q, "chosen": correct} for q, correct in questions]}
        writes = [Write(m, f"/api/v1/quiz-attempts/{attempts[m]}/submit", body) for m, _b in takers]
        return Batch(
            writes,
            since=now,
            description=(
                f"{len(writes):,} members of {branches:,} branches across communes, each "
                "submitting their started attempt of an open province quiz once"
            ),
            ids={
                "quiz": quiz_id,
                "attempts": sorted(attempts.values()),
                "questions": len(questions),
            },
        )

    async def check(self, conn: AsyncConnection, batch: Batch) -> Check:
        quiz_id = batch.ids["quiz"]
        keys = [f"quiz:{quiz_id}:member:{m}" for m in batch.members]
        row = (
            await conn.execute(
                text(
                    """
SELECT
  (SELECT count(*) FROM quiz_attempt WHERE id = ANY(:attempts)
     AND submitted_at IS NOT NULL AND is_passed) AS passed,
  (SELECT count(*) FROM quiz_answer WHERE attempt_id = ANY(:attempts)) AS answers,
  (SELECT count(*) FROM point_entry WHERE source_key = ANY(:keys)) AS entries,
  (SELECT count(*) FROM (SELECT member_id FROM point_entry
                         WHERE member_id = ANY(:members) AND source_key LIKE :prefix
                         GROUP BY member_id HAVING count(*) > 1) d) AS doubled
"""
                ),
                {
                    "attempts": batch.ids["attempts"],
                    "keys": keys,
                    "members": batch.members,
                    "prefix": f"quiz:{quiz_id}:member:%",
                },
            )
        ).one()
        found = {k: int(v) for k, v in row._mapping.items()}
        expected = len(batch.writes)
        passed = (
            found["passed"] == found["entries"] == expected
            and found["answers"] == expected * batch.ids["questions"]
            and found["doubled"] == 0
        )
        return Check(
            passed,
            expected,
            found,
            f"{found['passed']:,} of {expected:,} attempts submitted and passed once, "
            f"{found['entries']:,} ledger entries, {found['doubled']} members with two, "
            f"{found['answers']:,} answers scored",
        )

    async def cleanup(self, conn: AsyncConnection) -> int:
        quizzes = [
            int(q)
            for q in await conn.scalars(select(_quiz.c.id).where(_quiz.c.description == BURST_MARK))
        ]
        for quiz_id in quizzes:
            # The entries these bursts added leave the ledger with the points they added to the
            # balances (the bench database only: in the product the ledger is append-only).
            await conn.execute(_UNDO_ENTRIES, {"prefix": f"quiz:{quiz_id}:member:%"})
        if quizzes:
            await conn.execute(delete(_quiz).where(_quiz.c.id.in_(quizzes)))
        self._quiz = None
        return len(quizzes)


_UNDO_ENTRIES = text(
    """
WITH gone AS (
    DELETE FROM point_entry WHERE source_key LIKE :prefix RETURNING member_id, year, points
), sums AS (
    SELECT member_id, year, sum(points) AS points FROM gone GROUP BY member_id, year
)
UPDATE point_balance b SET points = b.points - s.points FROM sums s
WHERE b.member_id = s.member_id AND b.year = s.year
"""
)


def new_key() -> str:
    """An Idempotency-Key, as an app makes one per intended write."""
    return str(uuid.uuid4())
