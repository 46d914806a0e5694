"""Carol, a CSR, takes a call: she finds the caller by phone number, enrolls their PEV on their behalf and
sees it awaiting commissioning on the customer page — in a real browser."""

import re

import pytest
from playwright.sync_api import Page, expect

from billing.models import Tariff
from enrollment.models import Enrollment
from tests.browser.conftest import sign_in_as_carol
from tests.factories import PremiseFactory, north_american_vin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_lets_carol_enroll_a_callers_pev_by_phone(page: Page, live_server, sce_programs, carol):
    PremiseFactory(
        premise_id="P1000001",
        account__number="7001000001",
        account__customer__name="Alice Nguyen",
        account__customer__phone="6265550101",
        service_address="12 Orange Grove Ave, Pasadena CA",
        default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM"),
    )
    PremiseFactory(account__customer__name="Bob Ortiz", account__customer__phone="9095550102")
    vin = north_american_vin(31337)

    sign_in_as_carol(page, live_server)

    page.get_by_role("link", name="CSR: find a customer").click()
    page.get_by_label("Find a customer").fill("(626) 555-0101")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("1 customer found")).to_be_visible()
    page.get_by_role("link", name="Alice Nguyen").click()

    page.get_by_role("link", name="Enroll a vehicle for the caller").click()
    page.get_by_label(re.compile("12 Orange Grove Ave")).check()
    page.get_by_role("button", name="Continue").click()

    page.get_by_label("Vehicle identification number (VIN)").fill(vin[:8] + "Q" + vin[9:])
    page.get_by_label(re.compile("EV Prime")).check()
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_text("A VIN never contains the letters I, O or Q")).to_be_visible()
    expect(page.get_by_label("Vehicle identification number (VIN)")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Vehicle identification number (VIN)").fill(vin.lower())
    page.get_by_label(re.compile("Guests are bound and billed to me")).check()
    page.get_by_label(re.compile("Allow roaming")).check()
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="Read this back to the caller")).to_be_visible()
    expect(page.get_by_text(vin)).to_be_visible()
    page.get_by_role("button", name="Confirm enrollment").click()

    expect(page.get_by_role("heading", name="Alice Nguyen")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"{vin} is enrolled")
    row = page.get_by_role("row").filter(has_text=vin)
    expect(row).to_contain_text("Awaiting commissioning")
    expect(row).to_contain_text("EV Prime")
    expect(row).to_contain_text("Open until")
    enrollment = Enrollment.objects.get(pev__vin=vin)
    assert (enrollment.channel, enrollment.allow_roaming, enrollment.guest_charging) == (
        "phone",
        True,
        "host",
    )
