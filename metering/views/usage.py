"""The customer's usage and charging-session pages under /my/ (issue 7; docs/customer.md).

Premises are looked up through `Premise.objects.for_user`, so another customer's premise is a 404; the
data comes from metering.usage (one grouped query per chart or page) and billing.whatif.
"""

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from billing.whatif import compare_month
from enrollment.models import Premise, UtilityAccount
from metering import charts, usage


@login_required
@require_GET
def usage_page(request):
    """`?premise=<premise ID>&month=YYYY-MM`: one of the last 13 months (this month by default)."""
    premises = list(
        Premise.objects.for_user(request.user).select_related("default_tariff").order_by("premise_id")
    )
    if not premises:
        return render(request, "metering/customer/usage.html", {"premises": []})
    premise = _chosen_premise(premises, request.GET.get("premise"))
    today = usage.local_today(premise.default_tariff.zone)
    months = usage.recent_months(today)
    month, error = _chosen_month(request.GET.get("month"), months)
    month_usage = usage.month_usage(premise, month, today)
    totals = usage.monthly_totals(premise, months)
    newer = months[months.index(month) - 1] if month != months[0] else None
    older = months[months.index(month) + 1] if month != months[-1] else None
    context = {
        "premises": premises,
        "premise": premise,
        "month": month,
        "months": months,
        "newer": newer,
        "older": older,
        "error": error,
        "usage": month_usage,
        "daily_chart": charts.daily_chart(month_usage),
        "home_period_chart": charts.home_period_chart(month_usage.home_periods),
        "ev_period_chart": charts.ev_period_chart(month_usage.pev_periods),
        "monthly_chart": charts.monthly_chart(totals),
        "monthly_totals": totals,
        "comparison": compare_month(premise, month, today),
        "this_month": month == months[0],
    }
    return render(request, "metering/customer/usage.html", context, status=400 if error else 200)


def _chosen_premise(premises: list[Premise], wanted: str | None) -> Premise:
    if not wanted:
        return premises[0]
    for premise in premises:
        if premise.premise_id == wanted:
            return premise
    raise Http404(_("No such premise on your accounts."))


def _chosen_month(wanted: str | None, months: list[dt.date]) -> tuple[dt.date, str]:
    """The month asked for, or this month and why the one asked for cannot be shown."""
    if not wanted:
        return months[0], ""
    try:
        month = dt.date.fromisoformat(f"{wanted}-01")
    except ValueError:
        return months[0], _("“%(month)s” is not a month: use YYYY-MM, e.g. %(example)s.") % {
            "month": wanted,
            "example": f"{months[0]:%Y-%m}",
        }
    if month not in months:
        return months[0], _("%(month)s is not one of the months you can view: %(first)s to %(last)s.") % {
            "month": wanted,
            "first": date_format(months[-1], "F Y"),
            "last": date_format(months[0], "F Y"),
        }
    return month, ""


@login_required
@require_GET
def sessions_page(request):
    """The customer's charging sessions, newest first, `?page=N`."""
    accounts = UtilityAccount.objects.for_user(request.user)
    page = usage.session_page(accounts, request.GET.get("page"))
    return render(request, "metering/customer/sessions.html", {"page": page, "sessions": page.object_list})
