"""The CSR queue of held bills (issue 6): a month with missing or conflicting data waits with its reason; a
CSR releases it with an estimate (marked as such) or, once the data is corrected, as measured; an issued
bill never changes — a correction is an adjustment, with its reason and approver, on the premise's next
bill."""

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError

from billing.adjustments import add_adjustment
from billing.bills import bill_premises
from billing.models import Adjustment, Bill, BillHold, BillLine
from pevportal.models import AuditRecord
from tests.billing.billing_homes import BilledHome, local
from tests.factories import PremiseFactory

pytestmark = pytest.mark.django_db
HOLDS = "/csr/billing/holds/"
MARCH = dt.date(2026, 3, 1)
APRIL = dt.date(2026, 4, 1)
NOW = dt.datetime(2026, 4, 2, tzinfo=dt.UTC)
MARCH_HOURS = 743  # the clocks go forward on 8 March


@pytest.fixture
def home(sce_programs, make_device):
    return BilledHome(make_device)


@pytest.fixture
def held(home) -> BillHold:
    """March with the revenue meter's last day missing: held for a CSR."""
    home.premise_reads(local(2026, 3, 1), local(2026, 3, 31))
    assert bill_premises([home.premise.pk], MARCH, now=NOW).held == 1
    return BillHold.objects.get()


@pytest.fixture
def march_bill(home) -> Bill:
    """A complete March with one EV charge: the worked example of docs/billing.md ($490.02)."""
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    home.session(local(2026, 3, 10, 1), local(2026, 3, 10, 3))
    bill_premises([home.premise.pk], MARCH, now=NOW)
    return Bill.objects.get()


def audit(action: str, model) -> AuditRecord:
    return AuditRecord.objects.get(target_type=ContentType.objects.get_for_model(model), action=action)


