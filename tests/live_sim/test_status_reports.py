"""The simulator reports the PEV's status as the ESCI, signed, to the real `POST /device/v1/pev-status`
(S4; Req 17, 24): one report, a session that reports while it holds, and `simulate_devices --status-every`."""

import datetime as dt
import io
import time
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import CommandError, call_command

from binding import simulator
from binding.models import Binding, Device, PevStatus
from binding.simulator import ConformanceError, SimulatedDevice, Site
from binding.simulator.status import ChargingCurve, hold_with_status, post_status
from enrollment.models import ServicePlan
from metering.models import PevRead
from tests.live_sim.conftest import ALICE_VIN

pytestmark = pytest.mark.django_db(transaction=True)

REPORT = {
    "charging_state": "charging",
    "state_of_charge": 42.5,
    "power_w": 6600,
    "time_to_complete_s": 3600,
    "session_energy_wh": 1200,
}


def test_it_posts_a_signed_status_for_its_binding(alice_site, alice_pev):
    result = simulator.plug_in(alice_site, alice_pev)

    answer = post_status(alice_site, result.binding_id, **REPORT)

    assert answer["binding_id"] == result.binding_id
    status = PevStatus.objects.get(binding_id=result.binding_id)
    assert (status.charging_state, status.state_of_charge) == ("charging", Decimal("42.5"))
    assert (status.power_w, status.time_to_complete_s, status.session_energy_wh) == (6600, 3600, 1200)
    assert alice_site.server.trace[-1].status == 202


def test_it_ignores_a_report_no_later_than_the_stored_one(alice_site, alice_pev):
    result = simulator.plug_in(alice_site, alice_pev)
    now = simulator.timestamp(alice_site.server.now())
    post_status(alice_site, result.binding_id, **REPORT, reported_at=now)

    post_status(alice_site, result.binding_id, **{**REPORT, "power_w": 1000}, reported_at=now)

    assert PevStatus.objects.get(binding_id=result.binding_id).power_w == 6600


def test_it_is_refused_for_another_escis_binding_and_after_the_unplug(alice_site, alice_pev, make_device):
    result = simulator.plug_in(alice_site, alice_pev)
    stranger, key = make_device("esci")
    other = Site(alice_site.server, "P-OTHER", SimulatedDevice(stranger.lfdi, key), alice_site.eumd)

    with pytest.raises(ConformanceError, match="expected HTTP 202") as refused:
        post_status(other, result.binding_id, **REPORT)
    assert refused.value.response.status_code == 404

    simulator.unplug(alice_site, result.binding_id, pev=alice_pev)
    with pytest.raises(ConformanceError) as over:
        post_status(alice_site, result.binding_id, **REPORT)
    assert over.value.response.status_code == 409
    assert not PevStatus.objects.exists()


def test_a_session_reports_its_charging_curve_while_it_holds(alice_site, alice_pev):
    result = simulator.plug_in(alice_site, alice_pev)
    seen = []

    sent = hold_with_status(
        alice_site,
        result,
        ChargingCurve(start_soc=50),
        hold_seconds=2.5,
        every_seconds=1,
        speed=600,
        on_status=lambda status, answer: seen.append(PevStatus.objects.get(binding_id=result.binding_id)),
    )

    assert len(sent) == len(seen) == 3
    assert [s.state_of_charge for s in seen] == sorted(s.state_of_charge for s in seen)
    assert seen[0].state_of_charge == 50
    assert seen[-1].session_energy_wh > seen[0].session_energy_wh
    assert seen[-1].cost_so_far > 0, "energy increments are priced at the TOU price"


def command(site, pev, tmp_path, *options):
    out = io.StringIO()
    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    arguments = []
    for name, device in (("esci", site.esci), ("eumd", site.eumd)):
        arguments += [f"--{name}-key", str(keys / f"{name}.key"), f"--{name}-cert", str(keys / f"{name}.pem")]
        _write_device(device, keys / f"{name}.key", keys / f"{name}.pem")
    call_command(
        "simulate_devices",
        "--base-url", site.server.base_url,
        "--premise", site.premise_id,
        "--vin", pev.vin,
        "--state-dir", str(pev.state_dir),
        *arguments,
        *options,
        stdout=out,
    )  # fmt: skip
    return out.getvalue()


def _write_device(device, key_path, cert_path):
    key_path.write_bytes(
        device.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_text(Device.objects.get(lfdi=device.lfdi).certificate_pem)


def test_simulate_devices_reports_status_while_a_session_holds(alice_site, alice_pev, tmp_path):
    output = command(
        alice_site, alice_pev, tmp_path, "--scenario", "session", "--hold", "2.5", "--status-every", "1",
        "--charge-speed", "300", "--start-soc", "60",
    )  # fmt: skip

    binding = Binding.objects.get(vin=ALICE_VIN)
    assert binding.state == Binding.State.ENDED
    assert output.count("  status charging: ") == 3
    status = PevStatus.objects.get(binding=binding)
    assert 60 < status.state_of_charge < 100
    assert f"unplugged: {binding.pk} ended" in output


def test_simulate_devices_sends_the_reads_of_a_reported_session(alice_site, alice_pev, tmp_path):
    # An interval that has ended by the unplug, without waiting for one: the plan's shortest interval, and
    # the plug-in a few seconds before a minute ends.
    ServicePlan.objects.filter(code="ev-prime").update(eumd_interval_seconds=60)
    _wait_for_second(55)

    output = command(
        alice_site, alice_pev, tmp_path, "--scenario", "session", "--hold", "8", "--status-every", "2",
        "--charge-speed", "100", "--reads",
    )  # fmt: skip

    assert "reads: 1 read(s) in 1 batch(es): 1 accepted" in output
    read = PevRead.objects.get()  # the interval of the plug-in; the next one was still running
    assert read.interval_seconds == 60
    assert 0 <= read.wh <= 6600 / 60


def _wait_for_second(second: int):
    now = dt.datetime.now(dt.UTC)
    wait = (second - now.second - now.microsecond / 1e6) % 60
    time.sleep(wait)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--scenario", "session", "--status-every", "1"], "needs --hold"),
        (["--scenario", "plug-in", "--status-every", "1"], "only with --scenario session"),
        (["--scenario", "session", "--hold", "1", "--charge-speed", "2"], "go with --status-every"),
        (["--scenario", "session", "--hold", "1", "--status-every", "0.5"], "at least 1 second"),
        (["--scenario", "session", "--hold", "1", "--status-every", "1", "--start-soc", "120"], "percentage"),
    ],
)
def test_simulate_devices_refuses_status_options_that_cannot_work(
    alice_site, alice_pev, tmp_path, options, message
):
    with pytest.raises(CommandError, match=message) as refused:
        command(alice_site, alice_pev, tmp_path, *options)
    assert refused.value.returncode == 2
    assert not Binding.objects.exists()
