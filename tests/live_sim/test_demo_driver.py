"""`make run`'s demo driver (pevportal/demo_live.py): against a live portal with the demo data, one loop
commissions Alice's demo PEV, reports its charging status so her live panel moves, unplugs once the EUMD
interval has ended and sends the session's read; a portal that forgot the PEV's key gets it commissioned
again."""

import datetime as dt
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from binding.live import live_panels
from binding.models import Binding, PevStatus
from binding.simulator import Server
from enrollment.models import ServicePlan, UtilityAccount
from metering.models import PevRead
from pevportal import demo, demo_live
from tests.conftest import csr_group

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_portal(settings, tmp_path, monkeypatch, live_server):
    """The demo data as `make run` loads it (device keys under a temporary directory), with one-minute EUMD
    intervals so a session crosses an interval's end within seconds."""
    settings.DEBUG = True
    settings.DEVICE_CA_DIR = tmp_path / "device-ca"
    monkeypatch.setattr(demo, "DEMO_DEVICES", tmp_path / "demo-devices")
    csr_group()
    demo.load_demo()
    ServicePlan.objects.filter(code=demo.DEMO_PLAN).update(eumd_interval_seconds=60)
    return live_server


def driver(portal, lines, on_status=None):
    def log(line):
        lines.append(line)
        if on_status and line.startswith("status "):
            on_status()

    return demo_live.Driver(
        demo.demo_site(Server(portal.url)),
        demo.demo_pev,
        forget_pev=demo.forget_demo_pev,
        log=log,
        status_every=1,
        min_session=1,
    )


def start_near_a_minutes_end():
    """Plug in at second 50, so the session's interval (one minute) ends a few seconds later."""
    now = dt.datetime.now(dt.UTC)
    time.sleep((50 - now.second - now.microsecond / 1e6) % 60)


def alice_panels():
    alice = get_user_model().objects.get(email="alice@example.com")
    return live_panels(UtilityAccount.objects.for_user(alice))


def test_one_loop_commissions_charges_unplugs_and_sends_the_reads(demo_portal):
    lines, during = [], []

    def watch():
        binding = Binding.objects.get(vin=demo.DEMO_VIN)
        during.append((binding.state, PevStatus.objects.get(binding=binding).state_of_charge, alice_panels()))

    demo_driver = driver(demo_portal, lines, on_status=watch)
    demo_driver.wait_for_server()
    start_near_a_minutes_end()
    session = demo_driver.run_once()

    assert session.binding.kind == "commissioning"
    assert {state for state, _, _ in during} == {Binding.State.BOUND}
    socs = [soc for _, soc, _ in during]
    assert len(socs) >= 5
    assert socs == sorted(socs)
    assert socs[-1] > socs[0], "the panel moves"
    assert all(len(panels) == 1 for _, _, panels in during), "Alice sees her PEV's live panel"
    binding = Binding.objects.get(pk=session.binding.binding_id)
    assert binding.state == Binding.State.ENDED
    assert PevRead.objects.filter(vin=demo.DEMO_VIN).count() == len(session.metered.reads) == 1
    assert alice_panels() == []
    assert lines[0].startswith(f"plugged in PEV {demo.DEMO_VIN} at {demo.DEMO_PREMISE}: commissioning ")
    assert lines[-1] == (
        "EUMD reads: 1 read(s) in 1 batch(es): 1 accepted, 0 duplicate(s), 0 conflict(s), 0 rejected"
    )


def test_the_next_loop_rebinds_and_a_forgotten_key_is_commissioned_again(demo_portal):
    lines = []
    demo_driver = driver(demo_portal, lines)
    first = demo_driver._plug_in()
    assert first.kind == "commissioning"
    again = demo_driver._plug_in()
    assert again.kind == "rebinding"

    # A new database: the portal no longer knows the PEV's key; the state directory still holds it.
    call_command("flush", "--no-input")
    csr_group()
    demo.load_demo()

    third = demo_driver._plug_in()

    assert third.kind == "commissioning"
    assert any("commissioning it again with a new key" in line for line in lines)
