"""Carol, a CSR, works the bill holds in a real browser: a March whose revenue-meter data stops a day short
waits in the queue with its reason; she bills it with an estimate, sees the bill marked as estimated, and
adds an adjustment for the next bill."""

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from billing.bills import bill_premises
from billing.models import Adjustment, Bill, BillHold
from metering.partitions import forget_known_partitions
from tests.billing.billing_homes import BilledHome, local
from tests.binding.conftest import device_ca, make_device  # noqa: F401 — fixtures shared with binding tests
from tests.browser.conftest import sign_in_as_carol

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MARCH = dt.date(2026, 3, 1)


@pytest.fixture
def home(sce_programs, make_device):  # noqa: F811 — the imported fixture
    # Partitions made by earlier tests' rolled-back transactions are gone: ask the catalogue again.
    forget_known_partitions()
    return BilledHome(make_device)


def test_it_lets_carol_bill_a_held_month_with_an_estimate(page: Page, live_server, carol, home):
    home.premise_reads(local(2026, 3, 1), local(2026, 3, 31))
    bill_premises([home.premise.pk], MARCH, now=dt.datetime(2026, 4, 2, tzinfo=dt.UTC))

    sign_in_as_carol(page, live_server)

    page.get_by_role("link", name="CSR: bill holds").click()
    expect(page.get_by_text("1 open hold")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=home.premise.premise_id)
    expect(row).to_contain_text("March 2026")
    expect(row).to_contain_text("missing revenue-meter data")
    expect(row).to_contain_text("24 h missing")
    row.get_by_role("button", name="Bill with estimate").click()
    # The note is required: the browser keeps the form until Carol writes one.
    expect(page.get_by_text("1 open hold")).to_be_visible()
    row.get_by_label("Note").fill("Meter exchanged on the 31st; the old meter's last day is lost")
    row.get_by_role("button", name="Bill with estimate").click()

    bill = Bill.objects.get()
    expect(page.get_by_text(f"with an estimate: total ${bill.total}")).to_be_visible()
    expect(page.get_by_role("heading", name="Bill for March 2026")).to_contain_text("Estimated")
    expect(
        page.get_by_role("row").filter(has_text="Home energy, Winter Off-Peak (estimated)")
    ).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Total")).to_contain_text(str(bill.total))
    assert bill.estimated
    assert BillHold.objects.get().released_by == carol

    page.get_by_label("Amount ($)").fill("-8.40")
    page.get_by_label("Reason").fill("True-up of the estimated March bill")
    page.get_by_role("button", name="Add adjustment").click()

    expect(page.get_by_text("Adjustment of -$8.40 added")).to_be_visible()
    adjustment = Adjustment.objects.get()
    assert (adjustment.amount, adjustment.approved_by, adjustment.bill) == (Decimal("-8.40"), carol, None)