def text(response) -> str:
    """The page's text, tags stripped and white space collapsed, as a reader sees it."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


# --- Who may use them ----------------------------------------------------------------------------------


@pytest.fixture
def urls(held):
    bill = Bill.objects.create(
        account=held.premise.account,
        premise=held.premise,
        period=dt.date(2026, 2, 1),
        starts_at=local(2026, 2, 1),
        ends_at=local(2026, 3, 1),
        total=Decimal("10.00"),
        issued_at=NOW,
    )
    return [
        (HOLDS, {}),
        (f"{HOLDS}{held.pk}/release/", {"release": "estimate", "note": "meter exchange"}),
        (f"{HOLDS}bills/{bill.pk}/", {}),
        (f"{HOLDS}bills/{bill.pk}/adjustments/", {"amount": "-5.00", "reason": "goodwill"}),
    ]


def test_it_sends_anonymous_visitors_to_sign_in(client, urls):
    for url, data in urls:
        for response in (client.get(url), client.post(url, data)):
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/"), url


def test_it_forbids_customers_the_queue_the_bills_and_every_action(client, alice, urls):
    client.force_login(alice)

    for url, data in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, data).status_code == 403, url
    assert BillHold.objects.get().status == BillHold.Status.OPEN
    assert not Adjustment.objects.exists()
    assert Bill.objects.count() == 1


def test_it_lets_carol_work_the_queue(client, carol_csr, urls):
    client.force_login(carol_csr)

    for url, _ in urls:
        if not url.endswith(("/release/", "/adjustments/")):
            assert client.get(url).status_code == 200, url


def test_it_shows_the_csr_nav_link_to_csrs_only(client, alice, carol_csr):
    client.force_login(alice)
    assert HOLDS not in client.get("/").content.decode()

    client.force_login(carol_csr)
    page = client.get("/").content.decode()
    assert f'href="{HOLDS}"' in page
    assert "CSR: bill holds" in page


# --- The queue -------------------------------------------------------------------------------------------


def test_it_lists_open_holds_with_their_reason_in_words(client, carol_csr, held):
    conflicting = BillHold.objects.create(
        premise=PremiseFactory(),
        period=MARCH,
        reason="conflicting reads awaiting CSR review",
        detail={"open_revisions": 2},
    )
    BillHold.objects.create(
        premise=PremiseFactory(), period=MARCH, reason="missing revenue-meter data", status="released"
    )
    client.force_login(carol_csr)

    response = client.get(HOLDS)

    page = text(response)
    assert [hold for hold, *_ in response.context["rows"]] == [held, conflicting]
    assert "2 open holds" in page
    assert held.premise.premise_id in page
    assert held.premise.account.number in page
    assert "March 2026" in page
    assert "missing revenue-meter data" in page
    assert "Revenue-meter reads cover 719 h of the month's 743 h (96.7 %): 24 h missing." in page
    assert "2 conflicting reads await review. Review the reads" in page
    assert 'href="/csr/metering/revisions/"' in response.content.decode()


def test_it_says_when_nothing_is_held(client, carol_csr, db):
    client.force_login(carol_csr)

    assert "No bills on hold." in text(client.get(HOLDS))


# --- Releasing -------------------------------------------------------------------------------------------


def test_it_releases_a_hold_with_an_estimate_and_shows_the_bill(client, carol_csr, held):
    client.force_login(carol_csr)

    response = client.post(
        f"{HOLDS}{held.pk}/release/",
        {"release": "estimate", "note": "Meter exchanged on the 31st"},
        follow=True,
    )

    bill = Bill.objects.get()
    assert response.redirect_chain[-1][0] == f"{HOLDS}bills/{bill.pk}/"
    page = text(response)
    assert (
        f"Billed March 2026 for premise {held.premise.premise_id} with an estimate: total ${bill.total}"
        in page
    )
    assert "Estimated" in page
    assert bill.estimated
    energy = bill.lines.filter(kind=BillLine.Kind.PREMISE_ENERGY)
    assert all(line.description.endswith("(estimated)") for line in energy)
    # 719 measured hours of 1.6 kWh, scaled to the month's 743 (each line to the Wh).
    assert abs(sum(line.quantity for line in energy) - Decimal("1.6") * MARCH_HOURS) <= Decimal("0.003")
    assert bill.total == sum(line.amount for line in bill.lines.all())
    held.refresh_from_db()
    assert (held.status, held.release, held.released_by, held.note) == (
        "released",
        "estimate",
        carol_csr,
        "Meter exchanged on the 31st",
    )
    record = audit("bill_hold.released", BillHold)
    assert (record.actor, record.after["bill"], record.after["release"]) == (carol_csr, bill.pk, "estimate")
    assert "No bills on hold." in text(client.get(HOLDS))


def test_it_refuses_to_bill_as_measured_while_data_is_still_missing(client, carol_csr, home, held):
    client.force_login(carol_csr)

    refused = client.post(f"{HOLDS}{held.pk}/release/", {"release": "corrected", "note": "Head-end re-sent"})

    assert refused["Location"] == HOLDS
    page = text(client.get(HOLDS))
    assert "Not released: The month still cannot be billed as measured: missing revenue-meter data." in page
    assert not Bill.objects.exists()
    held.refresh_from_db()
    assert held.status == BillHold.Status.OPEN

    home.premise_reads(local(2026, 3, 31), local(2026, 4, 1))  # the missing day arrives
    released = client.post(
        f"{HOLDS}{held.pk}/release/", {"release": "corrected", "note": "Head-end re-sent"}, follow=True
    )

    bill = Bill.objects.get()
    assert f"as measured: total ${bill.total}" in text(released)
    assert not bill.estimated
    assert (
        sum(line.quantity for line in bill.lines.filter(kind=BillLine.Kind.PREMISE_ENERGY))
        == Decimal("1.6") * MARCH_HOURS
    )
    held.refresh_from_db()
    assert (held.status, held.release) == ("released", "corrected")


def test_it_requires_a_note_to_release(client, carol_csr, held):
    client.force_login(carol_csr)

    response = client.post(f"{HOLDS}{held.pk}/release/", {"release": "estimate", "note": "  "}, follow=True)

    assert "Not released: write a note" in text(response)
    assert not Bill.objects.exists()
    held.refresh_from_db()
    assert held.status == BillHold.Status.OPEN


def test_it_refuses_a_hold_already_released(client, carol_csr, held):
    client.force_login(carol_csr)
    client.post(f"{HOLDS}{held.pk}/release/", {"release": "estimate", "note": "Meter exchange"})

    again = client.post(f"{HOLDS}{held.pk}/release/", {"release": "estimate", "note": "Twice"}, follow=True)

    assert "Not released: This hold has already been released." in text(again)
    assert Bill.objects.count() == 1


def test_it_links_a_recent_release_to_its_bill(client, carol_csr, held):
    client.force_login(carol_csr)
    client.post(f"{HOLDS}{held.pk}/release/", {"release": "estimate", "note": "Meter exchange"})
    bill = Bill.objects.get()

    response = client.get(HOLDS)

    assert [hold.bill_id for hold in response.context["released"]] == [bill.pk]
    assert f'href="{HOLDS}bills/{bill.pk}/"' in response.content.decode()
    assert "by carol — Meter exchange" in text(response)


# --- A bill and its adjustments --------------------------------------------------------------------------


def test_it_shows_a_bills_lines_unrounded_and_rounded(client, carol_csr, march_bill):
    client.force_login(carol_csr)

    page = text(client.get(f"{HOLDS}bills/{march_bill.pk}/"))

    assert "Bill for March 2026" in page
    # PEV charging: 14.4 kWh × $0.25362 = $3.652128, rounded once to $3.65.
    assert "PEV charging, Winter Off-Peak SCE-TOU-D-PRIME 14.400 kWh 0.25362 3.6521280000 3.65" in page
    assert "EV Submeter Credit SCE-TOU-D-PRIME 31.000 day -0.15200 -4.7120000000 -4.71" in page
    assert "Total 490.02" in page


def test_it_adds_an_adjustment_that_the_next_bill_carries(client, carol_csr, home, march_bill):
    march_lines = list(march_bill.lines.values_list("pk", "amount"))
    client.force_login(carol_csr)

    response = client.post(
        f"{HOLDS}bills/{march_bill.pk}/adjustments/",
        {"amount": "-12.50", "reason": "Meter tested fast in March"},
        follow=True,
    )

    page = text(response)
    assert (
        f"Adjustment of -$12.50 added: it will be a line on the next bill of {home.premise.premise_id}."
        in page
    )
    assert "Waiting for the next bill: $-12.50 — Meter tested fast in March (approved by carol)" in page
    adjustment = Adjustment.objects.get()
    assert (adjustment.amount, adjustment.approved_by, adjustment.bill) == (
        Decimal("-12.50"),
        carol_csr,
        None,
    )
    assert audit("adjustment.added", Adjustment).actor == carol_csr

    home.premise_reads(local(2026, 4, 1), local(2026, 5, 1))
    bill_premises([home.premise.pk], APRIL, now=dt.datetime(2026, 5, 2, tzinfo=dt.UTC))

    april = Bill.objects.get(period=APRIL)
    line = april.lines.get(kind=BillLine.Kind.ADJUSTMENT)
    assert (line.description, line.amount) == ("Adjustment: Meter tested fast in March", Decimal("-12.50"))
    assert april.total == sum(line.amount for line in april.lines.all())
    adjustment.refresh_from_db()
    assert adjustment.bill == april
    march_bill.refresh_from_db()
    assert march_bill.total == Decimal("490.02")
    assert list(march_bill.lines.values_list("pk", "amount")) == march_lines
    carried = text(client.get(f"{HOLDS}bills/{april.pk}/"))
    assert "Adjustments on this bill $-12.50 — Meter tested fast in March (approved by carol)" in carried


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"amount": "0", "reason": "Nothing"}, "An adjustment of $0.00 changes nothing."),
        (
            {"amount": "1.234", "reason": "Too precise"},
            "Ensure that there are no more than 2 decimal places.",
        ),
        ({"amount": "5", "reason": ""}, "This field is required."),
    ],
)
def test_it_refuses_an_adjustment_it_cannot_bill(client, carol_csr, march_bill, data, error):
    client.force_login(carol_csr)

    response = client.post(f"{HOLDS}bills/{march_bill.pk}/adjustments/", data)

    assert response.status_code == 200
    assert error in text(response)
    assert not Adjustment.objects.exists()


def test_only_a_csr_adds_an_adjustment_with_a_reason_in_cents(alice, carol_csr, march_bill):
    premise = march_bill.premise

    with pytest.raises(PermissionDenied):
        add_adjustment(premise, amount=Decimal("5.00"), reason="Goodwill", by=alice)
    with pytest.raises(ValidationError, match="Say why"):
        add_adjustment(premise, amount=Decimal("5.00"), reason="   ", by=carol_csr)
    with pytest.raises(ValidationError, match="dollars and cents"):
        add_adjustment(premise, amount=Decimal("5.005"), reason="Goodwill", by=carol_csr)
    with pytest.raises(ValidationError, match="changes nothing"):
        add_adjustment(premise, amount=Decimal("0.00"), reason="Goodwill", by=carol_csr)
    with pytest.raises(ValidationError, match="too large"):
        add_adjustment(premise, amount=Decimal("1e10"), reason="Goodwill", by=carol_csr)
    with pytest.raises(TypeError):
        add_adjustment(premise, amount=5.0, reason="Goodwill", by=carol_csr)
    assert not Adjustment.objects.exists()

    adjustment = add_adjustment(premise, amount=Decimal("5.5"), reason=" Goodwill ", by=carol_csr)
    assert (adjustment.amount, adjustment.reason) == (Decimal("5.50"), "Goodwill")


# --- Query counts ----------------------------------------------------------------------------------------


def test_it_shows_the_queue_and_a_bill_in_a_fixed_number_of_queries(
    client, carol_csr, march_bill, django_assert_max_num_queries
):
    for n in range(6):
        premise = PremiseFactory()
        BillHold.objects.create(
            premise=premise, period=MARCH, reason="missing revenue-meter data", detail={"covered_seconds": n}
        )
        BillHold.objects.create(
            premise=premise,
            period=dt.date(2026, 2, 1),
            reason="missing revenue-meter data",
            status="released",
        )
    for n in range(4):
        add_adjustment(march_bill.premise, amount=Decimal(n + 1), reason=f"Correction {n}", by=carol_csr)
    client.force_login(carol_csr)

    with django_assert_max_num_queries(7):
        queue = client.get(HOLDS)
    with django_assert_max_num_queries(9):
        bill = client.get(f"{HOLDS}bills/{march_bill.pk}/")

    assert len(queue.context["rows"]) == 6
    assert len(queue.context["released"]) == 6
    assert len(bill.context["lines"]) == 6
    assert len(bill.context["pending"]) == 4
