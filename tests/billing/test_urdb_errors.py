"""A bad tariff file gets an error naming the field, exit status 1, and imports nothing."""

import re

import pytest
from django.core.management import CommandError, call_command

from billing.models import HolidayCalendar, Tariff, TariffVersion, Utility
from pevportal.models import AuditRecord, ImportRun


def import_fails(path, capsys) -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("import_tariff", str(path))
    assert excinfo.value.returncode == 1
    assert not Tariff.objects.exists()
    assert not TariffVersion.objects.exists()
    assert not Utility.objects.exists()
    assert not HolidayCalendar.objects.exists()
    assert not ImportRun.objects.exists()
    assert not AuditRecord.objects.exists()
    return capsys.readouterr().err


@pytest.mark.django_db
def test_it_rejects_a_file_that_is_not_json(write_json, capsys):
    err = import_fails(write_json("{not json"), capsys)
    assert "file: not valid JSON" in err
    assert "nothing imported" in err


@pytest.mark.django_db
def test_it_rejects_a_json_list(write_json, capsys):
    err = import_fails(write_json([1, 2]), capsys)
    assert "file: must be a URDB record" in err


@pytest.mark.django_db
def test_it_names_a_missing_field(write_json, record, capsys):
    del record["energyweekdayschedule"]
    err = import_fails(write_json(record), capsys)
    assert "energyweekdayschedule: required" in err


@pytest.mark.django_db
def test_it_names_a_missing_start_date(write_json, record, capsys):
    del record["startdate"]
    err = import_fails(write_json(record), capsys)
    assert "startdate: required" in err


@pytest.mark.django_db
def test_it_rejects_a_schedule_with_eleven_months(write_json, record, capsys):
    record["energyweekendschedule"] = record["energyweekendschedule"][:11]
    err = import_fails(write_json(record), capsys)
    assert "energyweekendschedule: must be 12 rows (months), got 11" in err


@pytest.mark.django_db
def test_it_rejects_a_month_with_23_hours(write_json, record, capsys):
    record["energyweekdayschedule"][4] = record["energyweekdayschedule"][4][:23]
    err = import_fails(write_json(record), capsys)
    assert "energyweekdayschedule[4]: must be 24 period indexes (hours), got 23" in err


@pytest.mark.django_db
def test_it_rejects_a_period_index_out_of_range(write_json, record, capsys):
    record["energyweekdayschedule"][3][17] = 5
    err = import_fails(write_json(record), capsys)
    assert "energyweekdayschedule[3][17]: period 5 does not exist (3 periods)" in err


@pytest.mark.django_db
def test_it_rejects_a_negative_rate(write_json, record, capsys):
    record["energyratestructure"][1][0]["rate"] = -0.5
    err = import_fails(write_json(record), capsys)
    assert "energyratestructure[1][0].rate: must not be negative" in err


@pytest.mark.django_db
def test_it_rejects_a_non_numeric_rate(write_json, record, capsys):
    record["energyratestructure"][2][0]["rate"] = "cheap"
    err = import_fails(write_json(record), capsys)
    assert "energyratestructure[2][0].rate: must be a number, got 'cheap'" in err


@pytest.mark.django_db
def test_it_rejects_an_unknown_tier_unit(write_json, record, capsys):
    record["energyratestructure"][0][0]["unit"] = "kWh/kW"
    err = import_fails(write_json(record), capsys)
    assert "energyratestructure[0][0].unit: unknown unit 'kWh/kW'" in err


@pytest.mark.django_db
def test_it_rejects_an_unknown_fixed_charge_unit(write_json, record, capsys):
    record["fixedchargeunits"] = "$/year"
    err = import_fails(write_json(record), capsys)
    assert "fixedchargeunits: unknown unit '$/year'" in err


@pytest.mark.django_db
def test_it_rejects_a_minimum_charge_without_unit(write_json, record, capsys):
    record["mincharge"] = 10
    err = import_fails(write_json(record), capsys)
    assert "minchargeunits: required with mincharge" in err


