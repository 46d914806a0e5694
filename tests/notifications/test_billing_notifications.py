"""Billing tells customers (issue 7): a bill is ready, and a critical-peak event is coming on a tariff they
are billed under. Each once, however often a chunk or the hourly task runs."""

import datetime as dt
from decimal import Decimal

import pytest

from billing.bills import bill_premises, release_hold
from billing.models import Bill, CriticalPeakDay, Tariff
from billing.notifications import notify_critical_peaks
from billing.tasks import notify_critical_peaks as notify_critical_peaks_task
from enrollment.models import AccountLink, Enrollment, ServicePlan
from pevportal.models import Notification
from pevportal.notifications import render
from tests.billing.billing_homes import BilledHome, local
from tests.factories import EnrollmentFactory, PremiseFactory, TariffFactory

MARCH = dt.date(2026, 3, 1)
BILLED_AT = dt.datetime(2026, 4, 2, tzinfo=dt.UTC)
Kind = Notification.Kind


def test_it_tells_the_account_its_bill_is_ready_once(make_device, sce_programs, alice):
    home = BilledHome(make_device)
    AccountLink.objects.create(user=alice, account=home.premise.account, method="verified")
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))

    bill_premises([home.premise.pk], MARCH, now=BILLED_AT)
    bill_premises([home.premise.pk], MARCH, now=BILLED_AT)  # the chunk redone

    bill = Bill.objects.get()
    notification = Notification.objects.get()
    assert (notification.kind, notification.account_id) == (Kind.BILL_READY, home.premise.account_id)
    subject, body = render(notification)
    assert subject == "Your bill for March 2026 is ready"
    assert f"Amount: ${bill.total}." in body
    assert f"/my/bills/{bill.pk}/" in body
    assert home.premise.service_address in body


def test_a_bill_released_from_a_hold_is_announced_as_an_estimate(make_device, sce_programs, carol_csr):
    home = BilledHome(make_device)
    home.premise_reads(local(2026, 3, 1), local(2026, 3, 31))  # the last day is missing
    bill_premises([home.premise.pk], MARCH, now=BILLED_AT)
    assert not Notification.objects.exists(), "a held month has no bill yet"

    release_hold(home.premise.bill_holds.get(), by=carol_csr, release="estimate", note="", now=BILLED_AT)

    _, body = render(Notification.objects.get(kind=Kind.BILL_READY))
    assert "This bill is estimated" in body


# --- Critical-peak events ---------------------------------------------------------------------------------

# Tuesday 10 March 2026, 1 p.m. in California (PDT since the 8th): tomorrow is Wednesday the 11th.
AFTERNOON = dt.datetime(2026, 3, 10, 20, 0, tzinfo=dt.UTC)
EVENT_DAY = dt.date(2026, 3, 11)


def call_event(tariff: Tariff, day: dt.date = EVENT_DAY, *, hours=(16, 21)) -> None:
    version = tariff.version_on(day)
    version.critical_peak_adder = Decimal("0.80000")
    version.critical_peak_start_hour, version.critical_peak_end_hour = hours
    version.save()
    CriticalPeakDay.objects.create(version=version, date=day)


@pytest.fixture
def tariffs(sce_programs):
    """(the homes' default tariff TOU-D-4-9PM, the EV Prime plan's TOU-D-PRIME)."""
    prime = ServicePlan.objects.get(code="ev-prime")
    return ServicePlan.objects.get(code="ev-standard").tariff, prime.tariff


def test_it_tells_accounts_on_the_tariff_of_tomorrows_event_once(tariffs, alice):
    default, _ = tariffs
    call_event(default)
    at_home = PremiseFactory(default_tariff=default)
    AccountLink.objects.create(user=alice, account=at_home.account, method="verified")
    elsewhere = PremiseFactory(default_tariff=TariffFactory(code="OTHER-TOU"))

    assert notify_critical_peaks(AFTERNOON) == 1
    assert notify_critical_peaks(AFTERNOON + dt.timedelta(hours=1)) == 1, "offered again, stored once"
    assert notify_critical_peaks_task() == 0, "today is long past: nothing is still to come"

    notification = Notification.objects.get()
    assert notification.account_id == at_home.account_id
    assert notification.dedupe_key == f"cpp:{default.code}:2026-03-11:{at_home.account_id}"
    assert not Notification.objects.filter(account=elsewhere.account).exists()
    subject, body = render(notification)
    assert subject == "Critical-peak event on Wednesday, March 11: prices are higher"
    assert "from 4:00 PM to 9:00 PM PDT, electricity costs $0.80 more per kWh" in body
    assert default.name in body


def test_it_tells_accounts_whose_ev_plan_is_on_the_tariff(tariffs):
    default, prime = tariffs
    call_event(prime)
    enrolled = EnrollmentFactory(
        premise=PremiseFactory(default_tariff=default), plan=ServicePlan.objects.get(code="ev-prime")
    )
    suspended = EnrollmentFactory(
        premise=PremiseFactory(default_tariff=default),
        plan=ServicePlan.objects.get(code="ev-prime"),
        status=Enrollment.Status.SUSPENDED,
    )
    PremiseFactory(default_tariff=default)  # no EV on Prime: not billed under it

    notify_critical_peaks(AFTERNOON)

    assert list(Notification.objects.values_list("account_id", flat=True)) == [enrolled.account_id]
    assert not Notification.objects.filter(account=suspended.account).exists()


def test_tomorrows_event_waits_for_the_morning_and_todays_for_nothing_once_started(tariffs):
    default, _ = tariffs
    call_event(default)
    call_event(default, AFTERNOON.date(), hours=(11, 14))  # today, 11 a.m. to 2 p.m.: started at 1 p.m.
    PremiseFactory(default_tariff=default)
    night = dt.datetime(2026, 3, 11, 6, 0, tzinfo=dt.UTC)  # 11 p.m. on the 10th in California

    assert notify_critical_peaks(AFTERNOON - dt.timedelta(hours=8)) == 1, "5 a.m.: today's event, not yet on"
    assert notify_critical_peaks(AFTERNOON) == 1, "1 p.m.: tomorrow's; today's has started"
    assert notify_critical_peaks(night) == 1

    assert sorted(n.params["event_on"] for n in Notification.objects.all()) == ["2026-03-10", "2026-03-11"]
