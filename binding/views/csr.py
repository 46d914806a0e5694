"""CSR screens for devices and bindings (Req 8, 9, 22; BR.2, BR.7). Every view requires the CSR role; each
validates its form and calls one function of binding.devices, which applies the rules and writes the audit.

Times are shown in UTC, as devices report them and as the binding log records them.
"""

import json
import zoneinfo

from cryptography import x509
from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views import View

from binding import devices
from binding import messages as device_messages
from binding.forms import (
    BindingSearchForm,
    DeviceFilterForm,
    DisableDeviceForm,
    IntervalChangeForm,
    SwapDeviceForm,
)
from binding.identity import normalize_lfdi
from binding.models import Binding, Device, DeviceMessage
from pevportal.models import AuditRecord, Channel
from pevportal.roles import CsrRequiredMixin

UTC = zoneinfo.ZoneInfo("UTC")
PAGE_SIZE = 50
RECENT_BINDINGS = 20
AUDIT_LABELS = {
    "device.registered": _lazy("Registered"),
    "device.disabled": _lazy("Disabled"),
    "device.swapped": _lazy("Replaced by a new device"),
}


def _render(request, template: str, context: dict):
    return render(request, f"binding/csr/{template}", {"now": timezone.now(), "display_tz": UTC, **context})


def _device_or_404(lfdi: str) -> Device:
    try:
        lfdi = normalize_lfdi(lfdi)
    except ValueError:
        raise Http404 from None
    return get_object_or_404(
        Device.objects.select_related("premise__account__customer", "pev", "replaced_by"), lfdi=lfdi
    )


def _eumd_or_404(lfdi: str) -> Device:
    device = _device_or_404(lfdi)
    if device.kind != "eumd" or not device.enabled:
        raise Http404("Only an enabled EUMD has an interval length to change.")
    return device


def _page(request, queryset):
    """One page of `queryset` and the query string without `page`, for the pager's links."""
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


class DeviceListView(CsrRequiredMixin, View):
    """ESCIs and EUMDs, filtered by LFDI/SFDI, premise, VIN, kind and status; newest first."""

    def get(self, request):
        form = DeviceFilterForm(request.GET or None)
        found = Device.objects.select_related("premise", "pev").order_by("-registered_at", "-pk")
        if form.is_bound:
            # A filter that cannot be applied must not widen the list to every device.
            found = form.filter(found) if form.is_valid() else found.none()
        page, query = _page(request, found)
        return _render(request, "devices.html", {"form": form, "page": page, "query": query})


class DeviceView(CsrRequiredMixin, View):
    """One device: identity, place, certificate, status, its recent bindings and its audit trail."""

    def get(self, request, lfdi):
        device = _device_or_404(lfdi)
        certificate = x509.load_pem_x509_certificate(device.certificate_pem.encode())
        related = device.bindings if device.kind == "esci" else device.metered_bindings
        return _render(
            request,
            "device.html",
            {
                "device": device,
                "subject": certificate.subject.rfc4514_string(),
                "issuer": certificate.issuer.rfc4514_string(),
                "replaces": Device.objects.filter(replaced_by=device).first(),
                "bindings": related.select_related("premise").order_by("-plugged_in_at")[:RECENT_BINDINGS],
                "audit": [
                    (record, AUDIT_LABELS.get(record.action, record.action))
                    for record in AuditRecord.objects.filter(
                        target_type=ContentType.objects.get_for_model(Device), target_id=str(device.pk)
                    )
                    .select_related("actor")
                    .order_by("-at", "-pk")
                ],
            },
        )


