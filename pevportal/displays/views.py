"""The customer's pages for displays and energy management systems (RFC 8628 §3.3): type the code a
display shows at /device, approve or refuse it, and see and revoke approved displays at /my/devices/.

Every page requires sign-in; grants and tokens are looked up with the signed-in customer, so another
customer's display is a 404. Views validate, then call one function of `access`.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing.models import DEFAULT_TIME_ZONE
from enrollment.models import Premise
from pevportal.displays import access
from pevportal.displays.forms import DecisionForm, UserCodeForm


def _local_zone_name(user) -> str:
    """Times are shown in the customer's premise-local time (their first premise's tariff zone)."""
    zone = (
        Premise.objects.for_user(user)
        .order_by("premise_id")
        .values_list("default_tariff__time_zone", flat=True)
        .first()
    )
    return zone or DEFAULT_TIME_ZONE


@login_required
def enter_code(request):
    if request.method == "POST":
        form = UserCodeForm(request.POST)
        if form.is_valid():
            try:
                grant = access.claim_user_code(request.user, form.cleaned_data["user_code"])
            except ValidationError as exc:
                form.add_error("user_code", exc)
            else:
                return redirect("device-confirm", pk=grant.pk)
    else:
        form = UserCodeForm(initial={"user_code": request.GET.get("user_code", "")})
    return render(request, "displays/enter_code.html", {"form": form})


@login_required
def confirm(request, pk: int):
    grant = access.pending_grant(request.user, pk)
    if grant is None:
        messages.error(request, _("That request is no longer waiting. Ask your display for a new code."))
        return redirect("device")
    application = access.application_for(grant)
    if application is None:
        raise Http404
    form = DecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        approve = form.cleaned_data["decision"] == "approve"
        if access.decide(request.user, grant.pk, approve=approve) is None:
            messages.error(request, _("That request is no longer waiting. Ask your display for a new code."))
            return redirect("device")
        return render(
            request,
            "displays/decided.html",
            {"application": application, "approved": approve},
        )
    return render(
        request,
        "displays/confirm.html",
        {"grant": grant, "application": application, "scopes": access.describe_scopes(grant.scope)},
    )


@login_required
def my_devices(request):
    displays = [
        {"token": token, "scopes": access.describe_scopes(token.access_token.scope)}
        for token in access.authorised_displays(request.user)
    ]
    return render(
        request, "displays/my_devices.html", {"displays": displays, "zone": _local_zone_name(request.user)}
    )


@login_required
@require_POST
def revoke(request, family):
    application = access.revoke_display(request.user, family)
    if application is None:
        raise Http404
    messages.success(
        request,
        _("%(name)s is disconnected: it can no longer read your information.") % {"name": application.name},
    )
    return redirect("my-devices")
