"""The CSR's customer page (by customer or account) and the read-only "view as customer"."""

import datetime as dt

import pytest
from django.utils import timezone

from enrollment.models import AccountLink, CommissioningWindow, Enrollment
from tests.factories import EnrollmentFactory, PremiseFactory


@pytest.fixture
def alice_nguyen(db, alice):
    home = PremiseFactory(
        premise_id="P1000001", account__number="7001000001", account__customer__name="Alice Nguyen"
    )
    PremiseFactory(premise_id="P1000004", account=home.account, service_address="18 Harbor Way")
    now = timezone.now()
    enrollment = EnrollmentFactory(premise=home, pev__vin="1HGCM82633A004352", plan__name="EV Prime")
    CommissioningWindow.objects.create(
        enrollment=enrollment, opens_at=now, closes_at=now + dt.timedelta(days=14), reason="enrolled"
    )
    EnrollmentFactory(premise=home, status=Enrollment.Status.ENDED, ended_reason="vehicle sold")
    AccountLink.objects.create(user=alice, account=home.account, method=AccountLink.Method.CODE)
    return home.account.customer


@pytest.fixture
def carol(client, carol_csr):
    client.force_login(carol_csr)
    return carol_csr


def test_it_shows_accounts_premises_enrollments_and_linked_logins(client, carol, alice_nguyen):
    response = client.get(f"/csr/customers/{alice_nguyen.pk}/")

    html = response.content.decode()
    assert "Account 7001000001" in html
    assert "18 Harbor Way" in html
    assert html.count('<span class="badge">not enrolled</span>') == 1
    assert "1HGCM82633A004352" in html
    assert "Awaiting commissioning" in html
    assert "Open until" in html
    assert "vehicle sold" in html
    assert "alice@example.com" in html
    assert [e.status for e in response.context["enrollments"]] == ["pending_commissioning", "ended"]


def test_it_opens_the_customer_by_account_number(client, carol, alice_nguyen):
    response = client.get("/csr/accounts/7001000001/")

    assert response.context["customer"] == alice_nguyen
    assert response.context["focus"].number == "7001000001"
    assert client.get("/csr/accounts/7009999999/").status_code == 404


def test_it_loads_the_customer_page_in_a_fixed_number_of_queries(
    client, carol, alice_nguyen, django_assert_max_num_queries
):
    account = alice_nguyen.accounts.get()
    for _ in range(15):
        premise = PremiseFactory(account=account)
        EnrollmentFactory(premise=premise)

    with django_assert_max_num_queries(12):
        response = client.get(f"/csr/customers/{alice_nguyen.pk}/")

    assert len(response.context["enrollments"]) == 17


def test_it_shows_the_customer_view_read_only_with_a_banner(client, carol, alice_nguyen):
    response = client.get(f"/csr/customers/{alice_nguyen.pk}/view-as/")

    html = response.content.decode()
    assert "Viewing as Alice Nguyen — read only" in html
    assert "1HGCM82633A004352" in html
    assert "Plug in at home before" in html
    main = html.split('<main id="main" tabindex="-1">')[1]
    assert "<form" not in main
    assert "<button" not in main
