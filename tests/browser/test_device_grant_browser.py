"""The device grant end to end: a display (plain HTTP, as a vendor's firmware would) asks for a code,
Alice signs in in Chromium, types the code at /device and allows it, and the display's next poll gets a
token that reads her usage."""

import datetime as dt

import pytest
import requests
from allauth.account.models import EmailAddress
from django.core.management import call_command
from playwright.sync_api import Page, expect

from enrollment.models import AccountLink
from metering.models import UsageRollup, UsageSource
from tests.factories import PremiseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ALICE_EMAIL = "alice@example.com"
ALICE_PASSWORD = "alice-pass-93xq"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def alice_at_home(django_user_model):
    alice = django_user_model.objects.create_user("alice", email=ALICE_EMAIL, password=ALICE_PASSWORD)
    EmailAddress.objects.create(user=alice, email=ALICE_EMAIL, verified=True, primary=True)
    premise = PremiseFactory(premise_id="P1000001")
    AccountLink.objects.create(user=alice, account=premise.account, method=AccountLink.Method.CODE)
    UsageRollup.objects.create(
        premise=premise,
        day=dt.date(2026, 6, 1),
        source=UsageSource.PREMISE,
        tariff=premise.default_tariff,
        period_index=0,
        period_label="Off-Peak",
        wh=12000,
        reads=96,
    )
    return alice


def test_it_connects_a_display_alice_approves_in_the_browser(
    page: Page, live_server, settings, alice_at_home, capsys
):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OAUTH_DEVICE_VERIFICATION_URI": f"{live_server.url}/device",
        # DOT builds its oauthlib server once per process; rebuild it with this test's address.
        "ALWAYS_RELOAD_OAUTHLIB_CORE": True,
    }
    call_command("register_display_client", "Acme Home Display")
    client_id = capsys.readouterr().out.split("client_id: ")[1].strip()

    # The display asks for a code and shows it with the address to type it at.
    code = requests.post(
        f"{live_server.url}/o/device-authorization/",
        data={"client_id": client_id, "scope": "usage:read"},
        timeout=10,
    ).json()
    poll = {"grant_type": DEVICE_GRANT, "device_code": code["device_code"], "client_id": client_id}
    assert (
        requests.post(f"{live_server.url}/o/token/", data=poll, timeout=10).json()["error"]
        == "authorization_pending"
    )

    # Alice opens that address, signs in, and types the code as the display groups it.
    page.goto(code["verification_uri"])
    page.get_by_label("Email").fill(ALICE_EMAIL)
    page.get_by_label("Password").fill(ALICE_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Connect a display")).to_be_visible()
    page.get_by_label("Code shown on your display").fill(
        f"{code['user_code'][:4]}-{code['user_code'][4:]}".lower()
    )
    page.get_by_role("button", name="Continue").click()

    expect(
        page.get_by_role("heading", name="Allow Acme Home Display to read your information?")
    ).to_be_visible()
    expect(
        page.get_by_text("Read your daily electricity use, for your home and your vehicle")
    ).to_be_visible()
    page.get_by_role("button", name="Allow", exact=True).click()
    expect(page.get_by_role("heading", name="Display connected")).to_be_visible()

    # The display's next poll gets its token, which reads Alice's usage.
    token = requests.post(f"{live_server.url}/o/token/", data=poll, timeout=10).json()
    assert token["scope"] == "usage:read"
    usage = requests.get(
        f"{live_server.url}/api/v1/usage",
        params={"start": "2026-06-01", "end": "2026-06-01"},
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert usage.status_code == 200
    assert usage.json()["premises"][0]["days"][0]["premise_wh"] == 12000

    # And she sees it among her displays.
    page.goto(f"{live_server.url}/my/devices/")
    expect(page.get_by_role("row", name="Acme Home Display")).to_be_visible()
