""" "This month on the other plan would have cost …" (issue 7; docs/customer.md).

A premise's month — to date, or a whole past month — rated as it is billed, then again with the premise's
PEVs on each other plan open to it, and once with no EV plan at all (all the energy at the home's default
rate). It is the rating engine itself (billing.rating), not a second one: the month's reads are loaded and
summed per hour once, and each alternative prices the same hourly energy with its plan's tariff segments,
its fixed charges and credits. Pending adjustments are left out of every figure: they do not depend on
the plan. Writes nothing.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from billing.models import BillLine
from billing.rating import RatingError, Statement, _Span

NO_PLAN = None


@dataclass(frozen=True)
class PlanCost:
    """What the span would have cost on `plan` (None: no EV plan), or why it cannot be rated."""

    plan: object | None
    total: Decimal | None
    difference: Decimal | None  # total − the current plan's total: positive would have cost more
    problem: str = ""

    @property
    def more(self) -> bool:
        return self.difference is not None and self.difference > 0

    @property
    def less(self) -> bool:
        return self.difference is not None and self.difference < 0

    @property
    def magnitude(self) -> Decimal | None:
        return None if self.difference is None else abs(self.difference)


@dataclass(frozen=True)
class Comparison:
    premise: object
    first_day: dt.date
    last_day: dt.date
    current_plans: list  # the plans the premise's PEVs are billed under in the span
    current_total: Decimal | None
    alternatives: list[PlanCost]
    problem: str = ""

    @property
    def month_to_date(self) -> bool:
        return self.last_day < _month_end(self.first_day)


def compare_month(premise, month: dt.date, today: dt.date) -> Comparison | None:
    """`compare_plans` over the month up to today (a local date in the premise's zone)."""
    first = month.replace(day=1)
    return compare_plans(premise, first, min(_month_end(first), today))


def compare_plans(premise, first_day: dt.date, last_day: dt.date) -> Comparison | None:
    """The premise's local days first_day..last_day (one month) on its plans and on every other eligible
    plan; None when no PEV at the premise is on a plan in the span (nothing to compare)."""
    from enrollment.models import Premise, ServicePlan

    premise = Premise.objects.select_related("default_tariff").get(pk=premise.pk)
    span = _Alternatives([premise], first_day, last_day)
    try:
        current = span.current()
    except RatingError as error:
        return Comparison(premise, first_day, last_day, [], None, [], problem=str(error))
    enrollments = span.enrollments()
    if not enrollments:
        return None
    current_plans = list({e.plan.pk: e.plan for e in enrollments}.values())
    others = (
        ServicePlan.objects.eligible_for(premise)
        .exclude(pk__in=[plan.pk for plan in current_plans])
        .select_related("tariff", "program")
        .order_by("program__sort_order", "sort_order", "name")
    )
    alternatives = [span.cost_on(plan, current) for plan in others]
    alternatives.append(span.cost_on(NO_PLAN, current))
    return Comparison(premise, first_day, last_day, current_plans, current, alternatives)


class _Alternatives(_Span):
    """One rating span whose hourly energy, once loaded, is priced again on other plans."""

    def current(self) -> Decimal:
        """The span as billed (plans in force at each hour), adjustments aside."""
        (statement,) = self.statements()
        return _total(statement)

    def _energy_lines(self, statements, premise_hours, pev_rows, enrollments) -> None:
        # Keep what `statements()` loaded: the alternatives re-price the same hours.
        self._loaded = (premise_hours, pev_rows, enrollments)
        super()._energy_lines(statements, premise_hours, pev_rows, enrollments)

    def enrollments(self) -> list:
        """The enrollments billed at this premise in the span (plans are re-assigned by `cost_on`)."""
        return list(self._loaded[2].values())

    def cost_on(self, plan, current: Decimal) -> PlanCost:
        """The span with every enrollment of the premise on `plan` for the whole span (None: no EV plan —
        no PEV energy subtracted, no submeter credit: the whole premise at its default rate)."""
        from enrollment.models import PlanAssignment

        premise_hours, pev_rows, loaded = self._loaded
        if plan is NO_PLAN:
            pev_rows, enrollments = [], {}
        else:
            enrollments = loaded
            for enrollment in enrollments.values():
                # Rated as if assigned to `plan` from the span's first hour (billing.rating._plan_tariff).
                enrollment.plan = plan
                enrollment._prefetched_objects_cache["plan_assignments"] = [
                    PlanAssignment(enrollment=enrollment, plan=plan, effective_from=self.start)
                ]
        statements = {
            pk: Statement(pk, p.account_id, self.period, self.start, self.end)
            for pk, p in self.premises.items()
        }
        try:
            super()._energy_lines(statements, premise_hours, pev_rows, enrollments)
            self._fixed_lines(statements, enrollments)
        except RatingError as error:
            return PlanCost(plan, None, None, problem=str(error))
        (statement,) = statements.values()
        total = _total(statement)
        return PlanCost(plan, total, total - current)


def _total(statement: Statement) -> Decimal:
    return sum(
        (line.amount for line in statement.lines if line.kind != BillLine.Kind.ADJUSTMENT), Decimal("0.00")
    )


def _month_end(first: dt.date) -> dt.date:
    return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
