"""Billing fixtures: the demo SCE tariffs from data/tariffs, and a minimal valid URDB record to break."""

import copy
import json
from pathlib import Path

import pytest

from billing.models import Tariff
from billing.tariffs import import_tariff_file
from tests.binding.conftest import device_ca, make_device  # noqa: F401 — bills need devices and meters

ROOT = Path(__file__).resolve().parents[2]
DEMO_TARIFFS = ROOT / "data" / "tariffs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

SCE_HOLIDAYS = [
    "New Year's Day",
    "Washington's Birthday",
    "Memorial Day",
    "Independence Day",
    "Labor Day",
    "Veterans Day",
    "Thanksgiving Day",
    "Christmas Day",
]


def _summer_evening_schedule(weekday: bool) -> list[list[int]]:
    # Period 0 off-peak, 1 on-peak (weekday summer 4-9 p.m.), 2 mid-peak (weekend summer 4-9 p.m.).
    peak = 1 if weekday else 2
    return [
        [peak if 6 <= month <= 9 and 16 <= hour < 21 else 0 for hour in range(24)] for month in range(1, 13)
    ]


MINIMAL_RECORD = {
    "label": "test0000000000000000000a",
    "name": "Test TOU",
    "utility": "Test Electric Co",
    "startdate": 1735689600,  # 2025-01-01
    "energyratestructure": [[{"rate": 0.2, "adj": 0.01}], [{"rate": 0.5}], [{"rate": 0.4, "unit": "kWh"}]],
    "energytoulabels": ["Off-Peak", "On-Peak", "Mid-Peak"],
    "energyweekdayschedule": _summer_evening_schedule(weekday=True),
    "energyweekendschedule": _summer_evening_schedule(weekday=False),
    "fixedchargefirstmeter": 0.5,
    "fixedchargeunits": "$/day",
    "pevportal": {
        "code": "TEST-TOU",
        "holiday_calendar": {
            "code": "test-tou",
            "name": "Test TOU holidays",
            "holidays": SCE_HOLIDAYS,
            "observed_rule": "sunday_to_monday",
        },
        "seasons": [
            {"name": "Summer", "months": [6, 7, 8, 9]},
            {"name": "Winter", "months": [1, 2, 3, 4, 5, 10, 11, 12]},
        ],
    },
}


@pytest.fixture
def record():
    """A fresh, valid URDB record with our extension, for a test to change."""
    return copy.deepcopy(MINIMAL_RECORD)


@pytest.fixture
def write_json(tmp_path):
    def write(data, name="tariff.json") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    return write


@pytest.fixture
def prime(db) -> Tariff:
    import_tariff_file(DEMO_TARIFFS / "sce-tou-d-prime.json")
    return Tariff.objects.get(code="SCE-TOU-D-PRIME")


@pytest.fixture
def default_rate(db) -> Tariff:
    import_tariff_file(DEMO_TARIFFS / "sce-tou-d-4-9pm.json")
    return Tariff.objects.get(code="SCE-TOU-D-4-9PM")
