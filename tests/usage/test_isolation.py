"""Alice never sees Bob's usage, sessions or bills: another customer's bill or premise is a 404, and his
sessions are not in her list. Signed-out visitors are sent to sign in."""

import datetime as dt

import pytest

from billing.bills import issue
from billing.rating import rate_premises
from tests.usage.homes import CustomerHome, last_full_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def homes(sce_programs, make_device, alice, bob):
    alices, bobs = CustomerHome(make_device, alice), CustomerHome(make_device, bob)
    month = last_full_month()
    bobs.small_month(month)
    (statement,) = rate_premises([bobs.premise.pk], month)
    bobs.bill = issue(statement, run=None, now=dt.datetime.now(dt.UTC))
    return alices, bobs


@pytest.mark.parametrize("suffix", ["", "print/"])
def test_it_hides_another_customer_s_bill(client, alice, homes, suffix):
    _, bobs = homes
    client.force_login(alice)

    assert client.get(f"/my/bills/{bobs.bill.pk}/{suffix}").status_code == 404
    assert f"/my/bills/{bobs.bill.pk}/" not in client.get("/my/bills/").content.decode()


def test_it_hides_another_customer_s_premise_and_sessions(client, alice, bob, homes):
    _alices, bobs = homes
    client.force_login(alice)

    assert client.get("/my/usage/", {"premise": bobs.premise.premise_id}).status_code == 404
    sessions = client.get("/my/sessions/").content.decode()
    assert "No charging sessions yet." in sessions
    assert bobs.premise.service_address not in client.get("/my/usage/").content.decode()

    client.force_login(bob)
    assert client.get(f"/my/bills/{bobs.bill.pk}/").status_code == 200
    assert bobs.premise.service_address in client.get("/my/sessions/").content.decode()


@pytest.mark.parametrize(
    "path", ["/my/usage/", "/my/sessions/", "/my/bills/", "/my/bills/1/", "/my/bills/1/print/"]
)
def test_it_sends_a_visitor_to_sign_in(client, db, path):
    response = client.get(path)

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
