"""The customer's forms for display access: the code a display shows, and the approve/refuse decision."""

from django import forms
from django.utils.translation import gettext_lazy as _

from pevportal.displays import access


class UserCodeForm(forms.Form):
    user_code = forms.CharField(
        label=_("Code shown on your display"),
        max_length=20,
        help_text=_("Letters and digits, for example ABCD1234. Dashes and spaces do not matter."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )

    def clean_user_code(self):
        code = access.normalize_user_code(self.cleaned_data["user_code"])
        if not code:
            raise forms.ValidationError(_("Type the letters and digits your display shows."), code="blank")
        return code


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Allow")), ("refuse", _("Do not allow"))])
