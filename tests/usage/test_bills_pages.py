"""/my/bills/, /my/bills/<id>/ and its printable page: the bill's lines, its PEV energy against the rest of
the home, its period and the estimated and true-up notes."""

import datetime as dt

import pytest

from billing.bills import issue
from billing.models import Bill, BillLine
from billing.rating import rate_premises
from tests.usage.homes import CustomerHome, last_full_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(sce_programs, make_device, alice):
    return CustomerHome(make_device, alice)


def issued_bill(home, month, **changes) -> Bill:
    (statement,) = rate_premises([home.premise.pk], month)
    bill = issue(statement, run=None, now=dt.datetime.now(dt.UTC))
    if changes:
        Bill.objects.filter(pk=bill.pk).update(**changes)
        bill.refresh_from_db()
    return bill


def test_it_lists_the_customer_s_bills(client, alice, home):
    month = last_full_month()
    home.small_month(month)
    bill = issued_bill(home, month)
    client.force_login(alice)

    page = client.get("/my/bills/").content.decode()

    assert f'href="/my/bills/{bill.pk}/"' in page
    assert f"${bill.total:,}" in page
    assert home.premise.service_address in page


def test_it_shows_a_bill_with_its_lines_and_energy(client, alice, home):
    month = last_full_month()
    home.small_month(month)
    bill = issued_bill(home, month)
    client.force_login(alice)

    response = client.get(f"/my/bills/{bill.pk}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert f"{month:%B %Y}" in page
    assert f"{month:%B} 1, {month:%Y} to" in page  # the period, in local days
    lines = list(bill.lines.order_by("position"))
    assert all(f"{line.amount:,}".lstrip("-") in page for line in lines)
    pev = sum(line.quantity for line in lines if line.kind == BillLine.Kind.PEV_ENERGY)
    assert str(pev) == "28.800"
    assert "<td>28.800</td>" in page  # EV charging at the plan (the unbound 4 kWh is home energy)
    assert "EV charging, " in page
    assert "Home energy, " in page
    assert 'href="/my/"' in page
    assert 'href="/my/bills/"' in page
    assert f'href="/my/bills/{bill.pk}/print/"' in page


def test_it_explains_an_estimated_bill_and_its_true_up(client, alice, home):
    month = last_full_month()
    earlier = (month - dt.timedelta(days=1)).replace(day=1)
    estimated = issued_bill(home, earlier, estimated=True)
    later = issued_bill(home, month)
    Bill.objects.filter(pk=estimated.pk).update(trued_up_by=later)
    client.force_login(alice)

    estimated_page = client.get(f"/my/bills/{estimated.pk}/").content.decode()
    later_page = client.get(f"/my/bills/{later.pk}/").content.decode()

    assert "Estimated bill." in estimated_page
    assert f'href="/my/bills/{later.pk}/"' in estimated_page
    assert "includes the true-up of your estimated" in later_page
    assert f'href="/my/bills/{estimated.pk}/"' in later_page


def test_it_prints(client, alice, home):
    month = last_full_month()
    home.small_month(month)
    bill = issued_bill(home, month)
    client.force_login(alice)

    response = client.get(f"/my/bills/{bill.pk}/print/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Save as PDF" in page
    assert 'class="printable-bill"' in page
    assert "css/customer_usage.css" in page  # the print stylesheet
    assert f"${bill.total:,}" in page
    assert "<script" not in page
