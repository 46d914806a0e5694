"""CSR review queues of metering (issue 5; Req 15): read revisions to apply or dismiss, and sessions whose
load correlation failed or warned. Every view requires the CSR role; each action validates its note and
calls one function of metering.review, which applies the rules and writes the audit.

Times are shown in UTC, as meters report their intervals.
"""

import datetime as dt
import zoneinfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import BooleanField, ExpressionWrapper, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views import View

from binding.models import Binding
from metering import review
from metering.forms import CorrelationFilterForm, NoteForm, RevisionFilterForm
from metering.models import LoadCorrelation, PevRead, PremiseRead, ReadRevision
from pevportal.roles import CsrRequiredMixin

UTC = zoneinfo.ZoneInfo("UTC")
PAGE_SIZE = 50
WARNING_LABELS = {
    "no_pev_reads": _lazy("No PEV reads for the session"),
    "premise_incomplete": _lazy("Premise meter data incomplete"),
    "no_start_step": _lazy("No step in the premise load when charging started"),
    "no_stop_step": _lazy("No step in the premise load when charging stopped"),
    "pev_gaps": _lazy("Gaps in the PEV reads"),
}


def _render(request, template: str, context: dict):
    return render(request, f"metering/csr/{template}", {"now": timezone.now(), "display_tz": UTC, **context})


def _page(request, queryset):
    """One page of `queryset` and the query string without `page`, for the pager's links."""
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


