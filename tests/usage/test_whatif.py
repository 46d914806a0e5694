"""The plan comparison: "this month on the other plan would have cost …" equals rating that month with
the PEV on the other plan, and the current figure equals rating it as billed."""

import datetime as dt
from decimal import Decimal

import pytest

from billing.models import BillLine
from billing.rating import rate_premises
from billing.whatif import compare_month
from enrollment.models import Enrollment, ServicePlan
from metering import usage
from tests.usage.homes import LA, CustomerHome, last_full_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(sce_programs, make_device, alice):
    return CustomerHome(make_device, alice)


def rated_total(premise, month) -> Decimal:
    (statement,) = rate_premises([premise.pk], month)
    return sum(
        (line.amount for line in statement.lines if line.kind != BillLine.Kind.ADJUSTMENT), Decimal("0.00")
    )


def test_it_equals_rating_the_month_on_the_other_plan(home):
    month = last_full_month()
    home.small_month(month)
    standard = ServicePlan.objects.get(code="ev-standard")

    comparison = compare_month(home.premise, month, today=dt.datetime.now(LA).date())

    assert [plan.code for plan in comparison.current_plans] == ["ev-prime"]
    assert comparison.current_total == rated_total(home.premise, month)
    on_standard, no_plan = comparison.alternatives
    assert on_standard.plan == standard
    Enrollment.objects.filter(pk=home.enrollment.pk).update(plan=standard)
    assert on_standard.total == rated_total(home.premise, month)
    assert on_standard.difference == on_standard.total - comparison.current_total
    assert no_plan.plan is None
    assert no_plan.total is not None
    assert not comparison.month_to_date


def test_it_shows_the_comparison_on_the_usage_page_and_the_bill(client, alice, home):
    month = last_full_month()
    home.small_month(month)
    client.force_login(alice)

    page = client.get("/my/usage/", {"month": f"{month:%Y-%m}"}).content.decode()

    comparison = compare_month(home.premise, month, today=dt.datetime.now(LA).date())
    on_standard = comparison.alternatives[0]
    assert f"That month on EV Standard would have cost ${on_standard.total:,}" in page
    assert f"${on_standard.magnitude:,} {'more' if on_standard.more else 'less'}" in page


def test_it_compares_month_to_date(home):
    today = dt.datetime.now(LA).date()
    comparison = compare_month(home.premise, today.replace(day=1), today=today)

    assert comparison.last_day == today
    assert comparison.month_to_date == (today.day != _month_days(today))


def test_it_has_nothing_to_compare_without_an_enrollment(sce_programs, db):
    from tests.factories import PremiseFactory

    premise = PremiseFactory(default_tariff=ServicePlan.objects.get(code="ev-standard").tariff)

    assert compare_month(premise, last_full_month(), today=dt.datetime.now(LA).date()) is None


def _month_days(day: dt.date) -> int:
    return ((day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)).day


def test_it_says_when_a_month_cannot_be_priced(client, alice, home, monkeypatch):
    # On 15 June 2026 the page offers June 2025 on: before the demo tariffs' first versions (1 January 2026).
    monkeypatch.setattr(usage, "local_today", lambda zone: dt.date(2026, 6, 15))
    client.force_login(alice)

    response = client.get("/my/usage/", {"month": "2025-06"})

    assert response.status_code == 200
    assert "We cannot compare plans for this period" in response.content.decode()
