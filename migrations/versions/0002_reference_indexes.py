"""indexes on the columns that refer to probe runs and snapshots, so `watcher prune` deletes fast

Without them each deleted probe run makes the database scan every signal three times (SQLite and
PostgreSQL check a foreign key on delete by searching the referring table), and each deleted
snapshot scans every probe run: a prune of a year's history took longer than anyone waits. The
probe-run index is partial (runs that stored a document) so the 304s that are most runs cost nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SIGNAL_COLUMNS = ("first_probe_run_id", "last_probe_run_id", "vanished_probe_run_id", "first_snapshot_id")


def upgrade() -> None:
    for column in SIGNAL_COLUMNS:
        op.create_index(f"ix_signals_{column}", "signals", [column])
    op.create_index("ix_probe_runs_snapshot_id", "probe_runs", ["snapshot_id"],
                    sqlite_where=sa.text("snapshot_id IS NOT NULL"),
                    postgresql_where=sa.text("snapshot_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_probe_runs_snapshot_id", table_name="probe_runs")
    for column in reversed(SIGNAL_COLUMNS):
        op.drop_index(f"ix_signals_{column}", table_name="signals")
