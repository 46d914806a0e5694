"""The dashboard's usage summary (month-to-date PEV energy and its estimated cost, the last bill) and the
whole /my/ page stay within their query budgets with 13 months of 15-minute data (issue 7, Performance)."""

import datetime as dt

import pytest
from django.db.models import Sum
from django.template.loader import render_to_string

from billing.bills import issue
from billing.rating import rate_premises
from enrollment.models import UtilityAccount
from metering.models import UsageRollup, UsageSource
from metering.usage import dashboard_summary, kwh
from tests.usage.homes import LA, CustomerHome, last_full_month, months_of_data

pytestmark = pytest.mark.django_db

SUMMARY_QUERIES = 4  # the issue's budget; it takes two: the month's rollups with their prices, the last bill
PAGE_QUERIES = 12  # the whole /my/ page (issue 7)


@pytest.fixture
def year_home(sce_programs, make_device, alice):
    home = CustomerHome(make_device, alice)
    reads, sessions = months_of_data(home, months=13)
    assert sessions > 360
    assert reads > 13 * 28 * 96
    (statement,) = rate_premises([home.premise.pk], last_full_month())
    home.bill = issue(statement, run=None, now=dt.datetime.now(dt.UTC))
    return home


def test_it_summarises_the_month_in_a_few_queries(year_home, alice, django_assert_max_num_queries):
    with django_assert_max_num_queries(SUMMARY_QUERIES):
        summary = dashboard_summary(UtilityAccount.objects.for_user(alice))
        html = render_to_string("metering/customer/_dashboard_summary.html", {"summary": summary})

    month = dt.datetime.now(LA).date().replace(day=1)
    expected = UsageRollup.objects.filter(
        premise=year_home.premise, source=UsageSource.PEV, day__gte=month
    ).aggregate(wh=Sum("wh"))["wh"]
    assert summary.month == month
    assert summary.pev_plan_kwh == kwh(expected or 0)
    assert summary.last_bill == year_home.bill
    assert f'href="/my/bills/{year_home.bill.pk}/"' in html
    assert 'href="/my/usage/"' in html
    if expected:
        assert summary.estimated_cost > 0


def test_the_dashboard_page_stays_within_its_budget(year_home, alice, client, django_assert_max_num_queries):
    client.force_login(alice)

    with django_assert_max_num_queries(PAGE_QUERIES):
        response = client.get("/my/")

    assert response.status_code == 200
