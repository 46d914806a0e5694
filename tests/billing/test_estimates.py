"""Plan comparison: a typical month of home charging, each line rounded to the cent once."""

from decimal import Decimal

import pytest

from billing.estimates import typical_monthly_cost
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
