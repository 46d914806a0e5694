"""Bills from interval reads (S3, Req 7, 10; BR.4, BR.6, BR.8): PEV energy at the plan, the rest of the
premise at its default rate, fixed charges and credits by days, each line rounded once (issue 6)."""

import datetime as dt
from decimal import Decimal

import pytest

from billing.bills import bill_premises, release_hold
from billing.models import Bill, BillHold
from metering.models import LoadCorrelation, Meter
from tests.billing.billing_homes import BilledHome, local

pytestmark = pytest.mark.django_db
MARCH = dt.date(2026, 3, 1)
NOW = dt.datetime(2026, 4, 2, tzinfo=dt.UTC)


@pytest.fixture
def home(sce_programs, make_device):
    return BilledHome(make_device)


def lines(bill: Bill) -> dict[tuple, tuple]:
    return {(line.kind, line.period_label): (line.quantity, line.amount) for line in bill.lines.all()}


def test_it_bills_a_march_by_the_filed_rates_of_sce_tou_d(home):
    """Hand-computed from the SCE sheets (docs/billing.md, "Worked example"): 400 Wh every quarter-hour
    (743 hours: the clocks go forward on 8 March), and one EV charge of 8 × 1.8 kWh at 1–3 a.m. PDT."""
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    home.session(local(2026, 3, 10, 1), local(2026, 3, 10, 3))
    outcome = bill_premises([home.premise.pk], MARCH, now=NOW)

    assert (outcome.issued, outcome.held) == (1, 0)
    bill = Bill.objects.get(premise=home.premise, period=MARCH)
    assert lines(bill) == {
        ("pev_energy", "Winter Off-Peak"): (Decimal("14.400"), Decimal("3.65")),  # × $0.25362
        ("premise_energy", "Winter Mid-Peak"): (
            Decimal("248.000"),
            Decimal("128.41"),
        ),  # 155 h × 1.6, $0.51778
        ("premise_energy", "Winter Super Off-Peak"): (
            Decimal("396.800"),
            Decimal("135.92"),
        ),  # 248 h, $0.34255
        ("premise_energy", "Winter Off-Peak"): (
            Decimal("529.600"),
            Decimal("202.14"),
        ),  # 340 h − 14.4, $0.38169
        ("fixed_charge", ""): (Decimal("31.000"), Decimal("24.61")),  # $0.794 a day
        ("credit", ""): (Decimal("31.000"), Decimal("-4.71")),  # EV Submeter Credit $0.152 a day
    }
    assert bill.total == Decimal("490.02")
    assert bill.total == sum(line.amount for line in bill.lines.all())


def test_billing_marks_the_meters_billed_through_the_month(home):
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    home.session(local(2026, 3, 10, 1), local(2026, 3, 10, 3))
    bill_premises([home.premise.pk], MARCH, now=NOW)

    marks = set(Meter.objects.values_list("billed_through", flat=True))
    assert marks == {local(2026, 4, 1)}


def test_re_running_the_month_changes_nothing(home):
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    bill_premises([home.premise.pk], MARCH, now=NOW)
    first = list(Bill.objects.values_list("pk", "total"))
    outcome = bill_premises([home.premise.pk], MARCH, now=NOW + dt.timedelta(days=1))

    assert (outcome.issued, outcome.skipped) == (0, 1)
    assert list(Bill.objects.values_list("pk", "total")) == first


def test_a_failed_correlation_is_billed_at_the_default_rate(home):
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    session = home.session(local(2026, 3, 10, 1), local(2026, 3, 10, 3))
    LoadCorrelation.objects.create(binding=session, result="fail", checked_at=NOW)
    bill_premises([home.premise.pk], MARCH, now=NOW)

    billed = lines(Bill.objects.get())
    assert ("pev_energy", "Winter Off-Peak") not in billed
    assert billed[("premise_energy", "Winter Off-Peak")][0] == Decimal("544.000")


def test_an_unbound_session_stays_premise_energy(home):
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    home.session(local(2026, 3, 10, 1), local(2026, 3, 10, 3), bound=False)
    bill_premises([home.premise.pk], MARCH, now=NOW)

    billed = lines(Bill.objects.get())
    assert ("pev_energy", "Winter Off-Peak") not in billed
    assert billed[("premise_energy", "Winter Off-Peak")][0] == Decimal("544.000")


def test_missing_premise_data_holds_the_bill_for_a_csr(home, carol_csr):
    home.premise_reads(local(2026, 3, 1), local(2026, 3, 31))  # the last day is missing
    outcome = bill_premises([home.premise.pk], MARCH, now=NOW)

    assert (outcome.issued, outcome.held) == (0, 1)
    hold = BillHold.objects.get()
    assert hold.reason == "missing revenue-meter data"
    assert not Bill.objects.exists()

    bill = release_hold(hold, by=carol_csr, release="estimate", note="meter exchange", now=NOW)
    assert bill.estimated
    hold.refresh_from_db()
    assert (hold.status, hold.released_by) == ("released", carol_csr)


def test_an_open_revision_of_the_eumd_holds_the_bill(home):
    from metering.models import ReadRevision

    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    home.session(local(2026, 3, 10, 1), local(2026, 3, 10, 3))
    ReadRevision.objects.create(
        meter=home.eumd_meter,
        interval_start=local(2026, 3, 10, 1),
        interval_seconds=900,
        wh=2000,
        stored_wh=1800,
        reason="conflict",
        received_at=NOW,
    )
    outcome = bill_premises([home.premise.pk], MARCH, now=NOW)

    assert (outcome.issued, outcome.held) == (0, 1)
    assert BillHold.objects.get().reason == "conflicting reads awaiting CSR review"


