"""Carol, a CSR, works the metering review queues in a real browser: she applies a corrected premise read
with a note and sees it leave the queue, then clears a session whose load correlation failed."""

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from metering.correlation import correlate
from metering.models import LoadCorrelation, PremiseRead, ReadRevision
from metering.partitions import forget_known_partitions
from tests.binding.conftest import device_ca, make_device  # noqa: F401 — fixtures shared with binding tests
from tests.browser.conftest import sign_in_as_carol
from tests.metering.correlation_fixtures import (
    CHARGING,
    PLUGGED_IN,
    SOON_AFTER,
    charged_session,
    premise_meter,
    write_household,
)
from tests.metering.homes import MeteredHome

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def home(sce_programs, make_device):  # noqa: F811 — the imported fixture
    # Partitions made by earlier tests' rolled-back transactions are gone: ask the catalogue again.
    forget_known_partitions()
    return MeteredHome(make_device)


def test_it_lets_carol_apply_a_revision_and_clear_a_failed_session(page: Page, live_server, carol, home):
    revised_at = PLUGGED_IN + dt.timedelta(minutes=30)
    ReadRevision.objects.create(
        meter=premise_meter(home),
        interval_start=revised_at,
        interval_seconds=900,
        wh=2150,
        stored_wh=2100,
        reason=ReadRevision.Reason.CONFLICT,
        received_at=SOON_AFTER,
    )
    failing = charged_session(home, start=PLUGGED_IN + dt.timedelta(days=1))
    household = write_household(home, CHARGING, start=PLUGGED_IN + dt.timedelta(days=1))
    household[6].wh = 900
    household[6].save()
    charged_session(home)
    write_household(home, CHARGING)
    assert correlate(failing.pk, now=SOON_AFTER + dt.timedelta(days=1)).result == "fail"

    sign_in_as_carol(page, live_server)

    page.get_by_role("link", name="CSR: read revisions").click()
    expect(page.get_by_text("1 open revision")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="2150 Wh")
    expect(row).to_contain_text("2100 Wh")
    expect(row).to_contain_text(home.premise.premise_id)
    row.get_by_label("Note").fill("Head-end re-sent the validated day")
    row.get_by_role("button", name="Apply").click()

    expect(page.get_by_text("is now 2150 Wh")).to_be_visible()
    expect(page.get_by_text("No open revisions.")).to_be_visible()
    assert PremiseRead.objects.get(meter=premise_meter(home), interval_start=revised_at).wh == 2150

    page.get_by_role("link", name="CSR: load correlation").click()
    row = page.get_by_role("row").filter(has_text=failing.vin).filter(has_text="Fail")
    expect(row).to_contain_text("1 interval where the PEV used more than the premise meter saw")
    expect(row).to_contain_text("900 Wh")
    row.get_by_role("button", name="Clear").click()
    # The note is required: the browser keeps the form until Carol writes one.
    expect(page.get_by_text("No sessions to review.")).not_to_be_visible()
    row.get_by_label("Note").fill("Premise meter under-read; replaced the next morning")
    row.get_by_role("button", name="Clear").click()

    expect(page.get_by_text("Cleared: this session's energy is billed at its PEV plan.")).to_be_visible()
    expect(page.get_by_text("No sessions to review.")).to_be_visible()
    assert LoadCorrelation.objects.get(binding=failing).counts_as_bound
