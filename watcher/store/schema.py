"""The database schema as SQLAlchemy Core tables; Alembic's migrations in migrations/ build it.

Times are naive UTC everywhere (SQLite and PostgreSQL then agree). HEAD_REVISION names the newest
migration so that a run whose schema is current never imports Alembic.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

HEAD_REVISION = "0005"

# BIGINT ids on PostgreSQL; INTEGER PRIMARY KEY (the rowid, no extra bytes) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

sources = Table(
    "sources", metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),
    Column("url", Text, nullable=False),  # as configured, `${VAR}` unexpanded: never a secret
    Column("authority", String(20), nullable=False),
    Column("etag", Text),
    Column("last_modified", String(100)),
    Column("snapshot_id", ForeignKey("snapshots.id")),  # the last document read
    Column("parsed_with", String(64)),  # what the last parse looked for; a change forces a re-parse
    Column("last_outcome", String(32)),
    Column("last_status", SmallInteger),
    Column("last_error", Text),
    Column("last_probe_at", DateTime),
    Column("last_ok_at", DateTime),
    Column("failure_streak", Integer, nullable=False, server_default=text("0")),
    Column("health_alerted", Boolean, nullable=False, server_default=text("false")),
    Column("next_due_at", DateTime),
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime),
    Column("not_before", DateTime),  # a server's Retry-After: no probe before this (since 0003)
)

snapshots = Table(
    "snapshots", metadata,
    Column("id", Id, primary_key=True),
    Column("content_hash", String(64), nullable=False, unique=True),  # sha256 of the body
    Column("size", Integer, nullable=False),
    Column("content_type", String(200)),
    Column("body", LargeBinary, nullable=False),  # zlib-compressed
    Column("first_seen", DateTime, nullable=False),
)

probe_runs = Table(
    "probe_runs", metadata,
    Column("id", Id, primary_key=True),
    Column("source_id", ForeignKey("sources.id"), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("http_status", SmallInteger),
    Column("bytes", Integer),
    Column("snapshot_id", ForeignKey("snapshots.id")),
    Column("changed", Boolean, nullable=False, server_default=text("false")),  # signals added or removed
    Column("error", Text),
    Index(None, "source_id", "started_at"),
)

signals = Table(
    "signals", metadata,
    Column("id", Id, primary_key=True),
    Column("source_id", ForeignKey("sources.id"), nullable=False),
    Column("target", String(200), nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("key_hash", String(40), nullable=False),  # sha1 of Signal.key, so long locations index well
    Column("url", Text, nullable=False),
    Column("authority", String(20), nullable=False),
    Column("level", String(20), nullable=False),
    Column("evidence_type", String(40), nullable=False),
    Column("excerpt", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("published", String(40)),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
    Column("first_probe_run_id", ForeignKey("probe_runs.id"), nullable=False),
    # No foreign key here (since 0002): every probe moves this to its own run, and on PostgreSQL the index a
    # foreign key needs for fast deletes (`watcher prune`) would make each of those updates write every
    # index of the table instead of being HOT. `prune` keeps every run a signal names.
    Column("last_probe_run_id", Id, nullable=False),
    Column("first_snapshot_id", ForeignKey("snapshots.id")),
    Column("vanished_at", DateTime),
    Column("vanished_probe_run_id", ForeignKey("probe_runs.id")),
    # The first answer that no longer showed it (since 0004). Evidence vanishes only at the second answer in a
    # row without it, so a flapping document does not alternate withdrawn and release alerts.
    Column("missed_at", DateTime),
    Index(None, "target", "first_seen"),
    Index(None, "target", "vanished_at"),  # since 0005: the report's withdrawn evidence
    Index(None, "target", "source_id", "level", "first_seen"),  # since 0005: first sightings (timeline)
    Index(None, "first_seen"),
    # The foreign keys to probe runs and snapshots, indexed so that deleting one (`watcher prune`) checks
    # them with a lookup, not a scan of every signal per row deleted. None of them changes after insert.
    Index(None, "first_probe_run_id"),
    Index(None, "vanished_probe_run_id"),
    Index(None, "first_snapshot_id"),
)


def add_partial_indexes() -> None:
    """Attach the partial indexes: one live row per piece of evidence at a source (a comeback after
    vanishing is a new row), and the runs that stored a document. Only migrations and schema checks need
    them: their dialect options make SQLAlchemy import the PostgreSQL dialect, which a probe run should not
    pay for."""
    if "uq_signals_live" not in {i.name for i in signals.indexes}:
        Index("uq_signals_live", signals.c.source_id, signals.c.key_hash, unique=True,
              sqlite_where=text("vanished_at IS NULL"), postgresql_where=text("vanished_at IS NULL"))
    if "ix_probe_runs_snapshot_id" not in {i.name for i in probe_runs.indexes}:
        # Only the runs that stored a document (a 304 stores none): what deleting a snapshot must look up.
        Index("ix_probe_runs_snapshot_id", probe_runs.c.snapshot_id,
              sqlite_where=text("snapshot_id IS NOT NULL"), postgresql_where=text("snapshot_id IS NOT NULL"))

# The durable outbox: one row per (channel, notice key), written in the transaction that makes it due.
notices = Table(
    "notices", metadata,
    Column("id", Id, primary_key=True),
    Column("channel", String(200), nullable=False),
    Column("key", String(400), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("target", String(200)),
    Column("payload", Text, nullable=False),  # JSON: what the templates render
    Column("created_at", DateTime, nullable=False),
    Column("state", String(16), nullable=False),  # pending, sent, failed
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("claimed_by", String(100)),
    Column("claimed_until", DateTime),
    Column("claim_token", String(32)),  # a fresh one per claim; marking needs it (since 0003)
    Column("last_error", Text),
    Column("last_attempt_at", DateTime),  # a channel's latest try, success or not (since 0003)
    Column("sent_at", DateTime),
    UniqueConstraint("channel", "key"),
    Index(None, "state", "next_attempt_at"),
)

# One row per target that has ever been confirmed (since 0004): the release that announced it. `epoch` counts
# announcements (a release withdrawn everywhere and back is announced again); `open` is whether first-party
# evidence still stands behind it. The row is locked while a probe decides "release or corroboration", so
# sources confirming at once, in one cycle or on several replicas, make one release.
releases = Table(
    "releases", metadata,
    Column("target", String(200), primary_key=True),
    Column("epoch", Integer, nullable=False),
    Column("open", Boolean, nullable=False),
    Column("changed_at", DateTime, nullable=False),
)

# Targets found through a family (`gpt-image-*`) and then tracked on their own.
discovered_targets = Table(
    "discovered_targets", metadata,
    Column("id", Id, primary_key=True),
    Column("target", String(200), nullable=False, unique=True),
    Column("family", String(200), nullable=False),
    Column("discovered_at", DateTime, nullable=False),
)

# Named locks with an expiry. Unused since 0003 (the SQLite daemon lock is an OS file lock, see
# store/locks.py); kept so that older databases keep their migration history.
locks = Table(
    "locks", metadata,
    Column("name", String(100), primary_key=True),
    Column("owner", String(100), nullable=False),
    Column("until", DateTime, nullable=False),
)
