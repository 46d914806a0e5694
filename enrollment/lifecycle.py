"""What happens to an enrollment after it is made: preferences, plan switches, a re-opened commissioning
window, un-enrolling, moving out and a sold vehicle's transfer. Each action is atomic and audited.

Ending an enrollment is what revokes the PEV's standing: binding validates only current enrollments.
"""

import datetime as dt
import zoneinfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from enrollment.enrolling import (
    COMMISSIONING_WINDOW,
    ENROLLMENT_AUDIT_FIELDS,
    EnrollmentRequest,
    check_guest_vins,
    enroll,
)
from enrollment.models import (
    CommissioningWindow,
    Enrollment,
    GuestCharging,
    PlanAssignment,
    Premise,
    ServicePlan,
    TransferRequest,
)
from pevportal.audit import record, snapshot
from pevportal.models import Channel


def change_preferences(
    enrollment: Enrollment,
    *,
    guest_charging: str,
    guest_vins: list[str],
    allow_roaming: bool,
    actor,
    channel: str,
) -> Enrollment:
    """Set guest charging, the guest allow-list and roaming; effective at the next plug-in."""
    if guest_charging not in GuestCharging.values:
        raise ValidationError({"guest_charging": [_("Choose how guests are treated.")]})
    try:
        cleaned = check_guest_vins(guest_vins, guest_charging, own_vin=enrollment.pev.vin)
    except ValidationError as exc:
        raise ValidationError({"guest_vins": exc.error_list}) from None
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        _require_current(enrollment)
        fields = ["guest_charging", "guest_vins", "allow_roaming"]
        before = snapshot(enrollment, fields)
        enrollment.guest_charging, enrollment.guest_vins, enrollment.allow_roaming = (
            guest_charging,
            cleaned,
            allow_roaming,
        )
        after = snapshot(enrollment, fields)
        if before != after:
            enrollment.save(update_fields=fields)
            record(
                action="enrollment.preferences_changed",
                target=enrollment,
                channel=Channel(channel),
                actor=actor,
                before=before,
                after=after,
            )
    return enrollment


def first_of_next_month(plan: ServicePlan, now: dt.datetime) -> dt.datetime:
    """00:00 local time on the 1st of next month in the plan's tariff zone: billing periods are calendar
    months there, so a switch never splits one."""
    zone = zoneinfo.ZoneInfo(plan.tariff.time_zone)
    local = now.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return dt.datetime(year, month, 1, tzinfo=zone).astimezone(dt.UTC)


def switch_plan(enrollment: Enrollment, plan: ServicePlan, *, actor, channel: str) -> PlanAssignment:
    """Schedule `plan` from the start of next month, replacing any switch already scheduled."""
    now = timezone.now()
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().select_related("premise").get(pk=enrollment.pk)
        _require_current(enrollment)
        if not plan.is_eligible(enrollment.premise):
            raise ValidationError({"plan": [_("This plan is not offered at this premise.")]})
        starts = first_of_next_month(plan, now)
        scheduled = enrollment.plan_assignments.filter(effective_from__gt=now)
        replaced = [a.plan.code for a in scheduled.select_related("plan")]
        scheduled.delete()
        current = (
            enrollment.plan_assignments.filter(effective_from__lte=now).order_by("-effective_from").first()
        )
        if current is None:  # an enrollment recorded without its history: its plan has held since it began
            current = PlanAssignment.objects.create(
                enrollment=enrollment, plan=enrollment.plan, effective_from=enrollment.effective_from
            )
        if current.plan_id == plan.pk:
            current.effective_to = None
            current.save(update_fields=["effective_to"])
            assignment = current
        else:
            current.effective_to = starts
            current.save(update_fields=["effective_to"])
            assignment = PlanAssignment.objects.create(
                enrollment=enrollment, plan=plan, effective_from=starts
            )
        record(
            action="enrollment.plan_switch_scheduled",
            target=enrollment,
            channel=Channel(channel),
            actor=actor,
            before={"plan": current.plan.code, "replaced_scheduled": replaced},
            after={"plan": plan.code, "effective_from": assignment.effective_from},
        )
    return assignment


def apply_due_plan_switches() -> int:
    """Make each scheduled plan the enrollment's current plan once its start has passed (beat, hourly)."""
    now = timezone.now()
    applied = 0
    due = (
        PlanAssignment.objects.filter(effective_from__lte=now)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=now))
        .exclude(enrollment__plan=F("plan"))
        .filter(enrollment__status__in=Enrollment.HOLDING_STATUSES)
        .select_related("enrollment", "plan")
    )
    for assignment in due:
        with transaction.atomic():
            enrollment = Enrollment.objects.select_for_update().get(pk=assignment.enrollment_id)
            before = enrollment.plan.code
            enrollment.plan = assignment.plan
            enrollment.save(update_fields=["plan"])
            record(
                action="enrollment.plan_switched",
                target=enrollment,
                channel=Channel.SYSTEM,
                actor_label="apply_due_plan_switches",
                before={"plan": before},
                after={"plan": assignment.plan.code},
            )
            applied += 1
    return applied


