"""Plan comparison for the public pages (Req 2): what a typical month of home charging costs on a tariff.

Rounding rule (the one rule for estimates): each line is computed exactly in Decimal and rounded once to
the cent, half up; the total is the sum of the rounded lines, so the lines a customer sees add up.
"""

import calendar as month_calendar
import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from billing.models import ChargeUnit, Tariff
from billing.schedule import ScheduleError, price_schedule

CENT = Decimal("0.01")
QUARTER_HOUR = 900


class LineKind:
    ENERGY = "energy"
    FIXED = "fixed"
    CREDIT = "credit"
    MINIMUM = "minimum"


@dataclass(frozen=True)
class EstimateLine:
    label: str
    amount: Decimal  # $, rounded to the cent; credits are negative
    kind: str = LineKind.ENERGY


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

    @property
    def energy(self) -> Decimal:
        """The energy subtotal, $."""
        return sum((line.amount for line in self.lines if line.kind == LineKind.ENERGY), Decimal(0))

    @property
    def fixed(self) -> Decimal:
        """The fixed charges, credits and any minimum-charge top-up, $: the total less the energy."""
        return self.total - self.energy


@dataclass(frozen=True)
class PlanEstimate:
    """One item of `estimate_plans`: the estimate, or why the plan cannot be priced."""

    plan: Any  # what was passed: a Tariff or a plan with a `tariff`
    estimate: MonthlyEstimate | None
    problem: str = ""

    @property
    def priced(self) -> bool:
        return self.estimate is not None


def typical_monthly_cost(
    tariff: Tariff,
    *,
    month: int,
    year: int | None = None,
    kwh_per_night: Decimal = Decimal(10),
    start_hour: int = 0,
    charger_kw: Decimal = Decimal("7.2"),
    ev_submeter: bool = False,
    today: dt.date | None = None,
) -> MonthlyEstimate:
    """Charging `kwh_per_night` every night from local `start_hour` at `charger_kw`: energy + fixed - credits.

    `year` defaults to the next occurrence of `month` in the tariff's local time (this month or later, as
    of `today`). `ev_submeter`: the charging is measured by a submeter (a PEV plan), so the tariff's
    `ev_submeter` credits apply too. The energy of each quarter-hour is priced by price_schedule (holidays
    and DST applied). The premise's other usage is not included, so the baseline credit (a premise-level
    credit) is left out; the minimum charge appears only when it is higher than the rest of the bill.
    Raises ScheduleError when the tariff cannot be priced that month (see `estimate_plans`).
    """
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1-12, got {month}")
    kwh_per_night, charger_kw = Decimal(str(kwh_per_night)), Decimal(str(charger_kw))
    zone = tariff.zone
    year = year or _next_year_of(month, today or timezone.now().astimezone(zone).date())
    days = month_calendar.monthrange(year, month)[1]
    first = dt.datetime(year, month, 1, tzinfo=zone)
    range_start = first.astimezone(dt.UTC)
    per_quarter = charger_kw / 4
    quarters_a_night = math.ceil(kwh_per_night / per_quarter) if kwh_per_night > 0 else 0
    nights = [
        dt.datetime(year, month, day, start_hour, tzinfo=zone).astimezone(dt.UTC)
        for day in range(1, days + 1)
    ]
    # Charging that starts on the last evening runs into the next month: price until it ends.
    after = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone).astimezone(dt.UTC)
    range_end = max(after, nights[-1] + dt.timedelta(seconds=QUARTER_HOUR * quarters_a_night))
    intervals = price_schedule(tariff, range_start, range_end, QUARTER_HOUR)

    energy_cost = Decimal(0)
    total_kwh = Decimal(0)
    for night in nights:
        # Intervals are consecutive quarter-hours from range_start: a night's first one is found by index.
        index = int((night - range_start).total_seconds()) // QUARTER_HOUR
        remaining = kwh_per_night
        for interval in intervals[index : index + quarters_a_night]:
            kwh = min(per_quarter, remaining)
            energy_cost += kwh * interval.price
            remaining -= kwh
            total_kwh += kwh

    version = tariff.version_on(first.date())
    lines = [EstimateLine(f"Energy ({total_kwh.normalize():f} kWh)", _cents(energy_cost), LineKind.ENERGY)]
    if version.fixed_charge:
        amount = _cents(_monthly(version.fixed_charge, version.fixed_charge_unit, days))
        lines.append(EstimateLine("Fixed charge", amount, LineKind.FIXED))
    for credit in version.credits.all():
        if credit.applies(ev_submeter=ev_submeter):
            amount = -_cents(_monthly(credit.amount, credit.unit, days))
            lines.append(EstimateLine(credit.name, amount, LineKind.CREDIT))
    minimum = _cents(_monthly(version.minimum_charge, version.minimum_charge_unit, days))
    subtotal = sum((line.amount for line in lines), Decimal(0))
    if minimum > subtotal:
        lines.append(EstimateLine("Minimum charge top-up", minimum - subtotal, LineKind.MINIMUM))
    return MonthlyEstimate(tariff.code, year, month, total_kwh, lines)


def estimate_plans(
    plans: Iterable[Any],
    *,
    month: int,
    kwh_per_night: Decimal = Decimal(10),
    start_hour: int = 0,
    charger_kw: Decimal = Decimal("7.2"),
    today: dt.date | None = None,
    ev_submeter: bool | None = None,
) -> list[PlanEstimate]:
    """`typical_monthly_cost` of each plan for the plan comparison: cheapest first, then the plans that
    cannot be priced (no version in force that month, holidays not built) with the reason; never raises
    for one plan.

    `plans` are Tariffs or service plans (anything with a `tariff`). A service plan's charging is billed on
    its EUMD submeter, so its tariff's `ev_submeter` credits apply; a bare Tariff gets them only with
    `ev_submeter=True` (which, when given, decides for every item).
    """
    results = []
    for plan in plans:
        tariff = plan if isinstance(plan, Tariff) else plan.tariff
        submetered = ev_submeter if ev_submeter is not None else not isinstance(plan, Tariff)
        try:
            estimate = typical_monthly_cost(
                tariff,
                month=month,
                kwh_per_night=kwh_per_night,
                start_hour=start_hour,
                charger_kw=charger_kw,
                ev_submeter=submetered,
                today=today,
            )
        except ScheduleError as exc:
            results.append(PlanEstimate(plan, None, str(exc)))
        else:
            results.append(PlanEstimate(plan, estimate))
    return sorted(
        results, key=lambda result: (not result.priced, result.estimate.total if result.priced else 0)
    )


def _next_year_of(month: int, today: dt.date) -> int:
    return today.year if month >= today.month else today.year + 1


def _monthly(amount: Decimal, unit: str, days: int) -> Decimal:
    return amount * days if unit == ChargeUnit.PER_DAY else amount


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)
