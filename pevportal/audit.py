"""Writing the audit trail. Every function that changes state calls `record` (one change) or
`record_many` (a bulk import: one record per changed row, written in one statement)."""

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from pevportal.bulk import insert_rows
from pevportal.models import AuditRecord, Channel

# Every column but the id and `at`, which the database fills (db_default) for a whole bulk write.
_BULK_FIELDS = [
    "actor_id",
    "actor_label",
    "channel",
    "action",
    "target_type_id",
    "target_id",
    "before",
    "after",
    "context",
]


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The named fields of a row as JSON-safe values (foreign keys by id), for before/after."""
    return {name: json_safe(getattr(instance, _attname(instance, name))) for name in fields}


def json_safe(value: Any) -> Any:
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return value


def _attname(instance: models.Model, name: str) -> str:
    field_ = instance._meta.get_field(name)
    return field_.attname if isinstance(field_, models.ForeignKey) else name


@dataclass(frozen=True)
class Change:
    """One audited change, for record_many: the changed row by model and primary key."""

    action: str
    model: type[models.Model]
    pk: Any
    before: dict | None = None
    after: dict | None = None
    context: dict = field(default_factory=dict)

    @classmethod
    def of(cls, action: str, target: models.Model, before=None, after=None, context=None) -> "Change":
        return cls(action, type(target), target.pk, before, after, context or {})


def record(
    *,
    action: str,
    target: models.Model,
    channel: Channel,
    actor=None,
    actor_label: str = "",
    before: dict | None = None,
    after: dict | None = None,
    context: dict | None = None,
) -> AuditRecord:
    """Write one audit record. Call it inside the transaction that makes the change."""
    return AuditRecord.objects.create(
        action=action,
        target_type=ContentType.objects.get_for_model(target),
        target_id=str(target.pk),
        before=before,
        after=after,
        context=context or {},
        channel=channel,
        actor=_user(actor),
        actor_label=actor_label,
    )


def record_many(changes: Iterable[Change], *, channel: Channel, actor=None, actor_label: str = "") -> int:
    """Write one audit record per change in one set-based insert; returns how many were written."""
    actor_id = getattr(_user(actor), "pk", None)
    changes = list(changes)
    content_types = {c.model: None for c in changes}
    for model in content_types:
        content_types[model] = ContentType.objects.get_for_model(model).pk
    rows = [
        (
            actor_id,
            actor_label,
            channel,
            change.action,
            content_types[change.model],
            str(change.pk),
            change.before,
            change.after,
            change.context,
        )
        for change in changes
    ]
    insert_rows(AuditRecord, _BULK_FIELDS, rows)
    return len(rows)


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def save_audited(
    obj: models.Model,
    values: dict[str, Any],
    *,
    fields: Iterable[str],
    kind: str,
    channel: Channel,
    actor=None,
    actor_label: str = "",
    validate: bool = True,
) -> bool:
    """Set `values` on `obj` and save it with a `<kind>.created` / `<kind>.updated` audit record — only when
    the audited `fields` changed. Returns whether it saved. full_clean() runs first unless validate=False."""
    fields = list(fields)
    creating = obj.pk is None
    before = None if creating else snapshot(obj, fields)
    for name, value in values.items():
        setattr(obj, name, value)
    if validate:
        obj.full_clean()
    after = snapshot(obj, fields)
    if before == after:
        return False
    obj.save()
    record(
        action=f"{kind}.{'created' if creating else 'updated'}",
        target=obj,
        channel=channel,
        actor=actor,
        actor_label=actor_label,
        before=before,
        after=after,
    )
    return True
