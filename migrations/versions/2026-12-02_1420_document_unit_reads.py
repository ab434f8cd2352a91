"""document_unit_reads: opened and studied counts of a document per org below the root (branch or
committee), beside the per-branch ones, for the coverage report

Revision ID: 0820
Revises: 0810
Create Date: 2026-12-02 14:20:00
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

revision: str = "0820"
down_revision: str | Sequence[str] | None = "0810"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The new table's foreign keys lock the tables they name (SHARE ROW EXCLUSIVE), and the counters
# are copied from the per-branch ones: all three are used by the previous release's requests
# while this runs (SHARE ROW EXCLUSIVE on the branch counters holds their writes until the copy
# commits, so it misses none; reads go on).
TABLES = ("org", "document", "document_branch_reads")


def _lock_all(
    tables: Sequence[str], mode: str, *, tries: int = 200, pause_s: float = 0.025
) -> None:
    """Take every table's lock at once, never waiting while holding one (PostgreSQL): `LOCK …
    NOWAIT` inside a savepoint either takes them all or none, and is tried again a moment later
    (see revision 0810)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    names = ", ".join(tables)
    for _ in range(tries):
        savepoint = bind.begin_nested()
        try:
            bind.exec_driver_sql(f"LOCK TABLE {names} IN {mode} MODE NOWAIT")
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
    _lock_all(TABLES, "SHARE ROW EXCLUSIVE")
    op.create_table(
        "document_unit_reads",
        sa.Column("document_id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("studied", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
            name=op.f("fk_document_unit_reads_document_id_document"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
            name=op.f("fk_document_unit_reads_org_id_org"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "org_id", name=op.f("pk_document_unit_reads")),
    )
    # Each branch below the root: its branch counter; each committee below the root: the sum of
    # the branch counters in its subtree.
    op.execute(
        "INSERT INTO document_unit_reads (document_id, org_id, opened, studied) "
        "SELECT r.document_id, r.branch_id, r.opened, r.studied "
        "FROM document_branch_reads r JOIN org b ON b.id = r.branch_id "
        "WHERE b.parent_id IS NOT NULL"
    )
    op.execute(
        "INSERT INTO document_unit_reads (document_id, org_id, opened, studied) "
        "SELECT r.document_id, u.id, SUM(r.opened), SUM(r.studied) "
        "FROM org u "
        "JOIN org b ON b.path > u.path "
        "AND b.path < substr(u.path, 1, length(u.path) - 1) || '0' "
        "JOIN document_branch_reads r ON r.branch_id = b.id "
        "WHERE u.parent_id IS NOT NULL AND u.kind <> 'branch' "
        "GROUP BY r.document_id, u.id"
    )


def downgrade() -> None:
    # Dropping the table drops its foreign keys, which locks the tables they name.
    _lock_all(("org", "document", "document_unit_reads"), "ACCESS EXCLUSIVE")
    op.drop_table("document_unit_reads")
