"""Alice watches her car charge: she signs in, opens "My EV", and the live panel changes in place when her
ESCI posts the PEV's status through the real, signed device endpoint — no reload (Req 17, 24)."""

import datetime as dt
import re

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone
from playwright.sync_api import Page, expect

from binding.simulator.devices import SimulatedDevice
from binding.simulator.server import Server, Site
from binding.simulator.status import post_status
from enrollment.models import AccountLink, ServicePlan
from tests.binding.conftest import device_ca, make_device  # noqa: F401 — the binding tests' device fixtures
from tests.binding.test_handshake import Home

pytestmark = [pytest.mark.browser]

ALICE_EMAIL = "alice@example.com"
ALICE_PASSWORD = "alice-pass-1234"


@pytest.fixture
def alice_charging(asgi_live_server, django_user_model, make_device, sce_programs):  # noqa: F811
    """Alice, signed up and linked to her home, whose PEV is plugged in and bound."""
    alice = django_user_model.objects.create_user("alice", email=ALICE_EMAIL, password=ALICE_PASSWORD)
    EmailAddress.objects.create(user=alice, email=ALICE_EMAIL, verified=True, primary=True)
    home = Home(make_device, plan=ServicePlan.objects.get(code="ev-standard"))
    AccountLink.objects.create(user=alice, account=home.premise.account, method=AccountLink.Method.CSR)
    binding = home.commission(at=timezone.now().replace(microsecond=0) - dt.timedelta(minutes=1))
    return home, binding


def test_the_live_panel_changes_in_place_when_the_esci_reports(page: Page, asgi_live_server, alice_charging):
    home, binding = alice_charging
    page.goto(f"{asgi_live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(ALICE_EMAIL)
    page.get_by_label("Password").fill(ALICE_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.goto(f"{asgi_live_server.url}/my/")

    panel = page.locator(f'[data-binding-id="{binding.pk}"]')
    expect(panel.get_by_text("Charging on your EV plan")).to_be_visible()
    expect(panel.locator('[data-field="charging_state_label"]')).to_have_text(
        "Waiting for the charger's first report"
    )
    expect(page.locator("[data-live]")).to_have_attribute("data-live-state", "open")
    page.evaluate("window.stillTheSamePage = true")

    site = Site(
        server=Server(asgi_live_server.url),
        premise_id=home.premise.premise_id,
        esci=SimulatedDevice(home.esci.lfdi, home.esci_key),
        eumd=SimulatedDevice(home.eumd.lfdi, home.eumd_key),
    )
    post_status(
        site,
        str(binding.pk),
        charging_state="charging",
        state_of_charge=61.5,
        power_w=7_200,
        time_to_complete_s=3_000,
        session_energy_wh=4_321,
    )

    expect(panel.locator('[data-field="power_kw"]')).to_have_text("7.2 kW")
    expect(panel.locator('[data-field="session_energy_kwh"]')).to_have_text("4.32 kWh")
    expect(panel.locator('[data-field="state_of_charge"]')).to_have_text("61.5 %")
    expect(panel.locator('[data-field="time_to_complete"]')).to_have_text("50 min")
    expect(panel.locator('[data-field="charging_state_label"]')).to_have_text("Charging")
    expect(panel.locator('[data-field="cost_so_far"]')).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
    expect(page.locator("[data-live-announcer]")).to_contain_text("Charging")
    assert page.evaluate("window.stillTheSamePage") is True, "updated in place, not reloaded"
