"""Issue 6 end to end: the device simulator charges Alice's PEV last month over real signed HTTP, its EUMD
streams the reads, the premise meter's month is imported with `import_ami`, the session correlates, a
billing run goes through a real Celery worker on PostgreSQL and Redis, and `export_bills` prints the bill
that the SCE rate sheets give by hand.

A bill needs a month that has ended, but the server accepts a plug-in only within the longest plan binding
timeout, so the ESCI reports last month's plug-in weeks late (as after a long outage): the test lengthens
the EV Prime plan's binding timeout, and the longest a session may last, to 60 days.
Needs REDIS_URL and DATABASE_URL (PostgreSQL), as tests/billing/test_billing_worker.py does.
"""

import csv
import datetime as dt
import io
import json
import zoneinfo
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from billing import runs
from billing.models import Tariff
from binding.simulator import Server, SimulatedDevice, SimulatedPev, Site, timestamp
from binding.simulator import metering as simulated_metering
from binding.simulator.scenarios import metered_session
from enrollment.enrolling import EnrollmentRequest, enroll
from enrollment.models import Enrollment, PlanAssignment, ServicePlan
from metering.correlation import correlate_due
from metering.models import LoadCorrelation
from metering.partitions import forget_known_partitions
from pevportal.celery import app
from tests.billing.test_billing_worker import finished, workers  # noqa: F401 — the real worker fixture
from tests.factories import PremiseFactory, north_american_vin

pytestmark = [
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (a real broker); CI sets it"),
    pytest.mark.django_db(transaction=True),
]

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
ALICE_VIN = north_american_vin(6001)
# How late a plug-in may be reported here, and how long a session may last.
LATE_REPORT = dt.timedelta(days=60)
SESSION = dt.timedelta(hours=2)
BASE_LOAD_WH = 400  # the premise meter's every other quarter-hour of the month
INTERVAL = dt.timedelta(minutes=15)

# --- The filed rates, by hand ------------------------------------------------------------------------
# Each energy price is the sheet's non-CARE bundled total plus the Fixed Recovery Charge listed beside it.
FRC = Decimal("0.00619")
BASIC_CHARGE = Decimal("0.794")  # $/day, TOU-D-4-9PM (the premise's one revenue meter)
EV_SUBMETER_CREDIT = Decimal("0.152")  # $/day, TOU-D-PRIME
SHEETS = {
    # Advice 5725-E: TOU-D-4-9PM sheet 90937-E, TOU-D-PRIME sheet 90941-E.
    dt.date(2026, 1, 1): {
        "TOU-D-4-9PM": {
            "Summer On-Peak": "0.58530",
            "Summer Mid-Peak": "0.46523",
            "Summer Off-Peak": "0.34698",
            "Winter Mid-Peak": "0.51159",
            "Winter Off-Peak": "0.37550",
            "Winter Super Off-Peak": "0.33636",
        },
        "TOU-D-PRIME": {
            "Summer On-Peak": "0.59225",
            "Summer Mid-Peak": "0.40116",
            "Summer Off-Peak": "0.26786",
            "Winter Mid-Peak": "0.56580",
            "Winter Off-Peak": "0.24743",
            "Winter Super Off-Peak": "0.24743",
        },
    },
    # Advice 5829-E: TOU-D-4-9PM sheet 91196-E, TOU-D-PRIME sheet 91200-E.
    dt.date(2026, 6, 1): {
        "TOU-D-4-9PM": {
            "Summer On-Peak": "0.58477",
            "Summer Mid-Peak": "0.46482",
            "Summer Off-Peak": "0.34666",
            "Winter Mid-Peak": "0.51112",
            "Winter Off-Peak": "0.37515",
            "Winter Super Off-Peak": "0.33605",
        },
        "TOU-D-PRIME": {
            "Summer On-Peak": "0.59291",
            "Summer Mid-Peak": "0.40182",
            "Summer Off-Peak": "0.26698",
            "Winter Mid-Peak": "0.56646",
            "Winter Off-Peak": "0.24633",
            "Winter Super Off-Peak": "0.24633",
        },
    },
}


def price(month: dt.date, schedule: str, period: str) -> Decimal:
    """$/kWh of the sheet in force in `month` (versions change on the 1st, so one sheet per month)."""
    in_force = max(effective for effective in SHEETS if effective <= month)
    return Decimal(SHEETS[in_force][schedule][period]) + FRC


