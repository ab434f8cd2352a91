"""/metrics shows the deployment's queue, read from the database by any process."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics
from app.models.base import utcnow
from app.services import jobs
from tests.conftest import METRICS_HEADERS


async def test_metrics_show_jobs_by_status_and_the_oldest_due_job(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    await jobs.enqueue(session, "test.job", {}, run_after=now - timedelta(minutes=10), now=now)
    await jobs.enqueue(session, "test.job", {}, run_after=now + timedelta(hours=1), now=now)
    await session.commit()
    metrics._db_refreshed_at = 0.0  # no throttling left over from another test
    text = (await client.get("/metrics", headers=METRICS_HEADERS)).text
    assert 'jobs{status="queued"} 2.0' in text
    assert 'jobs{status="dead"} 0.0' in text
    age = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("job_oldest_due_age_seconds ")
    )
    assert 590 <= age <= 900
    assert "workers_alive 0.0" in text
    assert 'sms_budget_limit{purpose="notice"}' in text
    assert "push_messages_total" in text or "# HELP push_messages_total" in text
