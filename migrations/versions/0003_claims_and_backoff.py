"""fenced notice claims, last attempt time, and a source's Retry-After back-off

notices.claim_token: each claim takes a fresh random token; marking a notice sent, retried or failed
requires it, so a dispatcher whose claim ran out (and was taken over) can no longer mark it.
notices.last_attempt_at: when a channel last tried the notice, so a channel's "failing" state follows
its latest attempt (a success clears it). sources.not_before: a server's Retry-After (429/503), which
a daemon and a `run --once` alike honour.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# Plain ADD / DROP COLUMN, never a batch copy: SQLite adds and (since 3.35) drops a column in place,
# whereas copying `sources` would trip the foreign keys that signals and probe runs hold to it.


def upgrade() -> None:
    op.add_column("notices", sa.Column("claim_token", sa.String(32)))
    op.add_column("notices", sa.Column("last_attempt_at", sa.DateTime))
    op.add_column("sources", sa.Column("not_before", sa.DateTime))


def downgrade() -> None:
    op.drop_column("sources", "not_before")
    op.drop_column("notices", "last_attempt_at")
    op.drop_column("notices", "claim_token")
