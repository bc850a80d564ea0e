"""the report's withdrawn evidence by index: signals (target, vanished_at)

`watcher report` shows, per target, how many of its signals were withdrawn and the newest of them. Without
an index on (target, vanished_at) both read every signal of the target and sort the withdrawn ones: a
quarter of the report's database time for 10,000 signals, growing with the history. Signals are written
only when evidence appears or vanishes, so the index costs nothing per unchanged probe.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_signals_target_vanished_at", "signals", ["target", "vanished_at"])


def downgrade() -> None:
    op.drop_index("ix_signals_target_vanished_at", table_name="signals")
