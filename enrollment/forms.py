from django import forms
from django.utils.translation import gettext_lazy as _

from billing.models import Tariff


class PlanComparisonForm(forms.Form):
    """A typical charging pattern to price on every plan (Req 2): energy a night from a chosen hour."""

    kwh_per_night = forms.DecimalField(
        label=_("Energy per night (kWh)"), min_value=1, max_value=100, decimal_places=1, initial=10
    )
    start_hour = forms.TypedChoiceField(
        label=_("Charging starts at"),
        coerce=int,
        choices=[(h, f"{h:02d}:00") for h in range(24)],
        initial=21,
    )
    month = forms.TypedChoiceField(
        label=_("Month"),
        coerce=int,
        choices=[
            (m, name)
            for m, name in enumerate(
                [
                    _("January"),
                    _("February"),
                    _("March"),
                    _("April"),
                    _("May"),
                    _("June"),
                    _("July"),
                    _("August"),
                    _("September"),
                    _("October"),
                    _("November"),
                    _("December"),
                ],
                start=1,
            )
        ],
        initial=7,
    )


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
