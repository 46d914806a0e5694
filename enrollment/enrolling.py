"""Enrolling a PEV (scenario 1 steps 1–4; Req 2–5; BR.1): one validation and one action shared by the
customer wizard, the CSR phone screens and the bulk import, so every channel accepts exactly the same
enrollments.

Completing an enrollment opens a commissioning window at the home premise: the binding API commissions
the VIN only inside it.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from enrollment.models import (
    CommissioningWindow,
    Enrollment,
    GuestCharging,
    PlanAssignment,
    Premise,
    ServicePlan,
    TransferRequest,
    UtilityAccount,
)
from enrollment.vehicles import pev_for_vin
from enrollment.vin import normalize_vin, validate_vin
from pevportal.audit import record, snapshot
from pevportal.models import Channel

COMMISSIONING_WINDOW = dt.timedelta(days=14)
MAX_GUEST_VINS = 20
VIN_ENROLLED = "vin_enrolled"
ENROLLMENT_AUDIT_FIELDS = [
    "pev",
    "account",
    "premise",
    "plan",
    "status",
    "channel",
    "guest_charging",
    "guest_vins",
    "allow_roaming",
    "effective_from",
    "effective_to",
]


@dataclass
class EnrollmentRequest:
    """What a customer, a CSR or an import row asks for; `check_enrollment` cleans it in place."""

    account: UtilityAccount
    premise: Premise
    vin: str
    plan: ServicePlan
    guest_charging: str = GuestCharging.DECLINED
    guest_vins: list[str] = field(default_factory=list)
    allow_roaming: bool = False


def check_vin(vin: str) -> str:
    """The normalised VIN, or ValidationError saying what is wrong with it or that it is enrolled."""
    vin = normalize_vin(vin)
    validate_vin(vin)
    if Enrollment.objects.current().filter(pev__vin=vin).exists():
        raise _already_enrolled()
    return vin


def _already_enrolled() -> ValidationError:
    return ValidationError(
        _(
            "This vehicle is already enrolled. If you bought it from its previous owner, you can ask us to "
            "transfer the enrollment to you."
        ),
        code=VIN_ENROLLED,
    )


def check_enrollment(request: EnrollmentRequest) -> None:
    """Every rule an enrollment must satisfy; raises ValidationError({field: [messages]})."""
    errors: dict[str, list] = {}

    def add(name: str, error: ValidationError) -> None:
        errors.setdefault(name, []).extend(error.error_list)

    if request.premise.account_id != request.account.pk:
        add("premise", ValidationError(_("This premise is not on the account."), code="premise_account"))
    try:
        request.vin = check_vin(request.vin)
    except ValidationError as exc:
        add("vin", exc)
    if "premise" not in errors and not request.plan.is_eligible(request.premise):
        add("plan", ValidationError(_("This plan is not offered at this premise."), code="plan_not_eligible"))
    if request.guest_charging not in GuestCharging.values:
        add("guest_charging", ValidationError(_("Choose how guests are treated."), code="invalid_choice"))
    try:
        request.guest_vins = check_guest_vins(request.guest_vins, request.guest_charging, own_vin=request.vin)
    except ValidationError as exc:
        add("guest_vins", exc)
    if errors:
        raise ValidationError(errors)


def check_guest_vins(vins: list[str], guest_charging: str, *, own_vin: str) -> list[str]:
    """The normalised, de-duplicated allow-list of guest VINs (DOMAIN.md "Guest charging")."""
    cleaned = list(dict.fromkeys(normalize_vin(vin) for vin in vins if vin.strip()))
    if cleaned and guest_charging == GuestCharging.DECLINED:
        raise ValidationError(
            _("A guest list applies only when guests may charge; choose who pays for guests first."),
            code="guests_declined",
        )
    if len(cleaned) > MAX_GUEST_VINS:
        raise ValidationError(
            _("At most %(n)d guest vehicles can be listed.") % {"n": MAX_GUEST_VINS}, code="too_many"
        )
    problems = []
    for vin in cleaned:
        if vin == own_vin:
            problems.append(_("%(vin)s is the vehicle being enrolled, not a guest.") % {"vin": vin})
            continue
        try:
            validate_vin(vin)
        except ValidationError as exc:
            problems.append(f"{vin}: {' '.join(exc.messages)}")
    if problems:
        raise ValidationError([ValidationError(problem, code="guest_vin") for problem in problems])
    return cleaned


def enroll(request: EnrollmentRequest, *, channel: str, actor=None, actor_label: str = "") -> Enrollment:
    """Validate and enroll: the enrollment, its first plan assignment and its commissioning window, audited,
    with the confirmation email sent after commit. Raises ValidationError as check_enrollment does."""
    check_enrollment(request)
    now = timezone.now()
    try:
        with transaction.atomic():
            enrollment = Enrollment.objects.create(
                pev=pev_for_vin(request.vin),
                account=request.account,
                premise=request.premise,
                plan=request.plan,
                channel=channel,
                guest_charging=request.guest_charging,
                guest_vins=request.guest_vins,
                allow_roaming=request.allow_roaming,
                effective_from=now,
            )
            PlanAssignment.objects.create(enrollment=enrollment, plan=request.plan, effective_from=now)
            window = CommissioningWindow.objects.create(
                enrollment=enrollment, opens_at=now, closes_at=now + COMMISSIONING_WINDOW, reason="enrolled"
            )
            record(
                action="enrollment.created",
                target=enrollment,
                channel=Channel(channel),
                actor=actor,
                actor_label=actor_label,
                after=snapshot(enrollment, ENROLLMENT_AUDIT_FIELDS),
                context={"commissioning_closes_at": window.closes_at},
            )
            transaction.on_commit(lambda: send_enrollment_confirmation(enrollment.pk))
    except IntegrityError:
        # Someone enrolled the same VIN between the check and the insert; the unique constraint kept one.
        raise ValidationError({"vin": [_already_enrolled()]}) from None
    return enrollment


def request_transfer(request: EnrollmentRequest, *, user, channel: str) -> TransferRequest:
    """Vehicle sold: the new owner's enrollment of a VIN enrolled elsewhere waits for a CSR's decision.

    Everything but the VIN's current enrollment must already be valid."""
    try:
        check_enrollment(request)
    except ValidationError as exc:
        vin_errors = exc.error_dict.get("vin", [])
        other = {k: v for k, v in exc.error_dict.items() if k != "vin"}
        if other or any(e.code != VIN_ENROLLED for e in vin_errors):
            raise
    current = Enrollment.objects.current().filter(pev__vin=request.vin).first()
    if current is None:
        raise ValidationError({"vin": [_("This vehicle is not enrolled; enroll it directly.")]})
    if current.account_id == request.account.pk:
        raise ValidationError(
            {"vin": [_("This vehicle is already enrolled on this account; change that enrollment instead.")]}
        )
    with transaction.atomic():
        transfer, created = TransferRequest.objects.get_or_create(
            vin=request.vin,
            account=request.account,
            status=TransferRequest.Status.PENDING,
            defaults={
                "requested_by": user,
                "premise": request.premise,
                "plan": request.plan,
                "guest_charging": request.guest_charging,
                "guest_vins": request.guest_vins,
                "allow_roaming": request.allow_roaming,
                "channel": channel,
            },
        )
        if created:
            record(
                action="transfer.requested",
                target=transfer,
                channel=Channel(channel),
                actor=user,
                after={
                    "vin": transfer.vin,
                    "account": transfer.account.number,
                    "premise": request.premise.premise_id,
                },
            )
    return transfer


def send_enrollment_confirmation(enrollment_id: int) -> None:
    """Tell every user linked to the account what happens next: plug in at home within the window."""
    enrollment = (
        Enrollment.objects.select_related(
            "pev", "premise__default_tariff", "plan__program", "account__customer"
        )
        .filter(pk=enrollment_id)
        .first()
    )
    if enrollment is None:
        return
    recipients = sorted(
        {link.user.email for link in enrollment.account.links.select_related("user") if link.user.email}
        | ({enrollment.account.customer.email} if enrollment.account.customer.email else set())
    )
    if not recipients:
        return
    window = enrollment.commissioning_windows.first()
    context = {
        "enrollment": enrollment,
        "window": window,
        "phone": settings.PORTAL_PHONE,
        "enrollment_url": settings.SITE_URL + reverse("enrollment-detail", args=[enrollment.pk]),
        "time_zone": enrollment.premise.default_tariff.time_zone,
    }
    send_mail(
        subject=_("Your vehicle is enrolled: plug in at home to finish setting it up"),
        message=render_to_string("enrollment/email/enrolled.txt", context),
        from_email=None,
        recipient_list=recipients,
    )
