"""Set-based writes of many rows: PostgreSQL COPY where the database is PostgreSQL, executemany (inserts)
and Django's bulk_update (updates) on the SQLite embedded default.

Django's bulk_create builds a model instance per row and binds every value as a query parameter, which
costs more than the insert itself at 100,000 rows; COPY streams plain tuples in PostgreSQL's own format.
Rows are tuples of Python values in the order of `fields` (foreign keys by id, e.g. "account_id"). Model
save() logic does not run, as with bulk_create: callers pass complete rows.
"""

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from django.db import connection, models
from django.db.models.expressions import RawSQL

_BATCH = 2000
# SQLite binds each key as a parameter (at most 999 on older builds); PostgreSQL takes a chunk as one array.
_SQLITE_KEYS_PER_QUERY = 900
_POSTGRES_KEYS_PER_QUERY = 20_000


def rows_by_key(model: type[models.Model], key: str, keys: Sequence, fields: Sequence[str] = ()) -> dict:
    """{key: {"pk": …, field: value, …}} for the rows whose `key` is in `keys`, in a few queries."""
    if connection.vendor == "postgresql":
        element = model._meta.get_field(key).cast_db_type(connection)
        size, lookup = _POSTGRES_KEYS_PER_QUERY, lambda chunk: _postgres_array(chunk, element)
    else:
        size, lookup = _SQLITE_KEYS_PER_QUERY, list
    found: dict = {}
    for start in range(0, len(keys), size):
        chunk = list(keys[start : start + size])
        for values in model.objects.filter(**{f"{key}__in": lookup(chunk)}).values("pk", key, *fields):
            found[values.pop(key)] = values
    return found


def _postgres_array(keys: list, element_type: str) -> RawSQL:
    # One array parameter instead of one placeholder per key: the query text stays short to build and plan.
    # The type comes from the key field's metadata, never from input.
    return RawSQL(f"SELECT unnest(%s::{element_type}[])", [keys])  # noqa: S611


def serialize_writers(name: str) -> None:
    """Wait until no other transaction holds `name`, then hold it until this transaction ends.

    PostgreSQL: a transaction-level advisory lock. SQLite already admits one writer at a time.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("serialize_writers must run inside transaction.atomic()")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert new rows; the primary key and any db_default columns come from the database."""
    rows = list(rows)
    if not rows:
        return
    columns, adapters = _columns(model, fields)
    table = connection.ops.quote_name(model._meta.db_table)
    if connection.vendor != "postgresql":
        concrete = [model._meta.get_field(name) for name in fields]
        placeholders = ", ".join("%s" for _ in concrete)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608 — quoted identifiers
                [
                    [f.get_db_prep_save(v, connection) for f, v in zip(concrete, row, strict=True)]
                    for row in rows
                ],
            )
        return
    # wrap_database_errors: COPY runs on the raw psycopg cursor; callers catch Django's IntegrityError.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        if any(adapt is not _identity for adapt in adapters):
            rows = ([adapt(value) for adapt, value in zip(adapters, row, strict=True)] for row in rows)
        for row in rows:
            copy.write_row(row)


def insert_columns(model: type[models.Model], columns: dict[str, Sequence]) -> None:
    """Insert rows given column by column ({field name: values}, equal lengths): the form a vectorised
    path holds its data in. On PostgreSQL the COPY text is built per column and sent in one write — about
    ten times cheaper than a row at a time. Values: None, int (numpy arrays too), str, datetime, UUID;
    a datetime field also takes the ISO text `YYYY-MM-DDTHH:MM:SSZ`.
    """
    names = list(columns)
    if not names:
        return
    if connection.vendor != "postgresql":
        insert_rows(model, names, zip(*(_python_values(model, n, columns[n]) for n in names), strict=True))
        return
    values = [columns[name] for name in names]
    texts = [_copy_texts(column) for column in values]
    if not texts[0]:
        return
    data = "\n".join(map("\t".join, zip(*texts, strict=True))) + "\n"
    nulls = sum(column.count(None) for column in values if not isinstance(column, np.ndarray))
    if not _plain(data, rows=len(texts[0]), columns=len(names), nulls=nulls):
        # A value holds a tab, newline, carriage return or backslash: escape value by value.
        escaped = [
            [_NULL if value is None else _escaped(text) for value, text in zip(column, strings, strict=True)]
            for column, strings in zip(values, texts, strict=True)
        ]
        data = "\n".join(map("\t".join, zip(*escaped, strict=True))) + "\n"
    quoted = ", ".join(connection.ops.quote_name(model._meta.get_field(n).column) for n in names)
    table = connection.ops.quote_name(model._meta.db_table)
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy,
    ):
        copy.write(data)


