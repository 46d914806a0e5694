"""What the public program pages show of a tariff (Req 1, 2): week grids and prices per season, charges,
credits, holidays and the source of the numbers. `tariff_cards` builds the context of
templates/billing/_tariff_card.html for several tariffs in a fixed number of queries; it reads the stored
versions, it does not compute a schedule.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch, Q
from django.utils.translation import gettext, gettext_noop

from billing.models import CreditApplies, Holiday, Period, Tariff, TariffVersion

# English, because the tariff importer stores season names with them; `month_range_label(localized=True)`
# translates them for display.
MONTH_NAMES = (
    gettext_noop("January"),
    gettext_noop("February"),
    gettext_noop("March"),
    gettext_noop("April"),
    gettext_noop("May"),
    gettext_noop("June"),
    gettext_noop("July"),
    gettext_noop("August"),
    gettext_noop("September"),
    gettext_noop("October"),
    gettext_noop("November"),
    gettext_noop("December"),
)


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
    return tariff_cards([tariff], on=on)[0]


def tariff_cards(tariffs: Iterable[Tariff], on: dt.date) -> list[dict | None]:
    """The cards of several tariffs on `on`, in the order given (None where no version is in force).

    Six queries however many tariffs: versions with tariff, utility and calendar; seasons; credits;
    periods; tiers; the calendars' holidays of `on`'s year.
    """
    tariffs = list(tariffs)
    versions = {
        version.tariff_id: version
        for version in TariffVersion.objects.filter(
            tariff__in={tariff.pk for tariff in tariffs}, effective_start__lte=on
        )
        .filter(Q(effective_end__isnull=True) | Q(effective_end__gt=on))
        .select_related("tariff__utility", "holiday_calendar")
        .prefetch_related(
            "seasons",
            "credits",
            Prefetch("periods", queryset=Period.objects.prefetch_related("tiers")),
            Prefetch(
                "holiday_calendar__holidays",
                queryset=Holiday.objects.filter(date__year=on.year),
                to_attr="holidays_of_year",
            ),
        )
    }
    return [_card(versions[tariff.pk], on) if tariff.pk in versions else None for tariff in tariffs]


# A rate sheet's units, as a page prints them after "per".
UNIT_NAMES = {"day": gettext_noop("day"), "month": gettext_noop("month"), "kWh": "kWh"}


def unit_name(unit: str) -> str:
    """A charge or credit unit ("day", "month", "kWh") in the active language."""
    return gettext(UNIT_NAMES[unit]) if unit in UNIT_NAMES else unit


def _card(version: TariffVersion, on: dt.date) -> dict:
    periods = {p.index: p for p in version.periods.all()}
    return {
        "tariff": version.tariff,
        "version": version,
        "seasons": [_season_card(version, season, periods) for season in version.seasons.all()],
        "fixed_charge": dollars(version.fixed_charge),
        "fixed_charge_unit": unit_name(version.fixed_charge_unit),
        "minimum_charge": dollars(version.minimum_charge),
        "minimum_charge_unit": unit_name(version.minimum_charge_unit),
        "credits": [
            {
                "name": c.name,
                "amount": dollars(c.amount),
                "unit": unit_name(c.unit),
                "ev_submeter_only": c.applies_to == CreditApplies.EV_SUBMETER,
            }
            for c in version.credits.all()
        ],
        "baseline_credit": dollars(version.baseline_credit),
        "critical_peak": dollars(version.critical_peak_adder),
        "holidays": version.holiday_calendar.holidays_of_year,
        "holiday_year": on.year,
        "time_zone": version.tariff.time_zone,
        "source_url": version.source_url or version.tariff.source_url,
        "source_notes": version.source_notes,
    }


def month_range_label(months: Iterable[int], *, localized: bool = False) -> str:
    """'June to September', or 'January to May, October to December' for months that wrap; in the active
    language when `localized` (for pages), else in English (for stored names)."""
    name = gettext if localized else str
    months_to = gettext("%(first)s to %(last)s") if localized else "%(first)s to %(last)s"
    runs: list[list[int]] = []
    for month in sorted(months):
        if runs and runs[-1][-1] == month - 1:
            runs[-1].append(month)
        else:
            runs.append([month])
    return ", ".join(
        name(MONTH_NAMES[r[0] - 1])
        if len(r) == 1
        else months_to % {"first": name(MONTH_NAMES[r[0] - 1]), "last": name(MONTH_NAMES[r[-1] - 1])}
        for r in runs
    )


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
        months_label=month_range_label(season.months, localized=True),
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
                    gettext("%(start)s to %(end)s") % {"start": _clock(start), "end": _clock(hour)},
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
        return gettext("midnight")
    if hour == 12:
        return gettext("noon")
    return (gettext("%(hour)d a.m.") if hour < 12 else gettext("%(hour)d p.m.")) % {"hour": hour % 12}
