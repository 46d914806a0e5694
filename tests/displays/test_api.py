"""The read-only customer API: its shapes, its bad-input answers and its query counts. Alice's display
never sees Bob's premises or bills."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from billing.models import Bill, BillLine
from metering.models import UsageRollup, UsageSource
from tests.displays.conftest import connect
from tests.factories import EnrollmentFactory

UTC = dt.UTC


def rollup(premise, day, source, label, wh, index=0, reads=4, enrollment=None):
    return UsageRollup.objects.create(
        premise=premise,
        day=day,
        source=source,
        vin=enrollment.pev.vin if enrollment else "",
        enrollment=enrollment,
        tariff=premise.default_tariff,
        period_index=index,
        period_label=label,
        wh=wh,
        reads=reads,
    )


def bill(premise, period: dt.date, total: str) -> Bill:
    issued = Bill.objects.create(
        account=premise.account,
        premise=premise,
        period=period,
        starts_at=dt.datetime(period.year, period.month, 1, 8, tzinfo=UTC),
        ends_at=dt.datetime(period.year, period.month + 1, 1, 8, tzinfo=UTC),
        total=Decimal(total),
        issued_at=dt.datetime(period.year, period.month + 1, 2, tzinfo=UTC),
    )
    BillLine.objects.create(
        bill=issued,
        position=1,
        kind=BillLine.Kind.PREMISE_ENERGY,
        description="Premise energy, Off-Peak",
        tariff=premise.default_tariff,
        period_label="Off-Peak",
        quantity=Decimal("100.000"),
        unit="kWh",
        unit_price=Decimal("0.30000"),
        amount_unrounded=Decimal(total),
        amount=Decimal(total),
    )
    return issued


@pytest.fixture
def alice_token(display, alice, alice_home):
    return connect(display, alice)["access_token"]


def test_it_gives_alices_display_her_daily_usage_by_period(display, alice_token, alice_home, bob_home):
    enrollment = EnrollmentFactory(premise=alice_home)
    day = dt.date(2026, 6, 1)
    rollup(alice_home, day, UsageSource.PREMISE, "Off-Peak", 9000, index=0)
    rollup(alice_home, day, UsageSource.PREMISE, "On-Peak", 3000, index=1)
    rollup(alice_home, day, UsageSource.PEV, "Super Off-Peak", 7000, enrollment=enrollment)
    rollup(alice_home, dt.date(2026, 6, 2), UsageSource.PEV, "Super Off-Peak", 5000, enrollment=enrollment)
    rollup(bob_home, day, UsageSource.PREMISE, "Off-Peak", 99999)

    response = display.get("/api/v1/usage", alice_token, start="2026-06-01", end="2026-06-30")

    assert response.status_code == 200
    assert response.json() == {
        "start": "2026-06-01",
        "end": "2026-06-30",
        "premises": [
            {
                "premise_id": "P1000001",
                "service_address": "1 Alice Way, Pasadena CA",
                "time_zone": "America/Los_Angeles",
                "days": [
                    {
                        "date": "2026-06-01",
                        "premise_wh": 12000,
                        "pev_wh": 7000,
                        "rest_wh": 5000,
                        "periods": [
                            {"source": "premise", "period": "Off-Peak", "wh": 9000},
                            {"source": "premise", "period": "On-Peak", "wh": 3000},
                            {"source": "pev", "period": "Super Off-Peak", "wh": 7000},
                        ],
                    },
                    {
                        # The premise meter's file for the day has not arrived yet.
                        "date": "2026-06-02",
                        "premise_wh": None,
                        "pev_wh": 5000,
                        "rest_wh": None,
                        "periods": [{"source": "pev", "period": "Super Off-Peak", "wh": 5000}],
                    },
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"end": "2026-06-30"}, "start", "This field is required."),
        ({"start": "2026-6-1", "end": "2026-06-30"}, "start", "Enter the date as YYYY-MM-DD."),
        ({"start": "2026-02-30", "end": "2026-06-30"}, "start", "Date has wrong format."),
        ({"start": "2026-06-30", "end": "2026-06-01"}, "end", "end must be on or after start."),
        ({"start": "2025-01-01", "end": "2026-06-30"}, "end", "Ask for at most 366 days at a time."),
    ],
)
def test_it_explains_a_bad_usage_range(display, alice_token, query, field, message):
    response = display.get("/api/v1/usage", alice_token, **query)
    assert response.status_code == 400
    assert response.json()[field][0].startswith(message)


def test_it_reads_usage_in_two_queries_plus_authentication(
    display, alice_token, alice_home, django_assert_max_num_queries
):
    for offset in range(60):
        rollup(
            alice_home, dt.date(2026, 5, 1) + dt.timedelta(days=offset), UsageSource.PREMISE, "Off-Peak", 100
        )
    # Token lookup, then the premises and the rollups.
    with django_assert_max_num_queries(3):
        response = display.get("/api/v1/usage", alice_token, start="2026-05-01", end="2026-06-30")
    assert len(response.json()["premises"][0]["days"]) == 60


def test_it_lists_alices_bills_with_decimal_strings_and_never_bobs(
    display, alice_token, alice_home, bob_home
):
    june = bill(alice_home, dt.date(2026, 6, 1), "123.45")
    may = bill(alice_home, dt.date(2026, 5, 1), "99.10")
    bob_bill = bill(bob_home, dt.date(2026, 6, 1), "500.00")

    listed = display.get("/api/v1/bills", alice_token).json()
    assert [b["id"] for b in listed] == [june.pk, may.pk]
    assert listed[0] == {
        "id": june.pk,
        "account": alice_home.account.number,
        "premise_id": "P1000001",
        "period": "2026-06-01",
        "starts_at": "2026-06-01T08:00:00Z",
        "ends_at": "2026-07-01T08:00:00Z",
        "total": "123.45",
        "currency": "USD",
        "estimated": False,
        "issued_at": "2026-07-02T00:00:00Z",
    }
    assert display.get(f"/api/v1/bills/{bob_bill.pk}", alice_token).status_code == 404


def test_it_shows_one_bill_with_its_lines(display, alice_token, alice_home):
    june = bill(alice_home, dt.date(2026, 6, 1), "30.00")
    detail = display.get(f"/api/v1/bills/{june.pk}", alice_token).json()
    assert detail["total"] == "30.00"
    assert detail["lines"] == [
        {
            "position": 1,
            "kind": "premise_energy",
            "description": "Premise energy, Off-Peak",
            "tariff": alice_home.default_tariff.code,
            "vin": None,
            "period_label": "Off-Peak",
            "quantity": "100.000",
            "unit": "kWh",
            "unit_price": "0.30000",
            "amount": "30.00",
        }
    ]


def test_it_lists_bills_in_a_fixed_number_of_queries(
    display, alice_token, alice_home, django_assert_max_num_queries
):
    for month in range(1, 11):
        bill(alice_home, dt.date(2025, month, 1), "10.00")
    with django_assert_max_num_queries(2):
        assert len(display.get("/api/v1/bills", alice_token).json()) == 10


def test_it_gives_the_live_panels_of_alices_accounts(display, alice_token, monkeypatch):
    seen = {}

    def panels(accounts):
        seen["accounts"] = list(accounts)
        return [{"binding_id": "b1", "status": "charging_on_plan"}]

    monkeypatch.setattr("pevportal.displays.api.views.live_panels", panels)
    response = display.get("/api/v1/live", alice_token)
    assert response.json() == {"panels": [{"binding_id": "b1", "status": "charging_on_plan"}]}


def test_it_serves_the_same_endpoints_to_alices_own_session(alice, alice_home, bob_home):
    mine = bill(alice_home, dt.date(2026, 6, 1), "12.00")
    bill(bob_home, dt.date(2026, 6, 1), "13.00")
    client = Client()
    client.force_login(alice)
    assert [b["id"] for b in client.get("/api/v1/bills").json()] == [mine.pk]
    assert client.get("/api/v1/usage", {"start": "2026-06-01", "end": "2026-06-01"}).status_code == 200


def test_it_refuses_a_request_with_neither_token_nor_session(db):
    response = Client().get("/api/v1/bills")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_token_in_the_query_string(display, alice_token):
    assert Client().get("/api/v1/bills", {"access_token": alice_token}).status_code == 401


def test_it_answers_no_panels_when_nothing_is_plugged_in(display, alice_token):
    assert display.get("/api/v1/live", alice_token).json() == {"panels": []}
