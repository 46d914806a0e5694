"""Both use-case scenarios end to end: the device simulator plays ESCI, EUMD and PEV with real signed HTTP
against the live server (scenario 1 steps 5–16, scenario 2; Req 7, 9, 10, 19, 23, 24, 27, 28; BR.4)."""

import io
import stat
import time

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import CommandError, call_command
from joserfc import jws
from joserfc.jwk import ECKey

from billing.models import Tariff
from binding import simulator
from binding.messages import send_interval_change
from binding.models import Binding, Device, PevKey
from binding.simulator import ConformanceError, Server, SimulatedDevice, SimulatedPev, Site
from enrollment.enrolling import EnrollmentRequest, enroll
from enrollment.models import Enrollment, GuestCharging, ServicePlan
from tests.factories import PremiseFactory, north_american_vin

pytestmark = pytest.mark.django_db(transaction=True)

ALICE_VIN = north_american_vin(4001)
BOB_VIN = north_american_vin(4002)


@pytest.fixture(autouse=True)
def _utility_key(settings, tmp_path):
    """The utility's JWS key for this test, never the development key under var/."""
    settings.UTILITY_SIGNING_KEY = tmp_path / "utility-signing-key.pem"


@pytest.fixture
def server(live_server):
    return Server(live_server.url)


@pytest.fixture
def site_at(server, make_device):
    """site_at(premise) -> a Site: an ESCI and an EUMD registered to the premise, seen by the simulator."""

    def site(premise) -> Site:
        esci, esci_key = make_device("esci", premise=premise)
        eumd, eumd_key = make_device("eumd", premise=premise)
        return Site(
            server,
            premise.premise_id,
            SimulatedDevice(esci.lfdi, esci_key),
            SimulatedDevice(eumd.lfdi, eumd_key),
        )

    return site


def premise_of(name: str):
    return PremiseFactory(
        account__customer__name=name, default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM")
    )


def enroll_vin(premise, vin: str, **preferences) -> Enrollment:
    request = EnrollmentRequest(
        account=premise.account,
        premise=premise,
        vin=vin,
        plan=ServicePlan.objects.get(code="ev-prime"),
        **preferences,
    )
    return enroll(request, channel="web")


@pytest.fixture
def alice_home(sce_programs, site_at):
    """Alice's premise with her PEV enrolled (commissioning window open), its ESCI and EUMD."""
    premise = premise_of("Alice")
    enrollment = enroll_vin(premise, ALICE_VIN, allow_roaming=True)
    return site_at(premise), enrollment


@pytest.fixture
def bob_home(sce_programs, site_at):
    """Bob's premise, which hosts guests on his own PEV plan."""
    premise = premise_of("Bob")
    enrollment = enroll_vin(premise, BOB_VIN, guest_charging=GuestCharging.HOST)
    return site_at(premise), enrollment


@pytest.fixture
def alice_pev(tmp_path):
    return SimulatedPev(ALICE_VIN, state_dir=tmp_path / "pev-state")


def test_it_commissions_a_pev_on_its_first_plug_in(alice_home, alice_pev):
    site, enrollment = alice_home

    result = simulator.plug_in(site, alice_pev)

    assert (result.kind, result.state) == ("commissioning", "bound")
    assert result.pev_parameters["pev_id"] == ALICE_VIN
    assert result.pev_parameters["plan"] == "ev-prime"
    assert result.pev_parameters["cnf"]["jwk"] == alice_pev.public_jwk()
    assert result.eumd_discovery["eumd_lfdi"] == site.eumd.lfdi
    handshake = [e for e in site.server.trace if e.path.startswith("/device/v1/bindings")]
    assert [(e.sender, e.path.rsplit("/", 1)[-1], e.status) for e in handshake] == [
        ("esci", "bindings", 201),
        ("esci", "pev-ack", 200),
        ("eumd", "eumd-ack", 200),
    ]
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.ACTIVE
    assert PevKey.objects.get(pev__vin=ALICE_VIN, revoked_at=None).public_jwk == alice_pev.public_jwk()
    assert Binding.objects.get(pk=result.binding_id).state == Binding.State.BOUND


def test_it_keeps_the_pev_key_private_in_the_state_directory(alice_home, alice_pev, tmp_path):
    simulator.plug_in(alice_home[0], alice_pev)

    key_file = tmp_path / "pev-state" / f"pev-{ALICE_VIN}.key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert SimulatedPev(ALICE_VIN, state_dir=tmp_path / "pev-state").commissioned


