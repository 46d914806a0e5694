"""The utility operations view `/ops/` (issue 7): staff only, each figure right for a known grid, and a fixed
number of queries however much there is to count."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import BillHold, BillingRun
from binding.models import Binding, DeviceKind, PevStatus
from enrollment.models import TransferRequest
from metering.models import LoadCorrelation, Meter, MeterKind, ReadingBatch, ReadRevision
from pevportal.models import ImportRun
from pevportal.operations import figures
from tests.binding.conftest import device_ca, make_device  # noqa: F401 — bindings need devices
from tests.factories import EnrollmentFactory, PevFactory, PremiseFactory

pytestmark = pytest.mark.django_db
URL = "/ops/"


class Grid:
    """Premises on two feeders with their ESCIs, and bindings in every state the page counts."""

    def __init__(self, device_maker, now):
        self.now, self.make_device = now, device_maker
        self.premises = {}
        self.escis = {}

    def premise(self, feeder: str):
        premise = PremiseFactory(feeder_id=feeder)
        self.escis[premise.pk], _ = self.make_device(DeviceKind.ESCI, premise=premise)
        return premise

    def binding(
        self, premise, state, *, plugged_minutes_ago=30, deadline_minutes=1, finished=None, bound=None
    ):
        plugged = self.now - dt.timedelta(minutes=plugged_minutes_ago)
        pev = PevFactory()
        return Binding.objects.create(
            esci=self.escis[premise.pk],
            eumd_lfdi="0" * 40,
            vin=pev.vin,
            pev=pev if state in Binding.LIVE_STATES else None,
            premise=premise,
            state=state,
            plugged_in_at=plugged,
            deadline=plugged + dt.timedelta(minutes=deadline_minutes),
            bound_at=bound,
            finished_at=finished,
            response={},
        )

    def charging(
        self, premise, power_w, *, state="charging", reported_minutes_ago=1, binding_state=Binding.State.BOUND
    ):
        binding = self.binding(premise, binding_state, bound=self.now - dt.timedelta(minutes=29))
        PevStatus.objects.create(
            binding=binding,
            reported_at=self.now - dt.timedelta(minutes=reported_minutes_ago),
            received_at=self.now,
            charging_state=state,
            state_of_charge=Decimal("40.00"),
            power_w=power_w,
            session_energy_wh=1000,
        )
        return binding


@pytest.fixture
def grid(make_device, django_user_model):  # noqa: F811 — the fixture imported above
    now = timezone.now()
    grid = Grid(make_device, now)
    north, south = grid.premise("FDR-NORTH"), grid.premise("FDR-SOUTH")
    south2 = grid.premise("FDR-SOUTH")
    grid.charging(north, 7200)
    grid.charging(south, 11500)
    grid.charging(south2, 3300)
    grid.charging(north, 9999, state="complete")  # bound, not charging
    grid.charging(south, 6000, reported_minutes_ago=40)  # stale: no report for 40 minutes
    grid.binding(north, Binding.State.AWAITING_PEV_ACK, plugged_minutes_ago=0, deadline_minutes=2)  # pending
    grid.binding(north, Binding.State.AWAITING_EUMD_ACK, plugged_minutes_ago=10)  # past its deadline
    grid.binding(south, Binding.State.UNBOUND, finished=now - dt.timedelta(minutes=20))
    grid.binding(south, Binding.State.UNBOUND, plugged_minutes_ago=200, finished=now - dt.timedelta(hours=3))
    grid.binding(north, Binding.State.TIMED_OUT, finished=now - dt.timedelta(minutes=5))
    # Ingest: two batches in the last 5 minutes, one 30 minutes ago, one 2 hours ago; one AMI file.
    _, _ = make_device(DeviceKind.EUMD, premise=north)
    meter = Meter.objects.create(kind=MeterKind.PREMISE, premise=north)
    for minutes, accepted in ((1, 96), (4, 4), (30, 1000), (120, 5000)):
        ReadingBatch.objects.create(
            meter=meter,
            batch_id=f"b{minutes}",
            request_sha256="0" * 64,
            result={"accepted": accepted, "rejected": []},
            received_at=now - dt.timedelta(minutes=minutes),
        )
    ImportRun.objects.create(
        kind="ami", sha256="1" * 64, filename="ami.csv", finished_at=now, rows_created=7200
    )
    # Billing and the review queues.
    BillingRun.objects.create(period=dt.date(2026, 2, 1), trigger="beat", status="done")
    grid.run = BillingRun.objects.create(
        period=dt.date(2026, 3, 1), trigger="beat", status="running", premises_total=10, premises_done=4
    )
    BillHold.objects.create(premise=north, period=dt.date(2026, 3, 1), reason="missing revenue-meter data")
    ReadRevision.objects.create(
        meter=meter, interval_start=now, interval_seconds=900, wh=1, reason="conflict", received_at=now
    )
    failed = grid.binding(
        south, Binding.State.ENDED, finished=now - dt.timedelta(hours=5), plugged_minutes_ago=400
    )
    LoadCorrelation.objects.create(binding=failed, result="fail", checked_at=now)
    enrollment = EnrollmentFactory(premise=north)
    TransferRequest.objects.create(
        vin=enrollment.pev.vin,
        requested_by=django_user_model.objects.create_user("dave", password="dave-pass-1234"),
        account=north.account,
        premise=north,
        plan=enrollment.plan,
        guest_charging="declined",
        channel="web",
    )
    return grid


def test_a_declined_pev_charging_at_the_default_rate_loads_its_feeder_too(grid):
    declined = grid.charging(grid.premise("FDR-EAST"), 6600, binding_state=Binding.State.UNBOUND)
    result = figures(grid.now)
    assert result.charging == 4
    assert ("FDR-EAST", 1, pytest.approx(6.6)) in [(f.feeder_id, f.charging, f.kw) for f in result.feeders]

    Binding.objects.filter(pk=declined.pk).update(unplugged_at=grid.now)
    assert figures(grid.now).charging == 3


def test_the_figures_are_right_for_a_known_grid(grid):
    result = figures(grid.now)

    assert result.charging == 3
    assert result.charging_kw == pytest.approx(22.0)
    assert [(f.feeder_id, f.charging, f.kw) for f in result.feeders] == [
        ("FDR-SOUTH", 2, pytest.approx(14.8)),
        ("FDR-NORTH", 1, pytest.approx(7.2)),
    ]
    assert result.plugged_in == 5
    assert result.bindings == {"pending": 1, "bound": 5, "failed": 1, "timed_out": 2}
    assert result.ingest == {
        "batches_5": 2,
        "batches_60": 3,
        "reads_5": 100,
        "reads_60": 1100,
        "ami_60": 7200,
        "files_60": 1,
    }
    assert result.reads_per_second["5"] == pytest.approx(100 / 300)
    assert result.billing_run == grid.run
    assert result.open_holds == 1
    assert result.queues == {"revisions": 1, "correlations": 1, "bill_holds": 1, "transfers": 1}


def test_carol_sees_the_page_and_it_polls_its_figures(client, carol_csr, grid):
    client.force_login(carol_csr)
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'hx-get="/ops/figures/"' in html
    assert 'hx-trigger="every 10s"' in html
    assert 'aria-live="polite"' in html
    assert '<dd data-figure="charging">3</dd>' in html
    assert "<script>" not in html  # htmx is loaded from a file: the CSP allows no inline script

    panel = client.get("/ops/figures/")
    assert panel.status_code == 200
    assert '<td data-figure="transfers">1</td>' in panel.content.decode()
    assert "<html" not in panel.content.decode()


def test_a_staff_user_may_see_it(client, django_user_model, grid):
    erin = django_user_model.objects.create_user("erin", password="erin-pass-1234", is_staff=True)
    client.force_login(erin)
    assert client.get(URL).status_code == 200


def test_a_customer_gets_403(client, alice):
    client.force_login(alice)
    assert client.get(URL).status_code == 403
    assert client.get("/ops/figures/").status_code == 403


def test_an_anonymous_visitor_is_sent_to_sign_in(client, db):
    for url in (URL, "/ops/figures/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_the_query_count_does_not_grow_with_the_grid(client, carol_csr, grid):
    client.force_login(carol_csr)
    with CaptureQueriesContext(connection) as before:
        client.get("/ops/figures/")
    south = grid.premise("FDR-WEST")
    for watts in (1000, 2000, 3000):
        grid.charging(south, watts)
    with CaptureQueriesContext(connection) as after:
        response = client.get("/ops/figures/")
    assert '<tr data-feeder="FDR-WEST">' in response.content.decode()
    assert len(after) == len(before)
