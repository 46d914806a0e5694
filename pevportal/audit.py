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

from pevportal.models import AuditRecord, Channel


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
    """One audited change, for record_many."""

    action: str
    target: models.Model
    before: dict | None = None
    after: dict | None = None
    context: dict = field(default_factory=dict)


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
        **_fields(Change(action, target, before, after, context or {}), channel, actor, actor_label)
    )


def record_many(changes: Iterable[Change], *, channel: Channel, actor=None, actor_label: str = "") -> int:
    """Write one audit record per change in bulk; returns how many were written."""
    rows = [AuditRecord(**_fields(c, channel, actor, actor_label)) for c in changes]
    AuditRecord.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def _fields(change: Change, channel: Channel, actor, actor_label: str) -> dict:
    return {
        "action": change.action,
        "target_type": ContentType.objects.get_for_model(change.target),
        "target_id": str(change.target.pk),
        "before": json_safe(change.before) if change.before is not None else None,
        "after": json_safe(change.after) if change.after is not None else None,
        "context": json_safe(change.context),
        "channel": channel,
        "actor": actor if getattr(actor, "is_authenticated", False) else None,
        "actor_label": actor_label,
    }
