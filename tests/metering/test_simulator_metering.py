"""A session's metering end to end (issue 5; Req 15, 20; BR.8): the device simulator plugs a PEV in, its EUMD
streams the session's reads over real signed HTTP to the live server, the premise meter's matching file is
imported, and the correlation of the two passes — or fails when the premise meter never saw the PEV.

Intervals must have ended before their reads are accepted, so the ESCI reports each plug-in late, as after
an outage: the server accepts that within the longest plan's binding timeout, which these tests lengthen.
"""

import datetime as dt
import io
import time

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.models import Tariff
from binding.models import Binding, Device
from binding.simulator import Server, SimulatedDevice, SimulatedPev, Site, timestamp
from binding.simulator import metering as simulated_metering
from binding.simulator.scenarios import metered_session
from enrollment.enrolling import EnrollmentRequest, enroll
from enrollment.models import ServicePlan
from metering.correlation import correlate_due
from metering.models import LoadCorrelation, PevRead, PremiseRead
from tests.factories import PremiseFactory, north_american_vin

pytestmark = pytest.mark.django_db(transaction=True)

ALICE_VIN = north_american_vin(5001)
LATE_REPORT = dt.timedelta(hours=4)  # the plans' binding timeout here: how late a plug-in may be reported


@pytest.fixture(autouse=True)
def _utility_key(settings, tmp_path):
    """The utility's JWS key for this test, never the development key under var/."""
    settings.UTILITY_SIGNING_KEY = tmp_path / "utility-signing-key.pem"


@pytest.fixture
def alice_home(sce_programs, make_device, live_server):
    """Alice's premise with her PEV enrolled (commissioning window open), and its ESCI and EUMD."""
    premise = PremiseFactory(
        account__customer__name="Alice", default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM")
    )
    plan = ServicePlan.objects.get(code="ev-prime")
    enrollment = enroll(
        EnrollmentRequest(account=premise.account, premise=premise, vin=ALICE_VIN, plan=plan), channel="web"
    )
    ServicePlan.objects.filter(pk=plan.pk).update(binding_timeout_seconds=int(LATE_REPORT.total_seconds()))
    esci, esci_key = make_device("esci", premise=premise)
    eumd, eumd_key = make_device("eumd", premise=premise)
    site = Site(
        Server(live_server.url),
        premise.premise_id,
        SimulatedDevice(esci.lfdi, esci_key),
        SimulatedDevice(eumd.lfdi, eumd_key),
    )
    return site, enrollment


@pytest.fixture
def alice_pev(tmp_path):
    return SimulatedPev(ALICE_VIN, state_dir=tmp_path / "pev-state")


def charge_three_hours_ago(site: Site, pev: SimulatedPev) -> simulated_metering.MeteredSession:
    """A 100-minute session that began early in an interval three hours ago, reported by the ESCI now: every
    interval of it, and the one after, has ended."""
    now = site.server.now()
    interval_start = simulated_metering.interval_floor(now - dt.timedelta(hours=3), 900)
    plugged_in_at = interval_start + dt.timedelta(seconds=40)
    return metered_session(
        site,
        pev,
        plugged_in_at=timestamp(plugged_in_at),
        unplugged_at=timestamp(plugged_in_at + dt.timedelta(minutes=100)),
    )


def import_premise_file(path) -> str:
    out = io.StringIO()
    call_command("import_ami", str(path), stdout=out)
    return out.getvalue()


def premise_file(tmp_path, site: Site, enrollment, session, *, include_pev: bool = True):
    reads = simulated_metering.premise_reads(
        enrollment.premise.meter_id, session.reads, now=site.server.now(), include_pev=include_pev
    )
    path = simulated_metering.write_premise_file(tmp_path / "ami.csv", enrollment.premise.meter_id, reads)
    return path, reads


def correlation_of(session) -> LoadCorrelation:
    correlate_due(now=timezone.now())
    return LoadCorrelation.objects.get(binding_id=session.binding.binding_id)


def test_it_stores_every_read_of_the_session_once_attributed_to_the_binding(alice_home, alice_pev):
    site, enrollment = alice_home

    session = charge_three_hours_ago(site, alice_pev)

    assert session.pending == 0
    assert len(session.reads) == 7, "100 minutes from 40 s into an interval touch seven 15-minute intervals"
    assert [read.wh for read in session.reads[1:4]] == [1800, 1800, 1800], "7.2 kW for a whole interval"
    assert session.reads[-1].wh < session.reads[-2].wh < 1800, "the charge tapers off at the end"
    assert simulated_metering.summary(session.batches) == (
        "7 read(s) in 1 batch(es): 7 accepted, 0 duplicate(s), 0 conflict(s), 0 rejected"
    )
    stored = PevRead.objects.order_by("interval_start")
    assert [(read.interval_start, read.wh) for read in stored] == [
        (read.interval_start, read.wh) for read in session.reads
    ]
    assert {(read.binding_id, read.enrollment_id, read.vin) for read in stored} == {
        (Binding.objects.get(pk=session.binding.binding_id).pk, enrollment.pk, ALICE_VIN)
    }


