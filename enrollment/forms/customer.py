"""Forms of the customer's enrollment wizard and enrollment pages. They check what the customer typed with
the same rules the domain functions apply (enrolling.check_vin, check_guest_vins), so a mistake is shown
next to its field; the functions check again when they act."""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from enrollment.enrolling import VIN_ENROLLED, check_guest_vins, check_vin
from enrollment.models import GuestCharging, Premise, ServicePlan, UtilityAccount
from enrollment.vin import normalize_vin


class ChooseAccountForm(forms.Form):
    """Step 2, for a customer who has linked accounts already: pick one."""

    account = forms.ModelChoiceField(
        label=_("Your linked accounts"), queryset=UtilityAccount.objects.none(), widget=forms.RadioSelect
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = UtilityAccount.objects.for_user(user).prefetch_related("premises")
        self.fields["account"].label_from_instance = _account_label


def _account_label(account: UtilityAccount) -> str:
    addresses = ", ".join(premise.service_address for premise in account.premises.all())
    return f"{account.number} — {addresses}" if addresses else account.number


class LinkAccountForm(forms.Form):
    """Step 2: link an account with what the bill and the CIS know. Formats are not checked here: the
    refusal must not say which detail was wrong (linking.link_account)."""

    account_number = forms.CharField(
        label=_("Account number"), max_length=32, help_text=_("As printed on your bill.")
    )
    postal_code = forms.CharField(
        label=_("Service ZIP code"),
        max_length=10,
        help_text=_("The ZIP code of an address where we supply you electricity."),
    )
    phone_last4 = forms.CharField(
        label=_("Last four digits of the phone number on your account"), max_length=4
    )


class EnrollmentCodeForm(forms.Form):
    """Step 2: link an account with a one-time code a customer service representative gave the caller."""

    code = forms.CharField(
        label=_("One-time enrollment code"),
        max_length=20,
        help_text=_("Ten letters and digits, as our representative read them to you."),
    )


class PremiseForm(forms.Form):
    """Step 3: the premise where the vehicle charges, among the chosen account's premises only."""

    premise = forms.ModelChoiceField(
        label=_("Where does your vehicle charge?"),
        queryset=Premise.objects.none(),
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Choose one of your account's service addresses.")},
    )

    def __init__(self, *args, user, account: UtilityAccount, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["premise"].queryset = Premise.objects.for_user(user).filter(account=account)
        self.fields["premise"].label_from_instance = lambda premise: (
            f"{premise.service_address}, {premise.postal_code} ({premise.premise_id})"
        )


class VehicleForm(forms.Form):
    """Step 4: the VIN as typed from the windshield label or registration."""

    vin = forms.CharField(
        label=_("Vehicle identification number (VIN)"),
        # Longer than a VIN so that spaces and dashes typed from a label still reach check_vin.
        max_length=40,
        help_text=_(
            "17 letters and digits, on the driver's side of the windshield and on your registration. "
            "Spaces and dashes are ignored."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.enrolled_vin = ""

    def clean_vin(self) -> str:
        try:
            return check_vin(self.cleaned_data["vin"])
        except ValidationError as exc:
            if exc.code == VIN_ENROLLED:
                # The page offers the transfer path for this VIN.
                self.enrolled_vin = normalize_vin(self.cleaned_data["vin"])
            raise


class PlanForm(forms.Form):
    """Step 5: a plan offered at the premise. Each plan on the page has its own submit button."""

    plan = forms.ModelChoiceField(
        label=_("Plan"),
        queryset=ServicePlan.objects.none(),
        to_field_name="code",
        error_messages={
            "invalid_choice": _("This plan is not offered at this premise."),
            "required": _("Choose a plan."),
        },
    )

    def __init__(self, *args, premise: Premise, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = ServicePlan.objects.eligible_for(premise).select_related(
            "program", "tariff"
        )


class PreferencesForm(forms.Form):
    """Step 6 and the preferences page: guest charging, the guest allow-list and roaming."""

    guest_charging = forms.ChoiceField(
        label=_("When a guest's vehicle charges at your home"),
        choices=GuestCharging.choices,
        widget=forms.RadioSelect,
        initial=GuestCharging.DECLINED,
    )
    guest_vins = forms.CharField(
        label=_("Guest vehicles allowed (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "VINs of the guest vehicles you admit, one per line or separated by spaces. Leave empty to admit "
            "any guest."
        ),
    )
    allow_roaming = forms.BooleanField(
        label=_("Let my vehicle be recognised when it charges at other premises we serve"),
        required=False,
    )

    def __init__(self, *args, own_vin: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.own_vin = own_vin

    def clean_guest_vins(self) -> list[str]:
        return [vin for vin in re.split(r"[\s,;]+", self.cleaned_data["guest_vins"]) if vin]

    def clean(self):
        cleaned = super().clean()
        if "guest_charging" in cleaned and "guest_vins" in cleaned:
            try:
                cleaned["guest_vins"] = check_guest_vins(
                    cleaned["guest_vins"], cleaned["guest_charging"], own_vin=self.own_vin
                )
            except ValidationError as exc:
                self.add_error("guest_vins", exc)
        return cleaned

    @staticmethod
    def initial_for(guest_charging: str, guest_vins, allow_roaming: bool) -> dict:
        return {
            "guest_charging": guest_charging or GuestCharging.DECLINED,
            "guest_vins": "\n".join(guest_vins),
            "allow_roaming": allow_roaming,
        }


class SwitchPlanForm(forms.Form):
    """Switch an enrollment's plan from the start of next month, among plans offered at its premise."""

    plan = forms.ModelChoiceField(
        label=_("New plan"),
        queryset=ServicePlan.objects.none(),
        widget=forms.RadioSelect,
        to_field_name="code",
        error_messages={"invalid_choice": _("This plan is not offered at this premise.")},
    )

    def __init__(self, *args, premise: Premise, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = ServicePlan.objects.eligible_for(premise).select_related("program")
        self.fields["plan"].label_from_instance = _plan_label


def _plan_label(plan: ServicePlan) -> str:
    return f"{plan.program.name}: {plan.name} — {plan.summary}"


class ReopenCommissioningForm(forms.Form):
    """Why the customer needs a fresh commissioning window; the reason is kept with the window."""

    REASONS = [
        ("new head unit", _("My vehicle's head unit (infotainment system) was replaced")),
        ("new key", _("My vehicle's key or its security credentials were replaced")),
        ("new charger", _("My home charger or its gateway was replaced")),
        ("other", _("Another reason: my vehicle is no longer recognised when I plug in")),
    ]

    reason = forms.ChoiceField(label=_("Why do you need to set up your vehicle again?"), choices=REASONS)


class UnenrollForm(forms.Form):
    """Un-enrolling asks for confirmation; the reason is optional."""

    confirm = forms.BooleanField(
        label=_("I understand that my vehicle's charging will be billed at my home's regular rate"),
        error_messages={"required": _("Tick the box to confirm that you want to un-enroll.")},
    )
    reason = forms.CharField(label=_("Why are you leaving? (optional)"), required=False, max_length=200)
