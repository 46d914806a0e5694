import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from billing.models import Tariff
from enrollment.enrolling import EnrollmentRequest
from enrollment.models import Enrollment, GuestCharging, Premise, ServicePlan, UtilityAccount


class NotEnrolledFilterForm(forms.Form):
    """Filters of the CSR report of premises without an enrolled PEV (Req 5)."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        help_text=_("Account number, premise ID, customer name or service address"),
    )
    feeder = forms.CharField(label=_("Feeder"), required=False, max_length=32)
    postal_code = forms.CharField(label=_("ZIP code starts with"), required=False, max_length=10)
    tariff = forms.ModelChoiceField(
        label=_("Default tariff"),
        queryset=Tariff.objects.order_by("code"),
        required=False,
        to_field_name="code",
    )


class CsrForm(forms.Form):
    """A CSR screen's form: the domain functions' ValidationErrors are shown next to the fields they name."""

    def add_domain_errors(self, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for name, errors in exc.error_dict.items():
                self.add_error(name if name in self.fields else None, errors)
        else:
            self.add_error(None, exc)

    def has_error_code(self, code: str) -> bool:
        return any(error.code == code for errors in self.errors.as_data().values() for error in errors)


class CustomerSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Find a customer"),
        max_length=200,
        help_text=_(
            "Account number, name, phone number (any format), email, VIN or its last six characters, "
            "premise ID or service address"
        ),
    )


class GuestVinsField(forms.CharField):
    """The guest VIN allow-list, typed one per line or separated by spaces or commas."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def to_python(self, value) -> list[str]:
        return [vin for vin in re.split(r"[\s,;]+", super().to_python(value)) if vin]

    def prepare_value(self, value):
        # One line, so the list also survives the review step's hidden input unchanged.
        return " ".join(value if isinstance(value, list) else (value or "").split())


class PremiseChoiceForm(forms.Form):
    """Enrolling by phone, step 1: which of the caller's premises is the PEV's home."""

    premise = forms.ModelChoiceField(
        label=_("Home premise of the vehicle"),
        queryset=Premise.objects.none(),
        to_field_name="premise_id",
        widget=forms.RadioSelect,
        empty_label=None,
    )

    def __init__(self, *args, account: UtilityAccount, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["premise"]
        field.queryset = account.premises.order_by("premise_id")
        field.label_from_instance = lambda premise: f"{premise.premise_id} — {premise.service_address}"
        if field.queryset.count() == 1:
            field.initial = field.queryset.get()


class PreferencesFields(CsrForm):
    """Guest charging, the guest VIN allow-list and roaming, as enrolling and change_preferences take them."""

    guest_charging = forms.ChoiceField(
        label=_("Guest charging"),
        choices=GuestCharging.choices,
        initial=GuestCharging.DECLINED,
        widget=forms.RadioSelect,
    )
    guest_vins = GuestVinsField(
        label=_("Guest VIN allow-list"),
        required=False,
        help_text=_("Optional. When not empty, only these guest vehicles are admitted at the premise."),
    )
    allow_roaming = forms.BooleanField(
        label=_("Allow roaming: this vehicle may charge at the utility's other premises"), required=False
    )


class PhoneEnrollmentForm(PreferencesFields):
    """Enrolling by phone, steps 2–4: VIN, a plan offered at the premise, then guests and roaming.

    Premise and plan accept any row, so a premise off the account or a plan not offered there reaches
    enrolling.check_enrollment and is refused with the wizard's own message; the choices shown are only the
    ones that can succeed.
    """

    field_order = ["premise", "vin", "plan", "guest_charging", "guest_vins", "allow_roaming"]

    premise = forms.ModelChoiceField(
        label=_("Home premise"),
        queryset=Premise.objects.all(),
        to_field_name="premise_id",
        widget=forms.HiddenInput,
    )
    vin = forms.CharField(
        label=_("Vehicle identification number (VIN)"),
        max_length=40,
        help_text=_("17 characters, as on the windshield label or the registration card."),
    )
    plan = forms.ModelChoiceField(
        label=_("Plan"),
        queryset=ServicePlan.objects.offered(),
        to_field_name="code",
        widget=forms.RadioSelect,
        empty_label=None,
    )

    def __init__(self, *args, account: UtilityAccount, premise: Premise | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["premise"].initial = premise
        eligible = ServicePlan.objects.eligible_for(premise).select_related("program") if premise else []
        self.fields["plan"].choices = [
            (plan.code, f"{plan.program.name}: {plan.name} — {plan.summary}") for plan in eligible
        ]
        if len(self.fields["plan"].choices) == 1:
            self.fields["plan"].initial = self.fields["plan"].choices[0][0]

    def enrollment_request(self) -> EnrollmentRequest:
        data = self.cleaned_data
        return EnrollmentRequest(
            account=self.account,
            premise=data["premise"],
            vin=data["vin"],
            plan=data["plan"],
            guest_charging=data["guest_charging"],
            guest_vins=data["guest_vins"],
            allow_roaming=data["allow_roaming"],
        )


class PreferencesForm(PreferencesFields):
    """Guest charging, the guest allow-list and roaming of an enrollment."""

    def __init__(self, *args, enrollment: Enrollment, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "guest_charging": enrollment.guest_charging,
                "guest_vins": enrollment.guest_vins,
                "allow_roaming": enrollment.allow_roaming,
            },
        )
        super().__init__(*args, **kwargs)


class SwitchPlanForm(CsrForm):
    plan = forms.ModelChoiceField(
        label=_("New plan (from the 1st of next month)"),
        queryset=ServicePlan.objects.offered(),
        to_field_name="code",
        widget=forms.RadioSelect,
        empty_label=None,
    )

    def __init__(self, *args, enrollment: Enrollment, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].initial = enrollment.plan.code
        self.fields["plan"].choices = [
            (plan.code, f"{plan.program.name}: {plan.name} — {plan.summary}")
            for plan in ServicePlan.objects.eligible_for(enrollment.premise).select_related("program")
        ]


class ReopenCommissioningForm(CsrForm):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("For example: new head unit, lost key, charger replaced."),
    )


class UnenrollForm(CsrForm):
    reason = forms.CharField(label=_("Reason for un-enrolling"), max_length=200)
    confirm = forms.BooleanField(
        label=_(
            "The caller confirmed: end this enrollment now. The vehicle charges at the home's regular rate."
        )
    )


class MoveOutForm(CsrForm):
    confirm = forms.BooleanField(
        label=_("The caller confirmed the move-out: end every enrollment at this premise now.")
    )


class TransferDecisionForm(CsrForm):
    APPROVE = "approve"
    REJECT = "reject"

    decision = forms.ChoiceField(choices=[(APPROVE, _("Approve")), (REJECT, _("Reject"))])
    note = forms.CharField(
        label=_("Note"),
        max_length=300,
        required=False,
        help_text=_("Required when rejecting; the note is kept with the decision."),
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == self.REJECT and not data.get("note", "").strip():
            self.add_error("note", _("Say why the transfer is rejected."))
        return data
