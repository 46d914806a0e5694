"""Usage rollups: energy per premise, local day and TOU period, kept current as reads arrive (issue 5).

Each stored read adds to one `UsageRollup` row — the same transaction that inserts the read, so a rollup
never counts a read twice or misses one. The day and period come from the tariff the energy is billed
under (`billing.schedule.price_segments`), in that tariff's time zone, by the interval's local start.
`rebuild` recomputes a premise's days from the reads, after a CSR applies a revision.
"""

import bisect
import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction

from billing.models import Tariff
from billing.schedule import ScheduleError, price_segments
from metering.models import PevRead, PremiseRead, UsageRollup, UsageSource

UTC = dt.UTC
# Price segments of a tariff are cached per process this long: a batch of reads then costs no tariff
# queries. A new tariff version is picked up within the minute (as binding/parameters.py does).
SEGMENT_CACHE_SECONDS = 60


@dataclass(frozen=True)
class Owner:
    """Whose energy a group of reads is: where, which source, which PEV and enrollment, which tariff."""

    premise_id: int
    source: str
    tariff_id: int
    vin: str = ""
    enrollment_id: int | None = None


def add(groups: Iterable[tuple[Owner, np.ndarray, np.ndarray]]) -> int:
    """Add reads to their rollups, inside the transaction that stored them. Each group is (owner, interval
    starts in Unix seconds, watt-hours) as int64 arrays. Returns the rollup rows touched."""
    totals: dict[tuple, list] = {}
    for owner, epochs, whs in groups:
        if not len(epochs):
            continue
        for (day, period_index, label), wh, reads in _by_day_and_period(owner.tariff_id, epochs, whs):
            key = (
                owner.premise_id,
                day,
                owner.source,
                owner.vin,
                owner.enrollment_id,
                owner.tariff_id,
                period_index,
            )
            total = totals.setdefault(key, [0, 0, label])
            total[0] += wh
            total[1] += reads
    _upsert(totals)
    return len(totals)


def _by_day_and_period(tariff_id: int, epochs: np.ndarray, whs: np.ndarray):
    """[((local day, period index, label), wh, reads)] of the reads, whole arrays at a time."""
    calendar = _Calendar.covering(tariff_id, int(epochs.min()), int(epochs.max()))
    cut = np.searchsorted(calendar.epochs, epochs, side="right") - 1
    cuts, inverse = np.unique(cut, return_inverse=True)
    sums = np.zeros(len(cuts), dtype=np.int64)
    np.add.at(sums, inverse, whs)
    counts = np.bincount(inverse, minlength=len(cuts))
    return [
        (calendar.values[c], wh, reads)
        for c, wh, reads in zip(cuts.tolist(), sums.tolist(), counts.tolist(), strict=True)
    ]


def local_days(tariff_id: int, epochs: np.ndarray) -> list[dt.date]:
    """The local day (in the tariff's zone) of each instant."""
    if not len(epochs):
        return []
    calendar = _Calendar.covering(tariff_id, int(epochs.min()), int(epochs.max()))
    cut = np.searchsorted(calendar.epochs, epochs, side="right") - 1
    return [calendar.values[c][0] for c in cut.tolist()]