class DisableDeviceView(CsrRequiredMixin, View):
    """Disable a device; the device API refuses its next request (Req 9)."""

    def get(self, request, lfdi):
        return self._page(request, _device_or_404(lfdi), DisableDeviceForm())

    def post(self, request, lfdi):
        device = _device_or_404(lfdi)
        form = DisableDeviceForm(request.POST)
        if form.is_valid():
            try:
                devices.disable_device(
                    device, form.cleaned_data["reason"], request.user, channel=Channel.PHONE
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _("Device %(lfdi)s is disabled; its next request will be refused.")
                    % {"lfdi": device.lfdi},
                )
                return redirect("csr-device", lfdi=device.lfdi)
        return self._page(request, device, form)

    @staticmethod
    def _page(request, device, form):
        return _render(request, "disable.html", {"device": device, "form": form})


class IntervalChangeView(CsrRequiredMixin, View):
    """Change an EUMD's interval length (Req 25, 26); it applies when the ESCI acknowledges the message."""

    def get(self, request, lfdi):
        device = _eumd_or_404(lfdi)
        return self._page(request, device, IntervalChangeForm())

    def post(self, request, lfdi):
        device = _eumd_or_404(lfdi)
        form = IntervalChangeForm(request.POST)
        if form.is_valid():
            try:
                device_messages.send_interval_change(
                    device, form.cleaned_data["interval_seconds"], by=request.user
                )
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    _("The new interval length is on its way; it applies once the gateway confirms it."),
                )
                return redirect("csr-device", lfdi=device.lfdi)
        return self._page(request, device, form)

    @staticmethod
    def _page(request, device, form):
        pending = DeviceMessage.objects.filter(
            kind=DeviceMessage.Kind.INTERVAL_CHANGE, recipient_id=device.lfdi, acked_at__isnull=True
        ).order_by("created_at")
        return _render(request, "interval.html", {"device": device, "form": form, "pending": pending})


class SwapDeviceView(CsrRequiredMixin, View):
    """Replace a failed device by a new one at the same premise or PEV; the old one keeps its history."""

    def get(self, request, lfdi):
        return self._page(request, _device_or_404(lfdi), SwapDeviceForm())

    def post(self, request, lfdi):
        device = _device_or_404(lfdi)
        form = SwapDeviceForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                new = devices.swap_device(
                    device,
                    form.cleaned_data["certificate"],
                    request.user,
                    reason=form.cleaned_data["reason"],
                    channel=Channel.PHONE,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _("Device %(old)s is replaced by %(new)s (SFDI %(sfdi)s).")
                    % {"old": device.lfdi, "new": new.lfdi, "sfdi": new.sfdi_display},
                )
                return redirect("csr-device", lfdi=new.lfdi)
        return self._page(request, device, form)

    @staticmethod
    def _page(request, device, form):
        return _render(request, "swap.html", {"device": device, "form": form})


class BindingSearchView(CsrRequiredMixin, View):
    """Plug-ins by VIN (as the ESCI sent it) and premise, newest first, with the specific reason."""

    def get(self, request):
        form = BindingSearchForm(request.GET or None)
        found = Binding.objects.select_related("premise", "esci").order_by("-plugged_in_at", "-pk")
        if form.is_bound:
            found = form.filter(found) if form.is_valid() else found.none()
        page, query = _page(request, found)
        return _render(request, "bindings.html", {"form": form, "page": page, "query": query})


class BindingView(CsrRequiredMixin, View):
    """One binding and its event log: every message in and out, with sender, in UTC (Req 9)."""

    def get(self, request, pk):
        binding = get_object_or_404(
            Binding.objects.select_related(
                "premise__account__customer",
                "esci",
                "eumd",
                "pev",
                "enrollment__account",
                "billed_enrollment__account",
            ),
            pk=pk,
        )
        events = [(event, _detail(event.detail)) for event in binding.events.order_by("at", "pk")]
        # The sweep may not have run yet; the CSR still sees the state as of now (Req 10).
        effective = binding.effective_state(timezone.now())
        expired = effective != binding.state
        return _render(
            request,
            "binding.html",
            {
                "binding": binding,
                "events": events,
                "deadline_passed": expired,
                "effective_state": Binding.State(effective).label,
            },
        )


def _detail(detail) -> str:
    return json.dumps(detail, indent=2, sort_keys=True, ensure_ascii=False) if detail else ""
