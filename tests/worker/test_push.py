"""Pushes through the real firebase-admin SDK (and the lean sender) to the local FCM stub, over
real HTTP: success and the payload, dead tokens pruned, 429 with Retry-After honoured, 5xx retried
with backoff, a batch refused as invalid, the database going away while a chunk is delivered."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.bench.fcm_stub import FcmStub
from app.core.clock import ManualClock
from app.integrations.sms import ConsoleSmsGateway
from app.models import Device, NoticeKind, NotificationPreference
from app.services import notices
from app.services.notices import Audience
from app.worker.runner import Worker
from tests.factories import Tree
from tests.worker.conftest import add_device
from tests.worker.helpers import deliveries, inbox_counts

TITLE = "Nhắc lịch sinh hoạt chi bộ tháng 12"
BODY = "Chi bộ Khu phố 1 sinh hoạt lúc 19:30 ngày 15/12 tại nhà văn hóa."


async def _notify(session: AsyncSession, clock: ManualClock, members: list[int], **kw: Any) -> int:
    notice = await notices.notify(
        session,
        kind=NoticeKind.MEETING_REMINDER,
        title=TITLE,
        body=BODY,
        data={"meeting_id": 42},
        audience=Audience(member_ids=members),
        now=clock.now(),
        **kw,
    )
    await session.commit()
    return notice.id


async def test_members_devices_get_one_push_each_with_ids_and_keys(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, push: FcmStub
) -> None:
    phone = await add_device(session, tree.member.id)
    tablet = await add_device(session, tree.member.id, prefix="tablet", platform="ios")
    other = await add_device(session, tree.secretary.id)
    notice_id = await _notify(session, clock, [tree.member.id, tree.secretary.id, tree.exempt.id])
    await worker.run_until_idle()
    assert push.stats.accepted == 3
    assert push.stats.duplicates() == 0
    assert set(push.stats.tokens) == {phone.token, tablet.token, other.token}
    rows = await deliveries(session, notice_id)
    assert {key: row.status for key, row in rows.items()} == {
        ("push", phone.id): "sent",
        ("push", tablet.id): "sent",
        ("push", other.id): "sent",
    }
    inbox = await inbox_counts(session, notice_id)
    assert set(inbox) == {tree.member.id, tree.secretary.id, tree.exempt.id}
    message = next(m for m in push.stats.bodies if m["token"] == phone.token)
    assert message["notification"] == {"title": TITLE, "body": BODY}
    data = message["data"]
    assert data["meeting_id"] == "42"
    assert data["notice_id"] == str(notice_id)
    assert data["kind"] == "meeting_reminder"
    assert data["message_id"] == str(rows[("push", phone.id)].id)  # the idempotency key
    assert int(data["notification_id"]) > 0  # the inbox row to open and mark read
    assert message["android"]["collapse_key"] == f"notice-{notice_id}"
    assert message["apns"]["headers"]["apns-collapse-id"] == f"notice-{notice_id}"
    assert push.stats.token_requests >= 1  # OAuth through the stub's token endpoint


async def test_unregistered_and_invalid_tokens_are_pruned(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, push: FcmStub
) -> None:
    good = await add_device(session, tree.member.id)
    gone = await add_device(session, tree.secretary.id, prefix="unregistered")
    bad = await add_device(session, tree.exempt.id, prefix="invalid")
    notice_id = await _notify(session, clock, [tree.member.id, tree.secretary.id, tree.exempt.id])
    await worker.run_until_idle()
    rows = await deliveries(session, notice_id)
    assert rows[("push", good.id)].status == "sent"
    assert rows[("push", gone.id)].status == "pruned"
    assert rows[("push", bad.id)].status == "pruned"
    left = set(await session.scalars(select(Device.id).execution_options(populate_existing=True)))
    assert left == {good.id}
    assert push.stats.rejected == Counter({"UNREGISTERED": 1, "INVALID_ARGUMENT": 1})


async def test_quota_exceeded_waits_for_retry_after(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, push: FcmStub
) -> None:
    device = await add_device(session, tree.member.id)
    push.retry_after_s = 120
    push.script(429)
    notice_id = await _notify(session, clock, [tree.member.id])
    await worker.run_until_idle()
    row = (await deliveries(session, notice_id))[("push", device.id)]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "QUOTA_EXCEEDED")
    assert row.next_attempt_at >= clock.now() + timedelta(seconds=120)
    clock.advance(seconds=119)
    await worker.run_until_idle()
    assert push.stats.accepted == 0  # not before Retry-After
    clock.set(row.next_attempt_at)
    await worker.run_until_idle()
    row = (await deliveries(session, notice_id))[("push", device.id)]
    assert row.status == "sent"
    assert push.stats.accepted == 1
    assert push.stats.rejected["QUOTA_EXCEEDED"] == 1


async def test_server_errors_are_retried_with_backoff(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, push: FcmStub
) -> None:
    device = await add_device(session, tree.member.id)
    push.script(500, 503)
    notice_id = await _notify(session, clock, [tree.member.id])
    waits = []
    for _ in range(2):
        await worker.run_until_idle()
        row = (await deliveries(session, notice_id))[("push", device.id)]
        assert row.status == "pending"
        waits.append((row.next_attempt_at - clock.now()).total_seconds())
        clock.set(row.next_attempt_at)
    await worker.run_until_idle()
    row = (await deliveries(session, notice_id))[("push", device.id)]
    assert (row.status, row.attempts) == ("sent", 3)
    assert 5 <= waits[0] <= 15
    assert 10 <= waits[1] <= 30
    assert push.stats.rejected == Counter({"INTERNAL": 1, "UNAVAILABLE": 1})


async def test_a_push_that_keeps_failing_gives_up_after_max_attempts(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, push: FcmStub
) -> None:
    device = await add_device(session, tree.member.id)
    push.script(*[500] * 10)
    notice_id = await _notify(session, clock, [tree.member.id])
    for _ in range(10):
        await worker.run_until_idle()
        clock.advance(hours=2)
    row = (await deliveries(session, notice_id))[("push", device.id)]
    assert (row.status, row.attempts) == ("failed", worker.resources.settings.fcm.max_attempts)
    assert await session.get(Device, device.id) is not None  # a server error prunes nothing


async def test_a_whole_batch_refused_as_invalid_prunes_no_device(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, push: FcmStub
) -> None:
    # Every message refused with INVALID_ARGUMENT: our payload, not the tokens, is at fault.
    first = await add_device(session, tree.member.id, prefix="invalid")
    second = await add_device(session, tree.secretary.id, prefix="invalid")
    notice_id = await _notify(session, clock, [tree.member.id, tree.secretary.id])
    await worker.run_until_idle()
    rows = await deliveries(session, notice_id)
    assert {row.status for row in rows.values()} == {"failed"}
    for device in (first, second):
        assert await session.get(Device, device.id, populate_existing=True) is not None


async def test_members_who_prefer_sms_get_both(
    session: AsyncSession,
    tree: Tree,
    worker: Worker,
    clock: ManualClock,
    push: FcmStub,
    sms: ConsoleSmsGateway,
) -> None:
    await add_device(session, tree.member.id)
    await add_device(session, tree.secretary.id)
    session.add(
        NotificationPreference(member_id=tree.secretary.id, muted_kinds=[], is_sms_preferred=True)
    )
    await _notify(session, clock, [tree.member.id, tree.secretary.id, tree.exempt.id], has_sms=True)
    await worker.run_until_idle()
    assert push.stats.accepted == 2
    # SMS: the member who asked for it, and the one without a device.
    assert sorted(m.to for m in sms.sent) == sorted(
        [tree.secretary.phone or "", tree.exempt.phone or ""]
    )


async def test_the_database_going_away_during_delivery_loses_nothing(
    session: AsyncSession,
    connection: AsyncConnection,
    tree: Tree,
    worker: Worker,
    clock: ManualClock,
    push: FcmStub,
) -> None:
    devices = [await add_device(session, m.id) for m in (tree.member, tree.secretary, tree.exempt)]
    notice_id = await _notify(session, clock, [tree.member.id, tree.secretary.id, tree.exempt.id])
    down = {"on": False, "failures": 0}

    def maybe_fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # After the pushes went out, the database stops answering for a while.
        if push.stats.accepted and not down["on"] and down["failures"] == 0:
            down["on"] = True
        if down["on"]:
            down["failures"] += 1
            if down["failures"] >= 3:
                down["on"] = False  # it comes back while the worker retries
            raise OperationalError(statement, {}, ConnectionRefusedError("database away"))

    event.listen(connection.sync_connection, "before_cursor_execute", maybe_fail)
    try:
        await worker.run_until_idle()
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", maybe_fail)
    assert down["failures"] == 3
    assert push.stats.accepted == 3
    # The outcome was not recorded: the chunk runs again later and sends with the same keys.
    clock.advance(hours=1)
    await worker.run_until_idle()
    rows = await deliveries(session, notice_id)
    assert {key[1]: row.status for key, row in rows.items()} == {d.id: "sent" for d in devices}
    assert len(push.stats.keys) == 3  # one idempotency key per device, whatever was resent
    assert all(count == 1 for count in push.stats.tokens.values()) or push.stats.duplicates()
    per_token_keys: dict[str, set[str]] = {}
    for message in push.stats.bodies:
        per_token_keys.setdefault(message["token"], set()).add(message["data"]["message_id"])
    assert all(len(keys) == 1 for keys in per_token_keys.values())
    assert set((await inbox_counts(session, notice_id)).values()) == {1}


async def test_push_disabled_without_credentials_keeps_the_inbox(
    session: AsyncSession, tree: Tree, resources: Any, clock: ManualClock, worker: Worker
) -> None:
    from app.core.config import FcmSettings
    from app.integrations.fcm import build_push_gateway

    resources.push = build_push_gateway(FcmSettings())
    assert not resources.push.enabled
    await add_device(session, tree.member.id)
    notice_id = await _notify(session, clock, [tree.member.id])
    await worker.run_until_idle()
    assert await inbox_counts(session, notice_id) == {tree.member.id: 1}
    assert await deliveries(session, notice_id) == {}


async def test_an_inbox_only_notice_reaches_the_inbox_and_no_phone(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, push: FcmStub
) -> None:
    """News and documents not marked important (`has_push=False`): every member's inbox, no
    push to any device, no delivery rows."""
    await add_device(session, tree.member.id)
    notice_id = await _notify(session, clock, [tree.member.id, tree.secretary.id], has_push=False)
    await worker.run_until_idle()
    assert set(await inbox_counts(session, notice_id)) == {tree.member.id, tree.secretary.id}
    assert push.stats.accepted == 0
    assert await deliveries(session, notice_id) == {}
