"""CSR screens for billing runs (issue 6): the runs, newest first, and one run's progress, which its page
polls every two seconds (htmx) while the run is going. Every view requires the CSR role.

Times are shown in UTC, as on the other CSR screens.
"""

import zoneinfo

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.views import View

from billing.models import BillingRun
from billing.runs import FINISHED, run_errors
from pevportal.roles import CsrRequiredMixin

UTC = zoneinfo.ZoneInfo("UTC")
PAGE_SIZE = 50


def _runs():
    return BillingRun.objects.select_related("account", "requested_by").order_by("-created_at", "-pk")


def _progress(run: BillingRun) -> dict:
    """What the progress panel shows: the counters, and whether the page should keep polling."""
    return {
        "run": run,
        "skipped": max(run.premises_done - run.bills_issued - run.bills_held, 0),
        "live": run.status not in FINISHED,
        "errors": run_errors(run),
        "display_tz": UTC,
    }


class RunListView(CsrRequiredMixin, View):
    """Billing runs, newest first, with their status and counts."""

    def get(self, request):
        page = Paginator(_runs(), PAGE_SIZE).get_page(request.GET.get("page"))
        return render(request, "billing/csr/runs.html", {"page": page, "query": "", "display_tz": UTC})


class RunView(CsrRequiredMixin, View):
    """One run: what it bills, who started it, and its live progress and errors."""

    def get(self, request, pk):
        return render(request, "billing/csr/run.html", _progress(get_object_or_404(_runs(), pk=pk)))


class RunProgressView(CsrRequiredMixin, View):
    """The progress panel alone, for the run page to poll; once the run is over it stops asking."""

    def get(self, request, pk):
        run = get_object_or_404(BillingRun, pk=pk)
        return render(request, "billing/csr/_run_progress.html", _progress(run))