def test_it_rebinds_a_commissioned_pev_at_once(alice_home, alice_pev, tmp_path):
    site, _ = alice_home
    first = simulator.plug_in(site, alice_pev)
    simulator.unplug(site, first.binding_id, pev=alice_pev)
    later_run = SimulatedPev(ALICE_VIN, state_dir=tmp_path / "pev-state")
    requests_before = len(site.server.trace)

    result = simulator.plug_in(site, later_run)

    assert (result.kind, result.state) == ("rebinding", "bound")
    assert len(site.server.trace) == requests_before + 1, "bound by the one binding request"
    assert result.pev_confirmation["pev_id"] == ALICE_VIN
    assert result.eumd_confirmation["interval_seconds"] == first.eumd_discovery["interval_seconds"]
    assert Binding.objects.get(pk=result.binding_id).kind == Binding.Kind.REBINDING


def test_it_binds_a_guest_at_a_host_that_admits_guests(alice_home, bob_home, alice_pev):
    alice_site, alice_enrollment = alice_home
    bob_site, bob_enrollment = bob_home
    home = simulator.plug_in(alice_site, alice_pev)
    simulator.unplug(alice_site, home.binding_id, pev=alice_pev)

    result = simulator.guest_visit(bob_site, alice_pev)

    assert (result.kind, result.state) == ("guest", "bound")
    binding = Binding.objects.get(pk=result.binding_id)
    assert binding.premise_id == bob_enrollment.premise_id
    assert binding.enrollment == alice_enrollment
    assert binding.billed_enrollment == bob_enrollment, "Bob hosts guests on his own plan"


def test_it_leaves_a_spoofed_vin_unbound(alice_home, alice_pev):
    site, _ = alice_home
    genuine = simulator.plug_in(site, alice_pev)

    without_proof = simulator.spoofed_vin(site, ALICE_VIN)
    forged = simulator.spoofed_vin(site, ALICE_VIN, forged_with=SimulatedPev(ALICE_VIN))

    for spoof in (without_proof, forged):
        assert spoof.response == {
            "binding_id": spoof.binding_id,
            "state": "unbound",
            "plugged_in_at": spoof.plugged_in_at,
            "reason": "not_validated",
            "fallback": "premise_default_rate",
        }
    assert simulator.binding_status(site, genuine.binding_id)["state"] == "bound"
    assert Binding.objects.filter(vin=ALICE_VIN, state=Binding.State.BOUND).count() == 1


def test_it_refuses_a_replayed_request(alice_home):
    result = simulator.replay(alice_home[0])

    assert (result.first_status, result.replay_status) == (200, 401)
    assert "server_time" in result.replay_body


def test_it_ends_a_session_on_unplug(alice_home, alice_pev):
    site, _ = alice_home

    result, ended = simulator.session(site, alice_pev)

    assert (ended["binding_id"], ended["state"]) == (result.binding_id, "ended")
    binding = Binding.objects.get(pk=result.binding_id)
    assert binding.state == Binding.State.ENDED
    assert binding.unplugged_at is not None
    assert alice_pev.current_binding is None


def test_it_refuses_acks_after_the_handshake_timed_out(alice_home, alice_pev):
    site, enrollment = alice_home
    ServicePlan.objects.filter(pk=enrollment.plan_id).update(binding_timeout_seconds=2)

    def pause(result):
        time.sleep(3)

    with pytest.raises(ConformanceError, match="HTTP 409"):
        simulator.plug_in(site, alice_pev, before_eumd_ack=pause)

    binding = Binding.objects.get(vin=ALICE_VIN)
    assert simulator.binding_status(site, str(binding.pk))["state"] == "timed_out"
    assert not alice_pev.commissioned


def test_it_refuses_parameters_it_cannot_verify(alice_home):
    site, _ = alice_home
    impostor = ECKey.generate_key("P-256")
    kid = site.server.jwks()["keys"][0]["kid"]
    forged = jws.serialize_compact({"alg": "ES256", "kid": kid}, b'{"typ":"pev-parameters"}', impostor)

    with pytest.raises(ConformanceError, match="not verifiable"):
        site.server.verify(forged, "pev_parameters")


