"""Guest charging on bills (DOMAIN "Guest charging"; Req 7): the host's premise pays for what its meter
measured, less what a guest's own account pays for; a host-paid guest is on the host's PEV plan."""

import datetime as dt
from decimal import Decimal

import pytest

from billing.rating import rate_premises
from tests.billing.billing_homes import BilledHome, local

pytestmark = pytest.mark.django_db
MARCH = dt.date(2026, 3, 1)


@pytest.fixture
def host(sce_programs, make_device):
    home = BilledHome(make_device)
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    return home


@pytest.fixture
def guest(sce_programs, make_device):
    home = BilledHome(make_device, plan_code="ev-standard")
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    return home


def kwh(statement, kind: str, enrollment=None) -> Decimal:
    return sum(
        (
            line.quantity
            for line in statement.lines
            if line.kind == kind and (enrollment is None or line.enrollment_id == enrollment.pk)
        ),
        Decimal(0),
    )


def statements(*homes):
    by_premise = {s.premise_id: s for s in rate_premises([h.premise.pk for h in homes], MARCH)}
    return [by_premise[h.premise.pk] for h in homes]


def test_a_guest_paying_for_itself_is_billed_at_its_own_plan_and_off_the_hosts_meter(host, guest):
    host.session(local(2026, 3, 12, 22), local(2026, 3, 13, 0), billed_to=guest.enrollment)  # 8 × 1.8 kWh
    host_bill, guest_bill = statements(host, guest)

    assert kwh(guest_bill, "pev_energy", guest.enrollment) == Decimal("14.4")
    assert kwh(host_bill, "pev_energy") == 0
    # The host's meter saw 1,188.8 kWh in March; the guest's charge is not the host's to pay.
    assert kwh(host_bill, "premise_energy") == Decimal("1188.8") - Decimal("14.4")
    assert kwh(guest_bill, "premise_energy") == Decimal("1188.8")


def test_a_host_paid_guest_is_on_the_hosts_plan(host, guest):
    host.session(local(2026, 3, 12, 22), local(2026, 3, 13, 0))  # billed to the host's enrollment
    (host_bill,) = statements(host)

    assert kwh(host_bill, "pev_energy", host.enrollment) == Decimal("14.4")
    assert kwh(host_bill, "premise_energy") == Decimal("1188.8") - Decimal("14.4")


def test_a_declined_guest_stays_with_the_hosts_premise_at_the_default_rate(host):
    host.session(local(2026, 3, 12, 22), local(2026, 3, 13, 0), bound=False)
    (host_bill,) = statements(host)

    assert kwh(host_bill, "pev_energy") == 0
    assert kwh(host_bill, "premise_energy") == Decimal("1188.8")


def test_a_plan_switch_mid_month_rates_each_charge_at_the_plan_then_in_force(host, sce_programs):
    from enrollment.models import PlanAssignment, ServicePlan

    standard = ServicePlan.objects.get(code="ev-standard")
    PlanAssignment.objects.create(
        enrollment=host.enrollment,
        plan=host.plan,
        effective_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        effective_to=local(2026, 3, 15),
    )
    PlanAssignment.objects.create(
        enrollment=host.enrollment, plan=standard, effective_from=local(2026, 3, 15)
    )
    host.session(local(2026, 3, 10, 1), local(2026, 3, 10, 3))
    host.session(local(2026, 3, 20, 1), local(2026, 3, 20, 3))
    (bill,) = statements(host)

    tariffs = {line.tariff_id: line.quantity for line in bill.lines if line.kind == "pev_energy"}
    assert tariffs == {host.plan.tariff_id: Decimal("14.4"), standard.tariff_id: Decimal("14.4")}
