"""A new customer signs up, confirms their email, links their account and enrolls their vehicle through
every step of the wizard — in a real browser."""

import re
import zoneinfo

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from billing.models import Tariff
from enrollment.models import Enrollment
from tests.factories import PremiseFactory, north_american_vin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_takes_a_new_customer_from_sign_up_to_enrolled(page: Page, live_server, sce_programs):
    PremiseFactory(
        account__number="7001000001",
        account__customer__phone="6265550101",
        postal_code="91105",
        service_address="12 Orange Grove Ave, Pasadena CA",
        default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM"),
    )
    vin = north_american_vin(424242)

    # Step 1: sign up and confirm the email address with the link we send.
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Email").fill("dana@example.com")
    page.get_by_label("Password:", exact=True).fill("dana-pass-93xq")
    page.get_by_label("Password (again):").fill("dana-pass-93xq")
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    [email] = mail.outbox
    page.goto(re.search(r"https?://\S+/accounts/confirm-email/\S+", email.body).group(0))
    page.get_by_role("button", name="Confirm").click()

    page.get_by_role("link", name="My EV").click()
    page.get_by_role("link", name="Enroll a vehicle").click()

    expect(page.get_by_text("Step 2 of 7")).to_be_visible()
    page.get_by_label("Account number").fill("7001000001")
    page.get_by_label("Service ZIP code").fill("91105")
    page.get_by_label("Last four digits of the phone number on your account").fill("0101")
    page.get_by_role("button", name="Link this account").click()

    expect(page.get_by_text("Step 3 of 7")).to_be_visible()
    page.get_by_label(re.compile("12 Orange Grove Ave")).check()
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_text("Step 4 of 7")).to_be_visible()
    page.get_by_label("Vehicle identification number (VIN)").fill(vin[:9] + "O" + vin[10:])
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("A VIN never contains the letters I, O or Q")).to_be_visible()
    page.get_by_label("Vehicle identification number (VIN)").fill(vin.lower())
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_text("Step 5 of 7")).to_be_visible()
    expect(page.get_by_text("2003 Honda")).to_be_visible()
    expect(page.get_by_role("heading", name="EV Home Charging: EV Standard")).to_be_visible()
    page.get_by_role("button", name="Choose EV Prime").click()

    expect(page.get_by_text("Step 6 of 7")).to_be_visible()
    page.get_by_label("Guests are bound and billed to me at my PEV plan").check()
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_text("Step 7 of 7")).to_be_visible()
    page.get_by_role("button", name="Enroll my vehicle").click()

    expect(page.get_by_role("heading", name="Your vehicle is enrolled")).to_be_visible()
    closes = Enrollment.objects.get().commissioning_windows.get().closes_at
    local = closes.astimezone(zoneinfo.ZoneInfo("America/Los_Angeles"))
    expect(page.locator(".commissioning-deadline")).to_contain_text(
        f"Plug your vehicle in at home before {local:%A, %B} {local.day}, {local.year}"
    )
