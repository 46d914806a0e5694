"""SCE's holiday rule: its eight holidays, a Sunday holiday moves to Monday, nothing moves for Saturday."""

import datetime as dt

import pytest

from billing.holidays import build_calendar, extend_calendars, holiday_dates
from billing.models import HolidayCalendar, ObservedRule
from billing.tasks import extend_holiday_calendars

from .conftest import SCE_HOLIDAYS


@pytest.fixture
def sce_calendar(db):
    return HolidayCalendar.objects.create(
        code="sce-tou", name="SCE", holiday_names=SCE_HOLIDAYS, observed_rule=ObservedRule.SUNDAY_TO_MONDAY
    )


def dates(calendar, year):
    return holiday_dates(calendar, [year])


def test_it_moves_nothing_for_a_saturday_july_4(sce_calendar):
    days = dates(sce_calendar, 2026)
    assert days[dt.date(2026, 7, 4)] == "Independence Day"
    assert dt.date(2026, 7, 3) not in days


def test_it_moves_a_sunday_new_years_day_to_monday(sce_calendar):
    days = dates(sce_calendar, 2023)
    assert days[dt.date(2023, 1, 2)] == "New Year's Day"
    assert dt.date(2023, 1, 1) not in days


def test_it_moves_a_sunday_july_4_to_monday(sce_calendar):
    days = dates(sce_calendar, 2027)
    assert days[dt.date(2027, 7, 5)] == "Independence Day"
    assert dt.date(2027, 7, 4) not in days


def test_it_leaves_out_the_federal_holidays_sce_does_not_observe(sce_calendar):
    days = dates(sce_calendar, 2026)
    assert dt.date(2026, 1, 19) not in days  # Martin Luther King Jr. Day
    assert dt.date(2026, 6, 19) not in days  # Juneteenth
    assert dt.date(2026, 10, 12) not in days  # Columbus Day
    assert len(days) == 8


def test_it_keeps_the_date_when_the_rule_moves_nothing(db):
    calendar = HolidayCalendar.objects.create(
        code="plain", name="Plain", holiday_names=["New Year's Day"], observed_rule=ObservedRule.NONE
    )
    assert dates(calendar, 2023) == {dt.date(2023, 1, 1): "New Year's Day"}


def test_it_stores_the_holidays_as_rows_once(sce_calendar):
    assert build_calendar(sce_calendar, range(2026, 2028)) == 16
    assert build_calendar(sce_calendar, range(2026, 2028)) == 0
    sce_calendar.refresh_from_db()
    assert (sce_calendar.first_year, sce_calendar.last_year) == (2026, 2027)
    assert sce_calendar.holidays.filter(date=dt.date(2027, 7, 5), name="Independence Day").exists()


def test_it_rebuilds_rows_after_the_calendar_changes(sce_calendar):
    build_calendar(sce_calendar, [2026])
    sce_calendar.holiday_names = [name for name in SCE_HOLIDAYS if name != "Veterans Day"]
    sce_calendar.save()

    build_calendar(sce_calendar, [2026])

    assert not sce_calendar.holidays.filter(date=dt.date(2026, 11, 11)).exists()
    assert sce_calendar.holidays.count() == 7


def test_it_extends_every_calendar_two_years_ahead(sce_calendar):
    extend_calendars(today=dt.date(2026, 5, 1))
    sce_calendar.refresh_from_db()
    assert (sce_calendar.first_year, sce_calendar.last_year) == (2026, 2028)


def test_it_runs_the_beat_task(sce_calendar):
    extend_holiday_calendars()
    sce_calendar.refresh_from_db()
    assert sce_calendar.last_year >= dt.datetime.now(dt.UTC).year + 2
