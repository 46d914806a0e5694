"""Premise revenue-meter (AMI) interval data from head-end file drops: `import_ami FILE.csv` (BR.8, Req 15).

Columns `meter_id, interval_start, interval_seconds, wh` (optional `quality`); `meter_id` is the premise's
revenue meter (`Premise.meter_id`). The file is checked as a whole first — the shared CSV rules of
pevportal/csvimport.py, then the meters against the database — and stored with the same rules as EUMD
batches (`metering/storing.py`): each interval once, identical re-sends counted as duplicates, different
values kept as revisions for a CSR, billed intervals never changed. Sessions at the premises it covers
are queued for load correlation in the same transaction.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from binding.clock import parse_utc_second
from enrollment.models import Premise
from metering import correlation, partitions, rollups
from metering.models import Flag, Meter, MeterKind, PremiseRead, Quality, UsageSource
from metering.storing import Reads, store
from pevportal.csvimport import ParsedFile, RowError, RowInvalid, parse_csv
from pevportal.models import ImportRun

REQUIRED_COLUMNS = ["meter_id", "interval_start", "interval_seconds", "wh"]
OPTIONAL_COLUMNS = ["quality"]
IMPORT_KIND = "ami"
# Meters per store() call: each call reads what is stored for its meters over the file's span.
METERS_PER_CHUNK = 2000
WH_LIMIT = 2**31 - 1


@dataclass(frozen=True, slots=True)
class AmiRow:
    meter_id: str
    start: dt.datetime
    seconds: int
    wh: int
    flags: int


@dataclass
class AmiResult:
    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.accepted or self.conflicts)


def parse_ami_file(path: Path, progress: Callable[[int], None] | None = None, *, now=None) -> ParsedFile:
    """Validate every row, the rows against each other, and the meters against the database."""
    now = now or timezone.now()
    parsed = parse_csv(
        path,
        required=REQUIRED_COLUMNS,
        optional=OPTIONAL_COLUMNS,
        validate_row=lambda line, values: _validate_row(values, now),
        progress=progress,
    )
    _check_across_rows(parsed)
    _check_meters(parsed)
    parsed.errors.sort()
    return parsed


def _validate_row(values: dict[str, str], now: dt.datetime) -> AmiRow:
    errors: dict[str, str] = {}
    if not values["meter_id"]:
        errors["meter_id"] = "is required"
    try:
        start = parse_utc_second(values["interval_start"])
    except ValueError:
        errors["interval_start"] = "must be UTC to the second: YYYY-MM-DDTHH:MM:SSZ"
        start = None
    try:
        seconds = int(values["interval_seconds"])
    except ValueError:
        seconds = 0
    if not 60 <= seconds <= 3600 or 3600 % seconds:
        errors["interval_seconds"] = "must divide an hour (60 to 3600)"
    elif start is not None:
        if int(start.timestamp()) % seconds:
            errors["interval_start"] = f"is not aligned to {seconds} s intervals"
        elif start + dt.timedelta(seconds=seconds) > now:
            errors["interval_start"] = "the interval has not ended yet (future timestamp)"
        elif start < now - dt.timedelta(days=settings.METERING_MAX_READ_AGE_DAYS):
            errors["interval_start"] = f"older than {settings.METERING_MAX_READ_AGE_DAYS} days: not accepted"
    try:
        wh = int(values["wh"])
    except ValueError:
        wh = None
    if wh is None or not -WH_LIMIT <= wh <= WH_LIMIT:
        errors["wh"] = "must be an integer number of watt-hours"
    quality = values["quality"] or Quality.ACTUAL
    if quality not in Quality.values:
        errors["quality"] = f"must be one of {', '.join(Quality.values)}"
    if errors:
        raise RowInvalid(errors)
    flags = (Flag.NEGATIVE if wh < 0 else 0) | (Flag.ESTIMATED if quality == Quality.ESTIMATED else 0)
    return AmiRow(values["meter_id"], start, seconds, wh, flags)


def _check_across_rows(parsed: ParsedFile) -> None:
    """An interval twice in one file: identical is tolerated (kept once), different is an error."""
    first_seen: dict[tuple, tuple[int, AmiRow]] = {}
    kept = []
    for line, row in parsed.rows:
        key = (row.meter_id, row.start)
        earlier = first_seen.get(key)
        if earlier is None:
            first_seen[key] = (line, row)
            kept.append((line, row))
        elif (earlier[1].seconds, earlier[1].wh) != (row.seconds, row.wh):
            reason = f"conflicts with line {earlier[0]} (same meter and interval)"
            parsed.errors.append(RowError(line, "wh", reason))
    # Reads of another length over the same time would count the energy twice.
    overlapping = set()
    reach: dict[str, tuple[dt.datetime, int]] = {}
    for line, row in sorted(kept, key=lambda item: (item[1].meter_id, item[1].start, item[0])):
        end, earlier_line = reach.get(row.meter_id, (None, 0))
        if end is not None and row.start < end:
            overlapping.add(line)
            reason = f"overlaps line {earlier_line} (same meter, another interval length)"
            parsed.errors.append(RowError(line, "interval_start", reason))
            continue
        reach[row.meter_id] = (row.start + dt.timedelta(seconds=row.seconds), line)
    parsed.rows = [(line, row) for line, row in kept if line not in overlapping]


def _check_meters(parsed: ParsedFile) -> None:
    named = {row.meter_id for _, row in parsed.rows}
    known = set(Premise.objects.filter(meter_id__in=named).values_list("meter_id", flat=True))
    unknown = [(line, row) for line, row in parsed.rows if row.meter_id not in known]
    for line, row in unknown:
        parsed.errors.append(RowError(line, "meter_id", f"no premise has revenue meter {row.meter_id!r}"))
    if unknown:
        parsed.rows = [(line, row) for line, row in parsed.rows if row.meter_id in known]


def import_ami_rows(parsed: ParsedFile, *, filename: str, now=None) -> AmiResult:
    """Store the file's valid rows in one transaction; an identical file again changes nothing."""
    now = now or timezone.now()
    result = AmiResult(rejected=len({e.line for e in parsed.errors}), errors=[str(e) for e in parsed.errors])
    rows = [row for _, row in parsed.rows]
    if not rows:
        return result
    premises = _premises_by_meter({row.meter_id for row in rows})
    meters = _meters_for({premise_id for premise_id, _ in premises.values()})
    # DDL outside the transaction: a partition created inside it would lock the parent table until commit.
    partitions.ensure_partitions(min(r.start for r in rows), max(r.start for r in rows))
    with transaction.atomic():
        run = _run_for(parsed, filename)
        reads = _reads(rows, premises, meters, run)
        accepted = []
        # A few thousand meters per store(): each call reads what is stored for its meters over the span.
        order = np.argsort(reads.meter, kind="stable")
        meter_of = reads.meter[order]
        bounds = np.flatnonzero(np.diff(meter_of)) + 1
        chunks = np.split(order, bounds[METERS_PER_CHUNK - 1 :: METERS_PER_CHUNK]) if len(bounds) else [order]
        for positions in chunks:
            stored = store(PremiseRead, reads.take(positions), received_at=now, source={"import_run": run})
            accepted.append(positions[stored.accepted])
            result.duplicates += stored.duplicates
            result.conflicts += stored.conflicts
        new = np.concatenate(accepted) if accepted else np.zeros(0, dtype=np.int64)
        result.accepted = len(new)
        if len(new):
            rollups.add(_rollup_groups(reads, new, premises))
            first = dt.datetime.fromtimestamp(int(reads.epoch[new].min()), dt.UTC)
            last = dt.datetime.fromtimestamp(int((reads.epoch[new] + reads.seconds[new]).max()), dt.UTC)
            premise_ids = set(np.array(reads.values["premise_id"])[new].tolist())
            correlation.queue_correlation(correlation.bindings_overlapping(premise_ids, first, last))
            correlation.enqueue_after_commit()
        _finish_run(run, parsed, result)
    return result


