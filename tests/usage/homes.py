"""A customer's metered home for the usage pages: tests.billing's billed home (premise on SCE TOU-D-4-9PM,
a PEV on EV Prime, SCE TOU-D-PRIME), linked to a named user, with a small month of reads whose numbers a
test can work out by hand, and the rollups built from them by metering.rollups."""

import datetime as dt
import zoneinfo
from decimal import Decimal

from billing.models import Tier
from enrollment.models import AccountLink
from metering import rollups
from tests.billing.billing_homes import BilledHome

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
UTC = dt.UTC


def local(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), LA).astimezone(UTC)


def last_full_month(now: dt.datetime | None = None) -> dt.date:
    today = (now or dt.datetime.now(UTC)).astimezone(LA).date()
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


class CustomerHome(BilledHome):
    """The billed home, linked to `user`'s login."""

    def __init__(self, make_device, user, **options):
        super().__init__(make_device, **options)
        AccountLink.objects.create(user=user, account=self.premise.account, method="csr")

    def small_month(self, month: dt.date) -> dict:
        """Days 10 and 11 of `month` (local), no DST change on either:

        - the revenue meter reads 400 Wh every 15 minutes, both whole days: 38.4 kWh a day;
        - a bound session from the 10th 22:00 to the 11th 02:00, 1,800 Wh a quarter: 14.4 kWh each day;
        - a session that was not bound on the 11th 03:00-04:00, 1,000 Wh a quarter: 4 kWh.

        All of the charging is off-peak on both rates, summer or winter (the rate sheets: off-peak is every
        hour but 4-9 p.m. in summer, 9 p.m.-8 a.m. in winter). Rollups are built from the reads."""
        day10, day11 = month.replace(day=10), month.replace(day=11)
        self.premise_reads(local(day10, 0), local(day11 + dt.timedelta(days=1), 0), wh=400)
        bound = self.session(local(day10, 22), local(day11, 2), wh=1800)
        unbound = self.session(local(day11, 3), local(day11, 4), wh=1000, bound=False)
        rollups.rebuild(self.premise.pk, day10, day11)
        return {"day10": day10, "day11": day11, "bound": bound, "unbound": unbound}


def off_peak_price(tariff, day: dt.date) -> Decimal:
    """The rate sheet's off-peak $/kWh on a day: the first tier of the season's off-peak period."""
    season = "Summer" if 6 <= day.month <= 9 else "Winter"
    return Tier.objects.get(
        number=1, period__version=tariff.version_on(day), period__label=f"{season} Off-Peak"
    ).price


NIGHT_START = dt.timedelta(hours=6)  # 06:00Z: 22:00 or 23:00 in Los Angeles
NIGHT_READS = 16  # four hours of charging
QUARTER = 900


def months_of_data(home: BilledHome, months: int = 13, now: dt.datetime | None = None) -> tuple[int, int]:
    """`months` months of 15-minute data up to today's local midnight, written set-based: the revenue
    meter every quarter, a bound session every night with its EUMD reads, and the rollups of them all
    (metering.rollups.add, as ingest adds them). Returns (reads, sessions)."""
    import numpy as np

    from binding.models import Binding
    from metering import partitions
    from metering.models import PevRead, PremiseRead, UsageSource
    from pevportal.bulk import insert_columns

    today = (now or dt.datetime.now(UTC)).astimezone(LA).date()
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    start = dt.datetime.combine(first, dt.time(), LA).astimezone(UTC)
    end = dt.datetime.combine(today, dt.time(), LA).astimezone(UTC)
    partitions.ensure_partitions(start, end)
    epochs = np.arange(int(start.timestamp()), int(end.timestamp()), QUARTER, dtype=np.int64)
    premise_wh = np.full(len(epochs), 500, dtype=np.int64)
    insert_columns(
        PremiseRead,
        {
            "meter_id": np.full(len(epochs), home.premise_meter.pk),
            "interval_start": _stamps(epochs),
            "interval_seconds": np.full(len(epochs), QUARTER),
            "wh": premise_wh,
            "flags": np.zeros(len(epochs), dtype=np.int64),
            "premise_id": np.full(len(epochs), home.premise.pk),
        },
    )
    first_night = dt.datetime.combine(start.date(), dt.time(), UTC) + NIGHT_START
    nights = [first_night + dt.timedelta(days=n) for n in range((end - first_night).days)]
    bindings = Binding.objects.bulk_create(
        Binding(
            esci=home.esci,
            eumd=home.eumd,
            eumd_lfdi=home.eumd.lfdi,
            vin=home.vin,
            pev=home.enrollment.pev,
            premise=home.premise,
            enrollment=home.enrollment,
            billed_enrollment=home.enrollment,
            kind=Binding.Kind.REBINDING,
            state=Binding.State.ENDED,
            plugged_in_at=night,
            deadline=night + dt.timedelta(seconds=60),
            bound_at=night,
            unplugged_at=night + dt.timedelta(seconds=QUARTER * NIGHT_READS),
            finished_at=night + dt.timedelta(seconds=QUARTER * NIGHT_READS),
            response={},
        )
        for night in nights
    )
    pev_epochs = np.concatenate(
        [int(night.timestamp()) + QUARTER * np.arange(NIGHT_READS, dtype=np.int64) for night in nights]
    )
    pev_wh = np.full(len(pev_epochs), 1500, dtype=np.int64)
    insert_columns(
        PevRead,
        {
            "meter_id": np.full(len(pev_epochs), home.eumd_meter.pk),
            "interval_start": _stamps(pev_epochs),
            "interval_seconds": np.full(len(pev_epochs), QUARTER),
            "wh": pev_wh,
            "flags": np.zeros(len(pev_epochs), dtype=np.int64),
            "vin": [home.vin] * len(pev_epochs),
            "premise_id": np.full(len(pev_epochs), home.premise.pk),
            "binding_id": [str(b.pk) for b in bindings for _ in range(NIGHT_READS)],
            "enrollment_id": np.full(len(pev_epochs), home.enrollment.pk),
            "batch_id": [None] * len(pev_epochs),
        },
    )
    rollups.add(
        [
            (
                rollups.Owner(home.premise.pk, UsageSource.PREMISE, home.premise.default_tariff_id),
                epochs,
                premise_wh,
            ),
            (
                rollups.Owner(
                    home.premise.pk, UsageSource.PEV, home.plan.tariff_id, home.vin, home.enrollment.pk
                ),
                pev_epochs,
                pev_wh,
            ),
        ]
    )
    return len(epochs) + len(pev_epochs), len(bindings)


def _stamps(epochs) -> list[str]:
    return [dt.datetime.fromtimestamp(e, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for e in epochs.tolist()]