def reopen_commissioning(enrollment: Enrollment, *, reason: str, actor, channel: str) -> CommissioningWindow:
    """A fresh window for the full handshake (new head unit, lost key); any open window is closed now."""
    now = timezone.now()
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        _require_current(enrollment)
        enrollment.commissioning_windows.filter(closes_at__gt=now).update(closes_at=now)
        window = CommissioningWindow.objects.create(
            enrollment=enrollment, opens_at=now, closes_at=now + COMMISSIONING_WINDOW, reason=reason[:200]
        )
        record(
            action="enrollment.commissioning_reopened",
            target=enrollment,
            channel=Channel(channel),
            actor=actor,
            after={"opens_at": window.opens_at, "closes_at": window.closes_at, "reason": window.reason},
        )
    return window


def unenroll(
    enrollment: Enrollment, *, reason: str, actor, channel: str, actor_label: str = ""
) -> Enrollment:
    """End the enrollment now; the VIN is free to enroll again and binds at the default rate meanwhile."""
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        _require_current(enrollment)
        _end(enrollment, reason=reason, actor=actor, channel=channel, actor_label=actor_label)
    return enrollment


def move_out(premise: Premise, *, actor, channel: str) -> int:
    """The customer leaves the premise: every enrollment there ends (its PEVs lose their standing)."""
    with transaction.atomic():
        ended = 0
        for enrollment in Enrollment.objects.current().select_for_update().filter(premise=premise):
            _end(enrollment, reason="moved out", actor=actor, channel=channel)
            ended += 1
        record(
            action="premise.moved_out",
            target=premise,
            channel=Channel(channel),
            actor=actor,
            after={"enrollments_ended": ended},
        )
    return ended


def approve_transfer(transfer: TransferRequest, *, csr, note: str = "") -> Enrollment:
    """Vehicle sold: end the seller's enrollment and enroll the VIN for the buyer as requested."""
    with transaction.atomic():
        transfer = TransferRequest.objects.select_for_update().get(pk=transfer.pk)
        _require_pending(transfer)
        for previous in Enrollment.objects.current().select_for_update().filter(pev__vin=transfer.vin):
            _end(previous, reason="vehicle sold", actor=csr, channel=Channel.PHONE)
        enrollment = enroll(
            EnrollmentRequest(
                account=transfer.account,
                premise=transfer.premise,
                vin=transfer.vin,
                plan=transfer.plan,
                guest_charging=transfer.guest_charging,
                guest_vins=transfer.guest_vins,
                allow_roaming=transfer.allow_roaming,
            ),
            channel=transfer.channel,
            actor=csr,
        )
        _decide(transfer, TransferRequest.Status.APPROVED, csr=csr, note=note)
    return enrollment


def reject_transfer(transfer: TransferRequest, *, csr, note: str) -> TransferRequest:
    with transaction.atomic():
        transfer = TransferRequest.objects.select_for_update().get(pk=transfer.pk)
        _require_pending(transfer)
        _decide(transfer, TransferRequest.Status.REJECTED, csr=csr, note=note)
    return transfer


def _end(enrollment: Enrollment, *, reason: str, actor, channel: str, actor_label: str = "") -> None:
    now = timezone.now()
    before = snapshot(enrollment, ENROLLMENT_AUDIT_FIELDS)
    enrollment.status = Enrollment.Status.ENDED
    enrollment.effective_to = now
    enrollment.ended_reason = reason[:200]
    enrollment.save(update_fields=["status", "effective_to", "ended_reason"])
    enrollment.plan_assignments.filter(effective_from__gt=now).delete()
    enrollment.plan_assignments.filter(Q(effective_to__isnull=True) | Q(effective_to__gt=now)).update(
        effective_to=now
    )
    enrollment.commissioning_windows.filter(closes_at__gt=now).update(closes_at=now)
    record(
        action="enrollment.ended",
        target=enrollment,
        channel=Channel(channel),
        actor=actor,
        actor_label=actor_label,
        before=before,
        after=snapshot(enrollment, ENROLLMENT_AUDIT_FIELDS),
        context={"reason": reason},
    )


def _decide(transfer: TransferRequest, status: str, *, csr, note: str) -> None:
    transfer.status = status
    transfer.decided_at = timezone.now()
    transfer.decided_by = csr
    transfer.decision_note = note[:300]
    transfer.save(update_fields=["status", "decided_at", "decided_by", "decision_note"])
    record(
        action=f"transfer.{status}",
        target=transfer,
        channel=Channel.PHONE,
        actor=csr,
        after={"status": status, "note": transfer.decision_note},
    )


def _require_current(enrollment: Enrollment) -> None:
    if not enrollment.is_current:
        raise ValidationError(_("This enrollment has ended."), code="ended")


def _require_pending(transfer: TransferRequest) -> None:
    if transfer.status != TransferRequest.Status.PENDING:
        raise ValidationError(_("This transfer request was already decided."), code="decided")
