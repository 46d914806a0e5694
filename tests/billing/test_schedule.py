"""price_schedule: local periods over UTC intervals, with holidays, DST and versions applied."""

import datetime as dt
import itertools
import zoneinfo
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.holidays import build_calendar
from billing.models import HolidayCalendar
from billing.schedule import DayType, ScheduleError, price_schedule, price_segments, segments_at
from billing.tariffs import import_tariff_file

LA = zoneinfo.ZoneInfo("America/Los_Angeles")


def local_day(tariff, day: dt.date):
    start = dt.datetime.combine(day, dt.time(), tzinfo=LA).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=LA).astimezone(dt.UTC)
    return price_schedule(tariff, start, end)


def la(*wall) -> dt.datetime:
    return dt.datetime(*wall, tzinfo=LA)


def at_local(tariff, local: dt.datetime):
    start = local.astimezone(dt.UTC)
    return price_schedule(tariff, start, start + dt.timedelta(minutes=15))[0]


def test_it_prices_a_summer_weekday_4pm_as_on_peak(prime):
    interval = at_local(prime, la(2026, 7, 15, 16, 0))
    assert interval.period_label == "Summer On-Peak"
    assert interval.period_kind == "on-peak"
    assert interval.price == Decimal("0.59910")  # sheet 91200-E total 0.59291 + Fixed Recovery Charge 0.00619
    assert interval.season == "Summer"
    assert interval.day_type == DayType.WEEKDAY
    assert interval.start == dt.datetime(2026, 7, 15, 23, 0, tzinfo=dt.UTC)


def test_it_prices_the_last_quarter_hour_before_9pm_on_peak_and_9pm_off_peak(prime):
    assert at_local(prime, la(2026, 7, 15, 20, 45)).period_label == "Summer On-Peak"
    assert at_local(prime, la(2026, 7, 15, 21, 0)).period_label == "Summer Off-Peak"


def test_it_prices_a_summer_saturday_evening_as_mid_peak(prime):
    interval = at_local(prime, la(2026, 7, 11, 17, 0))
    assert (interval.period_label, interval.day_type) == ("Summer Mid-Peak", DayType.WEEKEND)


def test_it_prices_a_weekday_holiday_with_the_weekend_schedule(prime):
    # Monday July 5 2027: Independence Day falls on a Sunday and SCE observes it on Monday.
    interval = at_local(prime, la(2027, 7, 5, 17, 0))
    assert (interval.period_label, interval.day_type) == ("Summer Mid-Peak", DayType.HOLIDAY)
    assert at_local(prime, la(2027, 7, 6, 17, 0)).period_label == "Summer On-Peak"


def test_it_prices_friday_july_3_2026_as_a_weekday(prime):
    interval = at_local(prime, la(2026, 7, 3, 17, 0))
    assert (interval.period_label, interval.day_type) == ("Summer On-Peak", DayType.WEEKDAY)


def test_it_prices_a_winter_morning_as_super_off_peak(default_rate):
    interval = at_local(default_rate, la(2026, 11, 3, 9, 30))
    assert (interval.period_label, interval.price, interval.season) == (
        "Winter Super Off-Peak",
        Decimal("0.34224"),  # sheet 91196-E total 0.33605 + Fixed Recovery Charge 0.00619
        "Winter",
    )


def test_it_gives_the_spring_forward_day_92_quarter_hours(prime):
    intervals = local_day(prime, dt.date(2026, 3, 8))
    assert len(intervals) == 92
    assert not any(i.local_start.hour == 2 for i in intervals)


def test_it_gives_the_fall_back_day_100_quarter_hours(prime):
    intervals = local_day(prime, dt.date(2026, 11, 1))
    assert len(intervals) == 100
    assert Counter(i.local_start.hour for i in intervals)[1] == 8
    assert {i.period_label for i in intervals if i.local_start.hour == 1} == {"Winter Off-Peak"}


def test_it_gives_an_ordinary_day_96_quarter_hours_and_five_on_peak_hours(prime):
    intervals = local_day(prime, dt.date(2026, 7, 15))
    assert len(intervals) == 96
    assert Counter(i.period_label for i in intervals) == {"Summer Off-Peak": 76, "Summer On-Peak": 20}


def test_it_classifies_an_interval_by_its_local_start(prime):
    start = dt.datetime(2026, 7, 15, 20, 30, tzinfo=LA).astimezone(dt.UTC)
    hours = price_schedule(prime, start, start + dt.timedelta(hours=2), interval_seconds=3600)
    assert [h.period_label for h in hours] == ["Summer On-Peak", "Summer Off-Peak"]