def test_it_stores_a_resent_read_only_once(alice_home, alice_pev):
    site, _ = alice_home
    session = charge_three_hours_ago(site, alice_pev)

    retry = simulated_metering.send_reads(site, session.pev_id, session.reads)
    rebatched = simulated_metering.send_reads(site, session.pev_id, session.reads, batch_reads=3)

    assert retry == [
        simulated_metering.BatchResult(**{**vars(batch), "replayed": True}) for batch in session.batches
    ], "the same batch again is a retry: the first answer, replayed"
    assert simulated_metering.summary(rebatched) == (
        "7 read(s) in 3 batch(es): 0 accepted, 7 duplicate(s), 0 conflict(s), 0 rejected"
    )
    assert PevRead.objects.count() == len(session.reads)


def test_it_sends_no_read_for_an_interval_that_has_not_ended(alice_home, alice_pev):
    site, _ = alice_home
    now = site.server.now()
    while now == simulated_metering.interval_floor(now, 900):  # on an edge no interval would still be running
        time.sleep(0.5)
        now = site.server.now()

    session = metered_session(
        site,
        alice_pev,
        plugged_in_at=timestamp(now - dt.timedelta(minutes=20)),
        unplugged_at=timestamp(now),
    )

    assert session.pending == 1, "the interval the PEV unplugged in is still running"
    assert all(read.interval_end <= site.server.now() for read in session.reads)
    assert [item for batch in session.batches for item in batch.rejected] == []
    assert PevRead.objects.count() == len(session.reads)


def test_it_correlates_the_session_with_the_premise_meter(alice_home, alice_pev, tmp_path):
    site, enrollment = alice_home
    session = charge_three_hours_ago(site, alice_pev)
    path, reads = premise_file(tmp_path, site, enrollment, session)

    import_premise_file(path)
    import_premise_file(path)

    assert len(reads) == len(session.reads) + 2, "one interval before the session and one after"
    by_start = {read.interval_start: read.wh for read in reads}
    assert all(by_start[read.interval_start] > read.wh for read in session.reads)
    assert PremiseRead.objects.count() == len(reads), "the file imported twice is stored once"
    assert correlation_of(session).result == LoadCorrelation.Result.PASS


def test_it_fails_the_correlation_when_the_premise_meter_never_saw_the_pev(alice_home, alice_pev, tmp_path):
    site, enrollment = alice_home
    session = charge_three_hours_ago(site, alice_pev)
    path, _ = premise_file(tmp_path, site, enrollment, session, include_pev=False)

    import_premise_file(path)

    assert correlation_of(session).result == LoadCorrelation.Result.FAIL


def device_files(directory, device: SimulatedDevice) -> list[str]:
    """The device's key and certificate as files, as an installer has them."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "key.pem"
    key.write_bytes(
        device.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert = directory / "cert.pem"
    cert.write_text(Device.objects.get(lfdi=device.lfdi).certificate_pem)
    return [str(key), str(cert)]


@pytest.fixture
def command_args(alice_home, live_server, tmp_path):
    site, _ = alice_home
    esci = device_files(tmp_path / "esci", site.esci)
    eumd = device_files(tmp_path / "eumd", site.eumd)
    return [
        "--base-url", live_server.url,
        "--esci-key", esci[0], "--esci-cert", esci[1],
        "--eumd-key", eumd[0], "--eumd-cert", eumd[1],
        "--premise", site.premise_id,
        "--vin", ALICE_VIN,
        "--state-dir", str(tmp_path / "command-state"),
        "--scenario", "session",
    ]  # fmt: skip


def run_command(*args) -> str:
    out = io.StringIO()
    call_command("simulate_devices", *args, stdout=out)
    return out.getvalue()


def test_it_streams_reads_and_writes_the_premise_file_from_the_command(command_args, alice_home, tmp_path):
    _, enrollment = alice_home
    meter_id = enrollment.premise.meter_id
    path = tmp_path / "ami" / "premise.csv"

    output = run_command(
        *command_args,
        "--reads",
        "--plugged-in-minutes-ago", "180",
        "--session-minutes", "60",
        "--ami-file", str(path),
        "--meter-id", meter_id,
    )  # fmt: skip
    import_premise_file(path)

    sent = PevRead.objects.count()
    assert f"reads: {sent} read(s) in 1 batch(es): {sent} accepted" in output
    assert f"premise meter file: {path}, {sent + 2} interval(s) of meter {meter_id}" in output
    assert path.read_text().splitlines()[0] == "meter_id,interval_start,interval_seconds,wh"
    assert PremiseRead.objects.count() == sent + 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ami-file", "ami.csv"], "--ami-file needs --reads and --meter-id"),
        (["--reads", "--session-minutes", "30"], "--session-minutes needs --plugged-in-minutes-ago"),
    ],
)
def test_it_refuses_read_options_that_do_not_fit(command_args, extra, message):
    with pytest.raises(CommandError, match=message):
        run_command(*command_args, *extra)


def test_it_refuses_reads_outside_a_session(command_args):
    with pytest.raises(CommandError, match="only with --scenario session"):
        run_command(*command_args, "--scenario", "plug-in", "--reads")
