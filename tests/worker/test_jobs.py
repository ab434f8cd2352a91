"""The job machinery: enqueue in the caller's transaction, claim, retry with backoff, dead
letters, leases that expire, Later, keys — on every database the suite runs on."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import ManualClock
from app.models import Job, JobStatus
from app.resources import Resources
from app.services import jobs
from app.worker import queue
from app.worker.registry import JobContext, Later, PermanentError, Registry
from app.worker.runner import Worker

pytestmark = pytest.mark.usefixtures("engine")


class Recorder:
    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.fail_times = 0
        self.permanent = False
        self.later: Later | None = None

    async def __call__(self, ctx: JobContext) -> Later | None:
        self.runs.append(dict(ctx.payload))
        if self.permanent:
            raise PermanentError("refers to nothing")
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("flaky")
        later, self.later = self.later, None
        return later


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def registry(recorder: Recorder) -> Registry:
    registry = Registry()
    registry.handler("test.job")(recorder)
    return registry


@pytest.fixture
def make_worker(resources: Resources, clock: ManualClock, registry: Registry) -> Any:
    def make(worker_id: str = "w1") -> Worker:
        worker = Worker(
            resources, clock=clock, registry=registry, worker_id=worker_id, concurrency=1
        )
        worker.state_write_delays = (0.01,)
        return worker

    return make


async def _job(session: AsyncSession, job_id: int) -> Job:
    job = await session.get(Job, job_id, populate_existing=True)
    assert job is not None
    return job


async def test_a_job_enqueued_in_a_rolled_back_transaction_never_runs(
    sessionmaker: async_sessionmaker[AsyncSession], make_worker: Any, recorder: Recorder
) -> None:
    async with sessionmaker() as session:
        await session.begin()
        await jobs.enqueue(session, "test.job", {"n": 1})
        await session.rollback()
    assert await make_worker().run_once() == 0
    assert recorder.runs == []


async def test_an_enqueued_job_runs_once_and_is_done(
    session: AsyncSession, make_worker: Any, recorder: Recorder, clock: ManualClock
) -> None:
    job_id = await jobs.enqueue(session, "test.job", {"n": 1}, now=clock.now())
    await session.commit()
    worker = make_worker()
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert recorder.runs == [{"n": 1}]
    assert job_id is not None
    job = await _job(session, job_id)
    assert (job.status, job.attempts, job.lease_owner) == (JobStatus.DONE, 1, None)
    assert job.finished_at == clock.now()


async def test_run_after_is_respected(
    session: AsyncSession, make_worker: Any, recorder: Recorder, clock: ManualClock
) -> None:
    await jobs.enqueue(
        session, "test.job", {}, run_after=clock.now() + timedelta(minutes=5), now=clock.now()
    )
    await session.commit()
    worker = make_worker()
    assert await worker.run_once() == 0
    clock.advance(minutes=5)
    assert await worker.run_once() == 1


async def test_a_failing_job_is_retried_with_backoff_then_dead(
    session: AsyncSession, make_worker: Any, recorder: Recorder, clock: ManualClock
) -> None:
    recorder.fail_times = 99
    job_id = await jobs.enqueue(session, "test.job", {}, max_attempts=3, now=clock.now())
    await session.commit()
    assert job_id is not None
    worker = make_worker()
    delays = []
    for attempt in (1, 2):
        assert await worker.run_once() == 1
        job = await _job(session, job_id)
        assert (job.status, job.attempts) == (JobStatus.FAILED, attempt)
        assert job.last_error == "RuntimeError: flaky"
        delay = (job.run_after - clock.now()).total_seconds()
        base = worker.settings.backoff_base_s * 2 ** (attempt - 1)
        assert base * 0.5 <= delay <= base * 1.5  # exponential, with jitter
        delays.append(delay)
        assert await worker.run_once() == 0  # not before its time
        clock.set(job.run_after)
    assert await worker.run_once() == 1
    job = await _job(session, job_id)
    assert (job.status, job.attempts) == (JobStatus.DEAD, 3)
    assert job.finished_at is not None
    clock.advance(days=1)
    assert await worker.run_once() == 0  # the dead stay dead
    assert len(recorder.runs) == 3


async def test_a_flaky_job_succeeds_on_retry(
    session: AsyncSession, make_worker: Any, recorder: Recorder, clock: ManualClock
) -> None:
    recorder.fail_times = 1
    job_id = await jobs.enqueue(session, "test.job", {}, now=clock.now())
    await session.commit()
    assert job_id is not None
    worker = make_worker()
    await worker.run_once()
    clock.advance(hours=1)
    await worker.run_once()
    job = await _job(session, job_id)
    assert (job.status, job.attempts) == (JobStatus.DONE, 2)


async def test_a_permanent_error_goes_dead_at_once(
    session: AsyncSession, make_worker: Any, recorder: Recorder, clock: ManualClock
) -> None:
    recorder.permanent = True
    job_id = await jobs.enqueue(session, "test.job", {}, now=clock.now())
    await session.commit()
    assert job_id is not None
    await make_worker().run_once()
    job = await _job(session, job_id)
    assert (job.status, job.attempts) == (JobStatus.DEAD, 1)
    assert "refers to nothing" in (job.last_error or "")


async def test_an_unknown_kind_goes_dead(
    session: AsyncSession, make_worker: Any, clock: ManualClock
) -> None:
    job_id = await jobs.enqueue(session, "nobody.handles.this", {}, now=clock.now())
    await session.commit()
    assert job_id is not None
    await make_worker().run_once()
    assert (await _job(session, job_id)).status == JobStatus.DEAD


async def test_later_reschedules_without_counting_an_attempt(
    session: AsyncSession, make_worker: Any, recorder: Recorder, clock: ManualClock
) -> None:
    recorder.later = Later(clock.now() + timedelta(minutes=30), progress={"step": 1})
    job_id = await jobs.enqueue(session, "test.job", {}, max_attempts=1, now=clock.now())
    await session.commit()
    assert job_id is not None
    worker = make_worker()
    await worker.run_once()
    job = await _job(session, job_id)
    assert (job.status, job.attempts, job.progress) == (JobStatus.QUEUED, 0, {"step": 1})
    clock.advance(minutes=30)
    await worker.run_once()
    assert (await _job(session, job_id)).status == JobStatus.DONE


async def test_a_job_past_expires_at_is_dropped(
    session: AsyncSession, make_worker: Any, recorder: Recorder, clock: ManualClock
) -> None:
    job_id = await jobs.enqueue(
        session, "test.job", {}, expires_at=clock.now() + timedelta(hours=1), now=clock.now()
    )
    await session.commit()
    assert job_id is not None
    clock.advance(hours=2)  # the workers were down
    await make_worker().run_once()
    assert recorder.runs == []
    assert (await _job(session, job_id)).status == JobStatus.EXPIRED


async def test_dedupe_key_adds_nothing_while_a_live_job_has_it(
    session: AsyncSession, make_worker: Any, recorder: Recorder, clock: ManualClock
) -> None:
    first = await jobs.enqueue(session, "test.job", {"n": 1}, dedupe_key="k", now=clock.now())
    again = await jobs.enqueue(session, "test.job", {"n": 2}, dedupe_key="k", now=clock.now())
    assert first is not None
    assert again is None
    await session.commit()
    await make_worker().run_once()
    # Finished: the key may be used again.
    third = await jobs.enqueue(session, "test.job", {"n": 3}, dedupe_key="k", now=clock.now())
    await session.commit()
    assert third == first  # the finished row was replaced
    await make_worker().run_once()
    assert recorder.runs == [{"n": 1}, {"n": 3}]


async def test_jobs_are_claimed_in_run_after_order(
    session: AsyncSession, make_worker: Any, recorder: Recorder, clock: ManualClock
) -> None:
    now = clock.now()
    for n, minutes_ago in ((1, 1), (2, 10), (3, 5)):
        await jobs.enqueue(
            session, "test.job", {"n": n}, run_after=now - timedelta(minutes=minutes_ago), now=now
        )
    await session.commit()
    worker = make_worker()
    while await worker.run_once():
        pass
    assert [run["n"] for run in recorder.runs] == [2, 3, 1]


async def test_an_expired_lease_is_taken_over_and_the_old_owner_changes_nothing(
    session: AsyncSession, make_worker: Any, recorder: Recorder, clock: ManualClock
) -> None:
    job_id = await jobs.enqueue(session, "test.job", {"n": 1}, now=clock.now())
    await session.commit()
    assert job_id is not None
    lease_s = make_worker().settings.lease_s
    # Worker "dead" claims the job and then stops (it was killed).
    claimed = await queue.claim(session, "dead", now=clock.now(), limit=10, lease_s=lease_s)
    await session.commit()
    assert [job.id for job in claimed] == [job_id]
    survivor = make_worker("survivor")
    clock.advance(seconds=lease_s - 1)
    assert await survivor.run_once() == 0  # the lease still holds
    clock.advance(seconds=2)
    assert await survivor.run_once() == 1  # expired: taken over
    job = await _job(session, job_id)
    assert (job.status, job.attempts) == (JobStatus.DONE, 2)
    # The old owner coming back to life cannot overwrite the outcome.
    kept = await queue.finish(
        session, job_id, "dead", status=JobStatus.DEAD, now=clock.now(), error="late"
    )
    await session.commit()
    assert kept is False
    assert (await _job(session, job_id)).status == JobStatus.DONE


async def test_heartbeat_renews_the_leases_of_running_jobs(
    session: AsyncSession, make_worker: Any, clock: ManualClock
) -> None:
    job_id = await jobs.enqueue(session, "test.job", {}, now=clock.now())
    await session.commit()
    assert job_id is not None
    worker = make_worker()
    await queue.claim(session, worker.id, now=clock.now(), limit=1, lease_s=60)
    await session.commit()
    worker._running[job_id] = asyncio.ensure_future(asyncio.sleep(0))  # as if it were running
    clock.advance(seconds=50)
    await worker.heartbeat()
    job = await _job(session, job_id)
    assert job.lease_expires_at == clock.now() + timedelta(seconds=worker.settings.lease_s)


async def test_release_hands_a_job_back_without_counting_the_attempt(
    session: AsyncSession, clock: ManualClock
) -> None:
    job_id = await jobs.enqueue(session, "test.job", {}, now=clock.now())
    await session.commit()
    assert job_id is not None
    await queue.claim(session, "w", now=clock.now(), limit=1, lease_s=60)
    assert await queue.release(session, [job_id], "w", now=clock.now()) == 1
    await session.commit()
    job = await _job(session, job_id)
    assert (job.status, job.attempts, job.lease_owner) == (JobStatus.QUEUED, 0, None)


async def test_the_backoff_grows_exponentially_and_is_capped() -> None:
    import random

    rng = random.Random(7)
    delays = [queue.backoff_s(n, base_s=5, max_s=600, rng=rng) for n in range(1, 12)]
    for n, delay in enumerate(delays[:6], start=1):
        assert 2.5 * 2 ** (n - 1) <= delay <= 7.5 * 2 ** (n - 1)
    assert max(delays) <= 600


async def test_queue_counts_and_oldest_due_age(session: AsyncSession, clock: ManualClock) -> None:
    now = clock.now()
    await jobs.enqueue(session, "test.job", {}, run_after=now - timedelta(seconds=90), now=now)
    await jobs.enqueue(session, "test.job", {}, run_after=now + timedelta(hours=1), now=now)
    await session.commit()
    counts, age = await jobs.queue_counts(session, now)
    assert counts.get("queued") == 2
    assert age == pytest.approx(90)
    rows = (await session.execute(select(Job.status))).all()
    assert len(rows) == 2
