"""`make run`'s demo data: loaded twice changes nothing, and `make simulate` can commission the demo PEV."""

import io

import pytest
from django.core.management import call_command

from binding.models import Binding, Device
from enrollment.models import Enrollment
from pevportal import demo
from tests.conftest import csr_group


@pytest.fixture
def demo_dirs(settings, tmp_path, monkeypatch):
    settings.DEBUG = True
    settings.DEVICE_CA_DIR = tmp_path / "device-ca"
    monkeypatch.setattr(demo, "DEMO_DEVICES", tmp_path / "demo-devices")
    return tmp_path / "demo-devices" / demo.DEMO_PREMISE


@pytest.mark.django_db
def test_it_loads_the_demo_once_however_often_it_runs(demo_dirs):
    csr_group()  # the migration's group, gone if an earlier transactional test flushed the tables
    demo.load_demo()
    demo.load_demo()

    assert Enrollment.objects.current().filter(pev__vin=demo.DEMO_VIN).count() == 1
    assert sorted(Device.objects.values_list("kind", flat=True)) == ["esci", "eumd"]
    assert (demo_dirs / "esci" / "key.pem").stat().st_mode & 0o777 == 0o600


@pytest.mark.django_db(transaction=True)
def test_make_simulate_commissions_the_demo_pev(demo_dirs, live_server, tmp_path):
    csr_group()
    demo.load_demo()

    call_command(
        "simulate_devices",
        "--base-url", live_server.url,
        "--premise", demo.DEMO_PREMISE,
        "--vin", demo.DEMO_VIN,
        "--state-dir", str(tmp_path / "pev"),
        "--scenario", "plug-in",
        "--esci-key", str(demo_dirs / "esci" / "key.pem"),
        "--esci-cert", str(demo_dirs / "esci" / "cert.pem"),
        "--eumd-key", str(demo_dirs / "eumd" / "key.pem"),
        "--eumd-cert", str(demo_dirs / "eumd" / "cert.pem"),
        stdout=io.StringIO(),
    )  # fmt: skip

    assert Binding.objects.get().state == Binding.State.BOUND
    assert Enrollment.objects.get(pev__vin=demo.DEMO_VIN).status == Enrollment.Status.ACTIVE
