"""The customer's bills under /my/bills/ (issue 7; docs/customer.md): the list, one bill in HTML and a
printable page (a PDF is the browser's "Save as PDF").

Bills are looked up through the customer's linked accounts (`UtilityAccount.objects.for_user`), so another
customer's bill is a 404. A bill is final: these pages only read it.
"""

import datetime as dt
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from billing.models import Bill, BillLine
from billing.whatif import compare_plans
from enrollment.models import UtilityAccount

BILLS_PER_PAGE = 12


def customer_bills(user):
    """The bills a signed-in customer may see: those of the accounts linked to them."""
    return Bill.objects.filter(account__in=UtilityAccount.objects.for_user(user))


@login_required
@require_GET
def bill_list(request):
    bills = (
        customer_bills(request.user).select_related("premise__default_tariff").order_by("-period", "premise")
    )
    page = Paginator(bills, BILLS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"bill": bill, **_period(bill)} for bill in page.object_list]
    return render(request, "billing/customer/bills.html", {"page": page, "rows": rows})


@login_required
@require_GET
def bill_detail(request, pk):
    context = _bill_context(request.user, pk)
    context["comparison"] = compare_plans(context["bill"].premise, context["first_day"], context["last_day"])
    return render(request, "billing/customer/bill.html", context)


@login_required
@require_GET
def bill_print(request, pk):
    return render(request, "billing/customer/bill_print.html", _bill_context(request.user, pk))


def _bill_context(user, pk) -> dict:
    bill = get_object_or_404(
        customer_bills(user).select_related("account", "premise__default_tariff", "trued_up_by"), pk=pk
    )
    lines = list(bill.lines.select_related("enrollment__pev").order_by("position"))
    for line in lines:
        line.label = _label(line)
    energy = {
        kind: [line for line in lines if line.kind == kind]
        for kind in (BillLine.Kind.PEV_ENERGY, BillLine.Kind.PREMISE_ENERGY)
    }
    pev_kwh = sum((line.quantity for line in energy[BillLine.Kind.PEV_ENERGY]), Decimal(0))
    premise_kwh = sum((line.quantity for line in energy[BillLine.Kind.PREMISE_ENERGY]), Decimal(0))
    pev_amount = sum((line.amount for line in energy[BillLine.Kind.PEV_ENERGY]), Decimal("0.00"))
    premise_amount = sum((line.amount for line in energy[BillLine.Kind.PREMISE_ENERGY]), Decimal("0.00"))
    return {
        "bill": bill,
        "lines": lines,
        **_period(bill),
        "pev_kwh": pev_kwh,
        "premise_kwh": premise_kwh,
        "home_kwh": pev_kwh + premise_kwh,
        "pev_amount": pev_amount,
        "premise_amount": premise_amount,
        "energy_amount": pev_amount + premise_amount,
        "trues_up": list(bill.trues_up.order_by("period")),
        "zone": bill.premise.default_tariff.zone,
        "printed_at": timezone.now(),
    }


def _label(line: BillLine) -> str:
    """The line as the customer reads it, in their language: energy lines are rebuilt from their period
    (billing stores the description in English); other lines keep the description billing wrote."""
    estimated = line.description.endswith("(estimated)")
    if line.kind == BillLine.Kind.PEV_ENERGY:
        label = _("EV charging, %(period)s") % {"period": line.period_label}
    elif line.kind == BillLine.Kind.PREMISE_ENERGY:
        label = _("Home energy, %(period)s") % {"period": line.period_label}
    else:
        return line.description
    return _("%(line)s (estimated)") % {"line": label} if estimated else label


def _period(bill: Bill) -> dict:
    """The bill's local days: the first, and the last (the day before the local midnight it ends at)."""
    zone = bill.premise.default_tariff.zone
    return {
        "first_day": bill.starts_at.astimezone(zone).date(),
        "last_day": (bill.ends_at.astimezone(zone) - dt.timedelta(seconds=1)).date(),
    }