@pytest.mark.django_db
def test_it_rejects_labels_that_do_not_match_the_periods(write_json, record, capsys):
    record["energytoulabels"] = ["Off-Peak", "On-Peak"]
    err = import_fails(write_json(record), capsys)
    assert "energytoulabels: must be a list of 3 strings" in err


@pytest.mark.django_db
def test_it_rejects_a_tier_without_max_before_the_last(write_json, record, capsys):
    record["energyratestructure"][0] = [{"rate": 0.2}, {"rate": 0.3}]
    err = import_fails(write_json(record), capsys)
    assert "energyratestructure[0][0].max: required on every tier but the last" in err


@pytest.mark.django_db
def test_it_rejects_seasons_that_miss_a_month(write_json, record, capsys):
    record["pevportal"]["seasons"][1]["months"].remove(12)
    err = import_fails(write_json(record), capsys)
    assert "pevportal.seasons: months [12] are in no season" in err


@pytest.mark.django_db
def test_it_rejects_a_season_whose_months_have_different_schedules(write_json, record, capsys):
    record["pevportal"]["seasons"] = [{"name": "All year", "months": list(range(1, 13))}]
    err = import_fails(write_json(record), capsys)
    assert "pevportal.seasons[0].months: months 1 and 6 have different schedules" in err


@pytest.mark.django_db
def test_it_rejects_a_holiday_name_the_package_does_not_know(write_json, record, capsys):
    record["pevportal"]["holiday_calendar"]["holidays"].append("Presidents Day")
    err = import_fails(write_json(record), capsys)
    assert "pevportal.holiday_calendar.holidays[8]: 'Presidents Day' is not a US holiday name" in err


@pytest.mark.django_db
def test_it_rejects_an_unknown_time_zone(write_json, record, capsys):
    record["pevportal"]["time_zone"] = "America/Springfield"
    err = import_fails(write_json(record), capsys)
    assert "pevportal.time_zone: unknown time zone 'America/Springfield'" in err


@pytest.mark.django_db
def test_it_rejects_a_credit_with_an_unknown_unit(write_json, record, capsys):
    record["pevportal"]["credits"] = [{"name": "EV submeter credit", "amount": 0.1, "unit": "$/week"}]
    err = import_fails(write_json(record), capsys)
    assert "pevportal.credits[0].unit: unknown unit '$/week'" in err


@pytest.mark.django_db
def test_it_reports_every_bad_field_at_once(write_json, record, capsys):
    record["energyweekdayschedule"][0][0] = 9
    record["energyratestructure"][0][0]["rate"] = None
    err = import_fails(write_json(record), capsys)
    assert "energyweekdayschedule[0][0]: period 9 does not exist" in err
    assert "energyratestructure[0][0].rate: required" in err


@pytest.mark.django_db
def test_it_names_the_record_of_a_multi_record_file(write_json, record, capsys):
    second = {**record, "startdate": 1767225600}
    second["energyweekendschedule"] = "nope"
    err = import_fails(write_json({"items": [record, second]}), capsys)
    assert "items[1].energyweekendschedule: must be 12 rows (months), got str" in err


@pytest.mark.django_db
def test_it_imports_nothing_when_the_second_file_has_the_error(write_json, record, capsys):
    # One file is one transaction: a file whose second record is bad leaves no trace of its first.
    second = {**record, "startdate": 1767225600, "fixedchargeunits": "$/fortnight"}
    err = import_fails(write_json({"items": [record, second]}), capsys)
    assert "items[1].fixedchargeunits" in err