def _back(request, default: str, **kwargs) -> str:
    """Where an action returns: the queue page it was posted from (with its filter), if it is ours."""
    target = request.POST.get("next", "")
    if target.startswith("/csr/metering/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(default, kwargs=kwargs)


def _error_text(exc: Exception) -> str:
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


# --- Read revisions ----------------------------------------------------------------------------------


def _revision_rows(revisions):
    """Revisions with what the queue shows beside them, in the same query: the value stored now, the
    premise (the revenue meter's, or the stored PEV read's) and whether the interval is billed."""
    same_interval = {"meter_id": OuterRef("meter_id"), "interval_start": OuterRef("interval_start")}
    pev_read = PevRead.objects.filter(**same_interval)
    premise_read = PremiseRead.objects.filter(**same_interval)
    return revisions.select_related("meter__eumd").annotate(
        current_wh=Coalesce(Subquery(pev_read.values("wh")[:1]), Subquery(premise_read.values("wh")[:1])),
        premise_code=Coalesce(
            F("meter__premise__premise_id"), Subquery(pev_read.values("premise__premise_id")[:1])
        ),
        billed=ExpressionWrapper(
            Q(meter__billed_through__gt=F("interval_start")), output_field=BooleanField()
        ),
    )


class RevisionQueueView(CsrRequiredMixin, View):
    """Open revisions, oldest first: a different value for a stored interval, or a read for a billed one."""

    def get(self, request):
        form = RevisionFilterForm(request.GET or None)
        found = _revision_rows(ReadRevision.objects.open()).order_by("received_at", "pk")
        if form.is_bound:
            # A filter that cannot be applied must not widen the queue to every revision.
            found = form.filter(found) if form.is_valid() else found.none()
        page, query = _page(request, found)
        return _render(
            request,
            "revisions.html",
            {"form": form, "page": page, "query": query, "here": request.get_full_path()},
        )


class _RevisionActionView(CsrRequiredMixin, View):
    """POST only: the note, then one function of metering.review; back to the queue with the outcome."""

    def act(self, revision, *, by, note):
        raise NotImplementedError

    def done(self, revision) -> str:
        raise NotImplementedError

    def post(self, request, pk):
        revision = get_object_or_404(ReadRevision, pk=pk)
        form = NoteForm(request.POST)
        if not form.is_valid():
            messages.error(
                request, _("Not done: write a note (up to %(n)s characters).") % {"n": review.NOTE_MAX_LENGTH}
            )
        else:
            try:
                revision = self.act(revision, by=request.user, note=form.cleaned_data["note"])
            except (review.ReviewRefused, ValidationError) as exc:
                messages.error(request, _("Not done: %(why)s") % {"why": _error_text(exc)})
            else:
                messages.success(request, self.done(revision))
        return redirect(_back(request, "csr-metering-revisions"))


class ApplyRevisionView(_RevisionActionView):
    def act(self, revision, *, by, note):
        return review.apply_revision(revision, by=by, note=note)

    def done(self, revision) -> str:
        return _(
            "Applied: the read of %(start)s UTC is now %(wh)s Wh; usage and correlation are updated."
        ) % {
            "start": f"{revision.interval_start.astimezone(UTC):%Y-%m-%d %H:%M}",
            "wh": revision.wh,
        }


class DismissRevisionView(_RevisionActionView):
    def act(self, revision, *, by, note):
        return review.dismiss_revision(revision, by=by, note=note)

    def done(self, revision) -> str:
        return _("Dismissed: the stored read of %(start)s UTC stays as it is.") % {
            "start": f"{revision.interval_start.astimezone(UTC):%Y-%m-%d %H:%M}"
        }


# --- Load correlation --------------------------------------------------------------------------------


def _evidence(correlation: LoadCorrelation) -> dict:
    """The evidence as the templates show it: times parsed, warnings in words."""
    evidence = correlation.evidence or {}
    window = evidence.get("window") or {}
    return {
        **evidence,
        "window_start": _parse(window.get("start")),
        "window_end": _parse(window.get("end")),
        "exceeding_rows": [
            {**row, "start": _parse(row["interval_start"]), "minutes": row.get("interval_seconds", 0) // 60}
            for row in evidence.get("exceeding", [])
        ],
        "warning_labels": [WARNING_LABELS.get(code, code) for code in evidence.get("warnings", [])],
    }


def _parse(value):
    return dt.datetime.fromisoformat(value) if value else None


class CorrelationQueueView(CsrRequiredMixin, View):
    """Sessions whose correlation failed (or warned), not yet cleared, oldest check first."""

    def get(self, request):
        # Always bound: no filter means the default, failed sessions.
        form = CorrelationFilterForm(request.GET)
        found = (
            LoadCorrelation.objects.filter(cleared_at__isnull=True)
            .select_related("binding__premise__account")
            .order_by("checked_at", "pk")
        )
        found = form.filter(found) if form.is_valid() else found.none()
        page, query = _page(request, found)
        rows = [(correlation, _evidence(correlation)) for correlation in page]
        return _render(
            request,
            "correlations.html",
            {"form": form, "page": page, "rows": rows, "query": query, "here": request.get_full_path()},
        )


class CorrelationView(CsrRequiredMixin, View):
    """One session's correlation: the result, the evidence and, for a fail, the clearance."""

    def get(self, request, binding_id):
        binding = get_object_or_404(Binding.objects.select_related("premise__account"), pk=binding_id)
        correlation = LoadCorrelation.objects.filter(binding=binding).select_related("cleared_by").first()
        return _render(
            request,
            "correlation.html",
            {
                "binding": binding,
                "correlation": correlation,
                "evidence": _evidence(correlation) if correlation else None,
                "here": request.get_full_path(),
            },
        )


class ClearCorrelationView(CsrRequiredMixin, View):
    """POST only: clear a failed session so billing counts it as bound; the note says why."""

    def post(self, request, binding_id):
        correlation = get_object_or_404(LoadCorrelation, binding_id=binding_id)
        form = NoteForm(request.POST)
        if not form.is_valid():
            messages.error(
                request,
                _("Not cleared: write a note (up to %(n)s characters).") % {"n": review.NOTE_MAX_LENGTH},
            )
        else:
            try:
                review.clear_correlation(correlation, by=request.user, note=form.cleaned_data["note"])
            except (review.ReviewRefused, ValidationError) as exc:
                messages.error(request, _("Not cleared: %(why)s") % {"why": _error_text(exc)})
            else:
                messages.success(request, _("Cleared: this session's energy is billed at its PEV plan."))
        return redirect(_back(request, "csr-metering-correlation", binding_id=binding_id))
