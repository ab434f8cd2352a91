"""meeting guests and residence attendees: why each member is on a meeting's list, and whether
a meeting (by default its branch) summons the members attached for residence

Revision ID: 0810
Revises: 0800
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

revision: str = "0810"
down_revision: str | Sequence[str] | None = "0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The tables this revision alters, all read by the previous release's requests while it runs.
TABLES = ("org", "meeting", "meeting_attendee")


def _lock_all(tables: Sequence[str], *, tries: int = 200, pause_s: float = 0.025) -> None:
    """Take every table's lock at once, never waiting while holding one (PostgreSQL).

    A running release's read of several tables holds its lock on one while it waits for the
    next; altering the tables one after the other could hold that next one and wait for the
    first: a deadlock, which PostgreSQL breaks by failing the read. `LOCK … NOWAIT` inside a
    savepoint either takes them all or none, and is tried again a moment later."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    names = ", ".join(tables)
    for _ in range(tries):
        savepoint = bind.begin_nested()
        try:
            bind.exec_driver_sql(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE NOWAIT")
        except DBAPIError as exc:
            savepoint.rollback()
            if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            time.sleep(pause_s)
            continue
        savepoint.commit()  # the locks stay with the migration's transaction
        return
    raise RuntimeError(f"could not lock {names}: they stayed busy")


def upgrade() -> None:
    _lock_all(TABLES)
    # Expand only: server defaults, so the previous release's inserts still work.
    with op.batch_alter_table("meeting_attendee", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="member", nullable=False)
        )
    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "has_residence_attendees",
                sa.Boolean(),
                server_default=sa.text("false"),
                nullable=False,
            )
        )
    with op.batch_alter_table("org", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "has_residence_attendees",
                sa.Boolean(),
                server_default=sa.text("false"),
                nullable=False,
            )
        )


def downgrade() -> None:
    _lock_all(TABLES)
    with op.batch_alter_table("org", schema=None) as batch_op:
        batch_op.drop_column("has_residence_attendees")
    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.drop_column("has_residence_attendees")
    with op.batch_alter_table("meeting_attendee", schema=None) as batch_op:
        batch_op.drop_column("kind")