def test_an_estimated_month_is_trued_up_on_the_next_bill_once_its_reads_arrive(home, carol_csr):
    home.premise_reads(local(2026, 3, 1), local(2026, 3, 31))  # the last day of March is missing
    bill_premises([home.premise.pk], MARCH, now=NOW)
    estimated = release_hold(
        BillHold.objects.get(), by=carol_csr, release="estimate", note="late file", now=NOW
    )
    # The missing day arrives after the estimate (stored, not a revision: the revenue meter stayed open),
    # at twice the usual load; then April is billed.
    home.premise_reads(local(2026, 3, 31), local(2026, 4, 1), wh=800)
    home.premise_reads(local(2026, 4, 1), local(2026, 5, 1))
    bill_premises([home.premise.pk], dt.date(2026, 4, 1), now=dt.datetime(2026, 5, 2, tzinfo=dt.UTC))

    april = Bill.objects.get(period=dt.date(2026, 4, 1))
    (true_up,) = [line for line in april.lines.all() if line.kind == "adjustment"]
    assert true_up.description == "True-up of the estimated March 2026 bill"
    # March as measured (the test above, plus 1.6 kWh an hour more on the 31st: 5 h Mid-Peak, 8 h Super
    # Off-Peak, 11 h Off-Peak) minus March as estimated (30 days' energy scaled by 743 h / 719 h).
    measured = (
        Decimal("256.0") * Decimal("0.51778")
        + Decimal("409.6") * Decimal("0.34255")
        + Decimal("561.6") * Decimal("0.38169")
    )
    guessed = sum(line.amount_unrounded for line in estimated.lines.all() if line.kind == "premise_energy")
    assert true_up.amount_unrounded == measured - guessed
    assert true_up.amount == (measured - guessed).quantize(Decimal("0.01"))
    estimated.refresh_from_db()
    assert estimated.trued_up_by == april


def test_a_bill_below_the_minimum_charge_is_brought_up_to_it(home):
    from billing.models import TariffVersion

    TariffVersion.objects.filter(tariff=home.premise.default_tariff).update(
        minimum_charge=Decimal("600"), minimum_charge_unit="month"
    )
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    bill_premises([home.premise.pk], MARCH, now=NOW)

    bill = Bill.objects.get()
    (minimum,) = [line for line in bill.lines.all() if line.kind == "minimum_charge"]
    assert bill.total == Decimal("600.00")
    assert minimum.amount == Decimal("600.00") - sum(
        line.amount for line in bill.lines.all() if line.kind != "minimum_charge"
    )


def test_billing_a_later_month_leaves_a_held_month_open_for_its_missing_reads(home, tmp_path):
    import io

    from django.core.management import call_command

    home.premise_reads(local(2026, 3, 1), local(2026, 3, 31))  # March's last day is missing: held
    home.premise_reads(local(2026, 4, 1), local(2026, 5, 1))
    bill_premises([home.premise.pk], MARCH, now=NOW)
    bill_premises([home.premise.pk], dt.date(2026, 4, 1), now=dt.datetime(2026, 5, 2, tzinfo=dt.UTC))

    assert Meter.objects.get(pk=home.premise_meter.pk).billed_through == local(2026, 3, 1)
    # The missing day arrives from the head-end: stored, not kept as revisions, so March bills as measured.
    day = [local(2026, 3, 31) + dt.timedelta(minutes=15 * k) for k in range(96)]
    path = tmp_path / "late.csv"
    path.write_text(
        "meter_id,interval_start,interval_seconds,wh\n"
        + "".join(f"{home.premise.meter_id},{at:%Y-%m-%dT%H:%M:%SZ},900,400\n" for at in day)
    )
    out = io.StringIO()
    call_command("import_ami", str(path), stdout=out, stderr=io.StringIO())
    assert "accepted: 96" in out.getvalue()

    bill = release_hold(BillHold.objects.get(), by=None, release="corrected", note="file arrived", now=NOW)
    assert not bill.estimated
    # The worked example without its EV charge: 544 kWh Off-Peak ($207.64) instead of 529.6 + PEV $3.65.
    assert bill.total == Decimal("491.87")


def test_an_estimate_keeps_the_minimum_charge_at_the_minimum(home, carol_csr):
    from billing.models import TariffVersion

    TariffVersion.objects.filter(tariff=home.premise.default_tariff).update(
        minimum_charge=Decimal("600"), minimum_charge_unit="month"
    )
    home.premise_reads(local(2026, 3, 1), local(2026, 3, 16))  # half a month: held
    bill_premises([home.premise.pk], MARCH, now=NOW)
    bill = release_hold(BillHold.objects.get(), by=carol_csr, release="estimate", note="meter swap", now=NOW)

    assert bill.total == Decimal("600.00")


def test_pev_energy_after_the_enrollment_ended_stays_premise_energy(home):
    home.enrollment.effective_to = local(2026, 3, 1)
    home.enrollment.save()
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    home.session(local(2026, 3, 10, 1), local(2026, 3, 10, 3))
    bill_premises([home.premise.pk], MARCH, now=NOW)

    billed = lines(Bill.objects.get())
    assert ("pev_energy", "Winter Off-Peak") not in billed
    assert billed[("premise_energy", "Winter Off-Peak")][0] == Decimal("544.000")
