"""the report's reads by index: signals (target, vanished_at) and (target, source_id, level, first_seen)

`watcher report` shows, per target, how many of its signals were withdrawn and the newest of them. Without
an index on (target, vanished_at) both read every signal of the target and sort the withdrawn ones: a
quarter of the report's database time for 10,000 signals, growing with the history. Its timeline ranks
each source's first signal of each level: (target, source_id, level, first_seen) holds all that ranking
reads, in its order. Signals are inserted only when evidence appears and their indexed columns change
only when it vanishes, so neither index costs anything per unchanged probe.

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
    op.create_index("ix_signals_target_source_id_level_first_seen", "signals",
                    ["target", "source_id", "level", "first_seen"])


def downgrade() -> None:
    op.drop_index("ix_signals_target_source_id_level_first_seen", table_name="signals")
    op.drop_index("ix_signals_target_vanished_at", table_name="signals")
