"""Public pages: the PEV programmes, their plans and tariffs, and the plan comparison (Req 1, 2)."""

from django.shortcuts import render
from django.utils import timezone
from django.views.generic import DetailView, ListView

from billing.estimates import typical_monthly_cost
from billing.presentation import tariff_card
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
        today = timezone.now().date()
        plans = [(plan, tariff_card(plan.tariff, on=today)) for plan in self.object.offered_plans]
        return super().get_context_data(plans=plans, **kwargs)


def compare_plans(request):
    """Public: what a typical charging pattern costs a month on each plan (Req 2)."""
    form = PlanComparisonForm(request.GET or None)
    estimates = []
    if form.is_valid():
        month = form.cleaned_data["month"]
        # Price the coming occurrence of that month, at the prices in force then — not a past one.
        today = timezone.now().date()
        year = today.year if month >= today.month else today.year + 1
        plans = ServicePlan.objects.offered().select_related("program", "tariff")
        estimates = sorted(
            (
                (
                    plan,
                    typical_monthly_cost(
                        plan.tariff,
                        month=month,
                        year=year,
                        kwh_per_night=form.cleaned_data["kwh_per_night"],
                        start_hour=form.cleaned_data["start_hour"],
                    ),
                )
                for plan in plans
            ),
            key=lambda pair: pair[1].total,
        )
    return render(request, "enrollment/compare.html", {"form": form, "estimates": estimates})
