"""prune-ready references: indexes on the foreign keys to probe runs and snapshots, and no foreign key
on signals.last_probe_run_id

Deleting a probe run or a snapshot (`watcher prune`) makes SQLite and PostgreSQL check every foreign
key that may refer to it by searching the referring table. Without an index that is a scan of every
signal per deleted run, three times over, and of every probe run per deleted snapshot: a prune of a
year's history took longer than anyone waits (> 2 minutes for 1 M runs on SQLite, hours on PostgreSQL).

signals.last_probe_run_id is the exception: every probe moves it to its own run, so an index on it
would turn those updates on PostgreSQL from HOT (in place) into ones that write every index of the
table: measured, 0.5 -> 0.85 ms and 150 -> 280 bytes of growth per unchanged probe run. It loses its
foreign key instead; prune keeps every run a signal names, and the code writes only ids of runs it has
just inserted. The probe-run index is partial (runs that stored a document): most runs are 304s.

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

SIGNAL_COLUMNS = ("first_probe_run_id", "vanished_probe_run_id", "first_snapshot_id")
LAST_RUN_FK = "fk_signals_last_probe_run_id_probe_runs"


def upgrade() -> None:
    with op.batch_alter_table("signals") as batch:  # SQLite copies the table; PostgreSQL alters it
        batch.drop_constraint(LAST_RUN_FK, type_="foreignkey")
    for column in SIGNAL_COLUMNS:
        op.create_index(f"ix_signals_{column}", "signals", [column])
    op.create_index("ix_probe_runs_snapshot_id", "probe_runs", ["snapshot_id"],
                    sqlite_where=sa.text("snapshot_id IS NOT NULL"),
                    postgresql_where=sa.text("snapshot_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_probe_runs_snapshot_id", table_name="probe_runs")
    for column in reversed(SIGNAL_COLUMNS):
        op.drop_index(f"ix_signals_{column}", table_name="signals")
    with op.batch_alter_table("signals") as batch:
        batch.create_foreign_key(LAST_RUN_FK, "probe_runs", ["last_probe_run_id"], ["id"])
