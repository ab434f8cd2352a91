"""Tasks (giao nhiệm vụ) of a branch: for a member or the whole branch, at a meeting or not.

The secretary and deputy assign and edit them; the assignee reports progress and status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings
from app.core.db import FastQuery, Reader
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.core.etag import IfMatch
from app.core.etag import check as etag_check
from app.core.pagination import decode_cursor, page_of
from app.models import Meeting, Member, NoticeKind, Org, Task, TaskStatus
from app.models.base import utcnow
from app.schemas.meeting import TaskCreate, TaskUpdate
from app.services import access, audit, notices
from app.services.access import Actor, Permission
from app.services.notices import Audience
from app.services.orgs import OrgTarget

_t = Task.__table__
_org = Org.__table__


@dataclass(frozen=True, slots=True)
class TaskTarget:
    id: int
    org_id: int
    path: str
    owner_id: int | None  # the assignee, who reports on it


_TARGET = FastQuery(
    select(_t.c.id, _t.c.org_id, _t.c.assignee_id, _org.c.path)
    .join(_org, _org.c.id == _t.c.org_id)
    .where(_t.c.id == bindparam("task_id", type_=BigInteger))
)


async def load_target(reader: Reader, task_id: int) -> TaskTarget | None:
    rows = await reader.fetch(_TARGET, {"task_id": task_id})
    if not rows:
        return None
    row = rows[0]
    return TaskTarget(
        id=row["id"], org_id=row["org_id"], path=row["path"], owner_id=row["assignee_id"]
    )


def read_task(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "org_id": task.org_id,
        "meeting_id": task.meeting_id,
        "assignee_id": task.assignee_id,
        "title": task.title,
        "due_date": task.due_date,
        "status": task.status,
        "progress": task.progress,
        "created_at": task.created_at,
        "version": task.version,
    }


def due_key(task_id: int) -> str:
    return f"task:{task_id}:due"


async def schedule_due_reminder(session: AsyncSession, task: Task, rules: RulesSettings) -> None:
    """Remind the assignee (or the whole branch) the day before the due date, at the
    reminder hour; cancelled once the task is no longer open or has no due date."""
    key = due_key(task.id)
    zone = ZoneInfo(rules.timezone)
    at = (
        datetime.combine(task.due_date - timedelta(days=1), rules.reminder_day_before_at, zone)
        if task.due_date is not None
        else None
    )
    if task.status != TaskStatus.OPEN or at is None or at <= utcnow():
        await notices.cancel_notice(session, key)
        return
    audience = (
        Audience(member_ids=[task.assignee_id])
        if task.assignee_id is not None
        else Audience(org_id=task.org_id)
    )
    await notices.schedule_notice(
        session,
        key,
        at=at,
        kind=NoticeKind.TASK,
        title=f"Nhiệm vụ đến hạn ngày mai: {task.title}",
        body=f"Hạn: {task.due_date:%d/%m/%Y}.",
        data={"task_id": task.id},
        audience=audience,
    )


async def create_task(
    session: AsyncSession, actor: Actor, org: OrgTarget, body: TaskCreate, rules: RulesSettings
) -> dict[str, Any]:
    if not org.is_branch:
        raise Unprocessable("Nhiệm vụ được giao trong chi bộ.", code="task.not_branch")
    if body.assignee_id is not None:
        branch_id = await session.scalar(
            select(Member.branch_id).where(Member.id == body.assignee_id)
        )
        if branch_id != org.id:
            raise Unprocessable(
                "Người nhận nhiệm vụ phải là đảng viên của chi bộ.", code="task.assignee_not_member"
            )
    if body.meeting_id is not None:
        meeting_org = await session.scalar(
            select(Meeting.org_id).where(Meeting.id == body.meeting_id)
        )
        if meeting_org != org.id:
            raise Unprocessable(
                "Cuộc họp không thuộc chi bộ này.", code="task.meeting_not_in_branch"
            )
    task = Task(
        org_id=org.id,
        meeting_id=body.meeting_id,
        assignee_id=body.assignee_id,
        title=body.title,
        due_date=body.due_date,
        status=TaskStatus.OPEN,
        created_by_id=actor.member_id,
    )
    session.add(task)
    await session.flush()
    await schedule_due_reminder(session, task, rules)
    await audit.record(
        session,
        actor,
        "task.create",
        target=("task", task.id),
        org_id=org.id,
        detail={"assignee_id": body.assignee_id, "meeting_id": body.meeting_id},
    )
    return read_task(task)


async def update_task(
    session: AsyncSession,
    actor: Actor,
    target: TaskTarget,
    body: TaskUpdate,
    if_match: IfMatch | None,
    rules: RulesSettings,
) -> dict[str, Any]:
    task = await session.get(Task, target.id, with_for_update=True, populate_existing=True)
    if task is None:
        raise NotFound(code="task.not_found")
    etag_check(if_match, task.version)
    fields = body.model_dump(exclude_unset=True)
    manager = access.can(actor, Permission.MEETING_MANAGE, target.path)
    if not manager and "due_date" in fields:
        raise Forbidden("Chỉ bí thư chi bộ đổi hạn nhiệm vụ.", code="task.due_date_forbidden")
    before = read_task(task)
    for name, value in fields.items():
        setattr(task, name, value)
    await session.flush()
    if "status" in fields or "due_date" in fields:
        await schedule_due_reminder(session, task, rules)
    await audit.record(
        session,
        actor,
        "task.update",
        target=("task", task.id),
        org_id=task.org_id,
        changes=audit.changes(before, read_task(task)),
    )
    return read_task(task)


async def list_tasks(
    session: AsyncSession,
    *,
    org_id: int | None = None,
    assignee_id: int | None = None,
    status: TaskStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    query = select(Task)
    if org_id is not None:
        query = query.where(Task.org_id == org_id)
    if assignee_id is not None:
        query = query.where(Task.assignee_id == assignee_id)
    if status is not None:
        query = query.where(Task.status == status)
    if cursor:
        (last_id,) = decode_cursor(cursor, "tasks", (int,))
        query = query.where(Task.id > last_id)
    rows = list((await session.scalars(query.order_by(Task.id).limit(limit + 1))).all())
    page, next_cursor = page_of(rows, limit, "tasks", lambda t: (t.id,))
    return [read_task(t) for t in page], next_cursor
