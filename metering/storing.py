"""Storing reads exactly once, for both read tables: what EUMD batches and AMI files share.

Every incoming read is one of: new (inserted), a duplicate (the same interval with the same value — an
identical re-send), or a revision for a CSR: a different value for a stored interval (`conflict`), or a
new read for an interval already billed (`billed`). Nothing stored is ever overwritten here.

The meters' rows are locked first (in id order, so two writers never deadlock): the batches and files of
one meter are stored one after the other, and the existing reads fetched below cannot change underneath.
One range query finds what is stored, the classification runs in memory, the new reads go in with COPY
(pevportal/bulk.py) — a handful of statements whatever the size.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import models

from metering import partitions
from metering.models import Meter, ReadRevision
from pevportal.bulk import insert_rows


@dataclass(frozen=True, slots=True)
class Incoming:
    """A read that passed validation. `values` are the remaining columns, in the order the caller names."""

    index: int  # position in the batch or file, for the caller's report
    meter_id: int
    start: dt.datetime
    seconds: int
    wh: int
    values: tuple = ()
    vin: str = ""


@dataclass
class Stored:
    accepted: list[Incoming] = field(default_factory=list)
    duplicates: int = 0
    conflicts: int = 0
    revisions: int = 0  # conflicts kept as new revisions (a conflict re-sent is kept once)


def store(
    model: type[models.Model],
    incoming: Sequence[Incoming],
    *,
    columns: Sequence[str],
    received_at: dt.datetime,
    source: dict,
) -> Stored:
    """Store `incoming` into `model` (PevRead or PremiseRead). Must run inside transaction.atomic().

    `columns` names the fields of `Incoming.values`; `source` is {"batch": …} or {"import_run": …} for the
    revisions. The caller has removed duplicates within its own input.
    """
    result = Stored()
    if not incoming:
        return result
    meter_ids = sorted({read.meter_id for read in incoming})
    billed = dict(
        Meter.objects.select_for_update()
        .filter(id__in=meter_ids)
        .order_by("id")
        .values_list("id", "billed_through")
    )
    first = min(read.start for read in incoming)
    last = max(read.start for read in incoming)
    stored = {
        (meter_id, start): (seconds, wh)
        for meter_id, start, seconds, wh in model.objects.filter(
            meter_id__in=meter_ids, interval_start__gte=first, interval_start__lte=last
        ).values_list("meter_id", "interval_start", "interval_seconds", "wh")
    }
    revisions = []
    for read in incoming:
        existing = stored.get((read.meter_id, read.start))
        if existing is not None:
            if existing == (read.seconds, read.wh):
                result.duplicates += 1
            else:
                result.conflicts += 1
                revision = _revision(read, ReadRevision.Reason.CONFLICT, existing[1], received_at, source)
                revisions.append(revision)
            continue
        billed_through = billed.get(read.meter_id)
        if billed_through is not None and read.start < billed_through:
            result.conflicts += 1
            revisions.append(_revision(read, ReadRevision.Reason.BILLED, None, received_at, source))
            continue
        result.accepted.append(read)
    if result.accepted:
        # Callers create missing partitions before their transaction (DDL there would hold a lock on the
        # parent table until commit); this is then a lookup in the process's cache.
        partitions.ensure_partitions(first, last)
        insert_rows(
            model,
            ["meter_id", "interval_start", "interval_seconds", "wh", *columns],
            [(r.meter_id, r.start, r.seconds, r.wh, *r.values) for r in result.accepted],
        )
    if revisions:
        created = ReadRevision.objects.bulk_create(revisions, ignore_conflicts=True)
        result.revisions = len(created)
    return result


def _revision(read: Incoming, reason: str, stored_wh, received_at, source: dict) -> ReadRevision:
    return ReadRevision(
        meter_id=read.meter_id,
        interval_start=read.start,
        interval_seconds=read.seconds,
        wh=read.wh,
        stored_wh=stored_wh,
        vin=read.vin,
        reason=reason,
        received_at=received_at,
        **source,
    )
