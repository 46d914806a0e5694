"""After enrollment: preferences, plan switches at the next billing month, re-opened commissioning
windows, un-enrolling, moving out and a sold vehicle's transfer — each audited."""

import datetime as dt
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.models import Tariff
from enrollment.enrolling import EnrollmentRequest, enroll, request_transfer
from enrollment.lifecycle import (
    apply_due_plan_switches,
    approve_transfer,
    change_preferences,
    first_of_next_month,
    move_out,
    reject_transfer,
    reopen_commissioning,
    switch_plan,
    unenroll,
)
from enrollment.models import Enrollment, GuestCharging, PlanAssignment, ServicePlan, TransferRequest
from pevportal.models import AuditRecord
from tests.factories import PremiseFactory

PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")
VIN = "1HGCM82633A004352"


@pytest.fixture
def enrollment(sce_programs, alice):
    premise = PremiseFactory(default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM"))
    plan = ServicePlan.objects.get(code="ev-prime")
    return enroll(
        EnrollmentRequest(account=premise.account, premise=premise, vin=VIN, plan=plan),
        channel="web",
        actor=alice,
    )


def test_it_changes_preferences_and_audits_before_and_after(enrollment, alice):
    change_preferences(
        enrollment,
        guest_charging=GuestCharging.HOST,
        guest_vins=["1M8GDM9AXKP042788"],
        allow_roaming=True,
        actor=alice,
        channel="web",
    )

    enrollment.refresh_from_db()
    assert (enrollment.guest_charging, enrollment.guest_vins, enrollment.allow_roaming) == (
        "host",
        ["1M8GDM9AXKP042788"],
        True,
    )
    record = AuditRecord.objects.get(action="enrollment.preferences_changed")
    assert record.before["guest_charging"] == "declined"
    assert record.after["guest_charging"] == "host"


def test_it_refuses_a_guest_list_when_guests_are_declined(enrollment, alice):
    with pytest.raises(ValidationError) as excinfo:
        change_preferences(
            enrollment,
            guest_charging="declined",
            guest_vins=["1M8GDM9AXKP042788"],
            allow_roaming=False,
            actor=alice,
            channel="web",
        )

    assert "guest_vins" in excinfo.value.error_dict
    assert not AuditRecord.objects.filter(action="enrollment.preferences_changed").exists()


@pytest.mark.parametrize(
    ("now", "expected_local"),
    [
        (dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, tzinfo=PACIFIC)),
        (dt.datetime(2026, 12, 31, 23, tzinfo=PACIFIC), dt.datetime(2027, 1, 1, tzinfo=PACIFIC)),
        # 2026-12-01 05:00 UTC is still 21:00 on November 30 in Los Angeles.
        (dt.datetime(2026, 12, 1, 5, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, tzinfo=PACIFIC)),
        (dt.datetime(2026, 2, 15, tzinfo=PACIFIC), dt.datetime(2026, 3, 1, tzinfo=PACIFIC)),
    ],
)
def test_it_starts_a_switched_plan_at_local_midnight_on_the_first(sce_programs, now, expected_local):
    plan = ServicePlan.objects.get(code="ev-standard")

    assert first_of_next_month(plan, now) == expected_local.astimezone(dt.UTC)


def test_it_schedules_a_plan_switch_and_applies_it_when_due(enrollment, alice):
    standard = ServicePlan.objects.get(code="ev-standard")

    assignment = switch_plan(enrollment, standard, actor=alice, channel="web")

    now = timezone.now()
    assert enrollment.plan_on(now).code == "ev-prime"
    assert enrollment.plan_on(assignment.effective_from).code == "ev-standard"
    assert apply_due_plan_switches() == 0
    PlanAssignment.objects.filter(pk=assignment.pk).update(effective_from=now - dt.timedelta(seconds=1))
    PlanAssignment.objects.filter(plan__code="ev-prime").update(effective_to=now - dt.timedelta(seconds=1))
    assert apply_due_plan_switches() == 1
    enrollment.refresh_from_db()
    assert enrollment.plan.code == "ev-standard"


def test_it_replaces_a_scheduled_switch_rather_than_stacking_them(enrollment, alice):
    standard = ServicePlan.objects.get(code="ev-standard")
    prime = ServicePlan.objects.get(code="ev-prime")

    switch_plan(enrollment, standard, actor=alice, channel="web")
    switch_plan(enrollment, prime, actor=alice, channel="web")

    [only] = enrollment.plan_assignments.all()
    assert (only.plan.code, only.effective_to) == ("ev-prime", None)


def test_it_reopens_the_commissioning_window(enrollment, alice):
    first = enrollment.commissioning_window(timezone.now())

    window = reopen_commissioning(enrollment, reason="new head unit", actor=alice, channel="web")

    first.refresh_from_db()
    assert first.closes_at <= window.opens_at
    assert enrollment.commissioning_window(timezone.now()) == window
    assert AuditRecord.objects.filter(action="enrollment.commissioning_reopened").exists()


def test_it_unenrolls_and_frees_the_vin(enrollment, alice):
    unenroll(enrollment, reason="sold the car privately", actor=alice, channel="web")

    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.ENDED
    assert enrollment.commissioning_window(timezone.now()) is None
    assert not Enrollment.objects.current().exists()
    with pytest.raises(ValidationError):
        unenroll(enrollment, reason="again", actor=alice, channel="web")


def test_it_ends_every_enrollment_at_a_premise_on_move_out(enrollment, carol_csr):
    assert move_out(enrollment.premise, actor=carol_csr, channel="phone") == 1

    enrollment.refresh_from_db()
    assert enrollment.ended_reason == "moved out"


def test_it_transfers_a_sold_vehicle_when_a_csr_approves(enrollment, bob, carol_csr):
    bobs_home = PremiseFactory(default_tariff=enrollment.premise.default_tariff)
    transfer = request_transfer(
        EnrollmentRequest(account=bobs_home.account, premise=bobs_home, vin=VIN, plan=enrollment.plan),
        user=bob,
        channel="web",
    )

    new = approve_transfer(transfer, csr=carol_csr, note="bill of sale seen")

    enrollment.refresh_from_db()
    assert enrollment.ended_reason == "vehicle sold"
    assert new.premise == bobs_home
    assert new.status == Enrollment.Status.PENDING_COMMISSIONING
    transfer.refresh_from_db()
    assert (transfer.status, transfer.decided_by) == (TransferRequest.Status.APPROVED, carol_csr)
    with pytest.raises(ValidationError):
        reject_transfer(transfer, csr=carol_csr, note="too late")


def test_it_keeps_the_old_enrollment_when_a_transfer_is_rejected(enrollment, bob, carol_csr):
    bobs_home = PremiseFactory(default_tariff=enrollment.premise.default_tariff)
    transfer = request_transfer(
        EnrollmentRequest(account=bobs_home.account, premise=bobs_home, vin=VIN, plan=enrollment.plan),
        user=bob,
        channel="web",
    )

    reject_transfer(transfer, csr=carol_csr, note="seller disputes the sale")

    assert Enrollment.objects.current().get() == enrollment