def summer_holidays(year: int) -> set[dt.date]:
    """SCE's holidays in June–September: Independence Day (a Sunday moves to Monday) and Labor Day."""
    july_4 = dt.date(year, 7, 4)
    september_1 = dt.date(year, 9, 1)
    return {
        july_4 + dt.timedelta(days=1) if july_4.weekday() == 6 else july_4,
        september_1 + dt.timedelta(days=(7 - september_1.weekday()) % 7),
    }


def period_of(local: dt.datetime) -> str:
    """Schedule TOU-D Special Condition 1, by the local start of an interval."""
    evening = 16 <= local.hour < 21
    if 6 <= local.month <= 9:
        weekday = local.weekday() < 5 and local.date() not in summer_holidays(local.year)
        if evening:
            return "Summer On-Peak" if weekday else "Summer Mid-Peak"
        return "Summer Off-Peak"
    if evening:
        return "Winter Mid-Peak"
    return "Winter Super Off-Peak" if 8 <= local.hour < 16 else "Winter Off-Peak"


def line(kind: str, label: str, quantity: Decimal, unit_price: Decimal) -> tuple[str, str, str, str, str]:
    """(kind, period label, quantity, unit price, amount) as the export writes them: the amount rounded
    half up to the cent, once."""
    amount = (quantity * unit_price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return kind, label, f"{quantity:.3f}", f"{unit_price:.5f}", f"{amount:.2f}"


# --- The month and the session -----------------------------------------------------------------------


def last_month() -> dt.date:
    today = timezone.now().astimezone(LA).date()
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def month_span(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    following = (month + dt.timedelta(days=32)).replace(day=1)
    return (
        dt.datetime.combine(month, dt.time(), LA).astimezone(dt.UTC),
        dt.datetime.combine(following, dt.time(), LA).astimezone(dt.UTC),
    )


def plug_in_time(month: dt.date) -> dt.datetime:
    """01:00 local on the month's first Tuesday from the 15th, at most 47 days before today. Never an SCE
    holiday: those are on the 1st, 4th, 11th or 25th (a Sunday one moved to Monday), on a Monday, or on a
    Thursday from the 22nd."""
    day = month.replace(day=15)
    while day.weekday() != 1:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(1), LA).astimezone(dt.UTC)


@pytest.fixture(autouse=True)
def _utility_key(settings, tmp_path):
    """The utility's JWS key for this test, never the development key under var/."""
    settings.UTILITY_SIGNING_KEY = tmp_path / "utility-signing-key.pem"


@pytest.fixture(autouse=True)
def _forget_partitions():
    forget_known_partitions()
    yield
    forget_known_partitions()


@pytest.fixture
def alice_home(sce_programs, make_device, live_server, settings):
    """Alice's premise on TOU-D-4-9PM with her PEV enrolled on EV Prime since before last month (its
    commissioning window open now), and its ESCI and EUMD."""
    premise = PremiseFactory(
        account__customer__name="Alice", default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM")
    )
    plan = ServicePlan.objects.get(code="ev-prime")
    enrollment = enroll(
        EnrollmentRequest(account=premise.account, premise=premise, vin=ALICE_VIN, plan=plan), channel="web"
    )
    enrolled_at = month_span(last_month())[0] - dt.timedelta(days=7)
    Enrollment.objects.filter(pk=enrollment.pk).update(effective_from=enrolled_at)
    PlanAssignment.objects.filter(enrollment=enrollment).update(effective_from=enrolled_at)
    ServicePlan.objects.filter(pk=plan.pk).update(binding_timeout_seconds=int(LATE_REPORT.total_seconds()))
    settings.BINDING_MAX_DURATION_HOURS = int(LATE_REPORT.total_seconds() // 3600)
    esci, esci_key = make_device("esci", premise=premise)
    eumd, eumd_key = make_device("eumd", premise=premise)
    site = Site(
        Server(live_server.url),
        premise.premise_id,
        SimulatedDevice(esci.lfdi, esci_key),
        SimulatedDevice(eumd.lfdi, eumd_key),
    )
    return site, premise


def base_load_file(path, meter_id: str, month: dt.date, skip: set[dt.datetime]):
    """The premise meter's other quarter-hours of the month, BASE_LOAD_WH each."""
    start, end = month_span(month)
    reads = []
    while start < end:
        if start not in skip:
            reads.append(simulated_metering.IntervalRead(start, int(INTERVAL.total_seconds()), BASE_LOAD_WH))
        start += INTERVAL
    return simulated_metering.write_premise_file(path, meter_id, reads)


def premise_intervals(month: dt.date) -> int:
    start, end = month_span(month)
    return int((end - start) / INTERVAL)


def import_ami(path) -> str:
    out = io.StringIO()
    call_command("import_ami", str(path), stdout=out)
    return out.getvalue().strip()


def all_new(reads: int) -> str:
    """import_ami's summary of a file whose every interval is new to the meter: none stored, none billed."""
    return f"accepted: {reads}; duplicates: 0; conflicting: 0 (kept for review); rejected: 0"


def premise_wh_by_period(month: dt.date, *paths) -> Counter:
    """The revenue meter's Wh of the month per TOU period, read back from the AMI files imported."""
    start, end = month_span(month)
    wh = Counter()
    for path in paths:
        with open(path, newline="") as file:
            for row in csv.DictReader(file):
                interval_start = dt.datetime.fromisoformat(row["interval_start"])
                if start <= interval_start < end:
                    wh[period_of(interval_start.astimezone(LA))] += int(row["wh"])
    return wh


def exported_bills(month: dt.date) -> list[dict]:
    out = io.StringIO()
    call_command("export_bills", "--period", f"{month:%Y-%m}", "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def hand_computed_bill(month: dt.date, pev_reads, *ami_files) -> tuple[list[tuple], str]:
    """The bill's lines, as `line` gives them, and its total: the PEV's energy at TOU-D-PRIME, the rest of
    the premise's at TOU-D-4-9PM, and per day the basic charge and the EV Submeter Credit."""
    pev_wh = Counter()
    for read in pev_reads:
        pev_wh[period_of(read.interval_start.astimezone(LA))] += read.wh
    net_wh = premise_wh_by_period(month, *ami_files)
    net_wh.subtract(pev_wh)
    kwh = Decimal(1000)
    days = Decimal((month_span(month)[1].astimezone(LA).date() - month).days)
    lines = sorted(
        [
            *(line("pev_energy", p, wh / kwh, price(month, "TOU-D-PRIME", p)) for p, wh in pev_wh.items()),
            *(
                line("premise_energy", p, wh / kwh, price(month, "TOU-D-4-9PM", p))
                for p, wh in net_wh.items()
            ),
            line("fixed_charge", "", days, BASIC_CHARGE),
            line("credit", "", days, -EV_SUBMETER_CREDIT),
        ]
    )
    return lines, f"{sum(Decimal(amount) for *_, amount in lines):.2f}"


def test_it_bills_a_simulated_session_through_a_worker_by_the_filed_rates(
    workers,  # noqa: F811 — the fixture imported above
    alice_home,
    monkeypatch,
    tmp_path,
):
    site, premise = alice_home
    month = last_month()
    # Every task this test sends — the correlation nudges, the run — goes to the test's own worker queue.
    monkeypatch.setitem(app.conf, "task_default_queue", workers.queue)

    plugged_in_at = plug_in_time(month)
    session = metered_session(
        site,
        SimulatedPev(ALICE_VIN, state_dir=tmp_path / "pev-state"),
        plugged_in_at=timestamp(plugged_in_at),
        unplugged_at=timestamp(plugged_in_at + SESSION),
    )
    around_session = simulated_metering.premise_reads(premise.meter_id, session.reads, now=site.server.now())
    session_file = simulated_metering.write_premise_file(
        tmp_path / "ami-session.csv", premise.meter_id, around_session
    )
    rest_file = base_load_file(
        tmp_path / "ami-month.csv", premise.meter_id, month, skip={r.interval_start for r in around_session}
    )
    imported = [import_ami(session_file), import_ami(rest_file)]
    correlate_due(now=timezone.now())

    assert session.binding.kind == "commissioning", "the PEV's first plug-in commissions it"
    assert (len(session.reads), session.pending) == (8, 0), "2 hours from 01:00: eight quarter-hours"
    assert imported == [all_new(10), all_new(premise_intervals(month) - 10)]
    correlation = LoadCorrelation.objects.get(binding_id=session.binding.binding_id)
    assert correlation.result == LoadCorrelation.Result.PASS

    workers()
    run = runs.open_run(month, account=premise.account, trigger="command", now=timezone.now())
    assert runs.queue_run(run.pk)
    run = finished(run)
    assert (run.status, run.bills_issued, run.bills_held, run.errors) == ("done", 1, 0, [])

    [bill] = exported_bills(month)
    lines = sorted(
        (item["kind"], item["period_label"], item["quantity"], item["unit_price"], item["amount"])
        for item in bill["lines"]
    )
    expected_lines, expected_total = hand_computed_bill(month, session.reads, session_file, rest_file)
    assert (bill["premise"], bill["period"]) == (premise.premise_id, f"{month:%Y-%m}")
    assert not bill["estimated"]
    assert lines == expected_lines
    assert bill["total"] == expected_total
