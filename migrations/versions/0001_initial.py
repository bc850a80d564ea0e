"""initial schema: sources, snapshots, probe runs, signals, the notice outbox, discovered targets, locks

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", Id, primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("content_type", sa.String(200)),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_snapshots"),
        sa.UniqueConstraint("content_hash", name="uq_snapshots_content_hash"),
    )
    op.create_table(
        "sources",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("authority", sa.String(20), nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.String(100)),
        sa.Column("snapshot_id", Id),
        sa.Column("parsed_with", sa.String(64)),
        sa.Column("last_outcome", sa.String(32)),
        sa.Column("last_status", sa.SmallInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("last_probe_at", sa.DateTime),
        sa.Column("last_ok_at", sa.DateTime),
        sa.Column("failure_streak", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("health_alerted", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("next_due_at", sa.DateTime),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_until", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_sources"),
        sa.UniqueConstraint("name", name="uq_sources_name"),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshots.id"], name="fk_sources_snapshot_id_snapshots"),
    )
    op.create_table(
        "probe_runs",
        sa.Column("id", Id, primary_key=True),
        sa.Column("source_id", Id, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("http_status", sa.SmallInteger),
        sa.Column("bytes", sa.Integer),
        sa.Column("snapshot_id", Id),
        sa.Column("changed", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_probe_runs"),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], name="fk_probe_runs_source_id_sources"),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshots.id"], name="fk_probe_runs_snapshot_id_snapshots"),
    )
    op.create_index("ix_probe_runs_source_id_started_at", "probe_runs", ["source_id", "started_at"])
    op.create_table(
        "signals",
        sa.Column("id", Id, primary_key=True),
        sa.Column("source_id", Id, nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(40), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("authority", sa.String(20), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("evidence_type", sa.String(40), nullable=False),
        sa.Column("excerpt", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("published", sa.String(40)),
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=False),
        sa.Column("first_probe_run_id", Id, nullable=False),
        sa.Column("last_probe_run_id", Id, nullable=False),
        sa.Column("first_snapshot_id", Id),
        sa.Column("vanished_at", sa.DateTime),
        sa.Column("vanished_probe_run_id", Id),
        sa.PrimaryKeyConstraint("id", name="pk_signals"),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], name="fk_signals_source_id_sources"),
        sa.ForeignKeyConstraint(["first_probe_run_id"], ["probe_runs.id"],
                                name="fk_signals_first_probe_run_id_probe_runs"),
        sa.ForeignKeyConstraint(["last_probe_run_id"], ["probe_runs.id"],
                                name="fk_signals_last_probe_run_id_probe_runs"),
        sa.ForeignKeyConstraint(["first_snapshot_id"], ["snapshots.id"],
                                name="fk_signals_first_snapshot_id_snapshots"),
        sa.ForeignKeyConstraint(["vanished_probe_run_id"], ["probe_runs.id"],
                                name="fk_signals_vanished_probe_run_id_probe_runs"),
    )
    op.create_index("ix_signals_target_first_seen", "signals", ["target", "first_seen"])
    op.create_index("ix_signals_first_seen", "signals", ["first_seen"])
    op.create_index("uq_signals_live", "signals", ["source_id", "key_hash"], unique=True,
                    sqlite_where=sa.text("vanished_at IS NULL"), postgresql_where=sa.text("vanished_at IS NULL"))
    op.create_table(
        "notices",
        sa.Column("id", Id, primary_key=True),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("claimed_until", sa.DateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
        sa.UniqueConstraint("channel", "key", name="uq_notices_channel_key"),
    )
    op.create_index("ix_notices_state_next_attempt_at", "notices", ["state", "next_attempt_at"])
    op.create_table(
        "discovered_targets",
        sa.Column("id", Id, primary_key=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("family", sa.String(200), nullable=False),
        sa.Column("discovered_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_discovered_targets"),
        sa.UniqueConstraint("target", name="uq_discovered_targets_target"),
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("until", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_locks"),
    )


def downgrade() -> None:
    op.drop_table("locks")
    op.drop_table("discovered_targets")
    op.drop_index("ix_notices_state_next_attempt_at", table_name="notices")
    op.drop_table("notices")
    op.drop_index("uq_signals_live", table_name="signals")
    op.drop_index("ix_signals_first_seen", table_name="signals")
    op.drop_index("ix_signals_target_first_seen", table_name="signals")
    op.drop_table("signals")
    op.drop_index("ix_probe_runs_source_id_started_at", table_name="probe_runs")
    op.drop_table("probe_runs")
    op.drop_table("sources")
    op.drop_table("snapshots")
