"""The device API's hot-path statements as server-side prepared statements (PostgreSQL), with what they need
around them: rows of hand-written joins turned into model instances, and inserts of whole instances.

Django binds every value client-side and sends each query as new text, so PostgreSQL parses and plans it
again each time. For the evening peak's re-binding (bench/binding.py) that planning outweighed the work:
EXPLAIN ANALYZE put the plug-in facts (a seven-way join) at 0.9 ms of planning against 0.1 ms executing.
`cursor()` prepares each statement on its connection the first time it runs there and afterwards only
executes it. It still goes through Django's cursor wrapper, so query logging, `execute_wrapper` and the
test suite's query counts see it. On SQLite it is Django's ordinary cursor.

Only this cursor prepares: the ORM's cursors bind client-side and never do. psycopg prepares only when the
connection's `prepare_threshold` is a number, which settings.py sets in the database OPTIONS. Prepared
statements live in the server session, so a connection pooler in transaction mode must support them
(PgBouncer ≥ 1.21 with `max_prepared_statements`; docs/operations.md).

`SelectRelated` loads a model with related ones as `select_related` would (`ModelRow` reads one model's
columns from a row), and `InsertRows` inserts instances, for the few statements whose ORM compilation costs
more than running them (a device's lookup on every signed request, a binding and its log on every plug-in).
"""

import functools
from collections.abc import Sequence

from django.db import connection, models, transaction
from django.db.models import NOT_PROVIDED
from django.db.models.fields import AutoFieldMixin
from django.db.models.sql import Query


def cursor():
    """A cursor whose statements are prepared on first use on PostgreSQL; Django's plain cursor elsewhere.

    Statements must be fixed text with `%s` placeholders: each distinct text is prepared once per
    connection and kept (psycopg keeps the 100 most recent).
    """
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    # Django wraps it exactly as its own cursors (debug logging, execute wrappers, thread checks).
    return connection._prepare_cursor(_preparing_cursor_class()(connection.connection))


@functools.cache
def _preparing_cursor_class():
    # Imported on first use: the PostgreSQL backend's module needs psycopg, which SQLite never loads.
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        """Server-side binding, and every statement prepared (Django's own Cursor binds client-side)."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparingCursor


class ModelRow:
    """The columns of `model` (all concrete fields, or `fields`) at one place in a hand-written SELECT.

    `columns(alias)` writes them into the SELECT list; `build(row, start)` makes the instance from the row's
    values there, through the database's converters as the ORM would (SQLite returns text for datetimes).
    A NULL primary key (an outer join that found nothing) gives None. Fields not selected are deferred:
    reading one loads it, as with `.only()`.
    """

    def __init__(self, model: type[models.Model], fields: Sequence[str] = ()):
        self.model = model
        chosen = set(fields)
        self.fields = [
            field
            for field in model._meta.concrete_fields
            if not chosen or field.name in chosen or field.primary_key
        ]
        self.names = [field.attname for field in self.fields]
        self._converters: dict[str, dict] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def columns(self, alias: str) -> str:
        return ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in self.fields)

    def build(self, row: Sequence, start: int = 0) -> models.Model | None:
        values = list(row[start : start + len(self.fields)])
        pk_index = next(i for i, field in enumerate(self.fields) if field.primary_key)
        if values[pk_index] is None:
            return None
        for index, (converters, expression) in self._converters_for(connection.vendor).items():
            for converter in converters:
                values[index] = converter(values[index], expression, connection)
        return self.model.from_db(connection.alias, self.names, values)

    def _converters_for(self, vendor: str) -> dict:
        if vendor not in self._converters:
            compiler = connection.ops.compiler("SQLCompiler")(Query(self.model), connection, connection.alias)
            self._converters[vendor] = compiler.get_converters(
                [field.get_col(self.model._meta.db_table) for field in self.fields]
            )
        return self._converters[vendor]


class SelectRelated:
    """A model with related ones along foreign keys, as `select_related(*paths)` loads them, from one SELECT
    built once from the models' metadata and run as a prepared statement: for a hot-path lookup whose ORM
    compilation costs more than the query (a device on every signed request, a binding on every status
    report). `by` names the model's fields `get(*values)` looks up by; `lock` adds `FOR UPDATE` of the
    model's row where the database has it; `defer` leaves large columns out (read, they load)."""

    ROOT = "t0"

    def __init__(self, model, *paths: str, by: Sequence[str], lock: bool = False, defer: Sequence[str] = ()):
        self.model = model
        self.root = ModelRow(model, [f.name for f in model._meta.concrete_fields if f.name not in defer])
        self.by = [model._meta.get_field(name) for name in by]
        self.lock = lock
        # (path, parent path, field name, columns, alias, join), in `paths` order: parents come first.
        self.related = []
        quote = connection.ops.quote_name
        models_by_path = {"": (model, self.ROOT, False)}
        # As select_related: "a__b" loads a too, and each relation once.
        expanded = dict.fromkeys(
            "__".join(path.split("__")[:depth]) for path in paths for depth in range(1, path.count("__") + 2)
        )
        for number, path in enumerate(expanded, 1):
            parent_path, _, name = path.rpartition("__")
            parent, parent_alias, parent_optional = models_by_path[parent_path]
            field = parent._meta.get_field(name)
            alias, optional = f"t{number}", parent_optional or field.null
            join = "LEFT JOIN" if optional else "JOIN"
            target = field.related_model
            self.related.append(
                (
                    path,
                    parent_path,
                    name,
                    ModelRow(target),
                    alias,
                    f"{join} {quote(target._meta.db_table)} {alias} "
                    f"ON {alias}.{quote(target._meta.pk.column)} = {parent_alias}.{quote(field.column)}",
                )
            )
            models_by_path[path] = (target, alias, optional)
        self._sql = None

    def get(self, *values):
        """The instance whose `by` fields have these values, with its relations cached, or None."""
        # As the ORM would send them (a UUID is text on SQLite, a foreign key its target's value).
        params = [
            field.get_db_prep_value(value, connection) for field, value in zip(self.by, values, strict=True)
        ]
        with cursor() as db:
            db.execute(self.sql(), params)
            row = db.fetchone()
        if row is None:
            return None
        loaded = {"": self.root.build(row)}
        offset = len(self.root)
        for path, parent_path, name, columns, _, _ in self.related:
            loaded[path] = columns.build(row, offset)
            if loaded[parent_path] is not None:
                setattr(loaded[parent_path], name, loaded[path])
            offset += len(columns)
        return loaded[""]

    def sql(self) -> str:
        if self._sql is None:
            columns = ", ".join(
                [
                    self.root.columns(self.ROOT),
                    *(columns.columns(alias) for _, _, _, columns, alias, _ in self.related),
                ]
            )
            joins = " ".join(join for *_, join in self.related)
            lock = (
                f" FOR UPDATE OF {self.ROOT}"
                if self.lock and connection.features.has_select_for_update
                else ""
            )
            quote = connection.ops.quote_name
            where = " AND ".join(f"{self.ROOT}.{quote(field.column)} = %s" for field in self.by)
            table = quote(self.model._meta.db_table)
            self._sql = f"SELECT {columns} FROM {table} {self.ROOT} {joins} WHERE {where}{lock}"  # noqa: S608
        return self._sql


