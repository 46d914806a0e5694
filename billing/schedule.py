"""The price schedule of a tariff over any UTC range: what enrollment shows, binding sends and billing rates.

Periods are defined in the tariff's local time (NF.1: everything else is UTC). A tariff can only change at a
local hour boundary, so the work is done once per local hour — version in force, season, day type
(holidays use the weekend schedule), period, price — and merged into `PriceSegment`s: runs of UTC time with
one price, a handful per day. `price_schedule` expands them into fixed-length intervals classified by their
local start time, so a local day has 92 or 100 quarter-hours on DST change days; `segments_at` finds the
segment of many instants by bisection, for rating millions of reads without a query or a loop per hour.
"""

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch, Q

from billing.models import Holiday, Period, Tariff, TariffVersion


class DayType:
    WEEKDAY = "weekday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"


class ScheduleError(LookupError):
    """The tariff cannot be priced over the range asked (no version in force, holidays not built)."""


@dataclass(frozen=True)
class PriceSegment:
    """A run of UTC time over which everything about the price is the same."""

    start: dt.datetime
    end: dt.datetime
    version_id: int
    season: str
    day_type: str
    period_index: int
    period_label: str
    period_kind: str
    price: Decimal  # $/kWh: the first tier's rate + adjustment, plus the critical-peak adder on event hours
    critical_peak: bool = False


@dataclass(frozen=True)
class PricedInterval:
    """One fixed-length interval, classified by its local start time."""

    start: dt.datetime
    end: dt.datetime
    local_start: dt.datetime
    version_id: int
    season: str
    day_type: str
    period_index: int
    period_label: str
    period_kind: str
    price: Decimal
    critical_peak: bool = False


