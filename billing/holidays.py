"""Building a utility's holiday calendar as rows, from the `holidays` package and the utility's own rule.

`holidays.US()` as-is is wrong for tariffs: it adds days utilities don't observe (MLK Day, Juneteenth,
Columbus Day) and moves Saturday holidays to Friday. So we take the unobserved dates, keep only the names
the calendar lists, and apply the calendar's rule (SCE: a Sunday holiday moves to Monday, nothing moves
for Saturday).
"""

import datetime as dt
from collections.abc import Iterable

import holidays as holidays_package
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from billing.models import Holiday, HolidayCalendar, ObservedRule
from pevportal.audit import Change, record_many
from pevportal.models import Channel

YEARS_AHEAD = 2


def holiday_dates(calendar: HolidayCalendar, years: Iterable[int]) -> dict[dt.date, str]:
    """The calendar's holidays in `years` (date → its display name), after its weekend rule."""
    wanted = set(calendar.holiday_names)
    display = calendar.display_names or {}
    source = holidays_package.country_holidays(calendar.country, years=list(years), observed=False)
    dates: dict[dt.date, str] = {}
    for day, names in sorted(source.items()):
        # The package joins two holidays on one date with "; ".
        for name in names.split("; "):
            if name not in wanted:
                continue
            if calendar.observed_rule == ObservedRule.SUNDAY_TO_MONDAY and day.weekday() == 6:
                day = day + dt.timedelta(days=1)
            dates[day] = display.get(name, name)
    return dates


@transaction.atomic
def build_calendar(calendar: HolidayCalendar, years: Iterable[int], *, actor_label: str = "") -> int:
    """Make the Holiday rows of `years` (a contiguous range) match the calendar's rule; returns rows changed.

    The built years stay one contiguous run (what HolidayCalendar.covers assumes): years between the run
    already built and the ones asked for are built too. Idempotent: rebuilding a year that is already right
    changes nothing and writes no audit record.
    """
    years = sorted(set(years))
    if not years:
        return 0
    if years != list(range(years[0], years[-1] + 1)):
        raise ValueError(f"years must be contiguous, got {years}")
    # Locked so two builds of one calendar (beat task and an import) cannot both insert a year.
    locked = HolidayCalendar.objects.select_for_update().get(pk=calendar.pk)
    if locked.first_year is not None:
        years = list(range(min(years[0], locked.last_year + 1), max(years[-1], locked.first_year - 1) + 1))
    expected = holiday_dates(locked, years)
    existing = {
        h.date: h for h in calendar.holidays.filter(date__year__gte=years[0], date__year__lte=years[-1])
    }

    created = [
        Holiday(calendar=calendar, date=day, name=name)
        for day, name in expected.items()
        if day not in existing
    ]
    stale = [h for day, h in existing.items() if expected.get(day) != h.name]
    if stale:
        Holiday.objects.filter(pk__in=[h.pk for h in stale]).delete()
        created += [
            Holiday(calendar=calendar, date=h.date, name=expected[h.date])
            for h in stale
            if h.date in expected
        ]
    Holiday.objects.bulk_create(created)

    changes = [Change.of("holiday.removed", calendar, before={"date": h.date, "name": h.name}) for h in stale]
    changes += [Change.of("holiday.added", calendar, after={"date": h.date, "name": h.name}) for h in created]
    record_many(changes, channel=Channel.SYSTEM, actor_label=actor_label or "billing.holidays")

    first = min(years[0], locked.first_year or years[0])
    last = max(years[-1], locked.last_year or years[-1])
    if (first, last) != (locked.first_year, locked.last_year):
        HolidayCalendar.objects.filter(pk=calendar.pk).update(first_year=first, last_year=last)
    calendar.first_year, calendar.last_year = first, last
    return len(changes)


def years_needed(
    calendar: HolidayCalendar, *, today: dt.date | None = None, years_ahead: int = YEARS_AHEAD
) -> range:
    """The years a calendar must cover: from the earliest start of a version priced with it (this year
    without versions) through `years_ahead` years after this one, or the last year a version names."""
    this_year = (today or timezone.now().date()).year
    span = calendar.versions.aggregate(
        first=Min("effective_start"), last_start=Max("effective_start"), last_end=Max("effective_end")
    )
    first = span["first"].year if span["first"] else this_year
    last = max(
        [this_year + years_ahead] + [span[key].year for key in ("last_start", "last_end") if span[key]]
    )
    return range(first, last + 1)


def extend_calendars(*, today: dt.date | None = None, years_ahead: int = YEARS_AHEAD) -> int:
    """Build every calendar from its versions' earliest start year through `years_ahead` years after this one.

    Returns the number of holiday rows added or removed.
    """
    changed = 0
    for calendar in HolidayCalendar.objects.order_by("pk"):
        changed += build_calendar(calendar, years_needed(calendar, today=today, years_ahead=years_ahead))
    return changed