def rebuild(premise_id: int, first_day: dt.date, last_day: dt.date) -> int:
    """Recompute a premise's rollups for local days first_day..last_day (inclusive) from its reads."""
    from enrollment.models import Premise

    premise = Premise.objects.select_related("default_tariff").get(pk=premise_id)
    zone = premise.default_tariff.zone
    # Rollup days are in each tariff's zone; a day's margin either side covers any zone the plans use.
    start = dt.datetime.combine(first_day - dt.timedelta(days=1), dt.time(), zone).astimezone(UTC)
    end = dt.datetime.combine(last_day + dt.timedelta(days=2), dt.time(), zone).astimezone(UTC)
    span = {"premise_id": premise_id, "interval_start__gte": start, "interval_start__lt": end}
    rows: dict[Owner, list] = {}
    for at, wh in PremiseRead.objects.filter(**span).values_list("interval_start", "wh"):
        rows.setdefault(Owner(premise_id, UsageSource.PREMISE, premise.default_tariff_id), []).append(
            (at, wh)
        )
    pev_rows = list(
        PevRead.objects.filter(**span).values_list(
            "interval_start", "wh", "vin", "enrollment_id", "binding_id"
        )
    )
    tariffs = plan_tariffs({binding_id for *_, binding_id in pev_rows if binding_id})
    for at, wh, vin, enrollment_id, binding_id in pev_rows:
        tariff_id = tariffs[binding_id] if enrollment_id else premise.default_tariff_id
        owner = Owner(premise_id, UsageSource.PEV, tariff_id, vin, enrollment_id)
        rows.setdefault(owner, []).append((at, wh))
    groups = []
    for owner, reads in rows.items():
        epochs = np.array([int(at.timestamp()) for at, _ in reads], dtype=np.int64)
        whs = np.array([wh for _, wh in reads], dtype=np.int64)
        inside = np.array([first_day <= day <= last_day for day in local_days(owner.tariff_id, epochs)])
        groups.append((owner, epochs[inside], whs[inside]))
    with transaction.atomic():
        UsageRollup.objects.filter(premise_id=premise_id, day__gte=first_day, day__lte=last_day).delete()
        return add(groups)


def plan_tariffs(binding_ids: Iterable) -> dict:
    """{binding id: tariff id of its billed enrollment's plan at plug-in}, in one query."""
    from django.db.models import BigIntegerField, F, OuterRef, Q, Subquery
    from django.db.models.functions import Coalesce

    from binding.models import Binding
    from enrollment.models import PlanAssignment

    binding_ids = list(binding_ids)
    if not binding_ids:
        return {}
    assignment = (
        PlanAssignment.objects.filter(
            enrollment=OuterRef("billed_enrollment"), effective_from__lte=OuterRef("plugged_in_at")
        )
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=OuterRef("plugged_in_at")))
        .order_by("-effective_from")
        .values("plan__tariff_id")[:1]
    )
    return dict(
        Binding.objects.filter(pk__in=binding_ids)
        .annotate(
            tariff=Coalesce(
                Subquery(assignment), F("billed_enrollment__plan__tariff_id"), output_field=BigIntegerField()
            )
        )
        .values_list("pk", "tariff")
    )


# Energy at an instant no tariff version prices (reads older than the tariff) is still rolled up, here.
UNPRICED_PERIOD = 32767
UNPRICED_LABEL = "no tariff version in force"


class _Calendar:
    """Local day and TOU period of instants under one tariff, by bisection over precomputed cuts: the
    instants where the period or the local day changes. Built per UTC month and cached for a minute."""

    _months: dict[tuple, tuple[float, tuple[list, list]]] = {}

    def __init__(self, starts: list[dt.datetime], values: list[tuple]):
        self.epochs = np.array([int(start.timestamp()) for start in starts], dtype=np.int64)
        self.values = values

    @classmethod
    def covering(cls, tariff_id: int, first: int, last: int) -> "_Calendar":
        """A calendar covering Unix seconds [first, last]: the whole UTC months around them."""
        starts, values = [], []
        month = _month_start(dt.datetime.fromtimestamp(first, UTC))
        last_instant = dt.datetime.fromtimestamp(last, UTC)
        while month <= last_instant:
            following = _month_start(month + dt.timedelta(days=32))
            month_starts, month_values = cls._month(tariff_id, month, following)
            starts.extend(month_starts)
            values.extend(month_values)
            month = following
        return cls(starts, values)

    @classmethod
    def _month(cls, tariff_id: int, start: dt.datetime, end: dt.datetime) -> tuple[list, list]:
        key = (tariff_id, start)
        cached = cls._months.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < SEGMENT_CACHE_SECONDS:
            return cached[1]
        tariff = Tariff.objects.get(pk=tariff_id)
        try:
            runs = [(s.start, s.period_index, s.period_label) for s in price_segments(tariff, start, end)]
        except ScheduleError:
            runs = _runs_by_day(tariff, start, end)
        built = _cuts(tariff.zone, runs, start, end)
        cls._months[key] = (now, built)
        return built

    @classmethod
    def forget(cls) -> None:
        cls._months.clear()