def price_schedule(
    tariff: Tariff, start_utc: dt.datetime, end_utc: dt.datetime, interval_seconds: int = 900
) -> list[PricedInterval]:
    """Every interval from `start_utc` to `end_utc` with its period, season, day type and price.

    The range must be a whole number of intervals. Raises ScheduleError when part of the range has no version
    in force or falls outside the holiday calendar's built years.
    """
    if interval_seconds <= 0:
        raise ValueError("interval_seconds must be positive")
    span = (end_utc - start_utc).total_seconds()
    if span % interval_seconds:
        raise ValueError(f"{start_utc}-{end_utc} is not a whole number of {interval_seconds} s intervals")
    segments = price_segments(tariff, start_utc, end_utc)
    zone = tariff.zone
    step = dt.timedelta(seconds=interval_seconds)
    intervals = []
    index = 0
    for k in range(int(span // interval_seconds)):
        start = start_utc + k * step
        while segments[index].end <= start:
            index += 1
        segment = segments[index]
        intervals.append(
            PricedInterval(
                start=start,
                end=start + step,
                local_start=start.astimezone(zone),
                version_id=segment.version_id,
                season=segment.season,
                day_type=segment.day_type,
                period_index=segment.period_index,
                period_label=segment.period_label,
                period_kind=segment.period_kind,
                price=segment.price,
                critical_peak=segment.critical_peak,
            )
        )
    return intervals


def price_segments(tariff: Tariff, start_utc: dt.datetime, end_utc: dt.datetime) -> list[PriceSegment]:
    """The bulk form: contiguous runs of one price covering [start_utc, end_utc), in order.

    Six queries whatever the range: versions with their calendars, seasons, critical-peak days, periods,
    tiers, and the holidays of those calendars.
    """
    _require_utc_range(start_utc, end_utc)
    zone = tariff.zone
    first_day = start_utc.astimezone(zone).date()
    last_day = end_utc.astimezone(zone).date()
    versions = _versions(tariff, first_day, last_day)
    holidays = _holidays(versions, first_day, last_day)

    segments: list[PriceSegment] = []
    cache: dict[tuple, tuple] = {}
    moment = start_utc
    while moment < end_utc:
        local = moment.astimezone(zone)
        # UTC offsets are whole minutes, so the next local hour starts this many seconds later.
        next_hour = moment + dt.timedelta(
            seconds=3600 - local.minute * 60 - local.second, microseconds=-local.microsecond
        )
        stop = min(next_hour, end_utc)
        day = local.date()
        version = _version_on(versions, day, tariff)
        day_type = _day_type(day, holidays[version.holiday_calendar_id])
        cpp = version.critical_peak_adder is not None and day in version.event_days
        key = (version.pk, day.month, day_type, local.hour, cpp)
        if key not in cache:
            cache[key] = _classify(version, day.month, day_type, local.hour, cpp)
        season, period, price, in_event = cache[key]
        previous = segments[-1] if segments else None
        if (
            previous is not None
            and previous.version_id == version.pk
            and previous.season == season
            and previous.period_index == period.index
            and previous.day_type == day_type
            and previous.price == price
            and previous.critical_peak == in_event
        ):
            segments[-1] = _extend(previous, stop)
        else:
            segments.append(
                PriceSegment(
                    moment,
                    stop,
                    version.pk,
                    season,
                    day_type,
                    period.index,
                    period.label,
                    period.kind,
                    price,
                    in_event,
                )
            )
        moment = stop
    return segments


def segments_at(segments: Sequence[PriceSegment], instants: Iterable[dt.datetime]) -> list[PriceSegment]:
    """The segment each UTC instant falls in (e.g. the start of each meter read), by bisection."""
    starts = [segment.start for segment in segments]
    found = []
    for instant in instants:
        index = bisect.bisect_right(starts, instant) - 1
        if index < 0 or segments[index].end <= instant:
            raise ScheduleError(f"{instant.isoformat()} is outside the priced range")
        found.append(segments[index])
    return found


def _require_utc_range(start_utc: dt.datetime, end_utc: dt.datetime) -> None:
    if start_utc.tzinfo is None or end_utc.tzinfo is None:
        raise ValueError("start_utc and end_utc must be timezone-aware")
    if end_utc <= start_utc:
        raise ValueError("end_utc must be after start_utc")


def _versions(tariff: Tariff, first_day: dt.date, last_day: dt.date) -> list[TariffVersion]:
    versions = list(
        tariff.versions.filter(effective_start__lte=last_day)
        .filter(Q(effective_end__isnull=True) | Q(effective_end__gt=first_day))
        .select_related("holiday_calendar")
        .prefetch_related(
            "seasons",
            "critical_peak_days",
            Prefetch("periods", queryset=Period.objects.prefetch_related("tiers")),
        )
        .order_by("effective_start")
    )
    for version in versions:
        version.periods_by_index = {p.index: p for p in version.periods.all()}
        version.season_by_month = {m: s.name for s in version.seasons.all() for m in s.months}
        version.event_days = {d.date for d in version.critical_peak_days.all()}
    return versions


def _holidays(
    versions: list[TariffVersion], first_day: dt.date, last_day: dt.date
) -> dict[int, set[dt.date]]:
    """The holidays of each version's calendar (by calendar id) in the range; each must be built for the
    years its version is priced in."""
    for version in versions:
        calendar = version.holiday_calendar
        start = max(first_day, version.effective_start)
        end = min(
            last_day, version.effective_end - dt.timedelta(days=1) if version.effective_end else last_day
        )
        for year in range(start.year, end.year + 1):
            if not calendar.covers(year):
                raise ScheduleError(
                    f"holiday calendar {calendar.code!r} is not built for {year} (run build_holidays)"
                )
    holidays: dict[int, set[dt.date]] = {version.holiday_calendar_id: set() for version in versions}
    rows = Holiday.objects.filter(
        calendar__in=list(holidays), date__gte=first_day, date__lte=last_day
    ).values_list("calendar_id", "date")
    for calendar_id, day in rows:
        holidays[calendar_id].add(day)
    return holidays


def _version_on(versions: list[TariffVersion], day: dt.date, tariff: Tariff) -> TariffVersion:
    for version in versions:
        if version.effective_start <= day and (version.effective_end is None or day < version.effective_end):
            return version
    raise ScheduleError(f"{tariff.code} has no version in force on {day:%Y-%m-%d}")


def _day_type(day: dt.date, holidays: set[dt.date]) -> str:
    if day in holidays:
        return DayType.HOLIDAY
    return DayType.WEEKEND if day.weekday() >= 5 else DayType.WEEKDAY


def _classify(version: TariffVersion, month: int, day_type: str, hour: int, cpp: bool):
    matrix = version.weekday_schedule if day_type == DayType.WEEKDAY else version.weekend_schedule
    period = version.periods_by_index[matrix[month - 1][hour]]
    price = period.tiers.all()[0].price
    in_event = cpp and version.critical_peak_start_hour <= hour < version.critical_peak_end_hour
    if in_event:
        price += version.critical_peak_adder
    return version.season_by_month.get(month, ""), period, price, in_event


def _extend(segment: PriceSegment, end: dt.datetime) -> PriceSegment:
    return PriceSegment(
        segment.start,
        end,
        segment.version_id,
        segment.season,
        segment.day_type,
        segment.period_index,
        segment.period_label,
        segment.period_kind,
        segment.price,
        segment.critical_peak,
    )