class InsertRows:
    """`INSERT` of whole model instances as fixed text (prepared on PostgreSQL), for a hot path where
    compiling `save()` or `bulk_create()` costs more than the insert (a binding and its log on each plug-in).

    Like `bulk_create`, no `save()` logic runs: instances carry their values (defaults are applied when they
    are constructed). Columns with a `db_default` and an auto primary key are left to the database and read
    back with RETURNING.

    `insert(instances, along=[(other, rows)])` also inserts rows of other models (the binding's events), all
    or nothing: on PostgreSQL in the same statement (data-modifying CTEs), which needs no transaction of its
    own, so that no BEGIN and COMMIT round trips are added outside one; elsewhere in one transaction. Those
    rows are not read back: their database defaults stay unset on the instances.
    """

    def __init__(self, model: type[models.Model], *, replace: bool = False):
        self.model = model
        # `replace`: a row whose primary key exists is overwritten (ON CONFLICT … DO UPDATE), as one-row-per-
        # key state like a binding's latest status is kept.
        self.replace = replace
        fields = model._meta.concrete_fields
        self.fields = [
            f for f in fields if f.db_default is NOT_PROVIDED and not isinstance(f, AutoFieldMixin)
        ]
        self.returned = [f for f in fields if f not in self.fields]
        self._sql: dict[tuple, str] = {}

    def insert(
        self,
        instances: Sequence[models.Model],
        *,
        along: Sequence[tuple["InsertRows", Sequence[models.Model]]] = (),
    ) -> None:
        if along and connection.vendor != "postgresql":
            with transaction.atomic():
                self.insert(instances)
                for other, rows in along:
                    other.insert(rows)
            return
        shape = (len(instances), *((other, len(rows)) for other, rows in along))
        params = [value for other, rows in along for value in other._params(rows)]
        with cursor() as db:
            db.execute(self._statement(shape), params + self._params(instances))
            returned = db.fetchall() if self.returned else [()] * len(instances)
        for obj, values in zip(instances, returned, strict=True):
            for field, value in zip(self.returned, values, strict=True):
                setattr(obj, field.attname, value)
            obj._state.adding = False
            obj._state.db = connection.alias
        for _, rows in along:
            for obj in rows:
                obj._state.adding = False
                obj._state.db = connection.alias

    def _params(self, instances: Sequence[models.Model]) -> list:
        return [
            field.get_db_prep_save(getattr(obj, field.attname), connection)
            for obj in instances
            for field in self.fields
        ]

    def _values(self, count: int) -> str:
        quote = connection.ops.quote_name
        row = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
        return (
            f"INSERT INTO {quote(self.model._meta.db_table)} "  # noqa: S608 — identifiers from metadata
            f"({', '.join(quote(f.column) for f in self.fields)}) VALUES {', '.join([row] * count)}"
        )

    def _statement(self, shape: tuple) -> str:
        if shape not in self._sql:
            count, *along = shape
            ctes = [f"along_{n} AS ({other._values(rows)})" for n, (other, rows) in enumerate(along)]
            sql = ("WITH " + ", ".join(ctes) + " " if ctes else "") + self._values(count)
            quote = connection.ops.quote_name
            if self.replace:
                pk = self.model._meta.pk
                updates = ", ".join(
                    f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in self.fields if f != pk
                )
                sql += f" ON CONFLICT ({quote(pk.column)}) DO UPDATE SET {updates}"
            if self.returned:
                sql += f" RETURNING {', '.join(quote(f.column) for f in self.returned)}"
            self._sql[shape] = sql
        return self._sql[shape]
