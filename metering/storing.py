"""Storing reads exactly once, for both read tables: what EUMD batches and AMI files share.

Every incoming read is one of: new (inserted), a duplicate (the same interval with the same value — an
identical re-send), or a revision for a CSR: a different value for a stored interval (`conflict`), or a
new read for an interval already billed (`billed`). Nothing stored is ever overwritten here.

The meters' rows are locked first (in id order, so two writers never deadlock): the batches and files of
one meter are stored one after the other, and the stored reads fetched below cannot change underneath.
One range query finds what is stored, the classification runs on whole columns (numpy), the new reads go
in with one COPY (`pevportal.bulk.insert_columns`) — a handful of statements whatever the size.
"""

import bisect
import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from django.db import models

from metering import partitions
from metering.models import Meter, ReadRevision
from pevportal.bulk import insert_columns

UTC = dt.UTC
LONGEST_INTERVAL = dt.timedelta(hours=1)


@dataclass
class Reads:
    """Validated reads, column by column: int64 arrays of one length, the interval starts as given (ISO
    text or datetimes), and the table's other columns in `values` ({field name: list or array})."""

    index: np.ndarray  # position of each read in its batch or file, for the caller's report
    meter: np.ndarray
    epoch: np.ndarray  # interval_start in Unix seconds
    seconds: np.ndarray
    wh: np.ndarray
    starts: list
    values: dict = field(default_factory=dict)
    vin: list | None = None

    def __len__(self) -> int:
        return len(self.index)

    def take(self, positions: np.ndarray) -> "Reads":
        """The reads at `positions` (an index array), in that order."""
        listed = positions.tolist()
        return Reads(
            index=self.index[positions],
            meter=self.meter[positions],
            epoch=self.epoch[positions],
            seconds=self.seconds[positions],
            wh=self.wh[positions],
            starts=[self.starts[i] for i in listed],
            values={name: _take(column, positions, listed) for name, column in self.values.items()},
            vin=None if self.vin is None else [self.vin[i] for i in listed],
        )


@dataclass
class Stored:
    accepted: np.ndarray  # positions (into the Reads given) of the reads inserted
    duplicates: int = 0
    conflicts: int = 0
    revisions: int = 0  # conflicts kept as new revisions (a conflict re-sent is kept once)


def store(model: type[models.Model], reads: Reads, *, received_at: dt.datetime, source: dict) -> Stored:
    """Store `reads` into `model` (PevRead or PremiseRead). Must run inside transaction.atomic().

    `source` is {"batch": …} or {"import_run": …}, recorded on revisions. The caller has removed
    duplicates within its own input.
    """
    if not len(reads):
        return Stored(accepted=np.zeros(0, dtype=np.int64))
    meter_ids = np.unique(reads.meter).tolist()
    billed = {
        meter_id: int(through.timestamp())
        for meter_id, through in Meter.objects.select_for_update()
        .filter(id__in=meter_ids)
        .order_by("id")
        .values_list("id", "billed_through")
        if through is not None
    }
    first = dt.datetime.fromtimestamp(int(reads.epoch.min()), UTC)
    last = dt.datetime.fromtimestamp(int(reads.epoch.max()), UTC)
    # From an hour earlier: a stored read up to an hour long that starts before `first` may still overlap.
    stored = {
        (meter_id, int(start.timestamp())): (seconds, wh)
        for meter_id, start, seconds, wh in model.objects.filter(
            meter_id__in=meter_ids, interval_start__gte=first - LONGEST_INTERVAL, interval_start__lte=last
        ).values_list("meter_id", "interval_start", "interval_seconds", "wh")
    }
    if not stored and not billed:
        accepted = np.arange(len(reads))  # the common case: all new
        result = Stored(accepted=accepted)
        revisions = []
    else:
        result, revisions = _classify(reads, stored, billed, received_at, source)
    if len(result.accepted):
        # Callers create missing partitions before their transaction (DDL there would hold a lock on the
        # parent table until commit); this is then a lookup in the process's cache.
        partitions.ensure_partitions(first, last)
        new = reads if len(result.accepted) == len(reads) else reads.take(result.accepted)
        insert_columns(
            model,
            {
                "meter_id": new.meter,
                "interval_start": new.starts,
                "interval_seconds": new.seconds,
                "wh": new.wh,
                **new.values,
            },
        )
    if revisions:
        result.revisions = len(ReadRevision.objects.bulk_create(revisions, ignore_conflicts=True))
    return result


def _classify(reads: Reads, stored: dict, billed: dict, received_at, source) -> tuple[Stored, list]:
    """The slow path, when something is already stored or billed in the span: one read at a time."""
    accepted, revisions = [], []
    result = Stored(accepted=np.zeros(0, dtype=np.int64))
    spans = _Spans(stored)
    rows = zip(
        reads.meter.tolist(), reads.epoch.tolist(), reads.seconds.tolist(), reads.wh.tolist(), strict=True
    )
    for position, (meter_id, epoch, seconds, wh) in enumerate(rows):
        existing = stored.get((meter_id, epoch))
        if existing is not None:
            if existing == (seconds, wh):
                result.duplicates += 1
            else:
                result.conflicts += 1
                revisions.append(
                    _revision(reads, position, ReadRevision.Reason.CONFLICT, existing[1], received_at, source)
                )
        elif spans.overlaps(meter_id, epoch, epoch + seconds):
            # Another length over the same time (e.g. 5-minute reads over stored 15-minute ones): storing
            # both would count the energy twice.
            result.conflicts += 1
            revisions.append(
                _revision(reads, position, ReadRevision.Reason.CONFLICT, None, received_at, source)
            )
        elif meter_id in billed and epoch < billed[meter_id]:
            result.conflicts += 1
            revisions.append(
                _revision(reads, position, ReadRevision.Reason.BILLED, None, received_at, source)
            )
        else:
            accepted.append(position)
    result.accepted = np.array(accepted, dtype=np.int64)
    return result, revisions


class _Spans:
    """The stored reads of each meter as sorted [start, end) spans, to find overlaps by bisection."""

    def __init__(self, stored: dict):
        by_meter: dict[int, list] = {}
        for (meter_id, start), (seconds, _) in stored.items():
            by_meter.setdefault(meter_id, []).append((start, start + seconds))
        self.starts = {m: [a for a, _ in sorted(spans)] for m, spans in by_meter.items()}
        self.ends = {m: [b for _, b in sorted(spans)] for m, spans in by_meter.items()}

    def overlaps(self, meter_id: int, start: int, end: int) -> bool:
        starts = self.starts.get(meter_id)
        if not starts:
            return False
        # Stored reads of one meter never overlap each other, so only the last one starting before `end`
        # can reach past `start`.
        position = bisect.bisect_left(starts, end) - 1
        return position >= 0 and self.ends[meter_id][position] > start


def _revision(reads: Reads, position: int, reason: str, stored_wh, received_at, source: dict) -> ReadRevision:
    return ReadRevision(
        meter_id=int(reads.meter[position]),
        interval_start=dt.datetime.fromtimestamp(int(reads.epoch[position]), UTC),
        interval_seconds=int(reads.seconds[position]),
        wh=int(reads.wh[position]),
        stored_wh=stored_wh,
        vin="" if reads.vin is None else reads.vin[position],
        reason=reason,
        received_at=received_at,
        **source,
    )


def _take(column, positions: np.ndarray, listed: list):
    if isinstance(column, np.ndarray):
        return column[positions]
    return [column[i] for i in listed]
