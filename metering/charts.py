"""Server-rendered bar charts of a customer's usage (issue 7): the geometry of accessible SVG, no script.

`stacked_bars` turns categories × series of kWh into rectangles, axis ticks and labels that
templates/metering/customer/_bar_chart.html draws as `<svg role="img">` with a `<title>` and `<desc>`;
every page shows the same numbers in a table beside it, and each series has a legend entry and a fill
that differs by more than colour (one is hatched), so nothing is told by colour alone.
"""

import math
from dataclasses import dataclass
from decimal import Decimal

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from metering.usage import MonthTotal, MonthUsage, PeriodUsage, kwh

WIDTH, HEIGHT = 720, 300  # the view box; the SVG scales to its container
LEFT, TOP = 56, 16  # room for the axis's numbers; the plot ends 8 from the right, 48 from the bottom
LABEL_CHARACTERS = 14  # a longer axis label is set on two lines


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    css_class: str  # the fill: chart-ev-plan, chart-ev-default (hatched), chart-rest, chart-home
    hatched: bool = False


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    series: Series
    title: str


@dataclass(frozen=True)
class Category:
    x: float  # the centre of its bar
    label: str
    segments: list[Segment]

    @property
    def lines(self) -> list[str]:
        """The axis label on one line, or two when it is long ("Winter Super" / "Off-Peak")."""
        if len(self.label) <= LABEL_CHARACTERS or " " not in self.label:
            return [self.label]
        words = self.label.split(" ")
        half = min(range(1, len(words)), key=lambda n: abs(len(" ".join(words[:n])) - len(self.label) / 2))
        return [" ".join(words[:half]), " ".join(words[half:])]


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class BarChart:
    id: str
    title: str
    description: str
    series: list[Series]
    categories: list[Category]
    ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    unit: str = "kWh"
    left: int = LEFT
    top: int = TOP

    @property
    def right(self) -> int:
        return self.width - 8

    @property
    def bottom(self) -> int:
        return self.height - 48

    @property
    def label_y(self) -> int:
        return self.bottom + 18

    @property
    def hatched(self) -> bool:
        return any(series.hatched for series in self.series)


