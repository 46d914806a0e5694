"""Load correlation of one session (Req 15): the premise meter must explain the PEV's energy, interval by
interval, and charging should show as a step in the premise load."""

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType

from binding.models import Binding
from metering.correlation import correlate
from metering.models import LoadCorrelation
from metering.review import clear_correlation
from pevportal.models import AuditRecord
from tests.metering.correlation_fixtures import (
    CHARGING,
    DAYS_AFTER,
    HOUSE,
    PLUGGED_IN,
    SOON_AFTER,
    UNPLUGGED,
    charged_session,
    write_household,
    write_pev_reads,
    write_premise_reads,
)
from tests.metering.homes import MeteredHome

pytestmark = pytest.mark.django_db
Result = LoadCorrelation.Result


@pytest.fixture
def home(sce_programs, make_device):
    return MeteredHome(make_device)


def test_it_passes_a_session_the_premise_meter_explains(home):
    binding = charged_session(home)
    write_household(home, CHARGING)

    correlation = correlate(binding.pk, now=SOON_AFTER)

    assert correlation.result == Result.PASS
    assert correlation.counts_as_bound
    evidence = correlation.evidence
    assert evidence["intervals"] == 8
    assert (evidence["pev_wh_total"], evidence["premise_wh_total"]) == (8 * 1800, 8 * (1800 + HOUSE))
    assert (evidence["start_step_wh"], evidence["stop_step_wh"]) == (1800, 1800)
    assert (evidence["exceeding_count"], evidence["missing_premise_intervals"], evidence["pev_gaps"]) == (
        0,
        0,
        0,
    )
    assert LoadCorrelation.objects.get(binding=binding) == correlation


def test_it_fails_a_session_using_more_than_the_premise_meter_saw(home):
    binding = charged_session(home)
    household = write_household(home, CHARGING)
    # The premise meter saw 1,000 Wh in two quarters where the PEV claims 1,800 Wh.
    for read in household[6:8]:
        read.wh = 1000
        read.save()

    correlation = correlate(binding.pk, now=SOON_AFTER)

    assert correlation.result == Result.FAIL
    assert not correlation.counts_as_bound
    assert correlation.evidence["exceeding_count"] == 2
    assert correlation.evidence["exceeding"] == [
        {
            "interval_start": "2026-03-02T03:30:00Z",
            "interval_seconds": 900,
            "pev_wh": 1800,
            "premise_wh": 1000,
            "excess_wh": 800,
        },
        {
            "interval_start": "2026-03-02T03:45:00Z",
            "interval_seconds": 900,
            "pev_wh": 1800,
            "premise_wh": 1000,
            "excess_wh": 800,
        },
    ]


def test_it_fails_even_before_the_premise_data_is_complete(home):
    binding = charged_session(home)
    write_premise_reads(home, [HOUSE, HOUSE, 100], start=PLUGGED_IN - dt.timedelta(minutes=30))

    correlation = correlate(binding.pk, now=SOON_AFTER)

    assert correlation.result == Result.FAIL
    assert correlation.evidence["missing_premise_intervals"] > 0


def test_it_sums_five_minute_pev_reads_over_the_premise_quarter_hour(home):
    binding = home.session(PLUGGED_IN, UNPLUGGED)
    # Uneven within each quarter (1,900 Wh in the last five minutes) but 2,000 Wh per quarter in all.
    write_pev_reads(home, binding, [50, 50, 1900] * 8, seconds=300)
    write_household(home, [2000] * 8)

    correlation = correlate(binding.pk, now=SOON_AFTER)

    assert correlation.result == Result.PASS
    assert correlation.evidence["intervals"] == 8
    assert correlation.evidence["pev_wh_total"] == 16_000


