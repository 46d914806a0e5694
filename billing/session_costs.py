"""The energy cost of charging sessions, priced the way billing prices them (issue 7; docs/customer.md).

Billing sums reads per UTC hour and prices each hour at the price in force at its start (tariff periods
change only on the hour: billing.rating). `energy_costs` does the same for any grouping of hourly energy —
a customer's sessions — with the tariff's price segments (billing.schedule), not a second rating engine.
Each group's cost is exact (kWh × $/kWh) and rounded to the cent once, half up, as bill lines are.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable
from decimal import ROUND_HALF_UP, Decimal

from billing.models import Tariff
from billing.schedule import ScheduleError, price_segments, segments_at

CENT = Decimal("0.01")
KWH = Decimal(1000)
HOUR = dt.timedelta(hours=1)


def energy_costs(rows: Iterable[tuple[Hashable, int, dt.datetime, int]]) -> dict[Hashable, Decimal | None]:
    """{key: $} for rows of (key, tariff id, UTC hour, Wh): each hour's energy at its tariff's price at the
    start of the hour, summed per key and rounded once. A key with energy its tariff cannot price (no
    version in force, holidays not built) costs None. Six queries per tariff, whatever the rows."""
    rows = list(rows)
    hours_by_tariff: dict[int, set[dt.datetime]] = defaultdict(set)
    for _, tariff_id, hour, _ in rows:
        hours_by_tariff[tariff_id].add(hour)
    prices = {
        tariff.pk: _hourly_prices(tariff, hours_by_tariff[tariff.pk])
        for tariff in Tariff.objects.filter(pk__in=list(hours_by_tariff))
    }
    exact: dict[Hashable, Decimal | None] = {}
    for key, tariff_id, hour, wh in rows:
        total = exact.setdefault(key, Decimal(0))
        if not wh or total is None:
            continue
        price = prices.get(tariff_id, {}).get(hour)
        exact[key] = None if price is None else total + Decimal(wh) / KWH * price
    return {
        key: None if cost is None else cost.quantize(CENT, rounding=ROUND_HALF_UP)
        for key, cost in exact.items()
    }


def _hourly_prices(tariff: Tariff, hours: set[dt.datetime]) -> dict[dt.datetime, Decimal]:
    """{UTC hour: $/kWh at its start}, for the hours the tariff can price. One span of segments for all
    the hours; when part of it cannot be priced (before the tariff's first version), month by month."""
    ordered = sorted(hours)
    try:
        return _priced(tariff, ordered)
    except ScheduleError:
        by_month: dict[tuple, list[dt.datetime]] = defaultdict(list)
        for hour in ordered:
            by_month[hour.year, hour.month].append(hour)
        prices = {}
        for month_hours in by_month.values():
            try:
                prices.update(_priced(tariff, month_hours))
            except ScheduleError:
                continue  # this month cannot be priced: its sessions cost None
        return prices


def _priced(tariff: Tariff, ordered: list[dt.datetime]) -> dict[dt.datetime, Decimal]:
    segments = price_segments(tariff, ordered[0], ordered[-1] + HOUR)
    return {
        hour: segment.price for hour, segment in zip(ordered, segments_at(segments, ordered), strict=True)
    }
