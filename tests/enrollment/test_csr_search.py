"""A CSR finds the caller by account number, name, phone (any formatting), email, VIN, premise ID or
service address; results list accounts and premises without a query per row."""

import pytest

from enrollment.models import Enrollment
from tests.factories import EnrollmentFactory, PremiseFactory, north_american_vin

URL = "/csr/"
ALICES_VIN = north_american_vin(101)


@pytest.fixture
def customers(db):
    alices_home = PremiseFactory(
        premise_id="P1000001",
        service_address="12 Orange Grove Ave, Pasadena CA",
        account__number="7001000001",
        account__customer__name="Alice Nguyen",
        account__customer__email="alice.nguyen@example.com",
        account__customer__phone="6265550101",
    )
    EnrollmentFactory(premise=alices_home, pev__vin=ALICES_VIN, status=Enrollment.Status.ACTIVE)
    PremiseFactory(
        premise_id="P1000002",
        service_address="9 Elm St, Claremont CA",
        account__number="7001000002",
        account__customer__name="Bob Ortiz",
        account__customer__email="bob.ortiz@example.com",
        account__customer__phone="9095550102",
    )
    return alices_home.account.customer


@pytest.fixture
def carol(client, carol_csr):
    client.force_login(carol_csr)
    return carol_csr


def names(response):
    return [customer.name for customer in response.context["customers"]]


@pytest.mark.parametrize(
    "query",
    [
        "7001000001",
        "alice",
        "Nguyen",
        "(626) 555-0101",
        "626.555.0101",
        "+1 626 555 0101",
        "555-0101",
        "ALICE.NGUYEN@example.com",
        ALICES_VIN,
        ALICES_VIN.lower(),
        ALICES_VIN[-6:],
        "p1000001",
        "orange grove",
    ],
)
def test_it_finds_the_caller_by_each_key(client, carol, customers, query):
    response = client.get(URL, {"q": query})

    assert names(response) == ["Alice Nguyen"]


def test_it_lists_accounts_and_premises_with_the_not_enrolled_marker(client, carol, customers):
    PremiseFactory(premise_id="P1000003", account=customers.accounts.get())

    response = client.get(URL, {"q": "Alice"})

    html = response.content.decode()
    assert "Account 7001000001" in html
    assert "P1000001" in html
    premises = {
        p.premise_id: p.is_enrolled for p in response.context["customers"][0].accounts.all()[0].premises.all()
    }
    assert premises == {"P1000001": True, "P1000003": False}
    assert html.count('<span class="badge">not enrolled</span>') == 1
    assert 'href="/csr/customers/' in html


def test_it_says_when_nobody_matches(client, carol, customers):
    response = client.get(URL, {"q": "Zelda"})

    assert names(response) == []
    assert "No customer matches" in response.content.decode()


def test_it_does_not_match_short_digit_strings_as_phone_numbers(client, carol, customers):
    response = client.get(URL, {"q": "0101"})

    assert names(response) == []


def test_it_searches_without_a_query_per_customer(client, carol, customers, django_assert_max_num_queries):
    for n in range(30):
        premise = PremiseFactory(account__customer__name=f"Smith {n}")
        PremiseFactory(account=premise.account)

    with django_assert_max_num_queries(8):
        response = client.get(URL, {"q": "smith"})

    assert len(response.context["customers"]) == 30
