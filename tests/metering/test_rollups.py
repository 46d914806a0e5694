"""Usage rollups per premise, local day and TOU period, kept current as reads arrive (issue 5)."""

import datetime as dt
import zoneinfo

import pytest

from billing.schedule import price_schedule
from metering import rollups
from metering.models import UsageRollup
from tests.metering.homes import MeteredHome

pytestmark = pytest.mark.django_db
LA = zoneinfo.ZoneInfo("America/Los_Angeles")


@pytest.fixture
def home(sce_programs, make_device):
    return MeteredHome(make_device)


def local_midnight_utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), LA).astimezone(dt.UTC)


def expected_by_period(tariff, start, count, wh):
    """{(local day, period index): (wh, reads)} from the billing schedule itself."""
    totals = {}
    for interval in price_schedule(tariff, start, start + dt.timedelta(minutes=15 * count)):
        key = (interval.local_start.date(), interval.period_index)
        total = totals.get(key, (0, 0))
        totals[key] = (total[0] + wh, total[1] + 1)
    return totals


def rollup_totals(**filters):
    return {
        (r.day, r.period_index): (r.wh, r.reads) for r in UsageRollup.objects.filter(**filters).order_by("id")
    }


def test_it_rolls_pev_reads_up_by_local_day_and_period(client, home):
    start = local_midnight_utc(dt.date(2026, 11, 2)) + dt.timedelta(hours=12)  # noon local to noon
    home.post(client, home.reads(start, 96, wh=1000))

    assert rollup_totals(source="pev") == expected_by_period(home.plan.tariff, start, 96, 1000)
    assert set(UsageRollup.objects.values_list("vin", "enrollment_id")) == {(home.vin, None)}


def test_bound_energy_is_rolled_up_under_the_enrollment_and_plan_tariff(client, home, sce_programs):
    from enrollment.models import ServicePlan

    home.premise.default_tariff = ServicePlan.objects.exclude(tariff=home.plan.tariff).first().tariff
    home.premise.save()
    start = local_midnight_utc(dt.date(2026, 11, 3))
    home.session(start, start + dt.timedelta(hours=2))
    home.post(client, home.reads(start, 16, wh=1000))

    bound = UsageRollup.objects.filter(enrollment=home.enrollment)
    assert sum(r.wh for r in bound) == 8 * 1000
    assert {r.tariff_id for r in bound} == {home.plan.tariff_id}
    unbound = UsageRollup.objects.filter(enrollment=None)
    assert sum(r.wh for r in unbound) == 8 * 1000
    assert {r.tariff_id for r in unbound} == {home.premise.default_tariff_id}


def test_a_dst_day_has_every_interval_once(client, home):
    day = dt.date(2026, 11, 1)  # clocks go back: 100 quarter-hours
    start = local_midnight_utc(day)
    home.post(client, home.reads(start, 100, wh=10))

    day_rows = UsageRollup.objects.filter(day=day)
    assert sum(r.reads for r in day_rows) == 100
    assert sum(r.wh for r in day_rows) == 1000


def test_duplicates_and_conflicts_do_not_change_rollups(client, home):
    start = local_midnight_utc(dt.date(2026, 11, 4))
    home.post(client, home.reads(start, 8, wh=500), batch_id="a")
    home.post(client, home.reads(start, 8, wh=700), batch_id="b")

    assert sum(UsageRollup.objects.values_list("wh", flat=True)) == 8 * 500


def rollup_rows():
    return sorted(
        (r.day, r.source, r.vin, r.enrollment_id or 0, r.period_index, r.wh, r.reads)
        for r in UsageRollup.objects.all()
    )


def test_rebuild_recomputes_what_arrival_added(client, home):
    start = local_midnight_utc(dt.date(2026, 11, 5))
    home.session(start + dt.timedelta(hours=3), start + dt.timedelta(hours=5))
    home.post(client, home.reads(start, 96, wh=lambda n: 100 + n))
    before = rollup_rows()
    UsageRollup.objects.update(wh=0, reads=0)
    rollups.rebuild(home.premise.pk, dt.date(2026, 11, 5), dt.date(2026, 11, 5))

    after = rollup_rows()
    assert after == before
    assert any(row[3] for row in after)


def test_reads_before_the_tariffs_first_version_are_stored_and_rolled_up_unpriced(home):
    from metering import readings
    from metering.models import PevRead

    start = dt.datetime(2026, 1, 1, 6, tzinfo=dt.UTC)  # 22:00 on 31 December in Los Angeles
    batch = readings.Batch(
        eumd=home.eumd, batch_id="new-year", reads=home.reads(start, 16), request_sha256="x"
    )
    result, _ = readings.receive(batch, now=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))

    assert result["accepted"] == 16
    assert PevRead.objects.count() == 16
    unpriced = UsageRollup.objects.get(period_index=rollups.UNPRICED_PERIOD)
    assert (unpriced.day, unpriced.reads) == (dt.date(2025, 12, 31), 8)
    assert sum(r.reads for r in UsageRollup.objects.filter(day=dt.date(2026, 1, 1))) == 8
