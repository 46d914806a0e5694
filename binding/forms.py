"""Forms of the CSR device and binding screens. They validate what the CSR typed; binding.devices acts."""

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from binding.devices import REASON_MAX_LENGTH
from binding.identity import LFDI_HEX_DIGITS, SFDI_DISPLAY_DIGITS, load_certificate, sfdi_is_valid
from binding.models import Binding, DeviceKind
from enrollment.vin import normalize_vin

# A PEM certificate is under 1 KB; anything much larger is not one and is refused before parsing.
MAX_CERTIFICATE_BYTES = 16 * 1024


class DeviceFilterForm(forms.Form):
    """Filters of the CSR device list; `filter` applies the valid ones."""

    ANY, ENABLED, DISABLED = "", "yes", "no"

    device = forms.CharField(
        label=_("LFDI or SFDI"),
        required=False,
        max_length=LFDI_HEX_DIGITS,
        help_text=_("The SFDI printed on the device, or the start of its LFDI"),
    )
    premise = forms.CharField(label=_("Premise ID"), required=False, max_length=32)
    vin = forms.CharField(label=_("VIN (EUMD inside a PEV)"), required=False, max_length=30)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("Any")), *DeviceKind.choices])
    enabled = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[(ANY, _("Any")), (ENABLED, _("Enabled")), (DISABLED, _("Disabled"))],
    )

    def clean_device(self) -> str:
        value = self.cleaned_data["device"].strip().replace(" ", "").replace("-", "").lower()
        if value and not all(c in "0123456789abcdef" for c in value):
            raise ValidationError(_("An LFDI is hexadecimal (0–9, a–f); an SFDI is digits."))
        return value

    def filter(self, devices):
        """The devices matching the cleaned filters; call after is_valid()."""
        data = self.cleaned_data
        if data["device"]:
            value = data["device"]
            match = Q(lfdi__startswith=value)
            if value.isdigit() and len(value) <= SFDI_DISPLAY_DIGITS:
                # The SFDI is printed zero-padded; the number is the same with or without the zeros.
                match |= Q(sfdi=int(value))
            devices = devices.filter(match)
        if data["premise"]:
            devices = devices.filter(premise__premise_id=data["premise"].strip())
        if data["vin"]:
            devices = devices.filter(pev__vin=normalize_vin(data["vin"]))
        if data["kind"]:
            devices = devices.filter(kind=data["kind"])
        if data["enabled"]:
            devices = devices.filter(enabled=data["enabled"] == self.ENABLED)
        return devices

    def mistyped_sfdi(self) -> bool:
        """Whether the search looks like a 12-digit SFDI read off a label with a digit wrong (bad check
        digit), so the CSR can ask the caller to read it again."""
        value = self.cleaned_data.get("device", "") if self.is_valid() else ""
        return len(value) == SFDI_DISPLAY_DIGITS and value.isdigit() and not sfdi_is_valid(int(value))


class DisableDeviceForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX_LENGTH,
        help_text=_("For staff: why the device may no longer send requests (e.g. reported stolen)."),
    )


class IntervalChangeForm(forms.Form):
    """A new interval length for an EUMD (Req 25): sent to it through its ESCI, in force once acknowledged."""

    interval_seconds = forms.TypedChoiceField(
        label=_("Interval length"),
        coerce=int,
        choices=[
            (300, _("5 minutes")),
            (900, _("15 minutes")),
            (1800, _("30 minutes")),
            (3600, _("60 minutes")),
        ],
    )


class SwapDeviceForm(forms.Form):
    """The replacement's certificate, uploaded or pasted (PEM); checked here, registered by swap_device."""

    certificate_file = forms.FileField(label=_("Certificate file (PEM)"), required=False)
    certificate_pem = forms.CharField(
        label=_("…or paste the certificate"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 64, "spellcheck": "false"}),
        help_text=_("From -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----"),
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=REASON_MAX_LENGTH,
        help_text=_("Why the old device is replaced (e.g. no readings since March); optional."),
    )

    def clean(self):
        data = super().clean()
        upload, pasted = data.get("certificate_file"), (data.get("certificate_pem") or "").strip()
        if bool(upload) == bool(pasted):
            raise ValidationError(_("Upload the new device's certificate or paste it — one of the two."))
        field = "certificate_file" if upload else "certificate_pem"
        if upload and upload.size > MAX_CERTIFICATE_BYTES:
            self.add_error(field, _("This file is too large to be a certificate."))
            return data
        pem = upload.read() if upload else pasted.encode()
        try:
            data["certificate"] = load_certificate(pem)
        except ValueError as exc:
            self.add_error(field, str(exc))
        return data


class BindingSearchForm(forms.Form):
    """Find plug-ins by VIN and/or premise, optionally in one state; empty shows the latest."""

    vin = forms.CharField(label=_("VIN"), required=False, max_length=30)
    premise = forms.CharField(label=_("Premise ID"), required=False, max_length=32)
    state = forms.ChoiceField(
        label=_("State"), required=False, choices=[("", _("Any")), *Binding.State.choices]
    )

    def filter(self, bindings):
        data = self.cleaned_data
        if data["vin"]:
            vin = normalize_vin(data["vin"])
            # `vin` is what the ESCI sent (also for unknown VINs); `pev` is set once it matched a PEV.
            bindings = bindings.filter(Q(vin=vin) | Q(pev__vin=vin))
        if data["premise"]:
            bindings = bindings.filter(premise__premise_id=data["premise"].strip())
        if data["state"]:
            bindings = bindings.filter(state=data["state"])
        return bindings
