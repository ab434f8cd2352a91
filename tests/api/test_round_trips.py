"""Round trips of the hot reads: each statement the lean reader runs is a socket round trip to
PostgreSQL, which costs a read about as much server CPU as the whole framework does, so the
reads whose guard target fits the actor's query read it there (`api.deps.JoinedTarget`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest

from app.core.db import FastQuery, Reader, Row
from app.resources import Resources
from tests.api.test_documents import draft, publish
from tests.api.test_meetings import announced
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem


class CountingReader:
    """The test's own reader, counting the statements it runs."""

    def __init__(self, inner: Reader) -> None:
        self.inner = inner
        self.statements = 0

    async def fetch(self, query: FastQuery, params: Mapping[str, Any]) -> Sequence[Row]:
        self.statements += 1
        return await self.inner.fetch(query, params)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def counting(resources: Resources, monkeypatch: pytest.MonkeyPatch) -> CountingReader:
    counter = CountingReader(resources.reader)
    monkeypatch.setattr(resources, "reader", counter)
    return counter


async def _statements(
    client: httpx.AsyncClient, counting: CountingReader, path: str, headers: dict[str, str]
) -> int:
    # Once to fill the process's caches (the rules in force, org targets), then counted.
    for _ in range(2):
        counting.statements = 0
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
    return counting.statements


async def _refused(
    client: httpx.AsyncClient,
    counting: CountingReader,
    path: str,
    headers: dict[str, str],
    code: str,
) -> int:
    """The statements a read refused with 404 `code` ran."""
    counting.statements = 0
    assert_problem(await client.get(path, headers=headers), 404, code)
    return counting.statements


async def test_a_documents_detail_reads_its_target_with_the_actor(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, counting: CountingReader
) -> None:
    document = await draft(client, as_actor, tree, tree.c1.id)
    await publish(client, as_actor, tree, document["id"])
    member = await as_actor(tree.member.id)
    # The actor with the guard's target, then the detail.
    assert await _statements(client, counting, f"/api/v1/documents/{document['id']}", member) == 2
    # A document that does not exist: refused on that one read.
    missing = "/api/v1/documents/999999"
    assert await _refused(client, counting, missing, member, "document.not_found") == 1


async def test_a_meetings_detail_and_live_attendance_read_their_target_with_the_actor(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, counting: CountingReader
) -> None:
    meeting, secretary = await announced(client, tree, as_actor)
    member = await as_actor(tree.member.id)
    path = f"/api/v1/meetings/{meeting['id']}"
    assert await _statements(client, counting, path, member) == 2
    # The attendance's counts come with the guard's target: one statement in all.
    assert await _statements(client, counting, f"{path}/attendance", secretary) == 1
    counts = (await client.get(f"{path}/attendance", headers=secretary)).json()
    assert counts["summoned"] == 5  # B1's members: member, secretary, deputy, exempt, probationary
    assert counts["present"] == 0
    # Someone outside the meeting's reach does not learn it exists.
    outsider = await as_actor(tree.outsider.id)
    refused = f"{path}/attendance"
    assert await _refused(client, counting, refused, outsider, "meeting.not_found") == 1


async def test_the_home_screen_is_one_statement(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, counting: CountingReader
) -> None:
    member = await as_actor(tree.member.id)
    assert await _statements(client, counting, "/api/v1/me/home", member) == 1