def test_it_compares_an_hourly_pev_read_with_the_premise_quarters_in_that_hour(home):
    binding = home.session(PLUGGED_IN, UNPLUGGED)
    write_pev_reads(home, binding, [7200, 7200], seconds=3600)
    write_household(home, [1800, 1800, 1800, 1800, 1800, 1800, 1800, 0])

    correlation = correlate(binding.pk, now=SOON_AFTER)

    assert correlation.result == Result.FAIL
    assert correlation.evidence["intervals"] == 2
    assert correlation.evidence["exceeding"][0]["interval_start"] == "2026-03-02T04:00:00Z"
    assert correlation.evidence["exceeding"][0]["interval_seconds"] == 3600
    assert (
        correlation.evidence["exceeding"][0]["pev_wh"],
        correlation.evidence["exceeding"][0]["premise_wh"],
    ) == (
        7200,
        4 * HOUSE + 3 * 1800,
    )


def test_it_warns_when_charging_shows_no_step_in_the_premise_load(home):
    binding = charged_session(home)
    # A house drawing 2,500 Wh a quarter all evening: enough to explain the PEV, but nothing changes.
    write_premise_reads(home, [2500] * 16, start=PLUGGED_IN - dt.timedelta(hours=1))

    correlation = correlate(binding.pk, now=SOON_AFTER)

    assert correlation.result == Result.WARN
    assert correlation.counts_as_bound
    assert set(correlation.evidence["warnings"]) == {"no_start_step", "no_stop_step"}
    assert (correlation.evidence["start_step_wh"], correlation.evidence["stop_step_wh"]) == (0, 0)


def test_it_looks_for_the_step_when_charging_starts_not_at_plug_in(home):
    # Plugged in at 19:00, charging waits an hour for a cheaper price.
    energies = [0, 0, 0, 0, *CHARGING]
    binding = charged_session(home, energies)
    write_household(home, energies)

    correlation = correlate(binding.pk, now=SOON_AFTER + dt.timedelta(hours=1))

    assert correlation.result == Result.PASS
    assert correlation.evidence["start_step_wh"] == 1800


def test_it_warns_about_gaps_in_the_pev_reads(home):
    binding = charged_session(home, [1800, 1800, None, None, 1800, 1800, 1800, 1800])
    write_household(home, CHARGING)

    correlation = correlate(binding.pk, now=SOON_AFTER)

    assert correlation.result == Result.WARN
    assert correlation.evidence["pev_gaps"] == 2
    assert correlation.evidence["warnings"] == ["pev_gaps"]


def test_it_is_pending_until_the_premise_data_arrives(home):
    binding = charged_session(home)

    pending = correlate(binding.pk, now=SOON_AFTER)
    write_household(home, CHARGING)
    passed = correlate(binding.pk, now=SOON_AFTER + dt.timedelta(days=1))

    assert pending.result == Result.PENDING
    assert pending.evidence["missing_premise_intervals"] == 10  # the session and a quarter either side
    assert pending.counts_as_bound
    assert passed.pk == pending.pk
    assert passed.result == Result.PASS


def test_it_is_pending_while_the_pev_is_still_plugged_in(home):
    binding = home.session(PLUGGED_IN, None)
    write_pev_reads(home, binding, CHARGING)
    write_household(home, CHARGING)

    correlation = correlate(binding.pk, now=SOON_AFTER)

    assert correlation.result == Result.PENDING


def test_it_warns_when_premise_data_is_still_missing_after_three_days(home):
    binding = charged_session(home)

    correlation = correlate(binding.pk, now=DAYS_AFTER)

    assert correlation.result == Result.WARN
    assert correlation.evidence["warnings"] == ["premise_incomplete"]


def test_it_waits_for_pev_reads_then_warns_without_them(home):
    binding = home.session(PLUGGED_IN, UNPLUGGED)
    write_household(home, CHARGING)

    assert correlate(binding.pk, now=SOON_AFTER).result == Result.PENDING
    late = correlate(binding.pk, now=DAYS_AFTER)
    assert late.result == Result.WARN
    assert late.evidence["warnings"] == ["no_pev_reads"]


