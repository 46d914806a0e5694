from django import forms
from django.utils.translation import gettext_lazy as _

from billing.models import Tariff


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
