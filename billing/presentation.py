"""What the public program pages show of a tariff (Req 1, 2): week grids and prices per season, charges,
credits, holidays and the source of the numbers. `tariff_card` builds the context of
templates/billing/_tariff_card.html; it reads the stored version, it does not compute a schedule.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch

from billing.models import Period, Tariff, TariffVersion
from billing.urdb import month_range_label


@dataclass(frozen=True)
class GridCell:
    period_label: str
    css_class: str  # e.g. "period-on-peak"


@dataclass(frozen=True)
class GridRow:
    """Consecutive local hours that share their weekday and weekend periods."""

    start_hour: int
    end_hour: int  # exclusive; 24 for midnight
    hours_label: str  # "4 p.m. to 9 p.m."
    weekday: GridCell
    weekend: GridCell


@dataclass(frozen=True)
class PriceRow:
    period_label: str
    css_class: str
    tiers: list  # [(price $/kWh, up to kWh or None)]


@dataclass(frozen=True)
class SeasonCard:
    name: str
    months_label: str
    rows: list[GridRow]
    prices: list[PriceRow]


def tariff_card(tariff: Tariff, on: dt.date) -> dict | None:
    """The card of the version in force on `on` (a local date), or None when no version is in force then."""
    version = (
        TariffVersion.objects.filter(pk=getattr(tariff.version_on(on), "pk", None))
        .prefetch_related(
            "seasons", "credits", Prefetch("periods", queryset=Period.objects.prefetch_related("tiers"))
        )
        .first()
    )
    if version is None:
        return None
    periods = {p.index: p for p in version.periods.all()}
    calendar = tariff.holiday_calendar or tariff.utility.holiday_calendar
    return {
        "tariff": tariff,
        "version": version,
        "seasons": [_season_card(version, season, periods) for season in version.seasons.all()],
        "fixed_charge": dollars(version.fixed_charge),
        "minimum_charge": dollars(version.minimum_charge),
        "credits": [
            {"name": c.name, "amount": dollars(c.amount), "unit": c.unit} for c in version.credits.all()
        ],
        "baseline_credit": dollars(version.baseline_credit),
        "critical_peak": dollars(version.critical_peak_adder),
        "holidays": list(calendar.holidays.filter(date__year=on.year)) if calendar else [],
        "holiday_year": on.year,
        "time_zone": tariff.time_zone,
        "source_url": version.source_url or tariff.source_url,
        "source_notes": version.source_notes,
    }


def dollars(amount: Decimal | None) -> str:
    """An amount as a rate sheet prints it: "0.794", "0.35", "10.00"; "" for none."""
    if not amount:
        return ""
    exact = format(amount.normalize(), "f")
    return (
        exact
        if -amount.normalize().as_tuple().exponent >= 2
        else format(amount.quantize(Decimal("0.01")), "f")
    )


def _season_card(version: TariffVersion, season, periods: dict[int, Period]) -> SeasonCard:
    # A season's months share one schedule (the importer checks it), so its first month stands for all.
    row = season.months[0] - 1
    weekday, weekend = version.weekday_schedule[row], version.weekend_schedule[row]
    used = sorted(set(weekday) | set(weekend))
    return SeasonCard(
        name=season.name,
        months_label=month_range_label(season.months),
        rows=_grid_rows(weekday, weekend, periods),
        prices=[
            PriceRow(
                periods[i].label,
                f"period-{periods[i].kind}",
                [(t.price, t.max_kwh) for t in periods[i].tiers.all()],
            )
            for i in used
        ],
    )


def _grid_rows(weekday: list[int], weekend: list[int], periods: dict[int, Period]) -> list[GridRow]:
    """Rows as a rate sheet prints them: one per run of hours with the same weekday and weekend periods."""
    rows: list[GridRow] = []
    start = 0
    for hour in range(1, 25):
        if hour == 24 or (weekday[hour], weekend[hour]) != (weekday[start], weekend[start]):
            rows.append(
                GridRow(
                    start,
                    hour,
                    f"{_clock(start)} to {_clock(hour)}",
                    _cell(periods[weekday[start]]),
                    _cell(periods[weekend[start]]),
                )
            )
            start = hour
    return rows


def _cell(period: Period) -> GridCell:
    return GridCell(period.label, f"period-{period.kind}")


def _clock(hour: int) -> str:
    hour %= 24
    if hour == 0:
        return "midnight"
    if hour == 12:
        return "noon"
    return f"{hour % 12} {'a.m.' if hour < 12 else 'p.m.'}"