def test_it_allows_the_configured_tolerance(home, settings):
    binding = charged_session(home)
    # The premise meter reads 10 Wh less than the PEV's own meter in every charging quarter.
    write_household(home, [1790] * 8, house=0)

    within = correlate(binding.pk, now=SOON_AFTER)
    settings.METERING_CORRELATION_TOLERANCE_WH = 5
    settings.METERING_CORRELATION_TOLERANCE_PERCENT = 0
    beyond = correlate(binding.pk, now=SOON_AFTER)
    settings.METERING_CORRELATION_TOLERANCE_PERCENT = 1  # 17.9 Wh: within again
    percent = correlate(binding.pk, now=SOON_AFTER)

    assert within.result == Result.PASS
    assert beyond.result == Result.FAIL
    assert beyond.evidence["exceeding_count"] == 8
    assert beyond.evidence["tolerance"] == {"wh": 5, "percent": 0, "step_percent": 50}
    assert percent.result == Result.PASS


def test_it_uses_the_configured_step_share(home, settings):
    binding = charged_session(home)
    # A 2,000 Wh house whose oven (1,200 Wh a quarter) went off as charging started: a step of 600 Wh.
    write_premise_reads(
        home, [2000] * 4 + [2600] + [3800] * 7 + [2000] * 4, start=PLUGGED_IN - dt.timedelta(hours=1)
    )

    default = correlate(binding.pk, now=SOON_AFTER)
    settings.METERING_CORRELATION_STEP_PERCENT = 30
    lower = correlate(binding.pk, now=SOON_AFTER)

    assert default.result == Result.WARN
    assert default.evidence["warnings"] == ["no_start_step"]
    assert default.evidence["start_step_wh"] == 600
    assert lower.result == Result.PASS


def test_it_leaves_a_binding_that_never_bound_alone(home):
    binding = home.session(PLUGGED_IN, UNPLUGGED, bound=False)

    assert correlate(binding.pk, now=SOON_AFTER) is None
    assert not LoadCorrelation.objects.exists()


def test_it_keeps_a_clearance_when_the_same_fail_is_recomputed(home, carol_csr):
    binding = charged_session(home)
    household = write_household(home, CHARGING)
    household[6].wh = 1000
    household[6].save()
    failed = correlate(binding.pk, now=SOON_AFTER)
    clear_correlation(failed, by=carol_csr, note="Premise meter replaced that evening")

    again = correlate(binding.pk, now=SOON_AFTER + dt.timedelta(hours=1))

    assert again.result == Result.FAIL
    assert again.cleared_by == carol_csr
    assert again.counts_as_bound


def test_it_withdraws_a_clearance_when_a_different_fail_appears(home, carol_csr):
    binding = charged_session(home)
    household = write_household(home, CHARGING)
    household[6].wh = 1000
    household[6].save()
    failed = correlate(binding.pk, now=SOON_AFTER)
    clear_correlation(failed, by=carol_csr, note="Premise meter replaced that evening")
    household[9].wh = 900
    household[9].save()

    again = correlate(binding.pk, now=SOON_AFTER + dt.timedelta(hours=1))

    assert again.result == Result.FAIL
    assert again.evidence["exceeding_count"] == 2
    assert again.cleared_at is None
    assert not again.counts_as_bound
    withdrawn = AuditRecord.objects.get(
        target_type=ContentType.objects.get_for_model(LoadCorrelation),
        action="load_correlation.clearance_withdrawn",
    )
    assert withdrawn.before["clear_note"] == "Premise meter replaced that evening"


def test_it_correlates_a_session_in_a_fixed_number_of_queries(home, django_assert_max_num_queries):
    binding = charged_session(home, [1800] * 48)
    write_household(home, [1800] * 48)
    correlate(binding.pk, now=DAYS_AFTER)

    with django_assert_max_num_queries(8):  # four to read, a savepoint around two to store
        correlation = correlate(binding.pk, now=DAYS_AFTER)

    assert correlation.result == Result.PASS
    assert Binding.objects.get(pk=binding.pk).correlation == correlation
