"""Carol, a CSR, watches a billing run in a real browser: its page follows the run's progress on its own
(htmx polling, within the strict CSP) until the run is done."""

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from billing import runs
from billing.models import Tariff
from tests.browser.conftest import sign_in_as_carol
from tests.factories import PremiseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MARCH = dt.date(2026, 3, 1)
APRIL_2 = dt.datetime(2026, 4, 2, tzinfo=dt.UTC)


def test_it_shows_carol_a_runs_progress_as_it_goes(page: Page, live_server, sce_programs, carol, settings):
    settings.BILLING_CHUNK_PREMISES = 2
    PremiseFactory.create_batch(4, default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM"))
    run = runs.open_run(MARCH, trigger="command", now=APRIL_2)
    first, second = runs.start_run(run.pk, now=APRIL_2)
    problems = []
    page.on(
        "console", lambda message: "Content Security Policy" in message.text and problems.append(message.text)
    )

    sign_in_as_carol(page, live_server)
    page.get_by_role("link", name="CSR: billing runs").click()
    page.get_by_role("link", name=str(run.pk), exact=True).click()

    progress = page.locator("#run-progress")
    expect(progress).to_contain_text("Status: Running")
    expect(progress).to_contain_text("0 of 4 premises done")

    runs.bill_chunk(run.pk, first.premise_ids, MARCH, now=APRIL_2)
    expect(progress).to_contain_text("2 of 4 premises done")
    runs.bill_chunk(run.pk, second.premise_ids, MARCH, now=APRIL_2)
    expect(progress).to_contain_text("Status: Done")
    expect(progress).to_contain_text("4 of 4 premises done")
    expect(progress.get_by_role("definition").nth(1)).to_have_text("4")  # held for review
    expect(progress).not_to_have_attribute("hx-trigger", "every 2s")
    assert problems == []  # a style or script the CSP refused