def _reads(rows: list[AmiRow], premises: dict, meters: dict, run: ImportRun) -> Reads:
    premise_ids = [premises[row.meter_id][0] for row in rows]
    return Reads(
        index=np.arange(len(rows)),
        meter=np.array([meters[p] for p in premise_ids], dtype=np.int64),
        epoch=np.array([int(row.start.timestamp()) for row in rows], dtype=np.int64),
        seconds=np.array([row.seconds for row in rows], dtype=np.int64),
        wh=np.array([row.wh for row in rows], dtype=np.int64),
        starts=[row.start for row in rows],
        values={
            "flags": np.array([row.flags for row in rows], dtype=np.int64),
            "premise_id": premise_ids,
            "import_run_id": np.full(len(rows), run.pk, dtype=np.int64),
        },
    )


def _rollup_groups(reads: Reads, positions: np.ndarray, premises: dict) -> list:
    tariffs = dict(premises.values())  # {premise id: default tariff id}
    premise_of = np.array(reads.values["premise_id"], dtype=np.int64)[positions]
    epoch, wh = reads.epoch[positions], reads.wh[positions]
    return [
        (rollups.Owner(premise_id, UsageSource.PREMISE, tariffs[premise_id]), epoch[mine], wh[mine])
        for premise_id in np.unique(premise_of).tolist()
        for mine in [premise_of == premise_id]
    ]


def _premises_by_meter(meter_ids: set[str]) -> dict[str, tuple[int, int]]:
    """{meter_id: (premise id, default tariff id)}."""
    return {
        meter_id: (pk, tariff_id)
        for meter_id, pk, tariff_id in Premise.objects.filter(meter_id__in=meter_ids).values_list(
            "meter_id", "pk", "default_tariff_id"
        )
    }


def _meters_for(premise_ids: set[int]) -> dict[int, int]:
    """{premise id: Meter id}, creating the revenue meters seen for the first time."""
    Meter.objects.bulk_create(
        [Meter(kind=MeterKind.PREMISE, premise_id=pk) for pk in premise_ids], ignore_conflicts=True
    )
    return dict(Meter.objects.filter(premise_id__in=premise_ids).values_list("premise_id", "pk"))


def _run_for(parsed: ParsedFile, filename: str) -> ImportRun:
    run = ImportRun.objects.filter(kind=IMPORT_KIND, sha256=parsed.sha256).first()
    if run is not None:
        return run
    try:
        with transaction.atomic():
            return ImportRun.objects.create(kind=IMPORT_KIND, sha256=parsed.sha256, filename=filename)
    except IntegrityError:
        return ImportRun.objects.get(kind=IMPORT_KIND, sha256=parsed.sha256)


def _finish_run(run: ImportRun, parsed: ParsedFile, result: AmiResult) -> None:
    if run.finished_at is not None and not result.changed:
        return  # an identical file again: the first run's counts stand
    run.finished_at = timezone.now()
    run.rows_total = parsed.rows_seen
    run.rows_created = result.accepted
    run.rows_unchanged = result.duplicates
    run.rows_rejected = result.rejected
    # Conflicts change no stored read (they wait as revisions), so they are not "updated" rows.
    conflicts = [f"{result.conflicts} row(s) differ from stored reads: kept for CSR review"]
    run.errors = (conflicts if result.conflicts else []) + result.errors[:100]
    run.save()
