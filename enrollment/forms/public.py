from django import forms
from django.utils.translation import gettext_lazy as _


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
