"""Daily range partitions of the read tables on PostgreSQL (docs/metering.md, "Storage").

At 1 M PEVs a day of EUMD reads is about 100 M rows; one partition per UTC day keeps each partition's only
index — the primary key (meter_id, interval_start), which exactly-once needs anyway — a few GB, small
enough to stay in memory while the day is being written, and lets billing and retention touch whole days
(a month's bill prunes to its 28–31 partitions; dropping a day is `DROP TABLE`, not a 100 M-row DELETE).
A BRIN index on interval_start would add nothing inside a one-day partition: the bound already prunes.

Partitions are created ahead by a daily beat task (METERING_PARTITIONS_AHEAD_DAYS) and, for a backlog
or an import of older data, on demand before rows are written. SQLite (the embedded default) has one
plain table per model.
"""

import datetime as dt

from django.conf import settings
from django.db import connection, models, transaction
from django.db.utils import IntegrityError, ProgrammingError

UTC = dt.UTC

# Partitions this process knows to exist, per parent table: a write checks here before asking PostgreSQL.
_known: dict[str, set[dt.date]] = {}


def partitioned_models() -> list[type[models.Model]]:
    from metering.models import PevRead, PremiseRead

    return [PevRead, PremiseRead]


def partition_table(schema_editor, model: type[models.Model]) -> None:
    """Migration step: turn the plain table Django created for `model` into a table partitioned by
    range of interval_start, with the same columns, checks and primary key (the tables are empty)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    table = model._meta.db_table
    template = f"{table}_template"
    schema_editor.execute(f"ALTER TABLE {quote(table)} RENAME TO {quote(template)}")
    schema_editor.execute(
        f"CREATE TABLE {quote(table)} (LIKE {quote(template)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        "PARTITION BY RANGE (interval_start)"
    )
    schema_editor.execute(f"DROP TABLE {quote(template)}")
    schema_editor.execute(
        f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(table + '_pkey')} "
        "PRIMARY KEY (meter_id, interval_start)"
    )


def ensure_partitions(first: dt.datetime, last: dt.datetime) -> None:
    """Make sure every read table has a partition for each UTC day from `first` to `last` inclusive."""
    if connection.vendor != "postgresql":
        return
    days = _days(first.astimezone(UTC).date(), last.astimezone(UTC).date())
    for model in partitioned_models():
        table = model._meta.db_table
        known = _known.get(table)
        if known is None:
            known = _known[table] = _existing(table)
        for day in days:
            if day not in known:
                _create(table, day)
                # Remembered once committed: a partition created in a transaction that rolls back is gone.
                transaction.on_commit(lambda known=known, day=day: known.add(day))


def create_ahead(today: dt.date | None = None) -> int:
    """The beat task's work: partitions from today to METERING_PARTITIONS_AHEAD_DAYS ahead. Returns how
    many days were checked."""
    today = today or dt.datetime.now(UTC).date()
    last = today + dt.timedelta(days=settings.METERING_PARTITIONS_AHEAD_DAYS)
    ensure_partitions(dt.datetime.combine(today, dt.time(), UTC), dt.datetime.combine(last, dt.time(), UTC))
    return (last - today).days + 1


def forget_known_partitions() -> None:
    """Tests drop and recreate databases under a live process: start over from the catalogue."""
    _known.clear()


def partition_name(table: str, day: dt.date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _existing(table: str) -> set[dt.date]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class parent ON parent.oid = inhparent "
            "JOIN pg_class child ON child.oid = inhrelid WHERE parent.relname = %s",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    prefix = f"{table}_p"
    return {
        dt.datetime.strptime(name[len(prefix) :], "%Y%m%d").date()  # noqa: DTZ007 — a date, no time
        for name in names
        if name.startswith(prefix)
    }


def _create(table: str, day: dt.date) -> None:
    quote = connection.ops.quote_name
    start = dt.datetime.combine(day, dt.time(), UTC)
    end = start + dt.timedelta(days=1)
    statement = (
        f"CREATE TABLE IF NOT EXISTS {quote(partition_name(table, day))} PARTITION OF {quote(table)} "
        "FOR VALUES FROM (%s) TO (%s)"
    )
    try:
        # A savepoint: two processes creating the same day at once race on the catalogue, and the loser's
        # error must not abort the caller's transaction.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [start, end])
    except (IntegrityError, ProgrammingError):
        if day not in _existing(table):
            raise
