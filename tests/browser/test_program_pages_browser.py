"""A visitor finds the EV programmes, reads a plan's prices and compares plans — in a real browser."""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_lets_a_visitor_read_prices_and_compare_plans(page: Page, live_server, sce_programs):
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Electric vehicle programs")).to_be_visible()

    page.get_by_role("link", name="EV Home Charging", exact=True).click()
    expect(page).to_have_url(re.compile(r"/programs/ev-home/$"))
    expect(page.get_by_role("heading", name="EV Prime")).to_be_visible()
    expect(page.get_by_role("table").filter(has_text="Summer On-Peak").first).to_be_visible()
    # TOU-D-PRIME summer on-peak in force from 2026-06-01 (sheet 91200-E 0.59291 + FRC 0.00619).
    expect(page.get_by_text("$0.59910").first).to_be_visible()

    page.get_by_role("link", name="Compare what charging costs on each plan").click()
    page.get_by_label("Energy per night (kWh)").fill("12")
    page.get_by_label("Charging starts at").select_option("23")
    page.get_by_label("Month").select_option("1")
    page.get_by_role("button", name="Compare").click()

    results = page.get_by_role("table").filter(has_text="Estimated monthly cost")
    expect(results).to_contain_text("EV Prime")
    expect(results).to_contain_text("EV Standard")
    expect(results.get_by_text("lowest")).to_have_count(1)


def test_it_shows_a_specific_error_for_a_bad_comparison(page: Page, live_server, sce_programs):
    page.goto(f"{live_server.url}/programs/compare/?kwh_per_night=500&start_hour=22&month=7")

    expect(page.get_by_text("Ensure this value is less than or equal to 100.")).to_be_visible()
    expect(page.get_by_role("table")).to_have_count(0)
