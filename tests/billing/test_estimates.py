"""Plan comparison: a typical month of home charging, each line rounded to the cent once."""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest

from billing.estimates import estimate_plans, typical_monthly_cost
from billing.models import Tariff
from billing.tariffs import import_tariff_file


def lines(estimate):
    return [(line.label, line.amount) for line in estimate.lines]


def test_it_prices_ten_kwh_a_night_after_midnight_at_off_peak(prime):
    estimate = typical_monthly_cost(prime, year=2026, month=7, kwh_per_night=Decimal(10), start_hour=0)

    # Sheet 91200-E summer off-peak $0.26698 + FRC $0.00619 = $0.27317:
    # 31 nights x 10 kWh x $0.27317 = $84.6827; 31 days x $0.794 = $24.614.
    assert lines(estimate) == [("Energy (310 kWh)", Decimal("84.68")), ("Fixed charge", Decimal("24.61"))]
    assert estimate.total == Decimal("109.29")


def test_it_prices_evening_charging_at_on_peak_on_weekdays_and_mid_peak_on_weekends(prime):
    estimate = typical_monthly_cost(prime, year=2026, month=7, start_hour=17)

    # July 2026: 23 weekdays x 10 kWh x $0.59910 + 8 weekend days x 10 kWh x $0.40801 = $170.4338
    # (sheet 91200-E on-peak $0.59291 and mid-peak $0.40182, each + FRC $0.00619).
    assert estimate.lines[0].amount == Decimal("170.43")


def test_it_shows_the_ev_plan_cheaper_than_the_default_rate_overnight(prime, default_rate):
    ev = typical_monthly_cost(prime, year=2026, month=7)
    default = typical_monthly_cost(default_rate, year=2026, month=7)
    assert ev.total < default.total


@pytest.mark.django_db
def test_it_subtracts_daily_credits_and_tops_up_to_the_minimum_charge(write_json, record):
    record.update(fixedchargefirstmeter=0, mincharge=10, minchargeunits="$/month")
    record["pevportal"]["credits"] = [{"name": "EV submeter credit", "amount": "0.05", "unit": "$/day"}]
    import_tariff_file(write_json(record))
    tariff = Tariff.objects.get(code="TEST-TOU")

    estimate = typical_monthly_cost(tariff, year=2025, month=1, kwh_per_night=Decimal(0))

    assert lines(estimate) == [
        ("Energy (0 kWh)", Decimal("0.00")),
        ("EV submeter credit", Decimal("-1.55")),
        ("Minimum charge top-up", Decimal("11.55")),
    ]
    assert estimate.total == Decimal("10.00")


def test_it_shows_the_energy_and_the_fixed_charges_and_credits_subtotals(prime):
    estimate = typical_monthly_cost(prime, year=2026, month=7, ev_submeter=True)

    assert lines(estimate) == [
        ("Energy (310 kWh)", Decimal("84.68")),
        ("Fixed charge", Decimal("24.61")),  # 31 x $0.794
        ("EV Submeter Credit", Decimal("-4.71")),  # 31 x $0.152 (sheet 91200-E)
    ]
    assert (estimate.energy, estimate.fixed, estimate.total) == (
        Decimal("84.68"),
        Decimal("19.90"),
        Decimal("104.58"),
    )


def test_it_leaves_out_the_ev_submeter_credit_unless_the_charging_is_submetered(prime):
    estimate = typical_monthly_cost(prime, year=2026, month=7)
    assert "EV Submeter Credit" not in [line.label for line in estimate.lines]


@pytest.mark.parametrize(("today", "month", "year"), [((2026, 11, 26), 7, 2027), ((2026, 11, 26), 11, 2026)])
def test_it_prices_the_next_occurrence_of_the_month(prime, today, month, year):
    estimate = typical_monthly_cost(prime, month=month, today=dt.date(*today))
    assert (estimate.year, estimate.month) == (year, month)


def test_it_prices_every_kwh_of_a_session_that_runs_past_the_next_day(prime):
    # 200 kWh at 7.2 kW is 27 h 47 min: the session of July 31 ends on August 2.
    estimate = typical_monthly_cost(prime, year=2026, month=7, kwh_per_night=Decimal(200), start_hour=22)
    assert estimate.kwh == Decimal(31 * 200)


@pytest.mark.django_db
def test_it_estimates_every_plan_cheapest_first_and_marks_the_ones_it_cannot_price(prime, default_rate):
    unpriced = Tariff.objects.create(code="CIS-ONLY", name="Named by the CIS, no rate sheet yet")
    ev_plan = SimpleNamespace(code="ev-prime", tariff=prime)  # a service plan: billed on its EUMD submeter

    results = estimate_plans(
        [unpriced, default_rate, ev_plan, prime], month=7, today=dt.date(2026, 6, 15), start_hour=22
    )

    assert [result.plan for result in results] == [ev_plan, prime, default_rate, unpriced]
    assert [result.priced for result in results] == [True, True, True, False]
    assert "EV Submeter Credit" in [line.label for line in results[0].estimate.lines]
    assert "EV Submeter Credit" not in [line.label for line in results[1].estimate.lines]
    assert results[0].estimate.total == results[1].estimate.total - Decimal("4.71")
    assert results[3].estimate is None
    assert results[3].problem == "CIS-ONLY has no version in force on 2026-07-01"
