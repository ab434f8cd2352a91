"""Tasks (giao nhiệm vụ) of a branch: assign, list, report progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Response, status

from app.api.deps import CurrentActor, ObjectScope, OrgScope, SessionDep
from app.api.idempotency import Idempotent
from app.api.meetings import MeetingRules
from app.api.responses import IfMatchDep, problems, with_etag_of
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.models import TaskStatus
from app.schemas.common import Page
from app.schemas.meeting import TaskCreate, TaskRead, TaskUpdate
from app.services.access import Permission
from app.services.meetings import tasks as task_service
from app.services.meetings.tasks import TaskTarget
from app.services.orgs import OrgTarget

router = area_router(tags=["tasks"])

TaskScope = ObjectScope(
    task_service.load_target,
    Permission.TASK_REPORT,
    id_param="task_id",
    not_found_code="task.not_found",
    description="Task id.",
)


@router.post(
    "/orgs/{org_id}/tasks",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskRead,
    responses=problems(
        401,
        403,
        404,
        409,
        codes={422: ["task.assignee_not_member", "task.meeting_not_in_branch", "task.not_branch"]},
    ),
)
async def create_task(
    body: TaskCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEETING_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
    response: Response,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Assign a task to a member of the branch (or to the whole branch), at a meeting or not.
    Send an `Idempotency-Key` to retry safely."""
    return with_etag_of(
        response,
        await task_service.create_task(session, actor, org, body, rules),
    )


@router.get(
    "/orgs/{org_id}/tasks",
    response_model=Page[TaskRead],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_tasks(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEETING_VIEW))],
    session: SessionDep,
    status: TaskStatus | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[TaskRead]:
    """A branch's tasks, oldest first."""
    items, next_cursor = await task_service.list_tasks(
        session, org_id=org.id, status=status, limit=limit, cursor=cursor
    )
    return Page(items=[TaskRead(**i) for i in items], next_cursor=next_cursor)


@router.get("/me/tasks", response_model=Page[TaskRead], responses=problems(400, 401, 422))
async def list_my_tasks(
    actor: CurrentActor,
    session: SessionDep,
    status: TaskStatus | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[TaskRead]:
    """Tasks assigned to me."""
    items, next_cursor = await task_service.list_tasks(
        session, assignee_id=actor.member_id, status=status, limit=limit, cursor=cursor
    )
    return Page(items=[TaskRead(**i) for i in items], next_cursor=next_cursor)


@router.patch(
    "/tasks/{task_id}",
    response_model=TaskRead,
    responses=problems(401, 404, 412, 422, codes={403: ["task.due_date_forbidden"]}),
)
async def update_task(
    body: TaskUpdate,
    task: Annotated[TaskTarget, Depends(TaskScope)],
    actor: CurrentActor,
    session: SessionDep,
    rules: MeetingRules,
    if_match: IfMatchDep,
    response: Response,
) -> dict[str, Any]:
    """Report progress or change the status (the assignee, the secretary or deputy); only
    the secretary or deputy moves the due date."""
    return with_etag_of(
        response,
        await task_service.update_task(session, actor, task, body, if_match, rules),
    )
