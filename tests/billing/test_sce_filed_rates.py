"""The demo SCE tariffs carry SCE's filed Schedule TOU-D sheets, each in force on its own dates.

Version A: Advice 5725-E, effective 2026-01-01 to 2026-05-31 (sheets 90937-E, 90941-E). Version B:
Advice 5829-E, effective from 2026-06-01 (sheets 91196-E, 91200-E). Each price is the sheet's bundled total
(delivery + generation) as the tier rate plus the Fixed Recovery Charge of $0.00619/kWh as its adjustment.
"""

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest

from billing.estimates import typical_monthly_cost
from billing.models import ChargeUnit
from billing.schedule import price_schedule

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
FRC = Decimal("0.00619")
JANUARY, JUNE = dt.date(2026, 1, 1), dt.date(2026, 6, 1)
LABELS = (
    "Summer On-Peak",
    "Summer Mid-Peak",
    "Summer Off-Peak",
    "Winter Mid-Peak",
    "Winter Off-Peak",
    "Winter Super Off-Peak",
)

# The sheets' "Total" energy charges (delivery Total + generation UG), $/kWh, in LABELS order.
FILED_TOTALS = {
    ("SCE-TOU-D-PRIME", JANUARY): [
        "0.59225",
        "0.40116",
        "0.26786",
        "0.56580",
        "0.24743",
        "0.24743",
    ],  # 90941-E
    ("SCE-TOU-D-PRIME", JUNE): ["0.59291", "0.40182", "0.26698", "0.56646", "0.24633", "0.24633"],  # 91200-E
    ("SCE-TOU-D-4-9PM", JANUARY): [
        "0.58530",
        "0.46523",
        "0.34698",
        "0.51159",
        "0.37550",
        "0.33636",
    ],  # 90937-E
    ("SCE-TOU-D-4-9PM", JUNE): ["0.58477", "0.46482", "0.34666", "0.51112", "0.37515", "0.33605"],  # 91196-E
}


@pytest.fixture
def sce(prime, default_rate):
    return {"SCE-TOU-D-PRIME": prime, "SCE-TOU-D-4-9PM": default_rate}


def day_prices(tariff, day: dt.date) -> dict[str, Decimal]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=LA).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=LA).astimezone(dt.UTC)
    intervals = price_schedule(tariff, start, end, interval_seconds=3600)
    assert len({i.version_id for i in intervals}) == 1
    return {i.period_label: i.price for i in intervals}


def test_it_gives_each_tariff_the_january_and_june_sheets_with_the_frc_as_adjustment(sce):
    for code, tariff in sce.items():
        versions = list(tariff.versions.order_by("effective_start"))
        assert [(v.effective_start, v.effective_end) for v in versions] == [(JANUARY, JUNE), (JUNE, None)]
        for version in versions:
            tiers = {p.label: p.tiers.get() for p in version.periods.all()}
            assert list(tiers) == list(LABELS)
            filed = FILED_TOTALS[(code, version.effective_start)]
            assert [(t.rate, t.adjustment, t.max_kwh) for t in tiers.values()] == [
                (Decimal(total), FRC, None) for total in filed
            ]
            assert (version.fixed_charge, version.fixed_charge_unit) == (Decimal("0.794"), ChargeUnit.PER_DAY)
            assert version.minimum_charge == 0
            credits = [(c.name, c.amount, c.unit, c.applies_to) for c in version.credits.all()]
            if code == "SCE-TOU-D-PRIME":
                # Sheets 90941-E and 91200-E: EV Submeter Credit $(0.152)/meter/day, Special Condition 17.
                assert credits == [
                    ("EV Submeter Credit", Decimal("0.152"), ChargeUnit.PER_DAY, "ev_submeter")
                ]
            else:
                assert credits == []


def test_it_has_the_filed_baseline_credit_on_4_9pm_and_none_on_prime(sce):
    assert [v.baseline_credit for v in sce["SCE-TOU-D-4-9PM"].versions.order_by("effective_start")] == [
        Decimal("0.10108"),  # 90937-E
        Decimal("0.10099"),  # 91196-E
    ]
    assert [v.baseline_credit for v in sce["SCE-TOU-D-PRIME"].versions.all()] == [None, None]


@pytest.mark.parametrize(
    ("code", "day", "expected"),
    [
        # Sunday March 15 2026 (winter; weekends have the weekday winter periods): Advice 5725-E sheets.
        (
            "SCE-TOU-D-PRIME",
            dt.date(2026, 3, 15),
            {"Winter Off-Peak": "0.25362", "Winter Super Off-Peak": "0.25362", "Winter Mid-Peak": "0.57199"},
        ),
        (
            "SCE-TOU-D-4-9PM",
            dt.date(2026, 3, 15),
            {"Winter Off-Peak": "0.38169", "Winter Super Off-Peak": "0.34255", "Winter Mid-Peak": "0.51778"},
        ),
        # Wednesday July 15 2026 (summer weekday): Advice 5829-E sheets.
        (
            "SCE-TOU-D-PRIME",
            dt.date(2026, 7, 15),
            {"Summer Off-Peak": "0.27317", "Summer On-Peak": "0.59910"},
        ),
        (
            "SCE-TOU-D-4-9PM",
            dt.date(2026, 7, 15),
            {"Summer Off-Peak": "0.35285", "Summer On-Peak": "0.59096"},
        ),
        # Saturday July 18 2026 (summer weekend): mid-peak 4-9 p.m.
        (
            "SCE-TOU-D-PRIME",
            dt.date(2026, 7, 18),
            {"Summer Off-Peak": "0.27317", "Summer Mid-Peak": "0.40801"},
        ),
        (
            "SCE-TOU-D-4-9PM",
            dt.date(2026, 7, 18),
            {"Summer Off-Peak": "0.35285", "Summer Mid-Peak": "0.47101"},
        ),
    ],
)
def test_it_prices_a_day_with_the_filed_prices_of_the_version_in_force(sce, code, day, expected):
    prices = day_prices(sce[code], day)

    assert prices == {label: Decimal(price) for label, price in expected.items()}
    version = sce[code].version_on(day)
    filed = FILED_TOTALS[(code, version.effective_start)]
    assert prices == {label: Decimal(filed[LABELS.index(label)]) + FRC for label in prices}


def test_it_switches_to_the_june_sheets_at_local_midnight(prime):
    start = dt.datetime(2026, 5, 31, 23, 0, tzinfo=LA).astimezone(dt.UTC)

    may, june = price_schedule(prime, start, start + dt.timedelta(hours=2), interval_seconds=3600)

    assert (may.period_label, may.price) == ("Winter Off-Peak", Decimal("0.25362"))  # 0.24743 + 0.00619
    assert (june.period_label, june.price) == ("Summer Off-Peak", Decimal("0.27317"))  # 0.26698 + 0.00619
    assert may.version_id != june.version_id


def test_it_has_no_minimum_charge_on_tou_d_4_9pm(default_rate):
    assert [v.minimum_charge for v in default_rate.versions.all()] == [0, 0]

    # A month without charging costs the Base Services Charge only: no minimum-charge top-up.
    for month in (3, 7):
        estimate = typical_monthly_cost(default_rate, year=2026, month=month, kwh_per_night=Decimal(0))
        assert [line.label for line in estimate.lines] == ["Energy (0 kWh)", "Fixed charge"]
        assert estimate.total == Decimal("24.61")  # 31 days x $0.794
