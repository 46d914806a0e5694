"""CSR screens of held bills (issue 6; docs/billing.md, "Holds"): the queue of months that could not be billed
as measured, their release — with an estimate, or as measured once the data is corrected — and a bill's
page, where a CSR adds an adjustment for the premise's next bill. Every view requires the CSR role; each
action validates its form and calls one function: billing.bills.release_hold or
billing.adjustments.add_adjustment, which apply the rules and write the audit.

Times are shown in UTC, as on the other CSR queues; a period is a calendar month of the premise's tariff.
"""

import zoneinfo
from decimal import ROUND_DOWN, Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from billing.adjustments import add_adjustment
from billing.bills import HoldNotReleasable, release_hold
from billing.forms import NOTE_MAX_LENGTH, AdjustmentForm, ReleaseHoldForm
from billing.models import Adjustment, Bill, BillHold
from billing.rating import RatingError
from pevportal.roles import CsrRequiredMixin

UTC = zoneinfo.ZoneInfo("UTC")
PAGE_SIZE = 50
RECENT = 20
HOUR = Decimal(3600)


def _render(request, template: str, context: dict):
    return render(request, f"billing/csr/holds/{template}", {"display_tz": UTC, **context})


def _dollars(amount: Decimal) -> str:
    return f"-${-amount}" if amount < 0 else f"${amount}"


def _hours(seconds: int) -> str:
    return format((Decimal(seconds) / HOUR).quantize(Decimal("0.01")).normalize(), "f")


def _explain(hold: BillHold) -> tuple[str, str | None]:
    """The hold's detail in words for the CSR, and where to fix it (a URL), if PEV Portal has a screen."""
    detail = hold.detail or {}
    if "covered_seconds" in detail and detail.get("month_seconds"):
        covered, month = detail["covered_seconds"], detail["month_seconds"]
        share = (Decimal(100) * covered / month).quantize(Decimal("0.1"), rounding=ROUND_DOWN)
        text = _(
            "Revenue-meter reads cover %(covered)s h of the month's %(month)s h (%(share)s %%): "
            "%(missing)s h missing."
        ) % {
            "covered": _hours(covered),
            "month": _hours(month),
            "share": share,
            "missing": _hours(month - covered),
        }
        return text, None
    if "open_revisions" in detail:
        count = detail["open_revisions"]
        text = ngettext(
            "%(n)s conflicting read awaits review.", "%(n)s conflicting reads await review.", count
        ) % {"n": count}
        return text, reverse("csr-metering-revisions")
    return "; ".join(f"{key}: {value}" for key, value in detail.items()), None


def _released_recently():
    """The last releases, newest first, each with the bill it issued (same query)."""
    bills = Bill.objects.filter(premise=OuterRef("premise"), period=OuterRef("period"))
    return (
        BillHold.objects.filter(status=BillHold.Status.RELEASED)
        .select_related("premise__account", "released_by")
        .annotate(
            bill_id=Subquery(bills.values("pk")[:1]),
            bill_total=Subquery(bills.values("total")[:1]),
        )
        .order_by("-released_at", "-pk")[:RECENT]
    )


class HoldQueueView(CsrRequiredMixin, View):
    """Open holds, oldest first, each with its release buttons; then the last releases and their bills."""

    def get(self, request):
        holds = (
            BillHold.objects.filter(status=BillHold.Status.OPEN)
            .select_related("premise__account")
            .order_by("created_at", "pk")
        )
        page = Paginator(holds, PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [(hold, *_explain(hold)) for hold in page]
        return _render(
            request,
            "queue.html",
            {"page": page, "rows": rows, "query": "", "released": list(_released_recently())},
        )


class ReleaseHoldView(CsrRequiredMixin, View):
    """POST only: the release chosen and a note, then billing.bills.release_hold; on to the bill issued."""

    def post(self, request, pk):
        hold = get_object_or_404(BillHold.objects.select_related("premise"), pk=pk)
        form = ReleaseHoldForm(request.POST)
        if not form.is_valid():
            if "note" in form.errors:
                why = _("write a note (up to %(n)s characters).") % {"n": NOTE_MAX_LENGTH}
            else:
                why = _("choose how to release the month.")
            messages.error(request, _("Not released: %(why)s") % {"why": why})
            return redirect("csr-billing-holds")
        release = form.cleaned_data["release"]
        try:
            bill = release_hold(
                hold, by=request.user, release=release, note=form.cleaned_data["note"], now=timezone.now()
            )
        except (HoldNotReleasable, RatingError) as exc:
            messages.error(request, _("Not released: %(why)s") % {"why": exc})
            return redirect("csr-billing-holds")
        facts = {
            "period": f"{bill.period:%B %Y}",
            "premise": hold.premise.premise_id,
            "total": _dollars(bill.total),
        }
        if release == BillHold.Release.ESTIMATE:
            done = _(
                "Billed %(period)s for premise %(premise)s with an estimate: total %(total)s. "
                "The next bill trues it up once the month's reads are complete."
            )
        else:
            done = _("Billed %(period)s for premise %(premise)s as measured: total %(total)s.")
        messages.success(request, done % facts)
        return redirect("csr-billing-bill", pk=bill.pk)


def _bill_page(request, bill_id: int, form: AdjustmentForm):
    bill = get_object_or_404(Bill.objects.select_related("account", "premise", "run"), pk=bill_id)
    lines = list(bill.lines.select_related("tariff").order_by("position"))
    carried = list(bill.adjustments.select_related("approved_by").order_by("pk"))
    pending = list(
        Adjustment.objects.filter(premise_id=bill.premise_id, bill__isnull=True)
        .select_related("approved_by")
        .order_by("pk")
    )
    hold = (
        BillHold.objects.filter(
            premise_id=bill.premise_id, period=bill.period, status=BillHold.Status.RELEASED
        )
        .select_related("released_by")
        .order_by("-released_at")
        .first()
    )
    return _render(
        request,
        "bill.html",
        {
            "bill": bill,
            "lines": lines,
            "lines_total": sum((line.amount for line in lines), Decimal("0.00")),
            "carried": carried,
            "pending": pending,
            "hold": hold,
            "form": form,
        },
    )


class BillView(CsrRequiredMixin, View):
    """One issued bill: its lines (quantity, unit price, unrounded and rounded amount), total and history."""

    def get(self, request, pk):
        return _bill_page(request, pk, AdjustmentForm())


class AddAdjustmentView(CsrRequiredMixin, View):
    """POST only: an amount and a reason for the premise's next bill; the signed-in CSR approves it."""

    def post(self, request, pk):
        bill = get_object_or_404(Bill.objects.select_related("premise"), pk=pk)
        form = AdjustmentForm(request.POST)
        if form.is_valid():
            try:
                adjustment = add_adjustment(
                    bill.premise,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    by=request.user,
                )
            except ValidationError as exc:
                form.add_error(exc.code if exc.code in form.fields else None, exc)
            else:
                messages.success(
                    request,
                    _("Adjustment of %(amount)s added: it will be a line on the next bill of %(premise)s.")
                    % {"amount": _dollars(adjustment.amount), "premise": bill.premise.premise_id},
                )
                return redirect("csr-billing-bill", pk=bill.pk)
        return _bill_page(request, bill.pk, form)
