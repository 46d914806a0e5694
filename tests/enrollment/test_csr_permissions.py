"""Every CSR screen requires the CSR role: visitors are sent to sign in, customers are refused."""

import pytest

from enrollment.models import TransferRequest
from tests.factories import EnrollmentFactory, PremiseFactory


@pytest.fixture
def urls(bob):
    premise = PremiseFactory(premise_id="P-HOME", account__number="7001000001")
    enrollment = EnrollmentFactory(premise=premise)
    transfer = TransferRequest.objects.create(
        vin=enrollment.pev.vin,
        requested_by=bob,
        account=premise.account,
        premise=premise,
        plan=enrollment.plan,
        guest_charging="declined",
        channel="web",
    )
    customer = premise.account.customer
    return [
        "/csr/",
        "/csr/?q=7001000001",
        f"/csr/customers/{customer.pk}/",
        f"/csr/customers/{customer.pk}/view-as/",
        "/csr/accounts/7001000001/",
        "/csr/accounts/7001000001/enroll/",
        "/csr/accounts/7001000001/enroll/?premise=P-HOME",
        "/csr/accounts/7001000001/code/",
        "/csr/premises/P-HOME/move-out/",
        f"/csr/enrollments/{enrollment.pk}/preferences/",
        f"/csr/enrollments/{enrollment.pk}/plan/",
        f"/csr/enrollments/{enrollment.pk}/commissioning/",
        f"/csr/enrollments/{enrollment.pk}/unenroll/",
        f"/csr/enrollments/{enrollment.pk}/history/",
        "/csr/transfers/",
        f"/csr/transfers/{transfer.pk}/",
        "/csr/reports/not-enrolled/",
    ]


def test_it_sends_anonymous_visitors_to_sign_in(client, urls):
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


def test_it_forbids_customers_every_screen_and_action(client, alice, urls):
    client.force_login(alice)

    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url.split("?")[0], {"action": "confirm"}).status_code == 403, url


def test_it_shows_every_screen_to_a_csr(client, carol_csr, urls):
    client.force_login(carol_csr)

    for url in urls:
        assert client.get(url).status_code == 200, url