def _set(record: dict, path: str, value) -> None:
    """Set a value by a dotted path with [i] indexes, e.g. "pevportal.seasons[0].name"."""
    keys = [int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", path)]
    target = record
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("startdate", float("nan"), "startdate: must be epoch seconds, got nan"),
        ("startdate", 1e20, "startdate: must be epoch seconds of a date in 1970-2100, got 1e+20"),
        ("enddate", 10**30, "enddate: must be epoch seconds of a date in 1970-2100"),
        (
            "energyratestructure[0][0].rate",
            0.123456,
            "energyratestructure[0][0].rate: must have at most 5 decimal",
        ),
        ("energyratestructure[1][0].adj", "0.0000001", "energyratestructure[1][0].adj: must have at most 5"),
        (
            "energyratestructure[2][0].rate",
            1e12,
            "energyratestructure[2][0].rate: must be less than 10,000,000",
        ),
        ("fixedchargefirstmeter", 12345678, "fixedchargefirstmeter: must be less than 10,000,000"),
        ("pevportal.code", "X" * 65, "pevportal.code: must be at most 64 characters, got 65"),
        ("label", "x" * 65, "label: must be at most 64 characters, got 65"),
        ("energytoulabels[0]", "Off-Peak " + "x" * 100, "energytoulabels[0]: must be 1 to 100 characters"),
        ("pevportal.seasons[0].name", "S" * 65, "pevportal.seasons[0].name: must be at most 64 characters"),
        ("name", "N" * 201, "name: must be at most 200 characters, got 201"),
        ("utility", "U" * 201, "utility: must be at most 200 characters, got 201"),
        ("pevportal.holiday_calendar.code", "c" * 65, "pevportal.holiday_calendar.code: must be at most 64"),
        ("pevportal.utility_code", "Test Electric", "pevportal.utility_code: must be lowercase letters"),
        ("eiaid", 2**40, "eiaid: must be a whole number from 0 to 2147483647"),
        ("pevportal.source", {"url": "javascript:alert(1)"}, "pevportal.source.url: must be an http(s) URL"),
        (
            "pevportal.source",
            {"url": "https://example.com/" + "x" * 500},
            "pevportal.source.url: must be at most 500",
        ),
    ],
)
def test_it_names_a_value_that_would_not_be_stored_exactly(write_json, record, capsys, path, value, message):
    _set(record, path, value)
    err = import_fails(write_json(record), capsys)
    assert message in err


@pytest.mark.django_db
def test_it_rejects_two_seasons_with_one_name(write_json, record, capsys):
    record["pevportal"]["seasons"][1]["name"] = "Summer"
    err = import_fails(write_json(record), capsys)
    assert "pevportal.seasons[1].name: season 'Summer' is listed twice" in err


@pytest.mark.django_db
def test_it_rejects_credits_that_would_not_be_stored_exactly(write_json, record, capsys):
    record["pevportal"]["credits"] = [
        {"name": "C" * 201, "amount": "0.05", "unit": "$/day"},
        {"name": "EV submeter credit", "amount": "0.0512345", "unit": "$/day", "applies_to": "ev"},
    ]
    err = import_fails(write_json(record), capsys)
    assert "pevportal.credits[0].name: must be at most 200 characters, got 201" in err
    assert "pevportal.credits[1].amount: must have at most 5 decimal places" in err
    assert "pevportal.credits[1].applies_to: unknown value 'ev' (supported: all, ev_submeter)" in err


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "end"), [(True, 21), (16, True), (16.5, 21), ("16", 21)])
def test_it_rejects_critical_peak_hours_that_are_not_whole_numbers(write_json, record, capsys, start, end):
    record["pevportal"]["critical_peak"] = {"adder_per_kwh": 0.8, "start_hour": start, "end_hour": end}
    err = import_fails(write_json(record), capsys)
    assert "pevportal.critical_peak.start_hour: start_hour and end_hour must be whole hours" in err


@pytest.mark.django_db
def test_it_rejects_display_names_of_holidays_the_calendar_does_not_list(write_json, record, capsys):
    record["pevportal"]["holiday_calendar"]["display_names"] = {
        "Columbus Day": "Columbus Day",
        "Labor Day": "",
    }
    err = import_fails(write_json(record), capsys)
    assert (
        "pevportal.holiday_calendar.display_names: 'Columbus Day' is not one of the calendar's holidays"
        in err
    )
    assert (
        "pevportal.holiday_calendar.display_names['Labor Day']: must be a name of 1 to 200 characters" in err
    )
