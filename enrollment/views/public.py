"""Public pages: the PEV programmes, their plans and tariffs, and the plan comparison (Req 1, 2)."""

import zoneinfo

from django.shortcuts import render
from django.utils import timezone
from django.views.generic import DetailView, ListView

from billing.estimates import estimate_plans
from billing.models import DEFAULT_TIME_ZONE
from billing.presentation import tariff_cards
from enrollment.forms.public import PlanComparisonForm
from enrollment.models import PevProgram, ServicePlan


class ProgramListView(ListView):
    """Public: the PEV programmes on offer and how to enroll (Req 1, 2)."""

    template_name = "enrollment/program_list.html"
    context_object_name = "programs"

    def get_queryset(self):
        return PevProgram.objects.offered()


class ProgramDetailView(DetailView):
    """Public: one programme, each plan with its tariff's week grid, prices, charges and eligibility."""

    template_name = "enrollment/program_detail.html"
    context_object_name = "program"
    slug_field = "code"
    slug_url_kwarg = "code"

    def get_queryset(self):
        return PevProgram.objects.offered()

    def get_context_data(self, **kwargs):
        plans = self.object.offered_plans
        cards = tariff_cards([plan.tariff for plan in plans], on=_local_today())
        return super().get_context_data(plans=list(zip(plans, cards, strict=True)), **kwargs)


def compare_plans(request):
    """Public: what a typical charging pattern costs a month on each plan (Req 2)."""
    form = PlanComparisonForm(request.GET or None)
    estimates = []
    if form.is_valid():
        estimates = estimate_plans(
            ServicePlan.objects.offered().select_related("program", "tariff"),
            month=form.cleaned_data["month"],
            kwh_per_night=form.cleaned_data["kwh_per_night"],
            start_hour=form.cleaned_data["start_hour"],
            today=_local_today(),
        )
    return render(request, "enrollment/compare.html", {"form": form, "estimates": estimates})


def _local_today():
    """Today where the utility's customers are: rate versions and holidays turn over at local midnight."""
    return timezone.localdate(timezone=zoneinfo.ZoneInfo(DEFAULT_TIME_ZONE))