def _runs_by_day(tariff: Tariff, start: dt.datetime, end: dt.datetime) -> list[tuple]:
    """Price runs of a month the tariff prices only in part (its first or last version), day by day."""
    zone = tariff.zone
    runs = []
    day = start.astimezone(zone).date()
    while True:
        day_start = max(dt.datetime.combine(day, dt.time(), zone).astimezone(UTC), start)
        day_end = min(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).astimezone(UTC), end)
        if day_start >= end:
            return runs
        try:
            runs.extend(
                (s.start, s.period_index, s.period_label) for s in price_segments(tariff, day_start, day_end)
            )
        except ScheduleError:
            runs.append((day_start, UNPRICED_PERIOD, UNPRICED_LABEL))
        day += dt.timedelta(days=1)


def _cuts(zone, runs: list[tuple], start: dt.datetime, end: dt.datetime) -> tuple[list, list]:
    first_day = start.astimezone(zone).date()
    last_day = end.astimezone(zone).date()
    midnights = [
        dt.datetime.combine(first_day + dt.timedelta(days=n), dt.time(), zone).astimezone(UTC)
        for n in range((last_day - first_day).days + 2)
    ]
    starts = sorted({*(run[0] for run in runs), *(m for m in midnights if start < m < end), start})
    run_starts = [run[0] for run in runs]
    values = []
    for cut in starts:
        _, period_index, label = runs[bisect.bisect_right(run_starts, cut) - 1]
        values.append((cut.astimezone(zone).date(), period_index, label))
    return starts, values


def _month_start(instant: dt.datetime) -> dt.datetime:
    return instant.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def forget_cached_calendars() -> None:
    """Tests change tariffs under a live process."""
    _Calendar.forget()


_COLUMNS = "premise_id, day, source, vin, enrollment_id, tariff_id, period_index, period_label, wh, reads"
_CONFLICT = (
    "ON CONFLICT (premise_id, day, source, vin, (COALESCE(enrollment_id, 0)), tariff_id, period_index) "
    "DO UPDATE SET wh = metering_usagerollup.wh + excluded.wh, "
    "reads = metering_usagerollup.reads + excluded.reads"
)


def _upsert(totals: dict[tuple, list]) -> None:
    if not totals:
        return
    # In key order: two transactions adding to the same rows lock them in the same order (no deadlock).
    rows = [(*key, label, wh, reads) for key, (wh, reads, label) in sorted(totals.items(), key=_sort_key)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One fixed statement with a column array per field: a VALUES list of hundreds of rows would
            # cost more to build and parse than the upsert itself.
            cursor.execute(
                f"INSERT INTO metering_usagerollup ({_COLUMNS}) SELECT * FROM unnest("  # noqa: S608
                "%s::bigint[], %s::date[], %s::varchar[], %s::varchar[], %s::bigint[], %s::bigint[], "
                f"%s::smallint[], %s::varchar[], %s::bigint[], %s::integer[]) {_CONFLICT}",
                [list(column) for column in zip(*rows, strict=True)],
            )
            return
        # SQLite: a multi-row VALUES, within its bound-parameter limit (999 on older builds).
        for offset in range(0, len(rows), 90):
            chunk = rows[offset : offset + 90]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO metering_usagerollup ({_COLUMNS}) VALUES {values} {_CONFLICT}",  # noqa: S608
                [value for row in chunk for value in row],
            )


def _sort_key(item) -> tuple:
    premise_id, day, source, vin, enrollment_id, tariff_id, period_index = item[0]
    return (premise_id, day, source, vin, enrollment_id or 0, tariff_id, period_index)