_NULL = "\\N"


def _copy_texts(values: Sequence) -> list[str]:
    """A column as COPY text fields, unescaped (PostgreSQL's text format: \\N is NULL)."""
    if isinstance(values, np.ndarray):
        return list(map(str, values.tolist()))
    # One expression per value, not a call: this runs for every value of every column.
    return [
        value
        if type(value) is str
        else _NULL
        if value is None
        else str(value)
        if type(value) is int
        else value.isoformat()
        if isinstance(value, dt.datetime)
        else str(value)
        for value in values
    ]


def _plain(data: str, *, rows: int, columns: int, nulls: int) -> bool:
    """Whether the joined text needs no escaping: only the separators we put there, and no backslash but
    those of the NULL markers. Counting over the whole text costs far less than checking each value."""
    return (
        data.count("\t") == rows * (columns - 1)
        and data.count("\n") == rows
        and "\r" not in data
        and data.count("\\") == nulls
    )


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _python_values(model: type[models.Model], name: str, values: Sequence) -> list:
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if isinstance(model._meta.get_field(name), models.DateTimeField):
        return [dt.datetime.fromisoformat(v) if isinstance(v, str) else v for v in values]
    return list(values)


def update_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Update the named fields of existing rows; each row is (pk, *values in the order of fields)."""
    rows = list(rows)
    if not rows:
        return
    if connection.vendor != "postgresql":
        objects = [model(pk=row[0], **dict(zip(fields, row[1:], strict=True))) for row in rows]
        model.objects.bulk_update(objects, list(fields), batch_size=_BATCH)
        return
    quote = connection.ops.quote_name
    if not connection.in_atomic_block:
        raise RuntimeError(
            "update_rows must run inside transaction.atomic(): its staging table drops at commit"
        )
    pk = quote(model._meta.pk.column)
    columns, adapters = _columns(model, fields)
    table = quote(model._meta.db_table)
    staging = quote(f"staging_{model._meta.db_table}")
    assignments = ", ".join(f"{c} = s.{c}" for c in columns.split(", "))
    # Identifiers come from model metadata and are quoted; values travel by COPY, never in the SQL text.
    with connection.wrap_database_errors, connection.cursor() as cursor:
        # A temporary table dropped at commit: rows arrive by COPY, then one UPDATE … FROM joins them.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "  # noqa: S608 — quoted identifiers only
            f"SELECT {pk}, {columns} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY {staging} ({pk}, {columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[0], *(adapt(v) for adapt, v in zip(adapters, row[1:], strict=True))])
        cursor.execute(f"UPDATE {table} AS t SET {assignments} FROM {staging} AS s WHERE t.{pk} = s.{pk}")  # noqa: S608
        cursor.execute(f"DROP TABLE {staging}")


def _columns(model: type[models.Model], fields: Sequence[str]) -> tuple[str, list[Callable[[Any], Any]]]:
    """The quoted column list and, per column, how a Python value becomes COPY input."""
    concrete = [model._meta.get_field(name) for name in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in concrete)
    return columns, [_adapter(f) for f in concrete]


def _adapter(field: models.Field) -> Callable[[Any], Any]:
    if isinstance(field, models.JSONField):
        return lambda value: None if value is None else json.dumps(value, cls=field.encoder)
    return _identity


def _identity(value: Any) -> Any:
    return value
