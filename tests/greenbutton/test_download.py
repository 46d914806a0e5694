"""`/my/usage/green-button.xml` (Req 24): the signed-in customer's own premise only, a clear 400 for a bad
range, the feed as an attachment (issue 7)."""

import datetime as dt

import pytest
from django.urls import reverse
from lxml import etree

from enrollment.models import AccountLink
from tests.billing.billing_homes import local
from tests.factories import PremiseFactory
from tests.greenbutton.conftest import ATOM, ESPI, SCHEMA

pytestmark = pytest.mark.django_db
URL = "/my/usage/green-button.xml"


@pytest.fixture
def alice_client(client, alice, home):
    client.force_login(alice)
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_url_is_named():
    assert reverse("my-green-button") == URL


def test_alice_downloads_her_premise_as_an_attachment(alice_client, home):
    home.premise_reads(local(2026, 3, 7), local(2026, 3, 8))
    response = alice_client.get(URL, {"start": "2026-03-07", "end": "2026-03-07"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml"
    assert response["Content-Disposition"] == (
        f'attachment; filename="green-button-{home.premise.premise_id}-20260307-20260307.xml"'
    )
    document = etree.fromstring(body(response))
    (block,) = document.findall(f"{ATOM}entry/{ATOM}content/{ESPI}IntervalBlock")
    SCHEMA.assertValid(etree.ElementTree(block))
    assert len(block.findall(f"{ESPI}IntervalReading")) == 96


def test_bob_cannot_download_alices_premise(client, bob, home):
    home.premise_reads(local(2026, 3, 7), local(2026, 3, 8))
    bobs = PremiseFactory(default_tariff=home.premise.default_tariff)
    AccountLink.objects.create(user=bob, account=bobs.account, method=AccountLink.Method.CSR)
    client.force_login(bob)

    stolen = client.get(URL, {"start": "2026-03-07", "end": "2026-03-07", "premise": home.premise.premise_id})
    assert stolen.status_code == 404
    own = client.get(URL, {"start": "2026-03-07", "end": "2026-03-07"})
    assert own.status_code == 200
    assert home.premise.premise_id.encode() not in body(own)
    assert b"IntervalReading" not in body(own)  # Bob's premise has no reads: Alice's are not in his file


def test_a_customer_without_premises_gets_404(client, bob, home):
    client.force_login(bob)
    assert client.get(URL, {"start": "2026-03-07", "end": "2026-03-07"}).status_code == 404


def test_an_anonymous_visitor_is_sent_to_sign_in(client, home):
    response = client.get(URL, {"start": "2026-03-07", "end": "2026-03-07"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_customer_with_two_premises_names_one(alice_client, alice, home):
    other = PremiseFactory(account=home.premise.account, default_tariff=home.premise.default_tariff)
    response = alice_client.get(URL, {"start": "2026-03-07", "end": "2026-03-07"})
    assert response.status_code == 400
    assert "premise=" in response.content.decode()

    chosen = alice_client.get(URL, {"start": "2026-03-07", "end": "2026-03-07", "premise": other.premise_id})
    assert chosen.status_code == 200
    assert other.premise_id.encode() in body(chosen)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({}, "Give both a start and an end date (YYYY-MM-DD)."),
        ({"start": "2026-03-07"}, "Give both a start and an end date (YYYY-MM-DD)."),
        ({"start": "2026-3-7", "end": "2026-03-08"}, "start 2026-3-7 is not a date in the form YYYY-MM-DD."),
        (
            {"start": "2026-03-07", "end": "2026-02-30"},
            "end 2026-02-30 is not a date in the form YYYY-MM-DD.",
        ),
        ({"start": "2026-03-08", "end": "2026-03-07"}, "The end date is before the start date."),
        ({"start": "2099-01-01", "end": "2099-01-02"}, "The start date is in the future."),
        (
            {"start": "2025-01-01", "end": "2026-02-02"},  # 398 days
            "A download covers at most 13 months (397 days); ask for a shorter range.",
        ),
    ],
)
def test_a_bad_range_is_a_clear_400(alice_client, query, message):
    response = alice_client.get(URL, query)
    assert response.status_code == 400
    assert response.content.decode() == message


def test_thirteen_months_are_allowed(alice_client):
    response = alice_client.get(URL, {"start": "2025-01-01", "end": "2026-02-01"})  # 397 days
    assert response.status_code == 200
    body(response)


def test_only_get_is_allowed(alice_client):
    assert alice_client.post(URL, {"start": "2026-03-07", "end": "2026-03-07"}).status_code == 405


def test_today_is_the_premise_local_day(alice_client, home, settings):
    today = dt.datetime.now(tz=home.premise.default_tariff.zone).date()
    response = alice_client.get(URL, {"start": today.isoformat(), "end": today.isoformat()})
    assert response.status_code == 200
    body(response)
