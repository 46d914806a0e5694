"""The customer's usage, sessions and bill pages in a real browser: no accessibility violation (axe-core,
WCAG 2.1 AA), nothing blocked by the CSP, and the printable bill without the site's navigation on paper."""

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client

from billing.bills import issue
from billing.rating import rate_premises
from tests.browser.axe import assert_accessible
from tests.usage.homes import CustomerHome, last_full_month

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page, live_server, alice):
    """The browser carries Alice's session (signed in as the test client signs in)."""
    client = Client()
    client.force_login(alice)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )
    return page


@pytest.fixture
def bill(sce_programs, make_device, alice):
    home = CustomerHome(make_device, alice)
    month = last_full_month()
    home.small_month(month)
    (statement,) = rate_premises([home.premise.pk], month)
    return issue(statement, run=None, now=dt.datetime.now(dt.UTC))


def test_the_pages_are_accessible(signed_in, live_server, bill):
    page = signed_in
    blocked = []
    page.on(
        "console",
        lambda message: blocked.append(message.text) if "Content Security" in message.text else None,
    )
    for path in (
        f"/my/usage/?month={bill.period:%Y-%m}",
        "/my/sessions/",
        "/my/bills/",
        f"/my/bills/{bill.pk}/",
        f"/my/bills/{bill.pk}/print/",
    ):
        page.goto(live_server.url + path)
        assert page.locator("h1").count() == 1
        assert_accessible(page)
    assert not blocked


def test_the_printable_bill_prints_without_the_site_navigation(signed_in, live_server, bill):
    page = signed_in
    page.goto(f"{live_server.url}/my/bills/{bill.pk}/print/")
    assert page.get_by_text("Save as PDF").is_visible()

    page.emulate_media(media="print")

    assert not page.locator(".site-header").is_visible()
    assert not page.get_by_text("Save as PDF").is_visible()
    assert page.locator(".printable-bill").is_visible()
    assert page.pdf()[:4] == b"%PDF"  # what "Save as PDF" makes of it
