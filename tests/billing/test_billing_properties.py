"""Properties of billing (issue 6, "Done means"), over generated reads: a bill's total is the sum of its
rounded lines; premise net energy plus bound PEV energy is the revenue meter's energy; splitting a month
does not change its energy; a DST day rates every interval exactly once."""

import datetime as dt
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.bills import bill_premises
from billing.models import Bill
from billing.rating import rate_days
from tests.billing.billing_homes import BilledHome, local

pytestmark = pytest.mark.django_db
EXAMPLES = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
KWH = Decimal(1000)

quarter_hours = st.lists(st.integers(0, 3000), min_size=96 * 3, max_size=96 * 3)
sessions = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 88), st.integers(1, 8), st.integers(0, 2400)),
    max_size=3,
    unique_by=lambda s: s[0],
)


def energy(statement, kind: str) -> Decimal:
    return sum((line.quantity for line in statement.lines if line.kind == kind), Decimal(0))


def a_home_with(make_device, premise_wh: list[int], charges) -> BilledHome:
    """Three days of March 2026 from the 7th (the clocks go forward on the 8th) with these readings."""
    home = BilledHome(make_device)
    start = local(2026, 3, 7)
    home.premise_reads(start, local(2026, 3, 10), wh=premise_wh[: (len(premise_wh) - 4)])
    for day, slot, length, wh in charges:
        begin = local(2026, 3, 7 + day) + dt.timedelta(minutes=15 * slot)
        home.session(begin, begin + dt.timedelta(minutes=15 * length), wh=wh)
    return home


@EXAMPLES
@given(premise_wh=quarter_hours, charges=sessions)
def test_premise_net_plus_pev_energy_is_the_revenue_meters_energy(
    make_device, sce_programs, premise_wh, charges
):
    home = a_home_with(make_device, premise_wh, charges)
    (statement,) = rate_days([home.premise.pk], dt.date(2026, 3, 7), dt.date(2026, 3, 9))

    metered = Decimal(sum(premise_wh[: len(premise_wh) - 4])) / KWH  # the 8th has 92 quarter-hours
    assert energy(statement, "premise_energy") + energy(statement, "pev_energy") == metered
    assert energy(statement, "pev_energy") == Decimal(sum(length * wh for _, _, length, wh in charges)) / KWH


@EXAMPLES
@given(premise_wh=quarter_hours, charges=sessions, split=st.integers(7, 8))
def test_splitting_a_period_does_not_change_its_energy(make_device, sce_programs, premise_wh, charges, split):
    home = a_home_with(make_device, premise_wh, charges)
    ids = [home.premise.pk]
    (whole,) = rate_days(ids, dt.date(2026, 3, 7), dt.date(2026, 3, 9))
    (first,) = rate_days(ids, dt.date(2026, 3, 7), dt.date(2026, 3, split))
    (second,) = rate_days(ids, dt.date(2026, 3, split + 1), dt.date(2026, 3, 9))

    def by_period(*statements) -> Counter:
        totals = Counter()
        for statement in statements:
            for line in statement.lines:
                if line.kind in ("premise_energy", "pev_energy"):
                    totals[(line.kind, line.period_label)] += line.quantity
        return totals

    assert by_period(first, second) == by_period(whole)


@EXAMPLES
@given(wh=st.lists(st.integers(1, 5000), min_size=100, max_size=100))
def test_a_dst_day_rates_every_interval_once(make_device, sce_programs, wh):
    home = BilledHome(make_device)
    # 1 November 2026: the clocks go back, the local day has 25 hours, 100 quarter-hours.
    assert home.premise_reads(local(2026, 11, 1), local(2026, 11, 2), wh=wh) == 100
    (statement,) = rate_days([home.premise.pk], dt.date(2026, 11, 1), dt.date(2026, 11, 1))

    assert energy(statement, "premise_energy") == Decimal(sum(wh)) / KWH
    assert statement.hold is None


@EXAMPLES
@given(premise_wh=st.integers(0, 3000), charges=sessions)
def test_a_bills_total_is_the_sum_of_its_lines_each_rounded_once(
    make_device, sce_programs, premise_wh, charges
):
    home = BilledHome(make_device)
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1), wh=premise_wh)
    for day, slot, length, wh in charges:
        begin = local(2026, 3, 10 + day) + dt.timedelta(minutes=15 * slot)
        home.session(begin, begin + dt.timedelta(minutes=15 * length), wh=wh)
    bill_premises([home.premise.pk], dt.date(2026, 3, 1), now=dt.datetime(2026, 4, 2, tzinfo=dt.UTC))

    bill = Bill.objects.get(premise=home.premise)
    lines = list(bill.lines.all())
    assert bill.total == sum(line.amount for line in lines)
    for line in lines:
        assert line.amount == line.amount_unrounded.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
