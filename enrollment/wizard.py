"""The customer's self-service enrollment wizard (scenario 1 steps 1–4): a draft kept on the server, the
order of its steps, and completing it through `enrolling.enroll` — the same validation every channel uses.

Step 1 is signing in (django-allauth); the wizard's own steps follow. Nothing in a draft is trusted: each
request resolves it again through the customer's access QuerySets and the eligibility rules, and a step
counts as complete only while what it stored still holds. So no step can be skipped, and an account that
was unlinked or a plan that was withdrawn sends the customer back to that step.

Drafts are not audited: they change nothing the utility acts on; completing one writes the enrollment's
audit record.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from enrollment.enrolling import EnrollmentRequest, check_guest_vins, enroll, request_transfer
from enrollment.models import (
    Enrollment,
    EnrollmentChannel,
    EnrollmentDraft,
    GuestCharging,
    Premise,
    ServicePlan,
    TransferRequest,
    UtilityAccount,
)
from enrollment.vehicles import VehicleInfo, decode_vin
from enrollment.vin import validate_vin

ACCOUNT, PREMISE, VEHICLE, PLAN, PREFERENCES, REVIEW = (
    "account",
    "premise",
    "vehicle",
    "plan",
    "preferences",
    "review",
)
STEPS = (ACCOUNT, PREMISE, VEHICLE, PLAN, PREFERENCES, REVIEW)
# Signing in is step 1 of the customer's journey, so the wizard's first own step is step 2.
TOTAL_STEPS = len(STEPS) + 1


def step_number(step: str) -> int:
    return STEPS.index(step) + 2


@dataclass
class Progress:
    """A draft resolved against the database: what each step chose, or None where it is not (or no
    longer) valid."""

    draft: EnrollmentDraft
    account: UtilityAccount | None = None
    premise: Premise | None = None
    vin: str = ""
    vehicle: VehicleInfo | None = None
    transfer: bool = False
    plan: ServicePlan | None = None
    guest_charging: str = ""
    guest_vins: tuple[str, ...] = ()
    allow_roaming: bool = False

    @property
    def first_incomplete(self) -> str:
        done = {
            ACCOUNT: self.account is not None,
            PREMISE: self.premise is not None,
            VEHICLE: bool(self.vin),
            PLAN: self.plan is not None,
            PREFERENCES: bool(self.guest_charging),
        }
        return next((step for step in STEPS[:-1] if not done[step]), REVIEW)

    def reachable(self, step: str) -> bool:
        """A step may be shown or posted only when every step before it is complete."""
        return STEPS.index(step) <= STEPS.index(self.first_incomplete)

    @property
    def resume_step(self) -> str:
        """Where the customer left off, unless something they chose no longer holds."""
        step = self.draft.step if self.draft.step in STEPS else ACCOUNT
        return step if self.reachable(step) else self.first_incomplete

    def enrollment_request(self) -> EnrollmentRequest:
        return EnrollmentRequest(
            account=self.account,
            premise=self.premise,
            vin=self.vin,
            plan=self.plan,
            guest_charging=self.guest_charging,
            guest_vins=list(self.guest_vins),
            allow_roaming=self.allow_roaming,
        )


def draft_for(user) -> EnrollmentDraft:
    """The user's draft, started at the first step if they have none."""
    draft, _ = EnrollmentDraft.objects.get_or_create(user=user, defaults={"step": ACCOUNT})
    return draft


def progress(draft: EnrollmentDraft) -> Progress:
    """Resolve a draft. Ids are looked up only among what the user may see, so an id of someone else's
    account or premise resolves to nothing."""
    data, user = draft.data, draft.user
    result = Progress(draft=draft)
    result.account = UtilityAccount.objects.for_user(user).filter(pk=data.get("account_id")).first()
    if result.account is None:
        return result
    result.premise = (
        Premise.objects.for_user(user)
        .filter(pk=data.get("premise_id"), account=result.account)
        .select_related("default_tariff")
        .first()
    )
    vin = data.get("vin", "")
    try:
        validate_vin(vin)
    except ValidationError:
        vin = ""
    if vin:
        result.vin, result.vehicle, result.transfer = vin, decode_vin(vin), bool(data.get("transfer"))
    if result.premise is not None:
        result.plan = (
            ServicePlan.objects.eligible_for(result.premise)
            .filter(pk=data.get("plan_id"))
            .select_related("program", "tariff")
            .first()
        )
    if data.get("guest_charging") in GuestCharging.values:
        try:
            guest_vins = check_guest_vins(
                data.get("guest_vins", []), data["guest_charging"], own_vin=result.vin
            )
        except ValidationError:
            return result
        result.guest_charging = data["guest_charging"]
        result.guest_vins = tuple(guest_vins)
        result.allow_roaming = bool(data.get("allow_roaming"))
    return result


def save_step(draft: EnrollmentDraft, step: str, **values) -> str:
    """Store a validated step's answers and move the draft on; returns the step to show next.

    Later steps keep their answers: `progress` drops any that the new answer invalidates (a plan not
    offered at a newly chosen premise), so the customer re-does only those.
    """
    draft.data = {**draft.data, **values}
    draft.step = progress(draft).first_incomplete
    draft.save(update_fields=["data", "step", "updated_at"])
    return draft.step


def complete(draft: EnrollmentDraft) -> Enrollment | TransferRequest:
    """Enroll what the draft describes — or, for a vehicle enrolled elsewhere, ask a CSR to transfer it —
    and discard the draft. Raises ValidationError({field: messages}) and keeps the draft if a rule fails."""
    state = progress(draft)
    if state.first_incomplete != REVIEW:
        raise ValidationError(_("Some steps are not complete yet."), code="incomplete")
    with transaction.atomic():
        if state.transfer:
            result = request_transfer(
                state.enrollment_request(), user=draft.user, channel=EnrollmentChannel.WEB
            )
        else:
            result = enroll(state.enrollment_request(), channel=EnrollmentChannel.WEB, actor=draft.user)
        draft.delete()
    return result


def discard(draft: EnrollmentDraft) -> None:
    """Start over: forget everything the wizard collected (links made on the way stay)."""
    draft.delete()