def test_it_refuses_parameters_for_another_key(alice_home, alice_pev):
    site, _ = alice_home
    result = simulator.plug_in(site, alice_pev)
    someone_else = SimulatedPev(ALICE_VIN)

    with pytest.raises(ConformanceError, match=r"cnf\.jwk"):
        someone_else.accept_parameters(
            result.pev_parameters, binding_id=result.binding_id, premise_id=site.premise_id
        )


def test_it_passes_the_conformance_kit(alice_home, bob_home, alice_pev):
    checks = []

    run = simulator.run_conformance(alice_home[0], alice_pev, host=bob_home[0], on_check=checks.append)

    assert [str(check) for check in checks if check.outcome != "PASS"] == []
    assert run.passed
    assert {"plug-in", "re-binding", "guest", "replay", "spoofed VIN"} <= {check.name for check in checks}


def write_device_files(directory, device: SimulatedDevice, certificate_pem: str) -> list:
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "key.pem"
    key.write_bytes(
        device.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert = directory / "cert.pem"
    cert.write_text(certificate_pem)
    return [str(key), str(cert)]


@pytest.fixture
def command_args(alice_home, live_server, tmp_path):
    site, _ = alice_home
    esci = write_device_files(
        tmp_path / "esci", site.esci, Device.objects.get(lfdi=site.esci.lfdi).certificate_pem
    )
    eumd = write_device_files(
        tmp_path / "eumd", site.eumd, Device.objects.get(lfdi=site.eumd.lfdi).certificate_pem
    )
    return [
        "--base-url", live_server.url,
        "--esci-key", esci[0], "--esci-cert", esci[1],
        "--eumd-key", eumd[0], "--eumd-cert", eumd[1],
        "--premise", site.premise_id,
        "--vin", ALICE_VIN,
        "--state-dir", str(tmp_path / "command-state"),
    ]  # fmt: skip


def run_command(*args) -> str:
    out = io.StringIO()
    call_command("simulate_devices", *args, stdout=out)
    return out.getvalue()


def test_it_commissions_then_rebinds_on_a_later_run_of_the_command(command_args):
    first = run_command(*command_args, "--scenario", "session")
    later = run_command(*command_args, "--scenario", "plug-in")
    unplugged = run_command(*command_args, "--scenario", "unplug")

    assert first.startswith("commissioning ")
    assert "bound" in first
    assert "unplugged:" in first
    assert later.startswith("rebinding ")
    assert "ended" in unplugged


def test_it_prints_pass_for_each_conformance_check(command_args):
    output = run_command(*command_args, "--scenario", "conformance")

    assert "FAIL" not in output
    assert "PASS  plug-in — commissioning" in output
    assert "PASS  re-binding — rebinding" in output
    assert output.rstrip().endswith("0 failed, 0 skipped")


def test_it_fails_the_command_when_the_server_declines(command_args, alice_home):
    _, enrollment = alice_home
    enrollment.commissioning_windows.all().delete()

    with pytest.raises(CommandError, match=r"FAIL .*state is 'unbound'"):
        run_command(*command_args, "--scenario", "plug-in")


def test_it_reports_a_spoofed_vin_as_unbound(command_args):
    output = run_command(*command_args, "--scenario", "spoof")

    assert "unbound" in output


def test_it_passes_the_conformance_kit_again_once_commissioned(alice_home, alice_pev, tmp_path):
    simulator.run_conformance(alice_home[0], alice_pev)
    later_run = SimulatedPev(ALICE_VIN, state_dir=tmp_path / "pev-state")

    run = simulator.run_conformance(alice_home[0], later_run)

    assert [str(check) for check in run.checks if check.outcome != "PASS"] == []
    assert str(next(check for check in run.checks if check.name == "plug-in")).startswith(
        "PASS  plug-in — rebinding"
    )


def test_it_relays_a_csrs_interval_change_to_the_eumd(alice_home, carol_csr):
    site, _ = alice_home
    eumd = Device.objects.get(lfdi=site.eumd.lfdi)
    send_interval_change(eumd, 300, by=carol_csr)

    pending = simulator.fetch_messages(site)
    acked = simulator.ack_message(site, pending[0].id)

    assert [(m.kind, m.recipient, m.recipient_id) for m in pending] == [
        ("interval_change", "eumd", eumd.lfdi)
    ]
    assert pending[0].payload["interval_seconds"] == 300
    assert simulator.ack_message(site, pending[0].id) == acked, "acks are idempotent"
    assert simulator.fetch_messages(site) == []
    eumd.refresh_from_db()
    assert eumd.interval_seconds == 300
