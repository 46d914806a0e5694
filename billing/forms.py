"""Forms of billing's CSR screens: they validate what the CSR chose or typed; billing.bills and
billing.adjustments act."""

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.adjustments import REASON_MAX_LENGTH
from billing.models import BillHold

NOTE_MAX_LENGTH = BillHold._meta.get_field("note").max_length


class ReleaseHoldForm(forms.Form):
    """How a held month is released (the button pressed) and the CSR's note on why."""

    release = forms.ChoiceField(choices=BillHold.Release.choices)
    note = forms.CharField(
        label=_("Note"),
        max_length=NOTE_MAX_LENGTH,
        help_text=_("Why: e.g. meter exchanged on the 30th, the head-end re-sent the missing day."),
    )


class AdjustmentForm(forms.Form):
    """A correction for the premise's next bill; the approver is the signed-in CSR."""

    amount = forms.DecimalField(
        label=_("Amount ($)"),
        max_digits=12,
        decimal_places=2,
        help_text=_("Positive charges the customer, negative credits them, e.g. -12.50."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX_LENGTH,
        help_text=_("Printed on the customer's bill, e.g. true-up of the estimated March bill."),
    )

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if not amount:
            raise forms.ValidationError(_("An adjustment of $0.00 changes nothing."))
        return amount
