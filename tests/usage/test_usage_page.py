"""/my/usage/: a premise's energy by day and by TOU period, EV charging against the rest of the home, as
SVG charts with the same numbers in tables — equal to the numbers worked out by hand."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from metering.usage import month_usage, monthly_totals, recent_months
from tests.usage.homes import LA, CustomerHome, last_full_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(sce_programs, make_device, alice):
    return CustomerHome(make_device, alice)


def test_it_adds_up_a_month_by_day_and_period_as_by_hand(home):
    month = last_full_month()
    days = home.small_month(month)

    usage = month_usage(home.premise, month, today=dt.datetime.now(LA).date())

    by_day = {d.day: d for d in usage.days}
    assert (
        len(usage.days) == (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1).__sub__(month).days
    )
    day10, day11 = by_day[days["day10"]], by_day[days["day11"]]
    assert (day10.premise_kwh, day10.pev_plan_kwh, day10.pev_default_kwh, day10.rest_kwh) == (
        Decimal("38.400"),
        Decimal("14.400"),
        Decimal("0.000"),
        Decimal("24.000"),
    )
    assert (day11.premise_kwh, day11.pev_plan_kwh, day11.pev_default_kwh, day11.rest_kwh) == (
        Decimal("38.400"),
        Decimal("14.400"),
        Decimal("4.000"),
        Decimal("20.000"),
    )
    assert usage.totals.pev_kwh == Decimal("32.800")
    assert usage.rest_kwh == Decimal("44.000")
    season = "Summer" if 6 <= month.month <= 9 else "Winter"
    assert [(p.label, p.plan, p.kwh) for p in usage.pev_periods] == [
        (f"{season} Off-Peak", True, Decimal("28.800")),
        (f"{season} Off-Peak", False, Decimal("4.000")),
    ]
    assert sum(p.wh for p in usage.home_periods) == 76_800


def test_it_totals_the_last_13_months(home):
    month = last_full_month()
    home.small_month(month)
    months = recent_months(dt.datetime.now(LA).date())

    totals = monthly_totals(home.premise, months)

    assert [t.month for t in totals] == sorted(months)
    (found,) = [t for t in totals if t.month == month]
    assert (found.premise_kwh, found.pev_kwh, found.rest_kwh) == (
        Decimal("76.800"),
        Decimal("32.800"),
        Decimal("44.000"),
    )
    assert sum(t.premise_wh for t in totals) == 76_800


def test_it_shows_charts_and_tables_of_the_chosen_month(client, alice, home):
    month = last_full_month()
    home.small_month(month)
    client.force_login(alice)

    response = client.get("/my/usage/", {"month": f"{month:%Y-%m}"})

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('role="img"') == 4  # by day, home by period, EV by period, by month
    for chart in ("usage-daily", "usage-home-periods", "usage-ev-periods", "usage-monthly"):
        assert f'<title id="{chart}-title">' in page
        assert f'<desc id="{chart}-desc">' in page
    assert "32.8</span> kWh" in page  # EV charging this month
    assert "4.0 kWh of it at your home's regular price" in page
    # The day table: the 11th's EV at plan, EV at regular price, rest, whole home.
    assert re.search(r"<td>14\.4</td><td>4\.0</td><td>20\.0</td><td>38\.4</td>", page)
    assert 'href="/my/"' in page
    assert "Breadcrumb" in page
    assert "<script" not in page.split("<main", 1)[1]  # the charts need no script


def test_it_defaults_to_this_month_and_navigates_back_13_months(client, alice, home):
    client.force_login(alice)

    page = client.get("/my/usage/").content.decode()

    months = recent_months(dt.datetime.now(LA).date())
    assert page.count('<option value="20') == 13
    assert f'month={months[1]:%Y-%m}" rel="prev"' in page
    assert 'rel="next"' not in page


@pytest.mark.parametrize("month", ["2020-01", "soon", "2026-13"])
def test_it_refuses_a_month_it_cannot_show(client, alice, home, month):
    client.force_login(alice)

    response = client.get("/my/usage/", {"month": month})

    assert response.status_code == 400
    page = response.content.decode()
    assert 'role="alert"' in page
    assert month in page
    assert "Showing this month instead." in page


def test_it_invites_a_customer_without_an_account_to_link_one(client, bob, db):
    client.force_login(bob)

    page = client.get("/my/usage/").content.decode()

    assert "You have not linked a utility account yet" in page
