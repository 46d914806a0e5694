"""Plan comparison for the public pages (Req 2): what a typical month of home charging costs on a tariff.

Rounding rule (the one rule for estimates): each line is computed exactly in Decimal and rounded once to
the cent, half up; the total is the sum of the rounded lines, so the lines a customer sees add up.
"""

import calendar as month_calendar
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from billing.models import ChargeUnit, Tariff
from billing.schedule import price_schedule

CENT = Decimal("0.01")
QUARTER_HOUR = 900


@dataclass(frozen=True)
class EstimateLine:
    label: str
    amount: Decimal  # $, rounded to the cent; credits are negative


@dataclass(frozen=True)
class MonthlyEstimate:
    tariff_code: str
    year: int
    month: int
    kwh: Decimal
    lines: list[EstimateLine]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


def typical_monthly_cost(
    tariff: Tariff,
    *,
    month: int,
    year: int | None = None,
    kwh_per_night: Decimal = Decimal(10),
    start_hour: int = 0,
    charger_kw: Decimal = Decimal("7.2"),
) -> MonthlyEstimate:
    """Charging `kwh_per_night` every night from local `start_hour` at `charger_kw`: energy + fixed - credits.

    The energy of each quarter-hour is priced by price_schedule (holidays and DST applied). The premise's
    other usage is not included, so the baseline credit (a premise-level credit) is left out; the minimum
    charge appears only when it is higher than the rest of the bill.
    """
    zone = tariff.zone
    year = year or timezone.now().astimezone(zone).year
    days = month_calendar.monthrange(year, month)[1]
    first = dt.datetime(year, month, 1, tzinfo=zone)
    after = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    # Charging that starts on the last evening runs into the next month: price a day past the month.
    intervals = price_schedule(
        tariff, first.astimezone(dt.UTC), (after + dt.timedelta(days=1)).astimezone(dt.UTC), QUARTER_HOUR
    )
    per_quarter = charger_kw / 4
    energy_cost = Decimal(0)
    total_kwh = Decimal(0)
    for night in range(days):
        start = dt.datetime(year, month, night + 1, start_hour, tzinfo=zone).astimezone(dt.UTC)
        remaining = kwh_per_night
        for interval in intervals:
            if interval.start < start:
                continue
            if remaining <= 0:
                break
            kwh = min(per_quarter, remaining)
            energy_cost += kwh * interval.price
            remaining -= kwh
            total_kwh += kwh

    version = tariff.version_on(first.date())
    lines = [EstimateLine(f"Energy ({total_kwh.normalize():f} kWh)", _cents(energy_cost))]
    if version.fixed_charge:
        lines.append(
            EstimateLine(
                "Fixed charge", _cents(_monthly(version.fixed_charge, version.fixed_charge_unit, days))
            )
        )
    for credit in version.credits.all():
        lines.append(EstimateLine(credit.name, -_cents(_monthly(credit.amount, credit.unit, days))))
    minimum = _cents(_monthly(version.minimum_charge, version.minimum_charge_unit, days))
    subtotal = sum((line.amount for line in lines), Decimal(0))
    if minimum > subtotal:
        lines.append(EstimateLine("Minimum charge top-up", minimum - subtotal))
    return MonthlyEstimate(tariff.code, year, month, total_kwh, lines)


def _monthly(amount: Decimal, unit: str, days: int) -> Decimal:
    return amount * days if unit == ChargeUnit.PER_DAY else amount


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)