def stacked_bars(
    chart_id: str,
    title: str,
    description: str,
    labels: list[tuple[str, str]],
    series: list[Series],
    values: list[list[Decimal]],
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> BarChart:
    """Bars for `labels` (axis label, full label for the tooltips), one stacked segment per series;
    `values[i][j]` is series i's kWh in category j. `width` × `height` is the view box."""
    right, bottom = width - 8, height - 48
    count = max(len(labels), 1)
    totals = [sum((column[j] for column in values), Decimal(0)) for j in range(len(labels))]
    step, top = _scale(float(max(totals, default=0)))
    plot = bottom - TOP
    band = (right - LEFT) / count
    bar = band * 0.7
    categories = []
    for j, (short, full) in enumerate(labels):
        x = LEFT + band * j + (band - bar) / 2
        base = float(bottom)
        segments = []
        for s, column in zip(series, values, strict=True):
            value = column[j]
            if not value:
                continue
            size = float(value) / top * plot
            base -= size
            segments.append(
                Segment(
                    round(x, 2),
                    round(base, 2),
                    round(bar, 2),
                    round(size, 2),
                    s,
                    f"{full}: {s.label}, {value} kWh",
                )
            )
        categories.append(Category(round(x + bar / 2, 2), short, segments))
    ticks = [
        Tick(round(bottom - plot * n * step / top, 2), _number(n * step))
        for n in range(round(top / step) + 1)
    ]
    return BarChart(chart_id, title, description, series, categories, ticks, width, height)


def _scale(largest: float) -> tuple[float, float]:
    """A round step (1, 2 or 5 × 10ⁿ) giving about four gridlines, and the axis top (a multiple of it)."""
    if largest <= 0:
        return 1.0, 4.0
    rough = largest / 4
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return step, step * math.ceil(largest / step)


def _number(value: float) -> str:
    return f"{value:g}"


# --- The usage page's charts ------------------------------------------------------------------------

PERIOD_WIDTH, PERIOD_HEIGHT = 400, 280  # half-width charts: a smaller view box keeps their text legible
EV_PLAN = Series("ev-plan", "", "chart-ev-plan")
EV_DEFAULT = Series("ev-default", "", "chart-ev-default", hatched=True)
REST = Series("rest", "", "chart-rest")


def _series(base: Series, label: str) -> Series:
    return Series(base.key, label, base.css_class, base.hatched)


def daily_chart(usage: MonthUsage) -> BarChart:
    month = date_format(usage.month, "F Y")
    series = [
        _series(EV_PLAN, _("EV charging at your EV plan's price")),
        _series(EV_DEFAULT, _("EV charging at your home's regular price")),
        _series(REST, _("Rest of your home")),
    ]
    totals = usage.totals
    return stacked_bars(
        "usage-daily",
        _("Energy by day, %(month)s") % {"month": month},
        _(
            "Stacked bars, one per day: EV charging at your plan's price, EV charging at your home's regular "
            "price and the rest of your home, in kWh. This month: %(ev)s kWh of EV charging and %(rest)s kWh "
            "for the rest of your home. The table below has every day's numbers."
        )
        % {"ev": kwh(totals.pev_wh), "rest": kwh(usage.rest_wh)},
        [(str(day.day.day), date_format(day.day, "l, F j")) for day in usage.days],
        series,
        [
            [kwh(day.pev_plan_wh) for day in usage.days],
            [kwh(day.pev_default_wh) for day in usage.days],
            [kwh(day.rest_wh) for day in usage.days],
        ],
    )


def home_period_chart(periods: list[PeriodUsage]) -> BarChart:
    series = [Series("home", _("Whole home (revenue meter)"), "chart-home")]
    return stacked_bars(
        "usage-home-periods",
        _("Your whole home's energy by time-of-use period"),
        _("One bar per time-of-use period of your home's rate, in kWh: %(values)s.")
        % {"values": _list(periods)},
        [(p.label, p.label) for p in periods],
        series,
        [[kwh(p.wh) for p in periods]],
        width=PERIOD_WIDTH,
        height=PERIOD_HEIGHT,
    )


def ev_period_chart(periods: list[PeriodUsage]) -> BarChart:
    """EV charging by period: one bar per period label, split by the price it was charged at."""
    labels = list(dict.fromkeys(p.label for p in periods))
    plan = {p.label: kwh(p.wh) for p in periods if p.plan}
    regular = {p.label: kwh(p.wh) for p in periods if not p.plan}
    series = [
        _series(EV_PLAN, _("At your EV plan's price")),
        _series(EV_DEFAULT, _("At your home's regular price")),
    ]
    return stacked_bars(
        "usage-ev-periods",
        _("EV charging by time-of-use period"),
        _(
            "One bar per time-of-use period, split by the price the charging was billed at, in kWh: "
            "%(values)s."
        )
        % {"values": _list(periods)},
        [(label, label) for label in labels],
        series,
        [
            [plan.get(label, Decimal(0)) for label in labels],
            [regular.get(label, Decimal(0)) for label in labels],
        ],
        width=PERIOD_WIDTH,
        height=PERIOD_HEIGHT,
    )


def monthly_chart(totals: list[MonthTotal]) -> BarChart:
    series = [_series(EV_PLAN, _("EV charging")), _series(REST, _("Rest of your home"))]
    return stacked_bars(
        "usage-monthly",
        _("Energy by month, last %(count)s months") % {"count": len(totals)},
        _(
            "Stacked bars, one per month from %(first)s to %(last)s: EV charging and the rest of your home, "
            "in kWh."
        )
        % {
            "first": date_format(totals[0].month, "F Y"),
            "last": date_format(totals[-1].month, "F Y"),
        },
        [(date_format(t.month, pgettext("short month", "M")), date_format(t.month, "F Y")) for t in totals],
        series,
        [[kwh(t.pev_wh) for t in totals], [kwh(t.rest_wh) for t in totals]],
    )


def _list(periods: list[PeriodUsage]) -> str:
    return "; ".join(f"{p.label} {kwh(p.wh)}" for p in periods) or _("no energy")
