"""one release per burst and debounced withdrawals: the releases table and signals.missed_at

`releases` holds, per target, the epoch of its latest release announcement and whether first-party evidence
still stands behind it; a probe locks the row to decide between a release and a corroboration. Targets that
are confirmed when this migration runs are taken as announced (epoch 1, open): they were, under the old keys.

`signals.missed_at` marks evidence that one answer no longer showed; it vanishes at the second.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("target", name="pk_releases"),
    )
    op.add_column("signals", sa.Column("missed_at", sa.DateTime))
    op.execute(sa.text(
        "INSERT INTO releases (target, epoch, open, changed_at) "
        "SELECT target, 1, true, MIN(first_seen) FROM signals "
        "WHERE vanished_at IS NULL AND level = 'confirmed' AND authority = 'first_party' GROUP BY target"))


def downgrade() -> None:
    op.drop_column("signals", "missed_at")  # SQLite 3.35+ drops a plain column in place
    op.drop_table("releases")
