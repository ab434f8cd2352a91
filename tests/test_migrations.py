"""Alembic: one head, base → head on an empty database, models match the DDL, and the newest
revision downgrades and upgrades again with data in place — on every database the suite runs on."""

from __future__ import annotations

import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.migrate import alembic_config
from app.models import Base, Member, Org
from app.models.base import include_object_for
from tests import dbs
from tests.conftest import FreshDatabase

# Expression indexes (PostgreSQL's member unit indexes) cannot be reflected on SQLite, where
# they are not created either (`info={"dialects": ...}`); alembic says so before it filters.
pytestmark = pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression"
)


@pytest.fixture
def scratch(fresh_db: FreshDatabase) -> AsyncEngine:
    return fresh_db.engine


def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1


def test_revisions_are_named_by_date() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    for revision in script.walk_revisions():
        assert revision.path is not None
        name = revision.path.rsplit("/", 1)[-1]
        assert re.match(r"^\d{4}-\d{2}-\d{2}_\d{4}_[a-z0-9_]+\.py$", name), name


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "include_object": include_object_for(connection.dialect.name)},
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_upgrade_from_empty_matches_the_models(scratch: AsyncEngine) -> None:
    await dbs.migrate(scratch, "upgrade", "head")
    async with scratch.connect() as conn:
        assert await conn.run_sync(_diff) == []
        assert await conn.run_sync(_tables) == set(Base.metadata.tables)


async def test_downgrade_to_base_and_back_keeps_working(scratch: AsyncEngine) -> None:
    await dbs.migrate(scratch, "upgrade", "head")
    async with scratch.begin() as conn:
        await conn.execute(
            insert(Org).values(
                id=1, kind="branch", name="Chi bộ A", name_folded="chi bo a", path="/1/", depth=0
            )
        )
        await conn.execute(
            insert(Member).values(
                branch_id=1,
                org_path="/1/",
                full_name="Nguyễn Văn An",
                name_folded="nguyen van an",
                sort_key="an nguyen van",
                status="full",
            )
        )
    await dbs.migrate(scratch, "downgrade", "base")
    async with scratch.connect() as conn:
        assert await conn.run_sync(_tables) == set()
    await dbs.migrate(scratch, "upgrade", "head")
    async with scratch.connect() as conn:
        assert await conn.run_sync(_diff) == []
        assert await conn.scalar(select(func.count()).select_from(Member)) == 0


async def test_newest_revision_steps_down_and_up(scratch: AsyncEngine) -> None:
    await dbs.migrate(scratch, "upgrade", "head")
    await dbs.migrate(scratch, "downgrade", "-1")
    await dbs.migrate(scratch, "upgrade", "head")
    async with scratch.connect() as conn:
        assert await conn.run_sync(_diff) == []
        version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    script = ScriptDirectory.from_config(alembic_config())
    assert version == script.get_current_head()
