"""A version prices with the holiday calendar it was imported with: a calendar change is a new version, past
versions keep their holidays, and every calendar is built from the earliest start of its versions."""

import datetime as dt
import zoneinfo

import pytest

from billing.holidays import build_calendar, extend_calendars
from billing.models import HolidayCalendar, Tariff
from billing.schedule import DayType, price_schedule
from billing.tariffs import Outcome, import_tariff_file
from billing.urdb import TariffFileError

from .conftest import SCE_HOLIDAYS

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
JANUARY_2026 = 1767225600


def day_type(tariff: Tariff, day: dt.date) -> str:
    start = dt.datetime.combine(day, dt.time(12), tzinfo=LA).astimezone(dt.UTC)
    return price_schedule(tariff, start, start + dt.timedelta(hours=1), interval_seconds=3600)[0].day_type


def without_veterans_day(record: dict) -> dict:
    record["pevportal"]["holiday_calendar"] = {
        "code": "test-tou-2026",
        "name": "Test TOU holidays from 2026",
        "holidays": [name for name in SCE_HOLIDAYS if name != "Veterans Day"],
        "observed_rule": "sunday_to_monday",
    }
    return record


@pytest.mark.django_db
def test_it_makes_a_new_version_when_a_later_record_changes_only_the_calendar(write_json, record):
    import_tariff_file(write_json(record, "2025.json"))
    record["startdate"] = JANUARY_2026

    result = import_tariff_file(write_json(without_veterans_day(record), "2026.json"))

    assert [t.outcome for t in result.tariffs] == [Outcome.NEW_VERSION]
    tariff = Tariff.objects.get(code="TEST-TOU")
    assert [v.holiday_calendar.code for v in tariff.versions.order_by("effective_start")] == [
        "test-tou",
        "test-tou-2026",
    ]
    # The 2025 version keeps its holidays; the 2026 one prices Veterans Day as a weekday.
    assert day_type(tariff, dt.date(2025, 11, 11)) == DayType.HOLIDAY
    assert day_type(tariff, dt.date(2026, 11, 11)) == DayType.WEEKDAY
    assert day_type(tariff, dt.date(2026, 12, 25)) == DayType.HOLIDAY


@pytest.mark.django_db
def test_it_refuses_another_calendar_for_a_version_already_imported(write_json, record):
    import_tariff_file(write_json(record, "first.json"))

    with pytest.raises(TariffFileError, match="already has a different version starting 2025-01-01"):
        import_tariff_file(write_json(without_veterans_day(record), "same-numbers-new-calendar.json"))

    tariff = Tariff.objects.get(code="TEST-TOU")
    assert tariff.versions.get().holiday_calendar.code == "test-tou"
    assert day_type(tariff, dt.date(2025, 11, 11)) == DayType.HOLIDAY


@pytest.mark.django_db
def test_it_refuses_to_move_the_time_zone_of_a_tariff_with_versions(write_json, record):
    import_tariff_file(write_json(record, "2025.json"))
    record["startdate"] = JANUARY_2026
    record["pevportal"]["time_zone"] = "America/Denver"

    with pytest.raises(TariffFileError, match=r"pevportal\.time_zone: TEST-TOU.s versions are priced in"):
        import_tariff_file(write_json(record, "2026.json"))

    assert Tariff.objects.get(code="TEST-TOU").time_zone == "America/Los_Angeles"


@pytest.mark.django_db
def test_it_builds_a_calendar_from_the_earliest_start_of_its_versions(write_json, record):
    import_tariff_file(write_json(record))  # starts 2025-01-01
    calendar = HolidayCalendar.objects.get(code="test-tou")
    calendar.holidays.all().delete()
    HolidayCalendar.objects.filter(pk=calendar.pk).update(first_year=None, last_year=None)

    extend_calendars(today=dt.date(2026, 5, 1))

    calendar.refresh_from_db()
    assert (calendar.first_year, calendar.last_year) == (2025, 2028)
    assert calendar.holidays.filter(date=dt.date(2025, 7, 4)).exists()


@pytest.mark.django_db
def test_it_builds_the_years_between_the_built_ones_and_the_ones_asked_for():
    calendar = HolidayCalendar.objects.create(
        code="sce-tou", name="SCE", holiday_names=SCE_HOLIDAYS, observed_rule="sunday_to_monday"
    )
    build_calendar(calendar, [2026])

    build_calendar(calendar, [2030])

    calendar.refresh_from_db()
    assert (calendar.first_year, calendar.last_year) == (2026, 2030)
    assert sorted({day.year for day in calendar.holidays.values_list("date", flat=True)}) == list(
        range(2026, 2031)
    )


@pytest.mark.django_db
def test_it_shows_the_rate_sheets_names_of_holidays(write_json, record):
    record["pevportal"]["holiday_calendar"]["display_names"] = {"Washington's Birthday": "Presidents' Day"}

    import_tariff_file(write_json(record))

    calendar = HolidayCalendar.objects.get(code="test-tou")
    assert calendar.holidays.get(date=dt.date(2025, 2, 17)).name == "Presidents' Day"
    assert calendar.holidays.get(date=dt.date(2025, 12, 25)).name == "Christmas Day"
