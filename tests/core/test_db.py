"""The read session of safe methods refuses to write."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.db import ReadOnlySessionError, read_only_sessionmaker
from app.models import Org, OrgKind


async def test_a_read_session_refuses_to_flush_or_run_dml(connection: AsyncConnection) -> None:
    maker = read_only_sessionmaker(connection, join_transaction_mode="create_savepoint")
    async with maker() as session:
        session.add(
            Org(kind=OrgKind.BRANCH, name="Chi bộ", name_folded="chi bo", path="/x/", depth=0)
        )
        with pytest.raises(ReadOnlySessionError):
            await session.flush()
    async with maker() as session:
        with pytest.raises(ReadOnlySessionError):
            await session.execute(update(Org).values(name="x"))