def test_it_switches_prices_at_a_version_change(db, write_json, record):
    import_tariff_file(write_json(record, "2025.json"))
    record["startdate"] = 1767225600  # 2026-01-01
    record["energyratestructure"][0] = [{"rate": 0.3}]
    import_tariff_file(write_json(record, "2026.json"))
    from billing.models import Tariff

    tariff = Tariff.objects.get(code="TEST-TOU")
    start = dt.datetime(2025, 12, 31, 23, 0, tzinfo=LA).astimezone(dt.UTC)

    intervals = price_schedule(tariff, start, start + dt.timedelta(hours=2), interval_seconds=3600)

    assert [i.price for i in intervals] == [Decimal("0.21"), Decimal("0.3")]
    assert intervals[0].version_id != intervals[1].version_id


def test_it_adds_the_critical_peak_adder_on_event_hours(db, write_json, record):
    record["pevportal"]["critical_peak"] = {
        "adder_per_kwh": 0.8,
        "start_hour": 16,
        "end_hour": 21,
        "event_days": ["2025-08-14"],
    }
    import_tariff_file(write_json(record))
    from billing.models import Tariff

    tariff = Tariff.objects.get(code="TEST-TOU")
    event = at_local(tariff, la(2025, 8, 14, 17, 0))
    ordinary = at_local(tariff, la(2025, 8, 13, 17, 0))
    assert (event.price, event.critical_peak) == (Decimal("1.3"), True)
    assert (ordinary.price, ordinary.critical_peak) == (Decimal("0.5"), False)


def test_it_refuses_a_range_without_a_version(prime):
    build_calendar(HolidayCalendar.objects.get(code="sce-tou"), [2025])  # the version, not holidays, fails
    start = dt.datetime(2025, 12, 31, 12, tzinfo=dt.UTC)
    with pytest.raises(ScheduleError, match="no version in force on 2025-12-31"):
        price_schedule(prime, start, start + dt.timedelta(hours=1))


def test_it_refuses_a_year_whose_holidays_are_not_built(prime):
    start = dt.datetime(2040, 7, 1, tzinfo=dt.UTC)
    with pytest.raises(ScheduleError, match="not built for 2040"):
        price_schedule(prime, start, start + dt.timedelta(hours=1))


def test_it_refuses_naive_datetimes_and_partial_intervals(prime):
    start = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        price_schedule(
            prime, start.replace(tzinfo=None), (start + dt.timedelta(hours=1)).replace(tzinfo=None)
        )
    with pytest.raises(ValueError, match="whole number"):
        price_schedule(prime, start, start + dt.timedelta(minutes=20))


def test_it_prices_a_year_of_quarter_hours_with_the_six_queries_it_documents(
    prime, django_assert_num_queries
):
    start = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
    # Versions with calendars, seasons, critical-peak days, periods, tiers, holidays (price_segments).
    with django_assert_num_queries(6):
        intervals = price_schedule(prime, start, start + dt.timedelta(days=365))
    assert len(intervals) == 365 * 96


def test_it_finds_the_segment_of_many_read_starts(prime):
    start = dt.datetime(2026, 7, 15, 7, tzinfo=dt.UTC)
    segments = price_segments(prime, start, start + dt.timedelta(days=2))
    reads = [start + dt.timedelta(minutes=15 * k) for k in range(192)]
    expected = [i.period_label for i in price_schedule(prime, start, start + dt.timedelta(days=2))]
    assert [s.period_label for s in segments_at(segments, reads)] == expected


@pytest.fixture
def prime_all_years(prime):
    build_calendar(HolidayCalendar.objects.get(code="sce-tou"), range(2026, 2031))
    return prime


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offset_quarters=st.integers(min_value=0, max_value=4 * 24 * 365 * 3),
    length_quarters=st.integers(min_value=1, max_value=4 * 24 * 10),
)
def test_it_gives_every_interval_exactly_one_period(prime_all_years, offset_quarters, length_quarters):
    start = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC) + dt.timedelta(minutes=15 * offset_quarters)
    end = start + dt.timedelta(minutes=15 * length_quarters)

    intervals = price_schedule(prime_all_years, start, end)

    assert len(intervals) == (end - start) / dt.timedelta(seconds=900)
    assert all(b.start == a.end for a, b in itertools.pairwise(intervals))
    assert intervals[0].start == start
    assert intervals[-1].end == end
    for interval in intervals:
        local = interval.local_start
        summer = 6 <= local.month <= 9
        assert interval.season == ("Summer" if summer else "Winter")
        assert interval.period_label.startswith(interval.season)
        assert (local.hour in range(16, 21)) == (interval.period_kind in {"on-peak", "mid-peak"})
